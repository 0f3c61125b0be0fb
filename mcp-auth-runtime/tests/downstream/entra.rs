//! Microsoft Entra ID's on-behalf-of request, on the wire: the endpoint here stands in for
//! Entra's v2.0 token endpoint (it cannot be reached from the tests) and records what it gets.

use std::sync::Mutex;

use axum::extract::State;
use axum::http::HeaderMap;

use super::*;

/// What the stand-in endpoint received: the form and the `Authorization` header.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, Option<String>)>>>;

async fn entra_token(
    State(received): State<Received>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let form = url::form_urlencoded::parse(&body).into_owned().collect();
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    received.lock().unwrap().push((form, authorization));
    // Entra's answer: no `issued_token_type`, a refresh token, `expires_in` a number.
    axum::Json(json!({
        "token_type": "Bearer",
        "scope": "api://payments/Refunds.Write",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": "eyJ0eXAiOiJKV1QifQ.e30.entra",
        "refresh_token": "0.AAAA-refresh",
    }))
}

#[tokio::test]
async fn an_on_behalf_of_request_carries_the_assertion_and_the_api_in_its_scope() {
    let received = Received::default();
    let router = axum::Router::new()
        .route(
            "/tenant/oauth2/v2.0/token",
            axum::routing::post(entra_token),
        )
        .with_state(received.clone());
    let entra = mcp_auth_test_support::serve(router).await;
    let fx = Fixture::with(Setup {
        token_endpoint: Some(format!("http://{entra}/tenant/oauth2/v2.0/token")),
        grant: ExchangeGrant::EntraOnBehalfOf,
        scopes: vec!["api://payments/Refunds.Write"],
        ..Setup::default()
    })
    .await;
    let user = fx.alice();
    for _ in 0..2 {
        let (status, response) = fx.refund(&user).await;
        assert_eq!(status, 200, "{response}");
        // Payments does not know Entra's token: the call got one and sent it.
        assert_eq!(structured(&response)["status"], 401);
    }
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1, "cached for its expires_in");
    let (form, authorization) = &received[0];
    let value = |name: &str| {
        let values: Vec<&str> = form
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect();
        assert!(values.len() <= 1, "`{name}` sent twice");
        values.first().copied()
    };
    assert_eq!(
        value("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(value("assertion"), Some(user.as_str()));
    assert_eq!(value("requested_token_use"), Some("on_behalf_of"));
    assert_eq!(value("scope"), Some("api://payments/Refunds.Write"));
    assert_eq!(value("resource"), None, "Entra v2 refuses it");
    assert_eq!(value("subject_token"), None);
    assert_eq!(
        value("client_secret"),
        None,
        "client_secret_basic: in the header"
    );
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("billing-mcp:{SECRET}"));
    assert_eq!(
        authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
}
