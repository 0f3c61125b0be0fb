//! Scale (issue 20, target 5): the memory and opening time of many handshake-era sessions,
//! and the plain cached call under 1, 16 and 256 connections. BENCHMARKS.md, "Scale", says
//! how each is made.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use super::{
    CACHE_ON, Figures, Options, Target, cells, clock_ticks, cpu_ticks, mib, post, rss_kib,
    start_ours, stop_child, wait_ready,
};
use crate::issuer::{self, SigningKey};

/// The plain cached call (`ours-on`) again, under other numbers of connections.
pub(super) const TARGETS: &[Target] = &[
    Target {
        name: "scale-c1",
        label: "mcp-auth, token cache on, 1 connection",
        authenticated: true,
    },
    Target {
        name: "scale-c16",
        label: "mcp-auth, token cache on, 16 connections",
        authenticated: true,
    },
    Target {
        name: "scale-c256",
        label: "mcp-auth, token cache on, 256 connections",
        authenticated: true,
    },
];

/// wrk's threads and connections for the target `name`, or `None` for another target.
fn connections(name: &str) -> Option<(u32, u32)> {
    // wrk needs at least one connection per thread; two threads, as the main table's.
    match name {
        "scale-c1" => Some((1, 1)),
        "scale-c16" => Some((2, 16)),
        "scale-c256" => Some((2, 256)),
        _ => None,
    }
}

/// `options` with the connections of the target `name`.
pub(super) fn options<'a>(name: &str, options: &'a Options) -> Cow<'a, Options> {
    match connections(name) {
        Some((threads, connections)) => Cow::Owned(Options {
            threads,
            connections,
            ..options.clone()
        }),
        None => Cow::Borrowed(options),
    }
}

/// The server of the target `name`: `ours-on`'s.
pub(super) fn server_args(name: &str) -> Option<&'static [&'static str]> {
    connections(name).map(|_| &[CACHE_ON][..])
}

/// The table of requests/s by connections: `ours-on` (the main table's connections) and the
/// scale targets.
pub(super) fn report(options: &Options, results: &[(&Target, Figures)]) -> String {
    let mut rows: Vec<(u32, u32, &Figures)> = results
        .iter()
        .filter_map(|(target, f)| match target.name {
            "ours-on" => Some((options.threads, options.connections, f)),
            name => connections(name).map(|(t, c)| (t, c, f)),
        })
        .collect();
    if rows.len() < 2 {
        return String::new();
    }
    rows.sort_by_key(|(_, c, _)| *c);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nthe plain cached call (ours-on) by wrk connections (target 5), same rounds:\n"
    );
    let _ = writeln!(
        out,
        "| connections | wrk threads | req/s | p50 | p99 | server CPU µs/req | RSS under load |"
    );
    let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (threads, connections, f) in rows {
        let _ = writeln!(
            out,
            "| {connections} | {threads} | {} | {} |",
            cells(f),
            mib(f.rss_load_kib),
        );
    }
    out
}

/// Sessions opened in one batch, between two RSS samples.
const BATCH: usize = 10_000;

/// Clients opening sessions at once.
const CONCURRENCY: usize = 16;

/// What holding many sessions costs.
pub(super) struct Sessions {
    count: usize,
    /// Whether [`SESSIONS_LIMIT`] stopped the opening before `count` were open.
    stopped: bool,
    rss_before_kib: u64,
    /// After each batch of [`BATCH`] sessions: RSS, and the seconds and the server's CPU
    /// seconds the batch took.
    batches: Vec<Batch>,
    /// Seconds to sign the principals' tokens (before the server starts).
    signing_seconds: f64,
}

impl Sessions {
    /// RSS with every session open.
    fn rss_after_kib(&self) -> u64 {
        self.batches
            .last()
            .map_or(self.rss_before_kib, |b| b.rss_kib)
    }

    /// RSS with the first 10,000 open (all of them, if fewer).
    pub(super) fn rss_at_10k_kib(&self) -> u64 {
        self.batches
            .first()
            .map_or(self.rss_before_kib, |b| b.rss_kib)
    }

    fn seconds(&self) -> f64 {
        self.batches.iter().map(|b| b.seconds).sum()
    }

    /// Bytes of RSS per open session.
    fn bytes_per_session(&self) -> f64 {
        (self.rss_after_kib().saturating_sub(self.rss_before_kib) * 1024) as f64
            / self.count.max(1) as f64
    }

