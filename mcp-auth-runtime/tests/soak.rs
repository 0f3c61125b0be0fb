//! Soak test, local only (not in CI): a fixed number of concurrent clients keep a server on
//! loopback saturated for `SOAK_SECS` seconds (default 180) with a mix of valid calls (both
//! protocol eras, sessions opened and re-opened), `401`s, `403`s and malformed requests.
//!
//! It asserts that every answer has the status its kind of request must get, and that open
//! sessions and the server's tasks do not grow; it prints throughput, latencies and the
//! process's resident memory at the start and the end. Run it in release mode:
//!
//! ```text
//! SOAK_SECS=180 cargo test --release -p mcp-auth-runtime --test soak -- --ignored --nocapture
//! ```
//!
//! The server runs on a runtime of its own, so that its task count is not mixed with the
//! clients'; the resident memory is the whole test process's (server, issuer and clients).

// The printed report is what this test is for.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::bind_endpoint;
use mcp_auth_test_support::issuer::{Issuer, TestKey, at};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext<Runs>, invoice_id: String) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::Relaxed);
    Ok(format!("{invoice_id}: open, 42.00 EUR"))
}

/// Void an invoice.
#[tool(scope = "invoices:write", destructive)]
async fn void_invoice(ctx: ToolContext<Runs>, invoice_id: String) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::Relaxed);
    Ok(format!("{invoice_id}: voided"))
}

const CONCURRENCY: usize = 64;
const SUBJECTS: usize = 8;
/// Each worker opens a new session every this many of its requests.
const REOPEN_EVERY: usize = 200;
const PER_PRINCIPAL: usize = 64;

/// The kinds of request in the mix, and the status each must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `tools/call lookup_invoice` on the worker's session: 200.
    Call,
    /// The same in the 2026-07-28 era, without a session: 200.
    ModernCall,
    /// `initialize`: 200 and a new session.
    Initialize,
    /// An expired, foreign-audience or garbage token: 401.
    BadToken,
    /// A reader calling `void_invoice`: 403.
    Forbidden,
    /// Not JSON, a batch, or a wrong `jsonrpc`: 400.
    Malformed,
    /// No token at all: 401.
    NoToken,
}

impl Kind {
    fn expected(self) -> u16 {
        match self {
            Kind::Call | Kind::ModernCall | Kind::Initialize => 200,
            Kind::BadToken | Kind::NoToken => 401,
            Kind::Forbidden => 403,
            Kind::Malformed => 400,
        }
    }

    /// The `n`-th request of a worker: 50 % calls, 10 % modern calls, 12 % bad tokens,
    /// 12 % forbidden, 12 % malformed, 4 % without a token; initialize when due.
    fn of(n: usize) -> Kind {
        if n.is_multiple_of(REOPEN_EVERY) {
            return Kind::Initialize;
        }
        match n % 25 {
            0..=11 => Kind::Call,
            12 | 13 => Kind::ModernCall,
            14..=16 => Kind::BadToken,
            17..=19 => Kind::Forbidden,
            20..=22 => Kind::Malformed,
            _ => Kind::NoToken,
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

struct Target {
    addr: SocketAddr,
    server: McpServer,
    runtime: tokio::runtime::Handle,
    runs: Runs,
    reader: Vec<String>,
    bad: Vec<String>,
}

/// Starts the issuer and the server on a runtime of their own.
fn start() -> (Target, std::sync::mpsc::Sender<()>) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        runtime.block_on(async move {
            let key = TestKey::es256("soak");
            let issuer = Issuer::start(&[&key]).await;
            let (listener, addr, resource) = bind_endpoint().await;
            let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
                .build()
                .unwrap();
            let runs = Runs::default();
            let server = McpServer::builder("invoices", "1.0.0")
                .tools(tools![lookup_invoice, void_invoice])
                .state(runs.clone())
                .resource(resource.clone())
                .verifier(verifier)
                .session_idle_timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            mcp_auth_test_support::serve_on(listener, server.clone().into_router());
            let token = |sub: &str, aud: &str, exp: u64| {
                key.sign(&json!({
                    "iss": issuer.url, "aud": aud, "sub": sub, "client_id": "soak",
                    "scope": "invoices:read", "iat": at(0), "exp": exp,
                }))
            };
            let reader = (0..SUBJECTS)
                .map(|i| token(&format!("user-{i}"), &resource, at(3600)))
                .collect();
            let bad = vec![
                token("user-0", &resource, at(-3600)),
                token("user-0", "https://elsewhere.example/mcp", at(3600)),
                TestKey::es256("soak").sign(&json!({ "iss": issuer.url, "aud": resource })),
                "garbage-token".to_owned(),
            ];
            ready_tx
                .send(Target {
                    addr,
                    server,
                    runtime: handle,
                    runs,
                    reader,
                    bad,
                })
                .ok();
            // Serve until the test is done.
            tokio::task::spawn_blocking(move || stop_rx.recv().ok())
                .await
                .ok();
        });
    });
    (ready_rx.recv().unwrap(), stop_tx)
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(Kind, u16), usize>,
    latencies: BTreeMap<Kind, Histogram>,
}

