//! Merged into an application, under the resource's path: the challenge's metadata URL
//! answers, for the right resource, and the endpoint serves calls.

use axum::Router;
use axum::routing::get;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_test_support::issuer::{Issuer, TestKey, claims};
use mcp_auth_test_support::{Client, bind, discover_metadata_url, serve_on};
use serde_json::{Value, json};

use super::server;

#[tokio::test]
async fn merged_under_the_resource_path_the_challenge_leads_to_the_metadata() {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/api/mcp");
    // No `.path(..)`: the endpoint is served at the resource's path.
    let server = server()
        .resource(&resource)
        .authorization_server(&issuer.url)
        .verifier(
            JwtVerifier::builder(&issuer.url, &resource)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(server.path(), "/api/mcp");
    let app = Router::new().route("/", get(|| async { "home" }));
    serve_on(listener, server.merge_into(app).unwrap());

    let metadata_url = discover_metadata_url(&reqwest::Client::new(), &resource).await;
    assert_eq!(
        metadata_url,
        format!("http://{addr}/.well-known/oauth-protected-resource/api/mcp")
    );
    let response = reqwest::get(&metadata_url).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["resource"], resource);

    let token = key.sign(&claims(&issuer.url, &resource, "reports:read"));
    let client = Client {
        url: resource.clone(),
        ..Client::new(addr, Some(&token))
    };
    let (status, _, body) = client.call("read_report", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "report");
    assert_eq!(
        reqwest::get(format!("http://{addr}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "home"
    );
}
