//! What a caller types into a completion of `invoice_id`, at its worst: prefixes far longer
//! than any id (plain, or all characters `LIKE` would treat as wildcards or escapes), NUL and
//! non-ASCII characters. Over real HTTP with tokens of the embedded issuer, in both eras: an
//! empty completion, never a failure, and never another tenant's id.

mod common;

use common::{Era, EraClient, TestServer};
use mcp_auth_test_support::modern::ACCEPTS;
use serde_json::json;

const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

#[tokio::test]
async fn any_prefix_gets_a_completion_of_the_callers_ids_only() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), &["invoices:read"]);
        let long = |c: &str| c.repeat(60_000);
        let typed = [
            long("I"),
            format!("INV-{}", long("2")),
            long("%"),
            long("\\"),
            long("_"),
            "INV-2\u{0}%".to_owned(),
            "ＩＮＶ-2".to_owned(),
            "INV-٢".to_owned(),
            "INV-31".to_owned(),
        ];
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                for typed in &typed {
                    let reply = client
                        .send(
                            accept,
                            "completion/complete",
                            json!({
                                "ref": { "type": "ref/prompt", "name": "payment_reminder" },
                                "argument": { "name": "invoice_id", "value": typed },
                            }),
                        )
                        .await;
                    let shown: String = typed.chars().take(12).collect();
                    assert_eq!(reply.status, 200, "{era:?} {accept} {shown:?}: {reply:?}");
                    assert_eq!(
                        reply.body["result"]["completion"],
                        json!({ "values": [], "total": 0, "hasMore": false }),
                        "{era:?} {accept} {shown:?}: {reply:?}"
                    );
                }
            }
        }
    })
    .await;
}
