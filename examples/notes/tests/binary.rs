//! The `notes` binary as a user runs it: over HTTP with the printed tokens (one authorized
//! call, one refused for its scope), and over stdio with its identity from the environment.

use std::process::Stdio;
use std::time::Duration;

use mcp_auth_test_support::fixture::{http, within};
use mcp_auth_test_support::modern::{request, response_of};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_notes");

/// The value printed after `label` on a line of `banner`.
fn printed<'a>(banner: &'a [String], label: &str) -> &'a str {
    banner
        .iter()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in {banner:?}"))
        .trim()
}

#[tokio::test]
async fn over_http_the_printed_read_token_reads_and_cannot_write() {
    within(async {
        let mut child = Command::new(BIN)
            .env("NOTES_PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("try: curl");
            banner.push(line);
            if done {
                break;
            }
        }
        let resource = printed(&banner, "notes MCP server on ")
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let read = printed(&banner, "read token:");
        let call = |token: &str, tool: &str, arguments: Value| {
            request(
                &http(),
                &resource,
                token,
                "application/json",
                json!({}),
                1,
                "tools/call",
                json!({ "name": tool, "arguments": arguments }),
            )
            .send()
        };
        let listed = call(read, "list_notes", json!({})).await.unwrap();
        assert_eq!(listed.status(), 200);
        let listed = response_of(listed.text().await.unwrap());
        assert_eq!(
            listed["result"]["structuredContent"],
            json!({ "notes": [] })
        );
        let refused = call(read, "create_note", json!({ "title": "t", "body": "b" }))
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\"") && challenge.contains("notes:write"),
            "{challenge}"
        );
        // The curl line is a complete command for the same call.
        assert!(printed(&banner, "try:").contains(&format!("Bearer {read}")));
    })
    .await;
}

#[tokio::test]
async fn over_stdio_the_environment_grants_the_scopes_and_stdout_carries_only_messages() {
    within(async {
        let mut child = Command::new(BIN)
            .arg("stdio")
            .env("NOTES_SUBJECT", "alice")
            .env("NOTES_SCOPES", "notes:read")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for message in [
            json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": { "name": "test", "version": "0" } } }),
            json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
            json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
            json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                    "params": { "name": "list_notes", "arguments": {} } }),
            json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call",
                    "params": { "name": "delete_note", "arguments": { "id": 1 } } }),
        ] {
            stdin
                .write_all(format!("{message}\n").as_bytes())
                .await
                .unwrap();
        }
        // Let the calls end before the input does, which would cancel them.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(stdin);
        let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("the server exits when its input ends")
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("serving MCP on stdio"),
            "logs go to stderr: {stderr}"
        );
        let answers: Vec<Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line of stdout is a message"))
            .collect();
        let answer = |id: u64| {
            answers
                .iter()
                .find(|a| a["id"] == id)
                .unwrap_or_else(|| panic!("no answer {id} in {answers:?}"))
        };
        assert_eq!(answer(2)["result"]["tools"].as_array().unwrap().len(), 5);
        assert_eq!(
            answer(3)["result"]["structuredContent"],
            json!({ "notes": [] })
        );
        assert_eq!(answer(4)["error"]["code"], -32003);
        assert_eq!(
            answer(4)["error"]["data"]["requiredScopes"],
            json!(["notes:write"])
        );
        assert_eq!(answers.len(), 4, "{answers:?}");
    })
    .await;
}
