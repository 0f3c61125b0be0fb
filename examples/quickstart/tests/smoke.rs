//! The getting-started server as a new user runs it: the tokens it prints work, with the
//! scopes they say, over real HTTP.

use mcp_auth_test_support::fixture::{http, within};
use mcp_auth_test_support::modern::{ACCEPTS, Reply, request};
use mcp_auth_test_support::process::Program;
use serde_json::{Value, json};

/// The value of `export NAME=value` among `lines`.
fn exported(lines: &[String], name: &str) -> String {
    let prefix = format!("export {name}=");
    lines
        .iter()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
        .to_owned()
}

#[tokio::test]
async fn the_printed_tokens_call_the_tools_with_their_scopes() {
    within(async {
        let mut program = Program::start(env!("CARGO_BIN_EXE_quickstart"), &[], &[("PORT", "0")]);
        let lines = program.lines_until(|line| line.starts_with("curl ")).await;
        let read = exported(&lines, "READ_TOKEN");
        let write = exported(&lines, "WRITE_TOKEN");
        let resource = lines
            .last()
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_owned();
        let http = http();
        let call = |token: &str, tool: &str, arguments: Value, accept: &str| {
            request(
                &http,
                &resource,
                token,
                accept,
                json!({}),
                1,
                "tools/call",
                json!({ "name": tool, "arguments": arguments }),
            )
        };

        for accept in ACCEPTS {
            let added =
                Reply::of(call(&write, "add_task", json!({ "title": "ship" }), accept)).await;
            assert_eq!(added.structured()["title"], "ship", "{accept}");
            let refused = Reply::of(call(&read, "add_task", json!({ "title": "x" }), accept)).await;
            refused.assert_insufficient_scope("tasks:write");
        }
        let listed = Reply::of(call(&read, "list_tasks", json!({}), ACCEPTS[0])).await;
        let tasks = listed.structured()["tasks"].clone();
        let titles: Vec<&Value> = tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|task| &task["title"])
            .collect();
        assert_eq!(titles, ["ship"; 3], "the refused calls added nothing");

        // No token: the challenge names the metadata, which names this issuer.
        let anonymous = http.post(&resource).json(&json!({})).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(!program.stderr().contains(&read), "a token in the logs");
    })
    .await;
}
