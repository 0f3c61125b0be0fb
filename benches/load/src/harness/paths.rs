//! The other paths users take (issue 20, target 4), each measured as a server of its own in
//! the same rounds as the plain call (`ours-on`), and reported next to it: a handshake-era
//! session call, a call streaming progress over SSE, `resources/read` of a scoped resource,
//! and a call whose policy depends on its arguments (the DPoP-bound call is `ours-dpop`).
//! BENCHMARKS.md, "Other paths", says how each is made.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use serde_json::Value;

use super::{CACHE_ON, Figures, Load, Options, Target, cells, post, wrk_script};
use crate::issuer::{self, SigningKey};
use crate::ours::{APPROVAL_LIMIT_CENTS, EXPORTED};

/// The paths, in the order of their rows.
pub(super) const TARGETS: &[Target] = &[
    Target {
        name: "path-session",
        label: "path: handshake-era session call (stateful server, Mcp-Session-Id)",
        authenticated: true,
    },
    Target {
        name: "path-progress",
        label: "path: tools/call streaming 3 progress notifications over SSE",
        authenticated: true,
    },
    Target {
        name: "path-resource",
        label: "path: resources/read of a scoped resource (invoice://{id})",
        authenticated: true,
    },
    Target {
        name: "path-policy",
        label: "path: tools/call with an argument-dependent policy (refund above the limit needs payments:approve)",
        authenticated: true,
    },
];

/// The call of the session path: the plain call, in a session.
const SESSION_BODY: &str = super::BODY;

/// `export_invoices` with a progress token: three progress events, then the result.
const PROGRESS_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"export_invoices","arguments":{},"_meta":{"progressToken":"load-1"}}}"#;

const RESOURCE_BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"invoice://INV-2041"}}"#;

/// A refund above `APPROVAL_LIMIT_CENTS` (100,000): the policy requires `payments:approve`,
/// which the path's token holds.
const POLICY_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"plan_refund","arguments":{"invoice_id":"INV-2041","amount_cents":120000}}}"#;

/// The same refund below the limit, which needs no more than `invoices:write`.
const SMALL_REFUND_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"plan_refund","arguments":{"invoice_id":"INV-2041","amount_cents":50000}}}"#;

/// Handshake-era sessions the session path opens: wrk thread `i` uses the `i % SESSIONS`-th.
const SESSIONS: usize = 8;

/// The paths' tokens and scripts, made once per run.
pub(super) struct Paths {
    /// The plain call's claims plus `payments:approve`: the policy path's token.
    approver: String,
    /// `invoices:write` only: `resources/read` of the invoice must be refused, and a refund
    /// above the limit (the refund's static scope, without `payments:approve`).
    writer: String,
    /// The script of each path but the session's, by target name.
    scripts: Vec<(&'static str, PathBuf)>,
    /// The session path's script, and the file it reads the session ids from (written by
    /// the check, once the server holds the sessions).
    session_script: PathBuf,
    session_ids: PathBuf,
}

impl Paths {
    /// Signs the paths' tokens with `key` and writes their scripts to `dir`; `token` is the
    /// plain call's.
    pub(super) fn new(
        key: &SigningKey,
        issuer_url: &str,
        resource: &str,
        token: &str,
        dir: &Path,
    ) -> anyhow::Result<Paths> {
        let with_scope = |scope: &str| {
            let mut claims = issuer::claims(issuer_url, resource, "user-1");
            claims["scope"] = scope.into();
            key.sign(&claims)
        };
        let approver = with_scope("invoices:read invoices:write payments:approve");
        let writer = with_scope("invoices:write");
        let mut scripts = Vec::new();
        for (name, body, token) in [
            ("path-progress", PROGRESS_BODY, token),
            ("path-resource", RESOURCE_BODY, token),
            ("path-policy", POLICY_BODY, approver.as_str()),
        ] {
            let script = dir.join(format!("{name}.lua"));
            std::fs::write(&script, wrk_script(body, token, ""))?;
            scripts.push((name, script));
        }
        let session_ids = dir.join("sessions.txt");
        let session_script = dir.join("path-session.lua");
        std::fs::write(
            &session_script,
            wrk_script(SESSION_BODY, token, &session_lua(&session_ids)),
        )?;
        Ok(Paths {
            approver,
            writer,
            scripts,
            session_script,
            session_ids,
        })
    }