/// Latencies in 50 µs buckets up to 1 s, and the maximum: constant memory however long the
/// run (keeping every sample would itself look like a leak).
#[derive(Clone)]
struct Histogram {
    buckets: Vec<u64>,
    max: Duration,
}

const BUCKET: Duration = Duration::from_micros(50);

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 20_001],
            max: Duration::ZERO,
        }
    }
}

impl Histogram {
    fn record(&mut self, took: Duration) {
        let bucket = (took.as_micros() / BUCKET.as_micros()) as usize;
        let last = self.buckets.len() - 1;
        self.buckets[bucket.min(last)] += 1;
        self.max = self.max.max(took);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.max = self.max.max(other.max);
    }

    /// The upper bound of the bucket holding the `p` quantile.
    fn percentile(&self, p: f64) -> Duration {
        let total: u64 = self.buckets.iter().sum();
        let rank = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank.max(1) {
                return BUCKET * (i as u32 + 1);
            }
        }
        self.max
    }
}

fn call_body(tool: &str, id: usize) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": tool, "arguments": { "invoice_id": format!("INV-{id}") } } })
    .to_string()
}

/// One worker: `n` counts its requests; it keeps one session open, re-opened when due.
async fn worker(target: Arc<Target>, w: usize, http: reqwest::Client, deadline: Instant) -> Tally {
    let url = format!("http://{}/mcp", target.addr);
    let token = target.reader[w % SUBJECTS].clone();
    let mut session: Option<String> = None;
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < deadline {
        let kind = if session.is_none() {
            Kind::Initialize
        } else {
            Kind::of(n)
        };
        n += 1;
        let post = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        let on_session = |builder: reqwest::RequestBuilder| {
            builder
                .header("mcp-session-id", session.clone().unwrap_or_default())
                .header("mcp-protocol-version", "2025-11-25")
        };
        let request = match kind {
            Kind::Initialize => post.bearer_auth(&token).body(
                json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize",
                        "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": { "name": "soak", "version": "0" } } })
                .to_string(),
            ),
            Kind::Call => on_session(post.bearer_auth(&token)).body(call_body("lookup_invoice", n)),
            Kind::ModernCall => post
                .bearer_auth(&token)
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "lookup_invoice")
                .body(
                    json!({ "jsonrpc": "2.0", "id": n, "method": "tools/call",
                            "params": { "name": "lookup_invoice", "arguments": { "invoice_id": "INV-7" },
                                        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                                   "io.modelcontextprotocol/clientCapabilities": {} } } })
                    .to_string(),
                ),
            Kind::BadToken => on_session(post.bearer_auth(&target.bad[n % target.bad.len()]))
                .body(call_body("lookup_invoice", n)),
            Kind::Forbidden => on_session(post.bearer_auth(&token)).body(call_body("void_invoice", n)),
            Kind::Malformed => on_session(post.bearer_auth(&token)).body(match n % 3 {
                0 => "{not json".to_owned(),
                1 => format!("[{}]", call_body("lookup_invoice", n)),
                _ => call_body("lookup_invoice", n).replace("\"2.0\"", "\"1.0\""),
            }),
            Kind::NoToken => on_session(post).body(call_body("lookup_invoice", n)),
        };
        let started = Instant::now();
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let header = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if kind == Kind::Initialize {
                    session = header;
                }
                if status == 200 && kind != Kind::Initialize && body["result"].is_null() {
                    0 // a 200 without a result is unexpected too
                } else {
                    status
                }
            }
            Err(_) => 1,
        };
        let took = started.elapsed();
        *tally.statuses.entry((kind, status)).or_default() += 1;
        tally.latencies.entry(kind).or_default().record(took);
        // A session ended by the per-principal bound is re-opened.
        if status == 404 {
            session = None;
        }
    }
    tally
}

