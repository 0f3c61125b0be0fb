//! Routes of the application that collide with the server's are refused by `merge_into`, with
//! the option that turns the server's off, instead of axum's panic.

use axum::Router;
use axum::routing::{get, post};

use super::server;

#[test]
fn each_colliding_route_is_named_with_its_remedy() {
    let cases = [
        (
            Router::new().route("/healthz", get(|| async {})),
            "/healthz",
            ".health_checks(false)",
        ),
        (
            Router::new().route("/readyz", get(|| async {})),
            "/readyz",
            ".health_checks(false)",
        ),
        (
            Router::new().route(
                "/.well-known/oauth-protected-resource/mcp",
                get(|| async {}),
            ),
            "/.well-known/oauth-protected-resource/mcp",
            "remove your route",
        ),
        (
            Router::new().route("/.well-known/oauth-protected-resource", get(|| async {})),
            "/.well-known/oauth-protected-resource",
            "remove your route",
        ),
        (
            Router::new().route("/mcp", post(|| async {})),
            "/mcp",
            "`.path(..)`",
        ),
    ];
    for (app, path, remedy) in cases {
        let server = server()
            .resource("http://127.0.0.1:8000/mcp")
            .without_auth()
            .build()
            .unwrap();
        let err = server.merge_into(app).unwrap_err();
        assert_eq!(err.path(), path);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "your router already serves `{path}`, which the MCP server serves too: "
            )),
            "{message}"
        );
        assert!(message.contains(remedy), "{path}: {message}");
    }
}

#[test]
fn with_the_probes_off_the_applications_own_are_kept() {
    let server = server()
        .resource("http://127.0.0.1:8000/mcp")
        .without_auth()
        .health_checks(false)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/healthz", get(|| async {}))
        .route("/readyz", get(|| async {}));
    assert!(server.merge_into(app).is_ok());
}

#[test]
fn routes_elsewhere_merge() {
    let server = server().without_auth().build().unwrap();
    let app = Router::new()
        .route("/", get(|| async {}))
        .route("/api/reports", get(|| async {}))
        .route("/healthz", post(|| async {}));
    assert!(server.merge_into(app).is_ok());
}
