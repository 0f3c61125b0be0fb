//! The example served on loopback, as a client would find it: the challenge leads to the
//! metadata, the scoped route tells tokens apart, the MCP endpoint serves calls, and the
//! application's own routes and middleware are untouched.

use mcp_auth_test_support::{Client, bind, discover_metadata_url, get_json, header};
use serde_json::{Value, json};

#[tokio::test]
async fn the_app_serves_its_routes_and_the_mcp_endpoint() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let app = axum_app::app(&origin).unwrap();
    let resource = app.resource.clone();
    let tokens = app.tokens;
    // The issuer needs each connection's peer address, as `mcp_auth_runtime::serve` gives it.
    let served = app.router;
    tokio::spawn(
        async move { mcp_auth_runtime::serve(listener, served, std::future::pending()).await },
    );
    let http = reqwest::Client::new();

    // Discovery: the 401's challenge names the metadata, which answers for this resource.
    let metadata_url = discover_metadata_url(&http, &resource).await;
    assert_eq!(
        metadata_url,
        format!("{origin}/.well-known/oauth-protected-resource/api/mcp")
    );
    let document = get_json(&http, &metadata_url).await;
    assert_eq!(document["resource"], resource);
    assert_eq!(document["authorization_servers"], json!([origin]));

    // The application's scoped route: 403 with the step-up challenge, then 200.
    let reports = |token: &str| {
        http.get(format!("{origin}/api/reports"))
            .bearer_auth(token)
            .send()
    };
    let response = reports(&tokens.read_only).await.unwrap();
    assert_eq!(response.status(), 403);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\""))
            && challenge.contains("error=\"insufficient_scope\", scope=\"reports:export\""),
        "{challenge}"
    );
    let response = reports(&tokens.exporter).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "x-request-id").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reports"][0]["id"], "2026-q3");

    // The MCP endpoint, with the read-only token.
    let client = Client {
        url: resource.clone(),
        ..Client::new(addr, Some(&tokens.read_only))
    };
    let (status, _, body) = client.call("list_reports", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["reports"][1]["id"],
        "2026-q4"
    );
    let (status, _, _) = client.call("export_reports", json!({})).await;
    assert_eq!(status, 403);

    // The application's own routes, with its middleware.
    let response = http.get(format!("{origin}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "x-request-id").is_some());
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let status = get_json(&http, format!("{origin}/api/status")).await;
    assert_eq!(status, json!({ "status": "green" }));
}
