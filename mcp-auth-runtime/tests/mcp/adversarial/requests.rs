//! Hostile requests: where tokens travel, oversized tokens, headers and bodies, JSON-RPC
//! oddities and tool-name tricks.

use super::*;

/// The members of a `tools/call` of `void_invoice`, to build messages around.
const CALL: &str =
    r#""method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"INV-1"}}"#;

#[tokio::test]
async fn tokens_only_travel_in_one_authorization_header() {
    let fx = Fx::start().await;
    let good = fx.good();
    let url = fx.url();
    let body = call_body("void_invoice", "INV-1");
    let post = |url: String| {
        fx.http
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
    };
    let invalid = Challenge::InvalidRequest;
    fx.refused(
        "token in the query string",
        post(format!("{url}?access_token={good}")),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "token in the query string and the header",
        post(format!("{url}?access_token={good}")).bearer_auth(&good),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "empty access_token among other parameters",
        post(format!("{url}?a=1&access_token=")),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "token in a form body (RFC 6750 §2.2) is never read",
        fx.http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={good}")),
        401,
        Challenge::Missing,
    )
    .await;
    for (attack, values) in [
        (
            "two Authorization headers, both valid",
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
        ),
        (
            "a garbage header before a valid one",
            vec!["Bearer garbage".to_owned(), format!("Bearer {good}")],
        ),
        (
            "Basic beside Bearer",
            vec!["Basic dXNlcjpwYXNz".to_owned(), format!("Bearer {good}")],
        ),
        (
            "two tokens in one header",
            vec![format!("Bearer {good}, Bearer {good}")],
        ),
        ("a quoted token", vec![format!("Bearer \"{good}\"")]),
        (
            "a token and a trailing word",
            vec![format!("Bearer {good} x")],
        ),
        ("Bearer without a token", vec!["Bearer".to_owned()]),
    ] {
        let mut request = post(url.clone());
        for value in values {
            request = request.header("authorization", value);
        }
        fx.refused(attack, request, 400, invalid).await;
    }
    for (attack, value) in [
        ("a tab after the scheme", format!("Bearer\t{good}")),
        ("another scheme", format!("Token {good}")),
        (
            "a scheme that starts like Bearer",
            format!("BearerX {good}"),
        ),
    ] {
        fx.refused(
            attack,
            post(url.clone()).header("authorization", value),
            401,
            Challenge::Missing,
        )
        .await;
    }
    // RFC 9110 §11.1: the scheme is case-insensitive, so these are genuine requests.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        fx.accepted(
            &format!("scheme {scheme}"),
            post(url.clone()).header("authorization", format!("{scheme} {good}")),
        )
        .await;
    }
}

#[tokio::test]
async fn oversized_tokens_and_headers_are_refused_fast() {
    let fx = Fx::start().await;
    let huge = "a".repeat(100 * 1024);
    let started = Instant::now();
    fx.refused("a 100 KiB token", fx.void(&huge), 431, Challenge::Absent)
        .await;
    fx.refused(
        "a 20 KiB token (over the 16 KiB token bound)",
        fx.void(&"a".repeat(20 * 1024)),
        400,
        Challenge::InvalidRequest,
    )
    .await;
    fx.refused(
        "a valid token beside 40 KiB of other headers",
        fx.void(&fx.good())
            .header("x-padding", "p".repeat(40 * 1024)),
        431,
        Challenge::Absent,
    )
    .await;
    let mut many = fx.void(&fx.good());
    for i in 0..200 {
        many = many.header(format!("x-h-{i}"), "v");
    }
    fx.refused("200 header fields", many, 431, Challenge::Absent)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A flood of oversized requests does not stall a genuine one.
    let flood: Vec<_> = (0..64)
        .map(|_| tokio::spawn(fx.void(&huge).send()))
        .collect();
    let started = Instant::now();
    fx.accepted("a genuine call during the flood", fx.void(&fx.good()))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for request in flood {
        assert_eq!(request.await.unwrap().unwrap().status(), 431);
    }
}

