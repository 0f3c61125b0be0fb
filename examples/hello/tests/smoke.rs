//! The smallest server as a new user runs it: it says where it listens, warns that it runs
//! without authentication, and answers a tool call.

use mcp_auth_test_support::fixture::{http, within};
use mcp_auth_test_support::modern::{Reply, request};
use mcp_auth_test_support::process::Program;
use serde_json::json;

#[tokio::test]
async fn hello_answers_and_warns_that_it_has_no_authentication() {
    within(async {
        let mut program = Program::start(env!("CARGO_BIN_EXE_hello"), &[], &[("PORT", "0")]);
        let lines = program
            .lines_until(|line| line.starts_with("MCP endpoint: "))
            .await;
        let url = lines.last().unwrap().trim_start_matches("MCP endpoint: ");
        let reply = Reply::of(request(
            &http(),
            url,
            "ignored-without-auth",
            "application/json",
            json!({}),
            1,
            "tools/call",
            json!({ "name": "hello", "arguments": { "name": "Ada" } }),
        ))
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["result"]["content"][0]["text"], "Hello, Ada!");
        assert!(
            program
                .stderr()
                .to_lowercase()
                .contains("without authentication"),
            "{}",
            program.stderr()
        );
    })
    .await;
}