    pub(super) fn report(&self) -> String {
        let mut out = format!(
            "\nmcp-auth with {} open handshake-era sessions (distinct principals, {CONCURRENCY} clients at once, opened in {:.1} s): \
             RSS {} (before: {}; with the first 10,000: {}), {:.0} bytes per session",
            self.count,
            self.seconds(),
            mib(self.rss_after_kib()),
            mib(self.rss_before_kib),
            mib(self.rss_at_10k_kib()),
            self.bytes_per_session(),
        );
        if self.stopped {
            let _ = write!(
                out,
                "\n  STOPPED at the {} s limit: opening a session costs more the more are open (see BENCHMARKS.md, \"Scale\")",
                SESSIONS_LIMIT.as_secs()
            );
        }
        if self.batches.len() > 1 {
            let by_batch = |f: &dyn Fn(&Batch) -> f64| {
                self.batches
                    .iter()
                    .map(|b| format!("{:.0}", f(b)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                out,
                "\n  by batch of {BATCH}: sessions opened per second {}; server CPU µs per session opened {} \
                 (tokens signed ahead in {:.1} s)",
                by_batch(&|b| b.opened as f64 / b.seconds),
                by_batch(&|b| b.cpu_seconds * 1e6 / b.opened as f64),
                self.signing_seconds
            );
        }
        out.push('\n');
        out
    }
}

/// One batch of sessions opened.
struct Batch {
    opened: usize,
    rss_kib: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// How long opening the sessions may take in all; the figures are then those of the sessions
/// opened so far. The in-memory session store of the runtime this was written against scans
/// every session at each `initialize` (to count the principal's), so that opening one costs
/// more the more are open: on two busy CPUs, 70,000 took about 10 minutes.
const SESSIONS_LIMIT: Duration = Duration::from_secs(240);

/// Opens `options.sessions` sessions on a stateful mcp-auth server (token cache on), each
/// with the `initialize` handshake of a distinct principal (a principal holds at most 64),
/// [`CONCURRENCY`] at a time, and samples its RSS after every [`BATCH`].
pub(super) async fn sessions(
    options: &Options,
    issuer: &str,
    resource: &str,
    key: &SigningKey,
) -> anyhow::Result<Sessions> {
    let started = Instant::now();
    let tokens = sign_tokens(options.sessions, issuer, resource, key);
    let signing_seconds = started.elapsed().as_secs_f64();
    let mut server = start_ours(options, issuer, true)?;
    let result = open_sessions(&mut server, options, resource, tokens).await;
    stop_child(&mut server);
    Ok(Sessions {
        signing_seconds,
        ..result?
    })
}

/// `count` tokens of distinct principals, signed on every CPU.
fn sign_tokens(count: usize, issuer: &str, resource: &str, key: &SigningKey) -> Vec<String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|from| {
                scope.spawn(move || {
                    (from..(from + chunk).min(count))
                        .map(|i| key.sign(&issuer::claims(issuer, resource, &format!("user-{i}"))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

async fn open_sessions(
    server: &mut std::process::Child,
    options: &Options,
    resource: &str,
    tokens: Vec<String>,
) -> anyhow::Result<Sessions> {
    wait_ready(options.port, server).await?;
    let pid = server.id();
    let http = reqwest::Client::new();
    // One call first, so that the key set is fetched before the idle figure.
    post(&http, resource, Some(&tokens[0]))
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before_kib = rss_kib(pid)?;
    let tokens = Arc::new(tokens);
    let ticks = clock_ticks()? as f64;
    let mut batches = Vec::new();
    // Bounded: every session is opened once at most, all within `SESSIONS_LIMIT`.
    let deadline = Instant::now() + SESSIONS_LIMIT;
    let mut count = 0;
    for from in (0..tokens.len()).step_by(BATCH) {
        if Instant::now() >= deadline {
            break;
        }
        let to = (from + BATCH).min(tokens.len());
        let next = Arc::new(AtomicUsize::new(from));
        let opened = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let cpu_before = cpu_ticks(pid)?;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (tokens, next, http) = (tokens.clone(), next.clone(), http.clone());
                let opened = opened.clone();
                let url = resource.to_owned();
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= to || Instant::now() >= deadline {
                            return anyhow::Ok(());
                        }
                        open_session(&http, &url, &tokens[i]).await?;
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let opened = opened.load(Ordering::Relaxed);
        count += opened;
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = (cpu_ticks(pid)? - cpu_before) as f64 / ticks;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rss_kib = rss_kib(pid)?;
        eprintln!(
            "   {count} sessions, RSS {}, the last {opened} in {seconds:.1} s ({cpu_seconds:.1} s of server CPU)",
            mib(rss_kib),
        );
        batches.push(Batch {
            opened,
            rss_kib,
            seconds,
            cpu_seconds,
        });
    }
    Ok(Sessions {
        stopped: count < tokens.len(),
        count,
        rss_before_kib,
        batches,
        signing_seconds: 0.0,
    })
}

/// The `initialize` request of a 2025-11-25 client, as `serde_json` writes it (keys sorted).
const INITIALIZE: &str = r#"{"id":1,"jsonrpc":"2.0","method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"load","version":"0"},"protocolVersion":"2025-11-25"}}"#;

/// Opens one session with `token`: `initialize`, then `notifications/initialized`; returns
/// its id.
pub(super) async fn open_session(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(token)
        .body(INITIALIZE)
        .send()
        .await?;
    expect_status(&response, 200, "initialize")?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .context("no Mcp-Session-Id")?
        .to_str()?
        .to_owned();
    response.bytes().await?;
    let initialized = post(http, url, Some(token))
        .header("mcp-session-id", &session)
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await?;
    expect_status(&initialized, 202, "notifications/initialized")?;
    Ok(session)
}

/// Fails, naming `what` and the status, unless `response` has the status `expected`.
fn expect_status(response: &reqwest::Response, expected: u16, what: &str) -> anyhow::Result<()> {
    ensure!(
        response.status() == expected,
        "{what}: {}",
        response.status()
    );
    Ok(())
}