#[tokio::test]
async fn json_rpc_oddities_are_400_and_run_nothing() {
    let fx = Fx::start().await;
    let good = fx.good();
    let raw = |body: &str| fx.post(body.to_owned()).bearer_auth(&good);
    for (attack, body, code) in [
        (
            "a batch",
            format!(r#"[{{"jsonrpc":"2.0","id":1,{CALL}}}]"#),
            -32600,
        ),
        ("jsonrpc 1.0", format!(r#"{{"jsonrpc":"1.0","id":1,{CALL}}}"#), -32600),
        ("no jsonrpc", format!(r#"{{"id":1,{CALL}}}"#), -32600),
        ("jsonrpc a number", format!(r#"{{"jsonrpc":2.0,"id":1,{CALL}}}"#), -32600),
        ("id true", format!(r#"{{"jsonrpc":"2.0","id":true,{CALL}}}"#), -32600),
        ("id an object", format!(r#"{{"jsonrpc":"2.0","id":{{}},{CALL}}}"#), -32600),
        ("id an array", format!(r#"{{"jsonrpc":"2.0","id":[1],{CALL}}}"#), -32600),
        ("id a float", format!(r#"{{"jsonrpc":"2.0","id":1.5,{CALL}}}"#), -32600),
        ("id null", format!(r#"{{"jsonrpc":"2.0","id":null,{CALL}}}"#), -32600),
        ("id 1e400", format!(r#"{{"jsonrpc":"2.0","id":1e400,{CALL}}}"#), -32600),
        (
            "id beyond u64",
            format!(r#"{{"jsonrpc":"2.0","id":184467440737095516160,{CALL}}}"#),
            -32600,
        ),
        (
            "two method members",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"x"}}}"#.to_owned(),
            -32600,
        ),
        (
            "two names in params",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup_invoice","name":"void_invoice","arguments":{"invoice_id":"x"}}}"#.to_owned(),
            -32600,
        ),
        (
            "two values of one argument",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"a","invoice_id":"b"}}}"#.to_owned(),
            -32600,
        ),
        (
            "NaN",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":NaN}}}"#.to_owned(),
            -32700,
        ),
        (
            "Infinity",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":-Infinity}}}"#.to_owned(),
            -32700,
        ),
        (
            "params an array",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["void_invoice"]}"#.to_owned(),
            -32602,
        ),
        (
            "method a number",
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#.to_owned(),
            -32600,
        ),
        (
            "trailing garbage",
            format!(r#"{{"jsonrpc":"2.0","id":1,{CALL}}}x"#),
            -32700,
        ),
        (
            "two messages in one body",
            format!(r#"{{"jsonrpc":"2.0","id":1,{CALL}}}{{"jsonrpc":"2.0","id":2,{CALL}}}"#),
            -32700,
        ),
        (
            "a byte-order mark",
            format!("\u{feff}{{\"jsonrpc\":\"2.0\",\"id\":1,{CALL}}}"),
            -32700,
        ),
        ("an empty body", String::new(), -32700),
        (
            "100k nested arrays",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"void_invoice","arguments":{{"invoice_id":{}"x"{}}}}}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            -32602,
        ),
        (
            "100k nested objects",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"void_invoice","arguments":{}1{}}}}}"#,
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            ),
            -32602,
        ),
        ("100k leading brackets", "[".repeat(100_000), -32600),
    ] {
        fx.rpc_error(attack, raw(&body), 400, code).await;
    }
    fx.rpc_error(
        "a body that is not UTF-8",
        fx.post(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}".to_vec())
            .bearer_auth(&good),
        400,
        -32700,
    )
    .await;
    fx.still_serves().await;
}

#[tokio::test]
async fn non_requests_run_nothing_and_huge_ids_are_echoed() {
    let fx = Fx::start().await;
    let good = fx.good();
    let raw = |body: &str| fx.post(body.to_owned()).bearer_auth(&good);
    // Not JSON-RPC requests at all: nothing to answer, and nothing runs.
    fx.refused(
        "tools/call as a notification",
        raw(&format!(r#"{{"jsonrpc":"2.0",{CALL}}}"#)),
        202,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "a response to a request never made",
        raw(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#),
        202,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "text/plain",
        fx.http
            .post(fx.url())
            .bearer_auth(&good)
            .header("content-type", "text/plain")
            .body(call_body("void_invoice", "x")),
        415,
        Challenge::Absent,
    )
    .await;
    // A 1 MB string id is echoed on the error path and on success; a reader is refused.
    let reader = fx.token_with(|c| c["scope"] = "invoices:read".into());
    let id = "i".repeat(1_000_000);
    let big_id = |method: &str| {
        json!({ "jsonrpc": "2.0", "id": id, "method": method,
                "params": { "name": "void_invoice", "arguments": { "invoice_id": "x" } } })
        .to_string()
    };
    let body = fx
        .refused(
            "a 1 MB id on a forbidden call",
            fx.post(big_id("tools/call")).bearer_auth(&reader),
            403,
            Challenge::InsufficientScope("invoices:write"),
        )
        .await;
    assert_eq!(body["id"].as_str().map(str::len), Some(1_000_000));
    let body = fx
        .refused(
            "a 1 MB id on ping",
            fx.post(big_id("ping")).bearer_auth(&reader),
            200,
            Challenge::Absent,
        )
        .await;
    assert_eq!(body["id"].as_str().map(str::len), Some(1_000_000));
    fx.still_serves().await;
}

#[tokio::test]
async fn tool_name_tricks_find_no_tool() {
    let fx = Fx::start().await;
    let good = fx.good();
    let with_name = |name: Value| {
        fx.post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": name, "arguments": { "invoice_id": "INV-1" } } })
            .to_string(),
        )
        .bearer_auth(&good)
    };
    for name in [
        json!("Void_Invoice"),
        json!("VOID_INVOICE"),
        json!("../void_invoice"),
        json!("./void_invoice"),
        json!("void_invoice/"),
        json!("void_invoice "),
        json!(" void_invoice"),
        json!("void_invoice\u{0}"),
        json!("v\u{043e}id_invoice"),
        json!("\u{ff56}oid_invoice"),
        json!("void_invoice\u{200b}"),
        json!("void%5Finvoice"),
        json!(["void_invoice"]),
        json!({ "name": "void_invoice" }),
        json!(null),
        json!(1),
    ] {
        fx.rpc_error(
            &format!("tool name {name}"),
            with_name(name.clone()),
            200,
            -32602,
        )
        .await;
    }
    fx.rpc_error(
        "method with a trailing space",
        fx.post(call_body("void_invoice", "x").replace("tools/call", "tools/call "))
            .bearer_auth(&good),
        200,
        -32601,
    )
    .await;
    // 2026-07-28: the Mcp-Name header, Base64-encoded, must name the tool of the body.
    let modern = |header_name: &str, body_name: &str| {
        fx.post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": body_name, "arguments": { "invoice_id": "x" },
                                "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                           "io.modelcontextprotocol/clientCapabilities": {} } } })
            .to_string(),
        )
        .bearer_auth(&good)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", header_name)
    };
    let encoded = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode("lookup_invoice")
    );
    fx.rpc_error(
        "Mcp-Name (Base64) naming another tool than the body",
        modern(&encoded, "void_invoice"),
        400,
        -32020,
    )
    .await;
    fx.rpc_error(
        "Mcp-Name sentinel that is not Base64",
        modern("=?base64?void_invoice?=", "void_invoice"),
        400,
        -32020,
    )
    .await;
    fx.accepted(
        "Mcp-Name in Base64 naming the body's tool",
        modern(
            &format!(
                "=?base64?{}?=",
                base64::engine::general_purpose::STANDARD.encode("void_invoice")
            ),
            "void_invoice",
        ),
    )
    .await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_just_under_are_served() {
    let fx = Fx::start().await;
    let good = fx.good();
    let overhead = call_body("void_invoice", "").len();
    let at_limit = call_body(
        "void_invoice",
        &"x".repeat(mcp_auth_runtime::McpServerBuilder::DEFAULT_BODY_LIMIT - overhead),
    );
    assert_eq!(
        at_limit.len(),
        mcp_auth_runtime::McpServerBuilder::DEFAULT_BODY_LIMIT
    );
    let over = call_body(
        "void_invoice",
        &"x".repeat(mcp_auth_runtime::McpServerBuilder::DEFAULT_BODY_LIMIT - overhead + 1),
    );
    fx.refused(
        "a body one byte over the limit",
        fx.post(over.clone()).bearer_auth(&good),
        413,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "a body of 8 MiB",
        fx.post(call_body("void_invoice", &"x".repeat(8 << 20)))
            .bearer_auth(&good),
        413,
        Challenge::Absent,
    )
    .await;
    // Without a token the body is never read: authentication comes first.
    fx.refused(
        "an oversized body without a token",
        fx.post(over),
        401,
        Challenge::Missing,
    )
    .await;
    let body = fx
        .accepted(
            "a body exactly at the limit",
            fx.post(at_limit).bearer_auth(&good),
        )
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"],
        format!(
            "voided {} bytes",
            mcp_auth_runtime::McpServerBuilder::DEFAULT_BODY_LIMIT - overhead
        )
    );
}
