//! The attacks of issue 18 on the exchange: tokens replayed at the wrong API, exchanges for
//! an API the client may not call, scope widening, and secrets in the logs.

use super::*;
use mcp_auth_test_support::logs::Logs;

#[tokio::test]
async fn the_users_token_is_refused_at_payments_and_an_exchanged_one_at_the_mcp_server() {
    let fx = Fixture::start().await;
    let http = reqwest::Client::new();
    let user = fx.alice();
    let refunds = format!("{}/refunds", fx.payments);
    let at_payments = http.post(&refunds).bearer_auth(&user).send().await.unwrap();
    assert_eq!(at_payments.status(), 401, "wrong audience: no passthrough");

    // A real exchange, made by hand as the MCP server's client would.
    let exchanged: Value = http
        .post(format!("{}/token", fx.origin))
        .basic_auth("billing-mcp", Some(SECRET))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &user),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", &fx.payments),
            ("scope", "payments:write"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = exchanged["access_token"].as_str().expect("exchanged");
    let (status, _) = fx.refund(token).await;
    assert_eq!(status, 401, "an exchanged token replayed at the MCP server");
    let at_payments = http.post(&refunds).bearer_auth(token).send().await.unwrap();
    assert_eq!(at_payments.status(), 200);
}

#[tokio::test]
async fn an_api_the_client_may_not_exchange_for_is_a_failed_call() {
    // The MCP server's own resource: known to the issuer, not allowed for this client.
    let fx = Fixture::with(Setup {
        downstream: "/mcp",
        ..Setup::default()
    })
    .await;
    let (status, response) = fx.refund(&fx.alice()).await;
    assert_eq!(status, 200);
    let error = tool_error(&response);
    assert!(
        error.contains("invalid_target") || error.contains("unauthorized_client"),
        "{error}"
    );
}

#[tokio::test]
async fn scopes_wider_than_the_callers_are_refused() {
    let fx = Fixture::start().await;
    // The caller may refund invoices but holds no `payments:write`.
    let narrow = fx.user_token("bob", &["invoices:refund"], Duration::from_secs(600));
    let (status, response) = fx.refund(&narrow).await;
    assert_eq!(status, 200);
    assert!(
        tool_error(&response).contains("invalid_scope"),
        "{response}"
    );
}

#[tokio::test]
async fn an_api_key_is_never_sent_to_the_authorization_server() {
    let fx = Fixture::start().await;
    let (status, response) = fx.refund(&fx.api_key).await;
    assert_eq!(status, 200, "the key is accepted");
    // `NoSubjectToken`: an internal error, nothing sent.
    assert_eq!(tool_error(&response), "internal error");
    assert_eq!(fx.token_requests(), 0);
}

#[tokio::test]
async fn no_token_secret_or_assertion_is_ever_logged() {
    let logs = Logs::capture_global_with_log();
    for private_key_jwt in [false, true] {
        let fx = Fixture::with(Setup {
            private_key_jwt,
            ..Setup::default()
        })
        .await;
        let user = fx.alice();
        let (_, ok) = fx.refund(&user).await;
        structured(&ok);
        let narrow = fx.user_token("bob", &["invoices:refund"], Duration::from_secs(600));
        let (_, refused) = fx.refund(&narrow).await;
        tool_error(&refused);
        let (_, keyed) = fx.refund(&fx.api_key).await;
        tool_error(&keyed);
        let text = logs.text();
        for secret in [user.as_str(), narrow.as_str(), &fx.api_key, SECRET, "eyJ"] {
            assert!(!text.contains(secret), "logged: {secret}");
        }
    }
    assert!(
        logs.text().contains("token exchange refused"),
        "outcomes are logged"
    );
}
