//! Arbitrary bytes into the JSON-RPC message parser of the MCP endpoint.
//!
//! Properties: no panic, no stack overflow; whatever it accepts is one well-formed JSON object;
//! whatever it refuses is answered with a JSON-RPC 2.0 error response that is itself JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_runtime::__fuzz::parse_jsonrpc;
use serde::de::IgnoredAny;

fuzz_target!(|data: &[u8]| {
    match parse_jsonrpc(data) {
        Ok(_) => {
            // `IgnoredAny` checks the syntax of any depth without building a value.
            assert!(
                serde_json::from_slice::<IgnoredAny>(data).is_ok(),
                "the parser accepted a body that is not JSON"
            );
            let first = data.iter().find(|b| !b.is_ascii_whitespace());
            assert_eq!(first, Some(&b'{'), "only objects are messages");
        }
        Err(response) => {
            let response: serde_json::Value =
                serde_json::from_slice(&response).expect("error responses are JSON");
            assert_eq!(response["jsonrpc"], "2.0");
            let code = response["error"]["code"].as_i64().expect("an error code");
            assert!(
                [-32700, -32600, -32602].contains(&code),
                "unexpected code {code}"
            );
        }
    }
});
