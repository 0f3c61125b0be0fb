//! The `billing` binary as a user runs it: the printed tokens and `curl` command, `billing
//! token`, the persisted signing key, and the loopback-only rule of the dev issuer.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::invoice;
use mcp_auth_test_support::fixture::{TempDir, http, within};
use mcp_auth_test_support::modern::Reply;
use mcp_auth_test_support::process::Program;
use serde_json::{Value, json};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_billing");

/// What a running `billing serve` printed.
struct Banner {
    /// All of it.
    text: String,
    resource: String,
    read_token: String,
    write_token: String,
    curl: String,
}

/// A running `billing` process, killed on drop, with its stderr collected.
struct Running {
    program: Program,
    banner: Banner,
    http: reqwest::Client,
}

impl Running {
    /// Starts `billing` with `args` and waits for its banner.
    async fn start(args: &[&str]) -> Running {
        let mut program = Program::start(BIN, args, &[("RUST_LOG", "info")]);
        // The banner ends with the `-d` line of the curl command.
        let stdout = program.lines_until(|line| line.starts_with("  -d '")).await;
        program.drain_stdout();
        Running {
            program,
            banner: parse_banner(&stdout),
            http: http(),
        }
    }

    /// Calls `tool` of this server with `token`.
    async fn call(&self, token: &str, tool: &str, arguments: Value) -> Reply {
        common::call(&self.http, &self.banner.resource, token, tool, arguments).await
    }

    /// Starts `billing` on any free port with the data of `dir` and `options` besides.
    async fn serve(dir: &TempDir, options: &[&str]) -> Running {
        Running::start(&[&["--port", "0", "--data-dir", dir.str()], options].concat()).await
    }

    fn stderr(&self) -> String {
        self.program.stderr()
    }

    fn port(&self) -> u16 {
        let url = url_port(&self.banner.resource);
        url.parse().unwrap()
    }

    async fn stop(mut self) {
        self.program.child().kill().await.unwrap();
    }
}

fn url_port(resource: &str) -> &str {
    resource
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .unwrap_or_else(|| panic!("unexpected resource {resource}"))
}

