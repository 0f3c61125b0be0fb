//! Nested under a prefix, the server cannot serve its metadata where RFC 9728 puts it: every
//! request of its fails closed with `500`, and the log says, once, how to mount it.

use std::net::SocketAddr;

use axum::Router;
use mcp_auth_test_support::logs::Logs;
use mcp_auth_test_support::{Client, bind, serve_on};
use serde_json::{Value, json};

use super::server;

/// Serves, on loopback, the router `mount` makes of the router of a server without
/// authentication for `http://<addr>/mcp`.
async fn serve_mounted(mount: impl FnOnce(Router) -> Router) -> SocketAddr {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let server = server()
        .resource(format!("http://{addr}/mcp"))
        .without_auth()
        .build()
        .unwrap();
    serve_on(listener, mount(server.into_router()))
}

#[tokio::test]
async fn a_nested_server_refuses_every_request_and_logs_the_recipe_once() {
    let (logs, _guard) = Logs::capture();
    let addr = serve_mounted(|server| Router::new().nest("/api", server)).await;

    let client = Client {
        url: format!("http://{addr}/api/mcp"),
        ..Client::new(addr, None)
    };
    for _ in 0..2 {
        let response = client.post().body("{}").send().await.unwrap();
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "server_misconfigured");
    }
    for path in [
        "/api/.well-known/oauth-protected-resource/mcp",
        "/api/readyz",
    ] {
        let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(response.status(), 500, "{path}");
    }
    let text = logs.text();
    assert_eq!(
        text.matches("is nested under a path prefix").count(),
        1,
        "{text}"
    );
    assert!(text.contains("`/api/mcp` was routed to `/mcp`"), "{text}");
    assert!(text.contains("server.merge_into(app)"), "{text}");
}

#[tokio::test]
async fn the_same_server_merged_is_served() {
    let addr = serve_mounted(|server| Router::new().merge(server)).await;
    let (status, _, body) = Client::new(addr, None).call("read_report", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let response = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(response.status(), 200);
}
