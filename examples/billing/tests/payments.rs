//! `refund_invoice` and the payments API: the refund is made downstream with a token exchanged
//! for the payments audience (RFC 8693), whose `act` claim names billing's client; the payments
//! API refuses the user's own MCP token; a failure downstream records nothing. In-process
//! (the default mount under `/payments`) and with `billing payments` as a second process.

mod common;

use common::{PaymentRow, TestServer, invoice, invoice_amount, payment_rows};
use mcp_auth_runtime::dev_issuer::MintRequest;
use mcp_auth_test_support::fixture::{TempDir, http, within};
use mcp_auth_test_support::process::Program;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_billing");

const REFUNDER: [&str; 3] = ["invoices:read", "invoices:write", "payments:write"];

/// The row the payments API keeps for a refund of alice (tenant acme) made by billing.
fn alice_refund(invoice_id: &str, amount_cents: i64) -> PaymentRow {
    PaymentRow {
        tenant: "acme".into(),
        invoice_id: invoice_id.into(),
        amount_cents,
        subject: Some("alice".into()),
        client_id: Some("billing-mcp".into()),
        acting_client: Some("billing-mcp".into()),
    }
}

/// `POST /payments/refunds` with `token`, `key` and `body`: the status and the JSON answer.
async fn post_refund(
    http: &reqwest::Client,
    payments: &str,
    token: Option<&str>,
    key: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut request = http
        .post(format!("{payments}/refunds"))
        .header("idempotency-key", key)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[tokio::test]
async fn a_refund_is_made_at_payments_as_the_user_with_billing_as_the_acting_client() {
    TestServer::run(async |s| {
        let token = s.token("alice", Some("acme"), &REFUNDER);
        let reply = s
            .call(&token, "refund_invoice", invoice_amount("INV-2042", 1_000))
            .await
            .structured();
        assert_eq!(reply["refund"]["amount_cents"], 1_000);
        assert_eq!(reply["refund"]["payment_id"], "PAY-1");
        // A refund of the rest is made downstream for the amount it comes to.
        let rest = s
            .call(&token, "refund_invoice", invoice("INV-2042"))
            .await
            .structured();
        assert_eq!(rest["refund"]["amount_cents"], 47_000);
        assert_eq!(rest["invoice"]["status"], "refunded");
        assert_eq!(
            payment_rows(s.dir.path()),
            [
                alice_refund("INV-2042", 1_000),
                alice_refund("INV-2042", 47_000)
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn payments_refuses_the_users_mcp_token_and_tokens_without_its_scope() {
    TestServer::run(async |s| {
        let body = invoice_amount("INV-2042", 100);
        // The user's own token names the MCP server: the wrong audience.
        let mcp_token = s.token("alice", Some("acme"), &REFUNDER);
        let (status, challenge, _) =
            post_refund(&s.http, &s.payments, Some(&mcp_token), "k1", body.clone()).await;
        assert_eq!(status, 401);
        let challenge = challenge.unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(
            challenge.contains("/.well-known/oauth-protected-resource/payments"),
            "{challenge}"
        );
        let (status, _, _) = post_refund(&s.http, &s.payments, None, "k1", body.clone()).await;
        assert_eq!(status, 401);
        // A payments token without payments:write.
        let reader = s.payments_token(&["invoices:read"]);
        let (status, challenge, _) =
            post_refund(&s.http, &s.payments, Some(&reader), "k1", body).await;
        assert_eq!(status, 403);
        assert!(
            challenge.unwrap().contains(r#"scope="payments:write""#),
            "the challenge names the scope"
        );
        assert_eq!(payment_rows(s.dir.path()), []);
        // Its metadata names its own audience and the issuer.
        let metadata = s
            .get_json("/.well-known/oauth-protected-resource/payments")
            .await;
        assert_eq!(metadata["resource"], s.payments);
        assert_eq!(metadata["authorization_servers"], json!([s.url("")]));
    })
    .await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_makes_no_second_refund() {
    TestServer::run(async |s| {
        let token = s.payments_token(&["payments:write"]);
        let body = invoice_amount("INV-2042", 100);
        let (status, _, first) =
            post_refund(&s.http, &s.payments, Some(&token), "key-1", body.clone()).await;
        assert_eq!(status, 201, "{first}");
        let (status, _, again) =
            post_refund(&s.http, &s.payments, Some(&token), "key-1", body).await;
        assert_eq!(status, 200);
        assert_eq!(again, first);
        let other = invoice_amount("INV-2042", 200);
        let (status, _, _) = post_refund(&s.http, &s.payments, Some(&token), "key-1", other).await;
        assert_eq!(status, 422);
        assert_eq!(payment_rows(s.dir.path()).len(), 1);
        // Minted directly, without an exchange: no acting client.
        assert_eq!(payment_rows(s.dir.path())[0].acting_client, None);
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_replays_a_refund_for_the_principal_that_made_it_only() {
    TestServer::run(async |s| {
        let payments_token = |subject: &str, tenant: &str| {
            s.issuer
                .mint(MintRequest {
                    subject: subject.into(),
                    tenant: Some(tenant.into()),
                    scopes: vec!["payments:write".into()],
                    resource: Some(s.payments.clone()),
                    ..MintRequest::default()
                })
                .unwrap()
        };
        let body = invoice_amount("INV-2042", 100);
        let alice = payments_token("alice", "acme");
        let (status, _, first) =
            post_refund(&s.http, &s.payments, Some(&alice), "shared", body.clone()).await;
        assert_eq!(status, 201, "{first}");
        // Another user of the same tenant with the same key and body: alice's refund is not
        // theirs to be shown, nor to be told they made.
        let bob = payments_token("bob", "acme");
        let (status, _, reply) =
            post_refund(&s.http, &s.payments, Some(&bob), "shared", body.clone()).await;
        assert_eq!(status, 422, "{reply}");
        assert!(!reply.to_string().contains("alice"), "{reply}");
        // Another tenant's keys are its own.
        let carol = payments_token("carol", "globex");
        let (status, _, theirs) =
            post_refund(&s.http, &s.payments, Some(&carol), "shared", body).await;
        assert_eq!(status, 201, "{theirs}");
        assert_eq!(theirs["tenant"], "globex");
        assert_eq!(payment_rows(s.dir.path()).len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_refund_payments_cannot_make_is_recorded_nowhere() {
    // Nothing listens on the port of a listener just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let payments = format!("http://127.0.0.1:{port}/payments");
    within(async {
        let s = TestServer::start_with(&["--payments-url", &payments]).await;
        let before = s.snapshot();
        let token = s.token("alice", Some("acme"), &REFUNDER);
        let message = s
            .call(&token, "refund_invoice", invoice_amount("INV-2042", 1_000))
            .await
            .tool_error();
        assert!(message.contains("payments API is unavailable"), "{message}");
        assert!(message.contains("nothing was refunded"), "{message}");
        assert_eq!(s.snapshot(), before, "nothing was refunded");
        let audit = s.audit();
        let last = audit.last().unwrap();
        assert_eq!(
            (last.tool.as_str(), last.outcome.as_str()),
            ("refund_invoice", "error")
        );
    })
    .await;
}

/// What a `billing serve` process printed: its resource and read-write token.
struct Banner {
    text: String,
    resource: String,
    write_token: String,
}

/// Starts `billing serve` on any port with `args` and `env`; waits for its
/// banner (which ends with the `curl` command with the dev issuer, else with the payments
/// line).
async fn start_billing(args: &[&str], env: &[(&str, &str)]) -> (Program, Banner) {
    let dev = !args.contains(&"--issuer");
    let mut program = Program::start(BIN, &[&["--port", "0"], args].concat(), env);
    let lines = program
        .lines_until(|l| match dev {
            true => l.starts_with("  -d '"),
            false => l.starts_with("Payments API: "),
        })
        .await;
    let text = lines.join("\n");
    // The address it is bound to, when it is not its resource URI.
    let resource = match lines.get(1).and_then(|l| l.strip_prefix("Bound to ")) {
        Some(bound) => bound.to_owned(),
        None => lines[0]
            .strip_prefix("billing MCP server listening on ")
            .unwrap_or_else(|| panic!("{text}"))
            .to_owned(),
    };
    let write_token = match lines.iter().position(|l| l.starts_with("Read-write token")) {
        Some(at) => lines[at + 1].trim().to_owned(),
        None => String::new(),
    };
    program.drain_stdout();
    let banner = Banner {
        text,
        resource,
        write_token,
    };
    (program, banner)
}

/// A port free a moment ago, for a process started next.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn with_another_issuer_billing_exchanges_as_its_configured_client() {
    within(async {
        // The issuer: another billing's dev issuer, with its client `billing-mcp` allowed to
        // exchange for its payments audience.
        let issuer_dir = TempDir::new("issuer");
        let (_issuer, issuer_banner) =
            start_billing(&["--data-dir", issuer_dir.str(), "--db", ":memory:"], &[]).await;
        let issuer_url = issuer_banner
            .resource
            .strip_suffix("/mcp")
            .unwrap()
            .to_owned();
        let secret =
            std::fs::read_to_string(issuer_dir.path().join("exchange-client-secret")).unwrap();
        let audience = format!("{issuer_url}/payments");
        let token_endpoint = format!("{issuer_url}/token");
        // The token endpoint discovered from the metadata with client_secret_basic, or given
        // with client_secret_post.
        for (n, extra) in [
            &[][..],
            &[
                "--token-endpoint",
                &token_endpoint,
                "--exchange-client-auth",
                "post",
            ][..],
        ]
        .into_iter()
        .enumerate()
        {
            let dir = TempDir::new("billing");
            let (billing, banner) = start_billing(
                &[
                    &[
                        "--data-dir",
                        dir.str(),
                        "--issuer",
                        &issuer_url,
                        "--resource",
                        &issuer_banner.resource,
                        "--exchange-client-id",
                        "billing-mcp",
                        "--payments-audience",
                        &audience,
                    ][..],
                    extra,
                ]
                .concat(),
                &[("BILLING_EXCHANGE_CLIENT_SECRET", secret.trim())],
            )
            .await;
            assert!(banner.text.contains("(in this process)"), "{}", banner.text);
            let reply = common::call(
                &http(),
                &banner.resource,
                &issuer_banner.write_token,
                "refund_invoice",
                invoice_amount("INV-2042", 100 + n as i64),
            )
            .await;
            assert_eq!(reply.structured()["refund"]["payment_id"], "PAY-1");
            assert_eq!(
                payment_rows(dir.path()),
                [alice_refund("INV-2042", 100 + n as i64)]
            );
            assert!(
                !billing.stderr().contains(secret.trim()),
                "the secret in the log"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn payments_as_a_second_process_takes_exchanged_tokens_only() {
    within(async {
        let (billing_dir, payments_dir) = (TempDir::new("billing"), TempDir::new("payments"));
        let payments_port = free_port().to_string();
        let payments_url = format!("http://127.0.0.1:{payments_port}/payments");
        let (billing, banner) = start_billing(
            &[
                "--data-dir",
                billing_dir.str(),
                "--db",
                ":memory:",
                "--payments-url",
                &payments_url,
            ],
            &[],
        )
        .await;
        assert!(
            banner.text.contains(&format!(
                "Payments API: {payments_url} (audience {payments_url})"
            )),
            "{}",
            banner.text
        );
        let (resource, token) = (banner.resource, banner.write_token);
        let origin = resource.strip_suffix("/mcp").unwrap().to_owned();

        let mut payments = Program::start(
            BIN,
            &[
                "payments",
                "--port",
                &payments_port,
                "--issuer",
                &origin,
                "--data-dir",
                payments_dir.str(),
            ],
            &[],
        );
        let line = payments.lines_until(|_| true).await;
        payments.drain_stdout();
        assert_eq!(
            line,
            [format!("billing payments API listening on {payments_url}")]
        );

        let http = http();
        let reply = common::call(
            &http,
            &resource,
            &token,
            "refund_invoice",
            invoice_amount("INV-2043", 900),
        )
        .await;
        let refund = reply.structured();
        assert_eq!(
            refund["refund"]["payment_id"],
            "PAY-1",
            "{}",
            billing.stderr()
        );
        assert_eq!(
            payment_rows(payments_dir.path()),
            [alice_refund("INV-2043", 900)]
        );
        // The user's token, sent straight to payments: refused, wrong audience.
        let (status, _, _) = post_refund(
            &http,
            &payments_url,
            Some(&token),
            "k",
            invoice_amount("INV-2043", 1),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(payment_rows(payments_dir.path()).len(), 1);
        // Neither process logs a token.
        for log in [billing.stderr(), payments.stderr()] {
            assert!(!log.contains(&token), "a token in the log");
        }
    })
    .await;
}