fn parse_banner(lines: &[String]) -> Banner {
    let after = |prefix: &str| -> String {
        let at = lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {lines:#?}"));
        lines[at + 1].trim().to_owned()
    };
    let resource = lines[0]
        .strip_prefix("billing MCP server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]))
        .to_owned();
    let curl_at = lines.iter().position(|l| l.starts_with("curl ")).unwrap();
    Banner {
        text: lines.join("\n"),
        resource,
        read_token: after("Read-only token"),
        write_token: after("Read-write token"),
        curl: lines[curl_at..].join("\n"),
    }
}

/// The arguments of `-H` and `-d` in the printed curl command, and its URL.
fn parse_curl(curl: &str) -> (String, Vec<(String, String)>, String) {
    let mut url = None;
    let mut headers = Vec::new();
    let mut body = None;
    for line in curl.lines() {
        let line = line.trim().trim_end_matches('\\').trim();
        if let Some(rest) = line.strip_prefix("curl -sS ") {
            url = Some(rest.to_owned());
        } else if let Some(header) = line.strip_prefix("-H '").and_then(|h| h.strip_suffix('\'')) {
            let (name, value) = header.split_once(": ").unwrap();
            headers.push((name.to_owned(), value.to_owned()));
        } else if let Some(data) = line.strip_prefix("-d '").and_then(|d| d.strip_suffix('\'')) {
            body = Some(data.to_owned());
        } else {
            panic!("unexpected curl line {line:?}");
        }
    }
    (url.unwrap(), headers, body.unwrap())
}

/// Runs `test` with a fresh data directory for the binary, within the time limit.
async fn with_data_dir(test: impl AsyncFnOnce(TempDir)) {
    within(test(TempDir::new("billing-test"))).await
}

#[tokio::test]
async fn the_dpop_mode_is_logged_and_printed_at_start() {
    with_data_dir(async |dir| {
        for (flag, mode) in [
            (None, "accept"),
            (Some("off"), "off"),
            (Some("require"), "require"),
        ] {
            let mut args = vec!["--db", ":memory:"];
            args.extend(flag.iter().flat_map(|flag| ["--dpop", flag]));
            let server = Running::serve(&dir, &args).await;
            let line = format!("DPoP {mode}: ");
            assert!(server.banner.text.contains(&line), "{}", server.banner.text);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !server.stderr().contains(&line) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(server.stderr().contains(&line), "{}", server.stderr());
            server.stop().await;
        }
    })
    .await
}

#[tokio::test]
async fn the_printed_tokens_and_curl_command_work() {
    with_data_dir(async |dir| {
        let server = Running::serve(&dir, &["--db", ":memory:"]).await;
        let banner = &server.banner;
        let http = http();

        // The curl command, as a user pastes it into a shell.
        let (url, headers, body) = parse_curl(&banner.curl);
        assert_eq!(url, banner.resource);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("MCP-Protocol-Version"), Some("2026-07-28"));
        assert_eq!(header("Mcp-Method"), Some("tools/list"));
        assert_eq!(
            header("Authorization"),
            Some(format!("Bearer {}", banner.read_token).as_str())
        );
        let request: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            request["params"]["_meta"],
            json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            })
        );
        let listed = if std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_ok()
        {
            let output = Command::new("sh")
                .arg("-c")
                .arg(&banner.curl)
                .env("NO_PROXY", "*")
                .output()
                .await
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).unwrap()
        } else {
            // No curl here: send exactly what it would.
            let mut request = http.post(&url).body(body.clone());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            request.send().await.unwrap().text().await.unwrap()
        };
        let listed: Value = serde_json::from_str(&listed).unwrap();
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "list_invoices",
                "lookup_invoice",
                "create_invoice",
                "void_invoice",
                "refund_invoice"
            ]
        );

        // The read-only token reads but cannot write; the read-write token can.
        let (read, write) = (&banner.read_token, &banner.write_token);
        let listed = server.call(read, "list_invoices", json!({})).await;
        assert_eq!(common::ids(&listed.structured()).len(), 7);
        let refused = server.call(read, "void_invoice", invoice("INV-2041")).await;
        refused.assert_insufficient_scope("invoices:write");
        let voided = server
            .call(write, "void_invoice", invoice("INV-2041"))
            .await;
        assert_eq!(voided.structured()["invoice"]["voided_by"], "alice");
        let refunded = server
            .call(write, "refund_invoice", invoice("INV-2042"))
            .await;
        assert_eq!(refunded.structured()["invoice"]["status"], "refunded");

        // Audit events go to stderr with target `audit`, without the tokens.
        let audit_lines = |stderr: &str| stderr.lines().filter(|l| l.contains(" audit: ")).count();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while audit_lines(&server.stderr()) < 4 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stderr = server.stderr();
        let audit: Vec<&str> = stderr.lines().filter(|l| l.contains(" audit: ")).collect();
        assert_eq!(audit.len(), 4, "{stderr}");
        // A refusal is written off the request's path, so its line may follow later calls'.
        assert_eq!(
            audit
                .iter()
                .filter(|l| l.contains("insufficient_scope") && l.contains("void_invoice"))
                .count(),
            1,
            "{stderr}"
        );
        assert!(
            audit.iter().any(|l| l.contains("void_invoice")
                && l.contains("alice")
                && l.contains("outcome=\"ok\"")),
            "{stderr}"
        );
        assert!(!stderr.contains(&banner.read_token) && !stderr.contains(&banner.write_token));

        // The signing key is in the data directory, readable by its owner only.
        let key = dir.path().join("dev-issuer-key.der");
        assert!(key.is_file());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // `--db :memory:` wrote no database file.
        assert!(!dir.path().join("billing.db").exists());
        server.stop().await;
    })
    .await;
}

/// Runs `billing` with `args` to its end.
async fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

/// Runs `billing token` with `args`.
async fn token(args: &[&str]) -> Output {
    run(&[&["token"], args].concat()).await
}

