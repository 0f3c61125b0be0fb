//! The billing fixture: the billing server in-process on an ephemeral loopback port, its calls
//! in either era, and direct reads of its database. What is not about billing comes from
//! `mcp_auth_test_support`.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser as _;
use mcp_auth_runtime::dev_issuer::{DevIssuer, MintRequest};
use mcp_auth_test_support::fixture::{TempDir, http, within};
use mcp_auth_test_support::modern::{self, ACCEPTS, Reply};
use mcp_auth_test_support::open_session;
use serde_json::{Value, json};

/// The billing server, in-process, on an ephemeral loopback port, with its database in a
/// temporary directory.
pub struct TestServer {
    pub addr: SocketAddr,
    pub resource: String,
    /// The payments API refunds are recorded at.
    pub payments: String,
    pub issuer: DevIssuer,
    /// The Prometheus text's address, with `--metrics-addr`.
    pub metrics: Option<SocketAddr>,
    pub dir: TempDir,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Asserts the audit trail, each row as its [`summary`].
    pub fn assert_audit(&self, expected: &[Summary<'_>]) {
        assert_eq!(summary(&self.audit()), expected);
    }

    /// Runs `test` against a freshly started server, all of it within the time limit.
    pub async fn run(test: impl AsyncFnOnce(TestServer)) {
        within(async { test(TestServer::start().await).await }).await
    }

    pub async fn start() -> TestServer {
        Self::start_in(TempDir::new("billing-test"), 0).await
    }

    /// Starts with these options of `billing serve` besides the port and data directory.
    pub async fn start_with(options: &[&str]) -> TestServer {
        Self::start_in_with(TempDir::new("billing-test"), 0, options).await
    }

    /// Starts on `port` (0: any) with the data of `dir`.
    pub async fn start_in(dir: TempDir, port: u16) -> TestServer {
        Self::start_in_with(dir, port, &[]).await
    }

    async fn start_in_with(dir: TempDir, port: u16, options: &[&str]) -> TestServer {
        let port = port.to_string();
        let mut args = vec!["billing", "--port", &port, "--data-dir", dir.str()];
        args.extend_from_slice(options);
        let cli = billing::Cli::parse_from(args);
        let billing::Command::Serve(args) = cli.into_command() else {
            unreachable!("serve is the default command")
        };
        let server = billing::Server::bind(&args).await.unwrap();
        let addr = server.local_addr();
        let resource = server.resource().to_owned();
        let payments = server.payments_url().to_owned();
        let issuer = server.dev_issuer().expect("the dev issuer runs").clone();
        let metrics = server.metrics_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            addr,
            resource,
            payments,
            issuer,
            metrics,
            dir,
            http: http(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and hands back its data directory.
    pub async fn stop(mut self) -> (TempDir, u16) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        let port = self.addr.port();
        let dir = std::mem::replace(&mut self.dir, TempDir::new("billing-test"));
        (dir, port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A token of `subject` in `tenant` with `scopes`, valid for an hour.
    pub fn token(&self, subject: &str, tenant: Option<&str>, scopes: &[&str]) -> String {
        self.issuer
            .mint(MintRequest {
                subject: subject.into(),
                tenant: tenant.map(Into::into),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                client_id: Some("billing-tests".into()),
                ..MintRequest::default()
            })
            .unwrap()
    }

    /// A token of alice in acme with `scopes` for the payments API (not the MCP server), minted
    /// directly: without an exchange, so without `act`.
    pub fn payments_token(&self, scopes: &[&str]) -> String {
        self.issuer
            .mint(MintRequest {
                subject: "alice".into(),
                tenant: Some("acme".into()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                resource: Some(self.payments.clone()),
                ..MintRequest::default()
            })
            .unwrap()
    }

    /// The JSON document at `path` of this server (a metadata document).
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Calls `tool` with `arguments`.
    pub async fn call(&self, token: &str, tool: &str, arguments: Value) -> Reply {
        call(&self.http, &self.resource, token, tool, arguments).await
    }

    /// The status of a `tools/list` without a token.
    pub async fn anonymous_list(&self) -> u16 {
        self.http
            .post(&self.resource)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The `structuredContent` of a successful call; panics on anything else.
    pub async fn ok(&self, token: &str, tool: &str, arguments: Value) -> Value {
        self.call(token, tool, arguments).await.structured()
    }

    /// The audit trail of calls (the rows naming a tool, resource or prompt), oldest first,
    /// once it has settled: calls refused before a tool ran are recorded just after their
    /// response is sent.
    pub fn audit(&self) -> Vec<AuditRow> {
        settled(|| audit_rows(&self.db()))
    }

    /// Every row of the audit trail, refusals that named no call (`401`s) included, once it
    /// has settled.
    pub fn audit_requests(&self) -> Vec<RequestRow> {
        settled(|| request_rows(&self.db()))
    }

    /// One invoice row as stored: `(status, refunded_cents, voided_by)`.
    pub fn stored(&self, tenant: &str, number: i64) -> Option<(String, i64, Option<String>)> {
        let conn = self.db();
        conn.query_row(
            "SELECT status, refunded_cents, voided_by FROM invoices
             WHERE tenant = ?1 AND number = ?2",
            rusqlite::params![tenant, number],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
    }

    /// Every invoice and refund, to compare before and after calls that must change nothing.
    pub fn snapshot(&self) -> Vec<String> {
        let conn = self.db();
        let mut rows: Vec<String> = conn
            .prepare("SELECT * FROM invoices ORDER BY tenant, number")
            .unwrap()
            .query_map([], |r| {
                Ok((0..10)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let refunds: i64 = conn
            .query_row("SELECT count(*) FROM refunds", [], |r| r.get(0))
            .unwrap();
        rows.push(format!("refunds: {refunds}"));
        rows
    }

    /// The API key and the acting client of each audit row: `(tool, outcome, api_key_id,
    /// acting_client)`.
    pub fn audit_principals(&self) -> Vec<(String, String, Option<String>, Option<String>)> {
        let _settled = self.audit();
        let conn = self.db();
        let mut query = conn
            .prepare(
                "SELECT tool, outcome, api_key_id, acting_client FROM audit
                 WHERE tool IS NOT NULL ORDER BY id",
            )
            .unwrap();
        query
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.path().join("billing.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One refund the payments API recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub tenant: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub acting_client: Option<String>,
}

/// The refunds recorded by the payments API whose database is `dir/payments.db`, oldest
/// first.
pub fn payment_rows(dir: &std::path::Path) -> Vec<PaymentRow> {
    let path = dir.join("payments.db");
    if !path.exists() {
        return Vec::new();
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.prepare(
        "SELECT tenant, invoice_id, amount_cents, subject, client_id, acting_client
         FROM payment_refunds ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(PaymentRow {
            tenant: r.get(0)?,
            invoice_id: r.get(1)?,
            amount_cents: r.get(2)?,
            subject: r.get(3)?,
            client_id: r.get(4)?,
            acting_client: r.get(5)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A 2026-07-28 request: one POST, no session, the version and capabilities in `_meta`,
/// mirrored in headers.
pub fn request(
    http: &reqwest::Client,
    resource: &str,
    token: &str,
    method: &str,
    params: Value,
) -> reqwest::RequestBuilder {
    modern::request(
        http,
        resource,
        token,
        ACCEPTS[0],
        json!({}),
        1,
        method,
        params,
    )
}

/// `tools/call` of `tool` with `arguments`, in the 2026-07-28 era.
pub async fn call(
    http: &reqwest::Client,
    resource: &str,
    token: &str,
    tool: &str,
    arguments: Value,
) -> Reply {
    Reply::of(request(
        http,
        resource,
        token,
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    ))
    .await
}

/// One row of the `audit` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub at: String,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub tenant: Option<String>,
    pub kind: String,
    pub tool: String,
    pub outcome: String,
    pub invoice_id: Option<String>,
    pub detail: Option<String>,
}

/// What an audit row says happened, and to whom: `(tool, outcome, subject, tenant, invoice_id)`.
pub type Summary<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// The [`Summary`] of each row.
pub fn summary(rows: &[AuditRow]) -> Vec<Summary<'_>> {
    rows.iter()
        .map(|r| {
            let (subject, tenant) = (r.subject.as_deref(), r.tenant.as_deref());
            (
                r.tool.as_str(),
                r.outcome.as_str(),
                subject,
                tenant,
                r.invoice_id.as_deref(),
            )
        })
        .collect()
}

/// What `read` returns once two reads 50 ms apart agree, or after 5 s.
fn settled<T: PartialEq>(read: impl Fn() -> T) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut rows = read();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let again = read();
        if again == rows || std::time::Instant::now() > deadline {
            return again;
        }
        rows = again;
    }
}

/// One row of the `audit` table, as a request: what it asked and why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    pub method: Option<String>,
    pub tool: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
    pub protocol_version: Option<String>,
}

fn request_rows(conn: &rusqlite::Connection) -> Vec<RequestRow> {
    conn.prepare(
        "SELECT method, tool, outcome, reason, subject, request_id, client_address,
                protocol_version
         FROM audit ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(RequestRow {
            method: r.get(0)?,
            tool: r.get(1)?,
            outcome: r.get(2)?,
            reason: r.get(3)?,
            subject: r.get(4)?,
            request_id: r.get(5)?,
            client_address: r.get(6)?,
            protocol_version: r.get(7)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The rows naming a call.
pub fn audit_rows(conn: &rusqlite::Connection) -> Vec<AuditRow> {
    conn.prepare(
        "SELECT at, subject, client_id, tenant, kind, tool, outcome, invoice_id, detail
         FROM audit WHERE tool IS NOT NULL ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(AuditRow {
            at: r.get(0)?,
            subject: r.get(1)?,
            client_id: r.get(2)?,
            tenant: r.get(3)?,
            kind: r.get(4)?,
            tool: r.get(5)?,
            outcome: r.get(6)?,
            invoice_id: r.get(7)?,
            detail: r.get(8)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The arguments of a tool that takes an invoice and an amount: `refund_invoice`.
pub fn invoice_amount(id: &str, amount_cents: i64) -> Value {
    json!({ "invoice_id": id, "amount_cents": amount_cents })
}

/// The arguments of `create_invoice`.
pub fn new_invoice(customer: &str, amount_cents: i64) -> Value {
    json!({ "customer": customer, "amount_cents": amount_cents })
}

/// The arguments of a tool that takes one invoice: `{"invoice_id": id}`.
pub fn invoice(id: &str) -> Value {
    json!({ "invoice_id": id })
}

/// The ids of a page of invoices.
pub fn ids(page: &Value) -> Vec<String> {
    page["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A protocol era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25: `initialize` opens a session first.
    Handshake,
    /// 2026-07-28: one POST, no session.
    Modern,
}

/// A client of one era: in the handshake era it opens a session when it is created.
pub struct EraClient {
    http: reqwest::Client,
    resource: String,
    token: String,
    /// The handshake-era session; `None` in the 2026-07-28 era.
    session: Option<String>,
}

impl EraClient {
    pub async fn new(s: &TestServer, token: &str, era: Era) -> EraClient {
        let session = match era {
            Era::Handshake => Some(open_session(&s.http, &s.resource, token).await),
            Era::Modern => None,
        };
        EraClient {
            http: s.http.clone(),
            resource: s.resource.clone(),
            token: token.to_owned(),
            session,
        }
    }

    /// `tools/call` of `tool`, accepting `accept`, with `params` besides the name (the
    /// arguments; in the 2026-07-28 era also the answers and `requestState`).
    pub async fn call(&self, accept: &str, tool: &str, mut params: Value) -> Reply {
        params["name"] = tool.into();
        self.send(accept, "tools/call", params).await
    }

    /// `resources/read` of `uri`, accepting `accept`.
    pub async fn read(&self, accept: &str, uri: &str) -> Reply {
        self.send(accept, "resources/read", json!({ "uri": uri }))
            .await
    }

    /// A request of `method` with `params`, accepting `accept`; in the 2026-07-28 era with
    /// the `Mcp-Name` header the method needs.
    pub async fn send(&self, accept: &str, method: &str, params: Value) -> Reply {
        let (http, resource, token) = (&self.http, &self.resource, &self.token);
        let request = match &self.session {
            None => {
                let uri = params.get("uri").and_then(Value::as_str).map(str::to_owned);
                let request =
                    modern::request(http, resource, token, accept, json!({}), 1, method, params);
                match uri {
                    Some(uri) if method == "resources/read" => request.header("mcp-name", uri),
                    _ => request,
                }
            }
            Some(session) => {
                let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
                http.post(resource)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .header("accept", accept)
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25")
                    .body(body.to_string())
            }
        };
        Reply::of(request).await
    }
}