/// Waits (bounded) until the server runtime's task count falls to `at_most`.
async fn settle_tasks(runtime: &tokio::runtime::Handle, at_most: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = runtime.metrics().num_alive_tasks();
        if alive <= at_most || Instant::now() > deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a multi-minute load test; run locally, see tests/SOAK.md"]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let (target, stop) = start();
    let target = Arc::new(target);

    // Warm up: a few requests of every kind, then close every connection.
    {
        let http = reqwest::Client::new();
        worker(
            target.clone(),
            0,
            http,
            Instant::now() + Duration::from_millis(500),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_tasks = target.runtime.metrics().num_alive_tasks();
    let rss_start = rss_kib();
    let sessions_start = target.server.open_sessions();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut samples = Vec::new();
    let sampler = {
        let target = target.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(5)).await;
                samples.push((
                    target.server.open_sessions(),
                    target.runtime.metrics().num_alive_tasks(),
                    rss_kib(),
                ));
            }
            samples
        })
    };
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| tokio::spawn(worker(target.clone(), w, http.clone(), deadline)))
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        let t = w.await.unwrap();
        for (k, v) in t.statuses {
            *tally.statuses.entry(k).or_default() += v;
        }
        for (k, v) in t.latencies {
            tally.latencies.entry(k).or_default().merge(&v);
        }
    }
    let elapsed = started.elapsed();
    samples.extend(sampler.await.unwrap());
    drop(http);
    let rss_end = rss_kib();
    let tasks_end = settle_tasks(&target.runtime, idle_tasks).await;
    let sessions_end = target.server.open_sessions();

    let total: usize = tally.statuses.values().sum();
    let unexpected: Vec<_> = tally
        .statuses
        .iter()
        .filter(|((kind, status), _)| kind.expected() != *status)
        .collect();
    println!(
        "soak: {secs} s, {CONCURRENCY} concurrent clients, {total} requests, {:.0} req/s, {} tool runs",
        total as f64 / elapsed.as_secs_f64(),
        target.runs.0.load(Ordering::Relaxed)
    );
    for ((kind, status), count) in &tally.statuses {
        println!("  {kind:?} -> {status}: {count}");
    }
    for (kind, latencies) in &tally.latencies {
        println!(
            "  {kind:?}: p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            latencies.percentile(0.5),
            latencies.percentile(0.99),
            latencies.percentile(0.999),
            latencies.max
        );
    }
    println!(
        "  RSS: {} MiB at start, {} MiB at end",
        rss_start / 1024,
        rss_end / 1024
    );
    println!(
        "  server tasks idle: {idle_tasks} before, {tasks_end} after; open sessions: {sessions_start} before, {sessions_end} after"
    );
    println!("  every 5 s (sessions, server tasks, RSS KiB): {samples:?}");

    assert!(unexpected.is_empty(), "unexpected statuses: {unexpected:?}");
    assert!(total > 1000, "the load never got going");
    assert!(
        tasks_end <= idle_tasks,
        "server tasks grew: {idle_tasks} idle before, {tasks_end} after"
    );
    let bound = SUBJECTS * PER_PRINCIPAL;
    for (sessions, _, _) in &samples {
        assert!(*sessions <= bound, "{sessions} sessions open");
    }
    assert!(sessions_end <= bound, "{sessions_end} sessions open");
    // Memory stays flat once warm: a leak of even a few hundred bytes per request would
    // show as hundreds of MiB over a run.
    let second_half: Vec<u64> = samples[samples.len() / 2..].iter().map(|s| s.2).collect();
    let (low, high) = (
        *second_half.iter().min().unwrap(),
        *second_half.iter().max().unwrap(),
    );
    assert!(
        high - low < 32 * 1024,
        "RSS grew by {} MiB in the second half",
        (high - low) / 1024
    );
    stop.send(()).ok();
}