/// The stderr of a run that must have failed.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[tokio::test]
async fn billing_token_prints_only_a_token_the_server_accepts() {
    with_data_dir(async |dir| {
        let server = Running::serve(&dir, &[]).await;
        let port = server.port().to_string();

        let output = token(&[
            "--scope",
            "invoices:read",
            "--scope",
            "invoices:write",
            "--tenant",
            "globex",
            "--subject",
            "bob",
            "--lifetime",
            "10m",
            "--data-dir",
            dir.str(),
            "--port",
            &port,
        ])
        .await;
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let jwt = stdout.strip_suffix('\n').expect("one line");
        assert!(!jwt.contains(char::is_whitespace), "{stdout:?}");
        assert_eq!(jwt.split('.').count(), 3, "{stdout:?}");

        let listed = server.call(jwt, "list_invoices", json!({})).await;
        assert_eq!(common::ids(&listed.structured())[0], "INV-3105");
        let voided = server.call(jwt, "void_invoice", invoice("INV-3101")).await;
        assert_eq!(voided.structured()["invoice"]["voided_by"], "bob");
        // Scopes separated by spaces work too; refunds need payments:write.
        let output = token(&[
            "--scope",
            "invoices:read invoices:write",
            "--data-dir",
            dir.str(),
            "--port",
            &port,
        ])
        .await;
        let reader = String::from_utf8(output.stdout).unwrap();
        let refused = server
            .call(reader.trim(), "refund_invoice", invoice("INV-2042"))
            .await;
        refused.assert_insufficient_scope("invoices:write payments:write");

        // Without a tenant: every tool refuses.
        let output = token(&["--no-tenant", "--data-dir", dir.str(), "--port", &port]).await;
        let tenantless = String::from_utf8(output.stdout).unwrap();
        let refused = server
            .call(tenantless.trim(), "list_invoices", json!({}))
            .await;
        let error = refused.tool_error();
        assert!(error.contains("names no tenant"), "{error}");

        // A token for another port is for another resource: rejected.
        let output = token(&["--data-dir", dir.str(), "--port", "1"]).await;
        let elsewhere = String::from_utf8(output.stdout).unwrap();
        let reply = server
            .call(elsewhere.trim(), "list_invoices", json!({}))
            .await;
        assert_eq!(reply.status, 401);

        // Unknown scopes and absurd lifetimes are refused, with nothing on stdout.
        for args in [&["--scope", "admin"][..], &["--lifetime", "30d"]] {
            let output = token(&[args, &["--data-dir", dir.str()][..]].concat()).await;
            let stderr = failure(&output);
            assert!(output.stdout.is_empty());
            assert!(
                stderr.contains("admin") || stderr.contains("24h"),
                "{stderr}"
            );
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    with_data_dir(async |dir| {
        let first = Running::serve(&dir, &[]).await;
        let port = first.port().to_string();
        let read_token = first.banner.read_token.clone();
        first.stop().await;
        let minted = token(&["--data-dir", dir.str(), "--port", &port]).await;
        assert!(minted.status.success(), "{minted:?}");

        let second = Running::start(&["--port", &port, "--data-dir", dir.str()]).await;
        let minted = String::from_utf8(minted.stdout).unwrap();
        for jwt in [read_token.as_str(), minted.trim()] {
            let reply = second.call(jwt, "list_invoices", json!({})).await;
            assert_eq!(common::ids(&reply.structured()).len(), 7);
        }
        second.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_dev_issuer_refuses_a_non_loopback_host() {
    with_data_dir(async |dir| {
        let output = run(&["--host", "0.0.0.0", "--port", "0", "--data-dir", dir.str()]).await;
        let stderr = failure(&output);
        assert!(output.stdout.is_empty());
        assert!(
            stderr.contains("the development issuer serves loopback only, and --host 0.0.0.0 is not a loopback address"),
            "{stderr}"
        );
        // It stopped before creating anything.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    })
    .await;
}

#[tokio::test]
async fn tool_rate_limits_and_health_endpoints() {
    with_data_dir(async |dir| {
        let server = Running::serve(&dir, &["--tool-rate-limit", "void_invoice=2"]).await;
        let http = http();
        let origin = server
            .banner
            .resource
            .strip_suffix("/mcp")
            .unwrap()
            .to_owned();
        let live = http.get(format!("{origin}/healthz")).send().await.unwrap();
        assert_eq!(live.status(), 200);
        let ready = http.get(format!("{origin}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let ready: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(
            ready,
            json!({ "status": "ready", "checks": { "token_verifier": "ready", "sessions": "ready" } })
        );

        // The budget is per wall-clock minute: a burst that straddles two minutes is retried.
        let minute = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60;
        for attempt in 0.. {
            let started = minute();
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let args = invoice("INV-2041");
                let reply = server.call(&server.banner.write_token, "void_invoice", args).await;
                statuses.push(reply.status);
            }
            if minute() != started && attempt == 0 {
                continue;
            }
            assert_eq!(statuses, [200, 200, 429]);
            break;
        }
        // Other tools have no budget of their own.
        let args = invoice("INV-2041");
        let reply = server.call(&server.banner.write_token, "lookup_invoice", args).await;
        assert_eq!(reply.status, 200);
        // The refused call is in the audit trail, as every call is, without the token.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !server.stderr().contains("rate_limited") && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stderr = server.stderr();
        let refused: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(" audit: ") && l.contains("rate_limited"))
            .collect();
        assert!(
            refused.len() == 1 && refused[0].contains("void_invoice"),
            "{stderr}"
        );
        assert!(!stderr.contains(&server.banner.write_token), "{stderr}");
        server.stop().await;

        // A budget for a tool the server lacks stops it at start-up.
        let output = run(&[
            "--port",
            "0",
            "--db",
            ":memory:",
            "--data-dir",
            dir.str(),
            "--tool-rate-limit",
            "void_invoices=2",
        ])
        .await;
        let stderr = failure(&output);
        assert!(
            stderr.contains("a rate limit names `void_invoices`, which is not a tool of this server"),
            "{stderr}"
        );
    })
    .await;
}

#[tokio::test]
async fn two_processes_share_one_database_under_concurrent_calls() {
    with_data_dir(async |dir| {
        let db = dir.path().join("shared.db");
        let db = db.to_str().unwrap();
        let args = ["--port", "0", "--data-dir", dir.str(), "--db", db];
        let a = Running::start(&args).await;
        let b = Running::start(&args).await;
        let http = http();
        // Every call writes its audit row: both processes write the file at once.
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..200 {
            let server = if i % 2 == 0 { &a } else { &b };
            let (http, resource, token) = (
                http.clone(),
                server.banner.resource.clone(),
                server.banner.read_token.clone(),
            );
            calls.spawn(async move {
                let args = json!({ "invoice_id": "INV-2041" });
                common::call(&http, &resource, &token, "lookup_invoice", args).await
            });
        }
        let mut failures = Vec::new();
        while let Some(reply) = calls.join_next().await {
            let reply = reply.unwrap();
            if reply.status != 200 || reply.body["result"]["isError"] == true {
                failures.push(reply);
            }
        }
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            failures.first()
        );
        a.stop().await;
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn connection_limits_come_from_the_command_line() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    with_data_dir(async |dir| {
        let server = Running::serve(
            &dir,
            &[
                "--header-read-timeout",
                "1s",
                "--request-body-timeout",
                "1s",
                "--max-streams-per-principal",
                "1",
            ],
        )
        .await;
        let addr = format!("127.0.0.1:{}", server.port());

        // A connection that sends nothing is closed after the header-read timeout.
        let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let opened = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        assert!(opened.elapsed() >= Duration::from_millis(900));

        // A body that does not arrive within the body timeout gets 408.
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 100\r\n\r\n{{",
            server.banner.read_token
        );
        slow.write_all(head.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut response)).await;
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");

        // One listen stream per caller: the second is refused.
        let http = http();
        let listen = || {
            common::request(
                &http,
                &server.banner.resource,
                &server.banner.read_token,
                "subscriptions/listen",
                json!({ "notifications": {} }),
            )
            .header("accept", "text/event-stream")
        };
        let mut first = listen().send().await.unwrap();
        assert_eq!(first.status(), 200);
        first.chunk().await.unwrap().expect("the acknowledgement");
        let second = listen().send().await.unwrap();
        assert_eq!(second.status(), 429);
        server.stop().await;
    })
    .await;
}
