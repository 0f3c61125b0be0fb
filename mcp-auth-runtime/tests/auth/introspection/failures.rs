//! Failures of the endpoint or of the configuration: unavailable, never accepted, logged
//! without secrets.

use super::*;

#[tokio::test]
async fn endpoint_errors_are_unavailable() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)),
            ("400", Reply::Status(StatusCode::BAD_REQUEST)),
            ("302", Reply::Status(StatusCode::FOUND)),
            ("garbage", Reply::Garbage),
            ("array", Reply::Json(json!([{ "active": true }]))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["500", "400", "302", "garbage", "array"] {
        assert!(is_unavailable(verifier.verify(token).await), "{token}");
    }
    assert_eq!(endpoint.hits(), 5);
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let verifier = IntrospectionVerifier::builder(format!("http://{addr}/introspect"), RESOURCE)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let Err(AuthError::Unavailable(reason)) = verifier.verify("tok").await else {
        panic!("expected Unavailable");
    };
    assert!(
        reason.starts_with("introspection request failed: "),
        "{reason}"
    );
}

#[tokio::test]
async fn slow_endpoint_times_out_as_unavailable() {
    let endpoint = TestAs::start(ClientAuth::Basic, [("slow", Reply::Slow)]).await;
    let verifier = endpoint.verifier_with(|b| b.timeout(Duration::from_millis(200)));
    let started = Instant::now();
    let Err(AuthError::Unavailable(reason)) = verifier.verify("slow").await else {
        panic!("expected Unavailable");
    };
    assert_eq!(reason, "introspection request timed out after 200ms");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rejected_client_credentials_are_unavailable() {
    let endpoint = TestAs::active_token("tok", json!({})).await;
    for verifier in [
        IntrospectionVerifier::builder(&endpoint.url, RESOURCE).client_credentials(
            CLIENT_ID,
            "wrong",
            ClientAuth::Basic,
        ),
        IntrospectionVerifier::builder(&endpoint.url, RESOURCE),
    ] {
        let result = verifier.build().unwrap().verify("tok").await;
        let Err(AuthError::Unavailable(reason)) = result else {
            panic!("expected Unavailable, got {result:?}");
        };
        assert!(reason.contains("401"), "{reason}");
    }
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn debug_output_never_shows_the_secret_or_a_token() {
    let token = "tok-4f9c2a7e1d";
    let endpoint = TestAs::active_token(token, json!({})).await;
    let builder = endpoint.verifier();
    let shown = format!("{builder:?}");
    let verifier = builder.build().unwrap();
    verifier.verify(token).await.unwrap();
    let error = verifier.verify("tok-unknown-77").await.unwrap_err();
    for shown in [
        shown,
        format!("{verifier:?}"),
        format!("{verifier:#?}"),
        format!("{error:?} {error}"),
    ] {
        assert!(
            shown.contains(CLIENT_ID) || shown.contains("invalid"),
            "{shown}"
        );
        for secret in [SECRET, "hunter2", token, "tok-unknown-77"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[tokio::test]
async fn misconfigurations_are_logged_without_secrets_or_tokens() {
    let (logs, _guard) = Logs::capture();

    let endpoint = TestAs::active_token("tok-no-aud-5e1f", json!({ "aud": null })).await;
    let wrong_secret = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .client_credentials(CLIENT_ID, "wrong-secret-9d2c", ClientAuth::Basic)
        .build()
        .unwrap();
    assert!(is_unavailable(wrong_secret.verify("tok-a-7b3e").await));
    let verifier = endpoint.verifier().build().unwrap();
    assert!(is_invalid(verifier.verify("tok-no-aud-5e1f").await));

    let logs = logs.text();
    assert!(
        logs.contains("ERROR")
            && logs.contains("refused this resource server's client credentials"),
        "{logs}"
    );
    assert!(
        logs.contains("introspection response has no `aud`"),
        "{logs}"
    );
    for secret in [
        "wrong-secret-9d2c",
        SECRET,
        "hunter2",
        "tok-a-7b3e",
        "tok-no-aud-5e1f",
    ] {
        assert!(!logs.contains(secret), "{secret} in\n{logs}");
    }
}

#[test]
fn build_refuses_insecure_endpoints_and_bad_resources() {
    let build =
        |endpoint: &str, resource: &str| IntrospectionVerifier::builder(endpoint, resource).build();
    assert!(matches!(
        build("http://auth.example.com/introspect", RESOURCE),
        Err(IntrospectionConfigError::InsecureEndpoint(_))
    ));
    assert!(matches!(
        build("not a url", RESOURCE),
        Err(IntrospectionConfigError::InsecureEndpoint(_))
    ));
    assert!(matches!(
        build("https://id:secret@auth.example.com/introspect", RESOURCE),
        Err(IntrospectionConfigError::CredentialsInUrl)
    ));
    assert!(matches!(
        build("https://auth.example.com/introspect#x", RESOURCE),
        Err(IntrospectionConfigError::FragmentInUrl(_))
    ));
    assert!(matches!(
        IntrospectionVerifier::builder("https://auth.example.com/introspect", RESOURCE)
            .max_concurrent_requests(0)
            .build(),
        Err(IntrospectionConfigError::NoConcurrentRequests)
    ));
    for resource in ["mcp.example.com", "https://mcp.example.com/mcp#x", ""] {
        assert!(
            matches!(
                build("https://auth.example.com/introspect", resource),
                Err(IntrospectionConfigError::InvalidResource(_))
            ),
            "{resource}"
        );
    }
    for endpoint in [
        "https://auth.example.com/introspect",
        "http://127.0.0.1:8080/introspect",
        "http://localhost/introspect",
    ] {
        let verifier = build(endpoint, "HTTPS://MCP.example.com:443/mcp/").unwrap();
        assert_eq!(verifier.resource(), RESOURCE);
    }
}