    /// What `wrk` sends for the path `name`, or `None` for a target that is not a path.
    pub(super) fn load<'a>(
        &'a self,
        name: &str,
        token: &'a str,
        options: &Options,
    ) -> Option<Load<'a>> {
        let script = match name {
            "path-session" => &self.session_script,
            _ => &self.scripts.iter().find(|(n, _)| *n == name)?.1,
        };
        let token = if name == "path-policy" {
            self.approver.as_str()
        } else {
            token
        };
        Some(Load {
            paths: Some(self),
            ..Load::bearer(script, token, options)
        })
    }

    /// Checks that the server answers the path `name` as expected, and that the call is
    /// refused without the token, or without what the path needs. For the session path, opens
    /// the sessions and writes their ids for the script.
    pub(super) async fn check(&self, name: &str, url: &str, load: &Load<'_>) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let token = load.token;
        match name {
            "path-session" => {
                let mut ids = String::new();
                for _ in 0..SESSIONS {
                    ids.push_str(&super::scale::open_session(&http, url, token).await?);
                    ids.push('\n');
                }
                let first = ids.lines().next().context("no session")?;
                let (status, text) = send(
                    post(&http, url, Some(token)).header("mcp-session-id", first),
                    SESSION_BODY,
                )
                .await?;
                ensure!(status == 200, "a call in a session got {status}: {text}");
                expect_invoice(&json(&text)?["result"]["structuredContent"], &text)?;
                let (status, _) = send(post(&http, url, Some(token)), SESSION_BODY).await?;
                ensure!(status == 400, "a call without its session got {status}");
                let (status, _) = send(
                    post(&http, url, Some(token)).header("mcp-session-id", "no-such-session"),
                    SESSION_BODY,
                )
                .await?;
                ensure!(status == 404, "a call in an unknown session got {status}");
                std::fs::write(&self.session_ids, ids)?;
            }
            "path-progress" => {
                let response = post(&http, url, Some(token))
                    .body(PROGRESS_BODY)
                    .send()
                    .await?;
                let status = response.status();
                let kind = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let text = response.text().await?;
                ensure!(status == 200, "status {status}: {text}");
                ensure!(
                    kind.starts_with("text/event-stream"),
                    "not an SSE stream ({kind}): {text}"
                );
                check_progress_stream(&text)?;
            }
            "path-resource" => {
                let (status, text) = send(post(&http, url, Some(token)), RESOURCE_BODY).await?;
                ensure!(status == 200, "status {status}: {text}");
                let contents = &json(&text)?["result"]["contents"][0];
                ensure!(
                    contents["uri"] == "invoice://INV-2041"
                        && contents["mimeType"] == "application/json",
                    "unexpected contents: {text}"
                );
                let invoice = json(contents["text"].as_str().context("no text")?)?;
                expect_invoice(&invoice, &text)?;
                let (status, text) =
                    send(post(&http, url, Some(&self.writer)), RESOURCE_BODY).await?;
                ensure!(
                    status == 403,
                    "a read without invoices:read got {status}: {text}"
                );
            }
            "path-policy" => {
                let (status, text) = send(post(&http, url, Some(token)), POLICY_BODY).await?;
                ensure!(status == 200, "status {status}: {text}");
                let refund = &json(&text)?["result"]["structuredContent"];
                ensure!(
                    refund["approved"] == true && refund["amount_cents"] == 120_000,
                    "unexpected answer: {text}"
                );
                // A token with the refund's static scope only: refused above the limit,
                // served below it.
                let (status, text) =
                    send(post(&http, url, Some(&self.writer)), POLICY_BODY).await?;
                ensure!(
                    status == 403,
                    "a refund above {APPROVAL_LIMIT_CENTS} cents without payments:approve got {status}: {text}"
                );
                let (status, text) =
                    send(post(&http, url, Some(&self.writer)), SMALL_REFUND_BODY).await?;
                ensure!(
                    status == 200,
                    "a refund below the limit got {status}: {text}"
                );
            }
            other => anyhow::bail!("`{other}` is not a path"),
        }
        let body = match name {
            "path-progress" => PROGRESS_BODY,
            "path-resource" => RESOURCE_BODY,
            "path-policy" => POLICY_BODY,
            _ => SESSION_BODY,
        };
        let (status, _) = send(post(&http, url, None), body).await?;
        ensure!(status == 401, "a call without a token got {status}");
        Ok(())
    }
}

