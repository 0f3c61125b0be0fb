//! Both protocol eras on one endpoint: what each sends, the headers a 2026-07-28 request
//! must mirror, listing, and step-up in both.

use super::*;

#[tokio::test]
async fn both_eras_are_served_by_one_endpoint() {
    let s = start(|b| b).await;
    // Handshake era.
    let legacy = Client::new(s.addr, Some("user-1"));
    let (status, _, body) = legacy.call("echo.name", json!({ "name": "ada" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({ "content": [{ "type": "text", "text": "ada" }] })
    );

    // 2026-07-28: no initialize, no session; resultType and serverInfo on the result.
    let response = modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "echo.name", "arguments": { "name": "ada" } }),
    )
    .send()
    .await
    .unwrap();
    assert!(response.headers().get("mcp-session-id").is_none());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({
            "content": [{ "type": "text", "text": "ada" }],
            "resultType": "complete",
            "_meta": { "io.modelcontextprotocol/serverInfo": { "name": "proto", "version": "1.0.0" } }
        })
    );

    let (status, body) = send_json(modern(s.addr, "user-1", "server/discover", json!({}))).await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(
        result["capabilities"],
        json!({ "tools": { "listChanged": false }, "logging": {} })
    );
    assert_eq!(result["ttlMs"], 300_000);
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "proto"
    );

    let (_, body) = send_json(modern(s.addr, "user-1", "tools/list", json!({}))).await;
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["cacheScope"], "private");
    assert_eq!(body["result"]["ttlMs"], 300_000);
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn modern_requests_must_mirror_their_body_in_headers() {
    let s = start(|b| b).await;
    let call = || {
        modern(
            s.addr,
            "user-1",
            "tools/call",
            json!({ "name": "echo.name", "arguments": { "name": "x" } }),
        )
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, i64, &str)> = vec![
        (
            call().header("mcp-protocol-version", "2025-11-25"),
            400,
            -32020,
            "version header differs from _meta",
        ),
        (
            call().header("mcp-method", "tools/list"),
            400,
            -32020,
            "Mcp-Method differs",
        ),
        (
            call().header("mcp-name", "other"),
            400,
            -32020,
            "Mcp-Name differs",
        ),
        (
            modern(
                s.addr,
                "user-1",
                "tools/call",
                json!({ "name": "echo.name", "arguments": { "name": "x" }, "_meta": {} }),
            ),
            200,
            0,
            "the helper fills _meta",
        ),
    ];
    for (request, status, code, why) in cases {
        let (got, body) = send_json(request).await;
        assert_eq!(got, status, "{why}: {body}");
        if code != 0 {
            assert_eq!(body["error"]["code"], code, "{why}");
            assert_eq!(body["id"], 7, "{why}");
        }
    }

    // Headers replaced wholesale, to test their absence.
    let raw = |headers: &[(&str, &str)], meta: Value, method: &str| {
        let mut request = reqwest::Client::new()
            .post(url(s.addr))
            .bearer_auth("user-1")
            .header("content-type", "application/json")
            .header("accept", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(
            json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": { "name": "echo.name", "arguments": { "name": "x" }, "_meta": meta } })
                .to_string(),
        )
    };
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} });
    let no_caps = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
    let version = ("mcp-protocol-version", "2026-07-28");
    let method = ("mcp-method", "tools/call");
    let name = ("mcp-name", "echo.name");
    // (why, headers, `_meta`, status, JSON-RPC error code if an error)
    let cases = [
        (
            "missing version header",
            vec![method, name],
            &meta,
            400,
            Some(-32020),
        ),
        (
            "missing Mcp-Method",
            vec![version, name],
            &meta,
            400,
            Some(-32020),
        ),
        (
            "missing Mcp-Name",
            vec![version, method],
            &meta,
            400,
            Some(-32020),
        ),
        // The Base64 sentinel form of Mcp-Name is decoded before the comparison.
        (
            "base64 Mcp-Name",
            vec![version, method, ("mcp-name", "=?base64?ZWNoby5uYW1l?=")],
            &meta,
            200,
            None,
        ),
        // Missing client capabilities: malformed.
        (
            "no client capabilities",
            vec![version, method, name],
            &no_caps,
            400,
            Some(-32602),
        ),
    ];
    for (why, headers, meta, status, code) in cases {
        let request = raw(&headers, meta.clone(), "tools/call");
        let (got, body) = send_json(request).await;
        assert_eq!(got, status, "{why}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "{why}");
        }
    }

    // Unsupported version: 400 with the supported list.
    let future = json!({ "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {} });
    let headers = [("mcp-protocol-version", "2099-01-01"), method, name];
    let request = raw(&headers, future, "tools/call");
    let (status, body) = send_json(request).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32022);
    assert_eq!(body["error"]["data"]["requested"], "2099-01-01");
    assert_eq!(body["error"]["data"]["supported"][0], "2026-07-28");

    // Unknown methods, and handshake-only methods, are 404 in this era.
    for method in ["resources/list", "ping", "initialize", "logging/setLevel"] {
        let (status, body) = send_json(modern(s.addr, "user-1", method, json!({}))).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!(-32601)),
            "{method}"
        );
    }
}

#[tokio::test]
async fn tools_list_pages_with_opaque_cursors() {
    let s = start(|b| b.page_size(3)).await;
    let client = Client::new(s.addr, Some("user-1"));
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let (_, _, body) = client.request("tools/list", params).await;
        pages += 1;
        for tool in body["result"]["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        match body["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        [
            "count_slowly",
            "with_progress",
            "with_logs",
            "confirm",
            "ask_model",
            "sleepy",
            "echo.name"
        ]
    );
    for bad in [
        json!("garbage"),
        json!(""),
        json!(5),
        json!("ZmZmZmZmZmZmZmZmZmZmLjE"),
    ] {
        let (_, _, body) = client.request("tools/list", json!({ "cursor": bad })).await;
        assert_eq!(body["error"]["code"], -32602, "{bad}");
    }
}

#[tokio::test]
async fn requests_without_the_scope_get_step_up_in_both_eras() {
    let s = start(|b| b).await;
    let (status, _, _) = Client::new(s.addr, Some("reader"))
        .call("echo.name", json!({ "name": "ok" }))
        .await;
    assert_eq!(status, 200, "unscoped tools need only a valid token");
    let (status, challenge, _) = Client::new(s.addr, Some("reader"))
        .call("sleepy", json!({}))
        .await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"t:use\""));
    let response = modern(s.addr, "reader", "tools/call", json!({ "name": "sleepy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
}
