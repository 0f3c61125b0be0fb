//! A token endpoint that misbehaves: the call fails closed, and the inbound token goes
//! nowhere else. The endpoints here stand in for a broken or hostile authorization server.

use axum::response::{IntoResponse, Response};
use mcp_auth_test_support::logs::Logs;

use super::*;

/// An answer of a stand-in token endpoint.
type Answer = Arc<dyn Fn() -> Response + Send + Sync>;

/// Serves `answer` at `/token` on its own port, counting the requests; returns its URL.
async fn endpoint(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            async move {
                if answer().status() == 599 {
                    // Never answers within the exchange's timeout.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                answer()
            }
        }),
    );
    let addr = mcp_auth_test_support::serve(router).await;
    (format!("http://{addr}/token"), hits)
}

/// Calls `refund` against a server exchanging at `token_endpoint`: the tool's error text.
async fn failed_call(token_endpoint: String) -> String {
    let fx = Fixture::with(Setup {
        token_endpoint: Some(token_endpoint),
        timeout: Some(Duration::from_millis(500)),
        ..Setup::default()
    })
    .await;
    let (status, response) = fx.refund(&fx.alice()).await;
    assert_eq!(status, 200);
    tool_error(&response)
}

#[tokio::test]
async fn a_redirect_is_never_followed_so_the_token_goes_nowhere_else() {
    let (elsewhere, elsewhere_hits) = endpoint(Arc::new(|| "{}".into_response())).await;
    let (redirecting, hits) = endpoint(Arc::new(move || {
        // `307` would resend the form, the subject token with it.
        let location = [(http::header::LOCATION, elsewhere.clone())];
        (http::StatusCode::TEMPORARY_REDIRECT, location).into_response()
    }))
    .await;
    assert_eq!(failed_call(redirecting).await, "internal error");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unusable_answers_fail_the_call_closed() {
    let answers: [fn() -> Response; 5] = [
        // Over the 64 KiB bound.
        || "x".repeat(100 * 1024).into_response(),
        // A DPoP-bound token cannot be sent as a bearer token.
        || {
            axum::Json(json!({
                "access_token": "eyJ.a.b", "token_type": "DPoP", "expires_in": 60,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            }))
            .into_response()
        },
        || (http::StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        || (http::StatusCode::BAD_REQUEST, "<html>no</html>").into_response(),
        // Never answers within the timeout.
        || {
            Response::builder()
                .status(599)
                .body(axum::body::Body::empty())
                .unwrap()
        },
    ];
    for answer in answers {
        let (url, hits) = endpoint(Arc::new(answer)).await;
        assert_eq!(failed_call(url).await, "internal error");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_token_endpoint_must_be_https_or_loopback() {
    for bad in [
        "http://auth.example.com/token",
        "https://user:pw@auth.example.com/token",
        "/token",
    ] {
        let built = TokenExchange::builder(bad, ClientCredentials::secret_post("c", "s")).build();
        assert!(built.is_err(), "{bad}");
    }
    let built = TokenExchange::builder(
        "https://auth.example.com/token",
        ClientCredentials::secret_post("c", "s"),
    )
    .build();
    assert!(built.is_ok());
}

#[tokio::test]
async fn a_refusal_quoting_the_subject_token_past_the_description_cap_logs_no_part_of_it() {
    // A hostile or careless endpoint quotes the token after a preamble, so that the 512
    // characters kept of the description end inside it: redacting the whole token after
    // cutting would miss the part kept.
    let router = axum::Router::new().route(
        "/token",
        axum::routing::post(|body: String| async move {
            let subject = url::form_urlencoded::parse(body.as_bytes())
                .find(|(name, _)| name == "subject_token")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            let description = format!("{} {subject}", "x".repeat(300));
            let body = json!({"error": "invalid_grant", "error_description": description});
            (http::StatusCode::BAD_REQUEST, axum::Json(body))
        }),
    );
    let addr = mcp_auth_test_support::serve(router).await;
    // This thread's events: the test's runtime runs the exchange on it too.
    let (logs, _guard) = Logs::capture();
    let fx = Fixture::with(Setup {
        token_endpoint: Some(format!("http://{addr}/token")),
        ..Setup::default()
    })
    .await;
    let user = fx.alice();
    let (status, response) = fx.refund(&user).await;
    assert_eq!(status, 200);
    assert!(tool_error(&response).contains("invalid_grant"));
    let text = logs.text();
    assert!(
        text.contains("token exchange refused"),
        "the outcome is logged"
    );
    for part in user.as_bytes().chunks(32) {
        let part = std::str::from_utf8(part).unwrap();
        assert!(!text.contains(part), "logged part of the token: {part}");
    }
}
