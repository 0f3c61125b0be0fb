//! The exchange end to end: the tool reaches payments as the caller, with a token whose
//! audience is payments and whose `act` names the MCP server's client, in both eras.

use super::*;
use mcp_auth_test_support::Client;

#[tokio::test]
async fn a_tool_calls_payments_as_the_caller_with_an_exchanged_token() {
    let fx = Fixture::start().await;
    let (status, response) = fx.refund(&fx.alice()).await;
    assert_eq!(status, 200, "{response}");
    let result = structured(&response);
    assert_eq!(result["status"], 200, "{result}");
    let seen = &result["payments"];
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["aud"], json!([fx.payments]));
    assert_eq!(seen["client_id"], "billing-mcp", "the exchanging client");
    assert_eq!(
        seen["act"],
        json!({ "sub": "billing-mcp" }),
        "RFC 8693 §4.1"
    );
    assert_eq!(seen["scopes"], json!(["payments:write"]));
    assert_eq!(fx.token_requests(), 1);
}

#[tokio::test]
async fn handshake_era_sessions_exchange_too() {
    let fx = Fixture::start().await;
    let client = Client::new(fx.addr, Some(&fx.alice()));
    let (status, _, response) = client
        .request(
            "tools/call",
            json!({ "name": "refund", "arguments": { "invoice_id": "INV-2" } }),
        )
        .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(structured(&response)["payments"]["sub"], "alice");
}

#[tokio::test]
async fn a_task_exchanges_the_token_of_the_request_that_started_it() {
    let fx = Fixture::start().await;
    let token = fx.alice();
    let http = reqwest::Client::new();
    let send = |id: u64, method: &str, params: Value| {
        let capabilities = json!({ "extensions": { "io.modelcontextprotocol/tasks": {} } });
        let task = params["taskId"].as_str().map(str::to_owned);
        let request = mcp_auth_test_support::modern::request(
            &http,
            &fx.mcp,
            &token,
            "application/json",
            capabilities,
            id,
            method,
            params,
        );
        // `tasks/*` mirror the task id in `Mcp-Name`.
        match task {
            Some(task) => request.header("mcp-name", task),
            None => request,
        }
        .send()
    };
    let params = json!({ "name": "refund_later", "arguments": { "invoice_id": "INV-4" } });
    let created: Value = send(1, "tools/call", params)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let done = loop {
        let got: Value = send(2, "tasks/get", json!({ "taskId": id }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if got["result"]["status"] != "working" {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "{got}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let result = &done["result"]["result"]["structuredContent"];
    assert_eq!(result["payments"]["sub"], "alice", "{done}");
    assert_eq!(result["payments"]["act"], json!({ "sub": "billing-mcp" }));
}

#[tokio::test]
async fn private_key_jwt_clients_exchange_with_a_fresh_assertion_each_time() {
    let fx = Fixture::with(Setup {
        private_key_jwt: true,
        cache_capacity: 0,
        ..Setup::default()
    })
    .await;
    let token = fx.alice();
    for _ in 0..2 {
        // A second exchange with a replayed assertion (`jti`) would be refused.
        let (status, response) = fx.refund(&token).await;
        assert_eq!(status, 200, "{response}");
        let seen = &structured(&response)["payments"];
        assert_eq!(seen["act"], json!({ "sub": "billing-pkjwt" }));
    }
    assert_eq!(fx.token_requests(), 2);
}

#[tokio::test]
async fn without_token_exchange_or_an_inbound_token_the_call_fails_closed() {
    let payments = Payments {
        url: "http://127.0.0.1:9/payments".into(),
        scopes: vec![],
        http: reqwest::Client::new(),
    };
    // A direct Rust call has neither an exchange nor a token.
    let ctx = ToolContext::new(
        payments.clone(),
        AuthInfo::new("alice").with_scopes(["invoices:refund"]),
    );
    let err = ctx
        .downstream_token(&Downstream::resource(&payments.url))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            mcp_auth_runtime::downstream::ExchangeError::NotConfigured
        ),
        "{err:?}"
    );
    assert!(matches!(
        refund(ctx, "INV-3".into()).await,
        Err(ToolError::Internal(_))
    ));
}
