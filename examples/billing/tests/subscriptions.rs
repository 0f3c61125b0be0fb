//! Invoice resources and their updates over real HTTP, with tokens signed by the embedded
//! dev issuer: an invoice is read and subscribed to within the caller's tenant only, and
//! voiding it reaches a 2026-07-28 listen stream subscribed to it.

mod common;

use common::{TestServer, invoice, request};
use mcp_auth_test_support::EventReader;
use mcp_auth_test_support::modern::{self, ACCEPTS, Reply};
use serde_json::json;

const WRITE: &[&str] = &["invoices:read", "invoices:write"];

#[tokio::test]
async fn voiding_an_invoice_reaches_its_subscribers_in_its_tenant_only() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), WRITE);
        let bob = s.token("bob", Some("globex"), WRITE);
        let uri = "invoice://INV-2041";

        // Read within the tenant; another tenant's is not found, for a read and a subscription.
        let read = |token: &str| {
            request(
                &s.http,
                &s.resource,
                token,
                "resources/read",
                json!({ "uri": uri }),
            )
            .header("mcp-name", uri)
        };
        let mine = Reply::of(read(&alice)).await;
        let text = mine.body["result"]["contents"][0]["text"].as_str().unwrap();
        let invoice_json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(invoice_json["status"], "open", "{mine:?}");
        assert_eq!(Reply::of(read(&bob)).await.body["error"]["code"], -32602);
        let listen = |token: &str| {
            modern::request(
                &s.http,
                &s.resource,
                token,
                ACCEPTS[2],
                json!({}),
                5,
                "subscriptions/listen",
                json!({ "notifications": { "resourceSubscriptions": [uri] } }),
            )
        };
        let refused = Reply::of(listen(&bob)).await;
        assert_eq!(refused.body["error"]["data"]["uri"], uri, "{refused:?}");

        let response = listen(&alice).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut events = EventReader::new(response);
        let ack = events.next_soon().await;
        assert_eq!(
            ack["params"]["notifications"]["resourceSubscriptions"],
            json!([uri])
        );
        s.ok(&alice, "void_invoice", invoice("INV-2041")).await;
        let note = events.next_soon().await;
        assert_eq!(note["method"], "notifications/resources/updated");
        assert_eq!(note["params"]["uri"], uri);
        let text = Reply::of(read(&alice)).await.body["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.contains(r#""status":"void""#), "{text}");
    })
    .await;
}