/// Sends `body`; the status and the answer's text.
async fn send(
    request: reqwest::RequestBuilder,
    body: &'static str,
) -> anyhow::Result<(u16, String)> {
    let response = request.body(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

fn json(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("not JSON: {text}"))
}

fn expect_invoice(invoice: &Value, text: &str) -> anyhow::Result<()> {
    ensure!(
        invoice["id"] == "INV-2041" && invoice["customer"] == "Initech",
        "unexpected answer: {text}"
    );
    Ok(())
}

/// The stream holds a priming event (an id and empty data, for resumption), a progress event
/// per exported invoice (1, 2, 3 of 3, with the call's token), then the result with every
/// invoice, and nothing else.
fn check_progress_stream(text: &str) -> anyhow::Result<()> {
    let data: Vec<String> = text
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    ensure!(
        data.first().is_some_and(|d| d.is_empty()),
        "the stream does not start with a priming event: {text}"
    );
    let events: Vec<Value> = data[1..]
        .iter()
        .map(|d| json(d))
        .collect::<anyhow::Result<_>>()?;
    let total = EXPORTED.len();
    ensure!(
        events.len() == total + 1,
        "expected {total} progress events and the result: {text}"
    );
    for (n, event) in events[..total].iter().enumerate() {
        let params = &event["params"];
        ensure!(
            event["method"] == "notifications/progress"
                && params["progressToken"] == "load-1"
                && params["progress"] == (n + 1) as f64
                && params["total"] == total as f64,
            "event {n} is not progress {} of {total}: {text}",
            n + 1
        );
    }
    let result = &events[total];
    let invoices = result["result"]["structuredContent"]["invoices"]
        .as_array()
        .context("no invoices in the result")?;
    ensure!(
        result["id"] == 1 && invoices.len() == total && invoices[0]["id"] == EXPORTED[0],
        "unexpected result: {text}"
    );
    Ok(())
}

/// The session path's server: stateful, token cache on.
pub(super) fn server_args(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "path-session" => Some(&[CACHE_ON, "stateful"]),
        "path-progress" | "path-resource" | "path-policy" => Some(&[CACHE_ON]),
        _ => None,
    }
}

/// Gives each wrk thread one of the session ids in `ids` (one a line), before its first
/// request: the request stays static, as the plain call's.
fn session_lua(ids: &Path) -> String {
    format!(
        r#"local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local sessions = {{}}
  for line in io.lines("{path}") do sessions[#sessions + 1] = line end
  wrk.headers["Mcp-Session-Id"] = sessions[(id % #sessions) + 1]
end
"#,
        path = ids.display()
    )
}

/// The paths next to the plain call (`ours-on`) and the DPoP-bound one (`ours-dpop`), as
/// multiples of the plain call's server CPU per request and of its requests/s.
pub(super) fn report(results: &[(&Target, Figures)]) -> String {
    let find = |name: &str| results.iter().find(|(t, _)| t.name == name);
    let rows: Vec<&(&Target, Figures)> = ["ours-on"]
        .into_iter()
        .chain(TARGETS.iter().map(|t| t.name))
        .chain(["ours-dpop"])
        .filter_map(find)
        .collect();
    if rows.iter().all(|(t, _)| t.name == "ours-on") {
        return String::new();
    }
    let plain = find("ours-on").map(|(_, f)| f);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nother paths (target 4), token cache on, next to the plain authenticated tools/call in the same rounds:\n"
    );
    let _ = writeln!(
        out,
        "| path | req/s | p50 | p99 | server CPU µs/req | CPU ÷ plain call's | req/s ÷ plain call's |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (target, f) in rows {
        let label = match target.name {
            "ours-on" => "plain tools/call (ours-on)",
            "ours-dpop" => {
                "path: DPoP-bound tools/call, a fresh ES256 proof per request (ours-dpop)"
            }
            _ => target.label,
        };
        let ratio = |of: fn(&Figures) -> f64| {
            plain.map_or("-".to_owned(), |p| format!("{:.2}×", of(f) / of(p)))
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            cells(f),
            ratio(|f| f.cpu_us_per_request),
            ratio(|f| f.rps),
        );
    }
    out
}
