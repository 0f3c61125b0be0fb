//! Handshake-era sessions: the transport rules, binding to the caller that opened them, bounds
//! and expiry, their absence in stateless mode, and attacks that try to fix or borrow one.

use super::*;
use crate::adversarial::{Challenge, Fx, call_body};

#[tokio::test]
async fn legacy_sessions_follow_the_transport_rules() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    assert_eq!(client.initialize().await, 200);
    let session = client.session.lock().unwrap().clone().unwrap();
    assert_eq!(session.len(), 43);
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));

    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }).to_string();
    let bare = || {
        reqwest::Client::new()
            .post(url(s.addr))
            .bearer_auth("user-1")
            .header("content-type", "application/json")
            .body(ping.clone())
    };
    let with = |request: reqwest::RequestBuilder, headers: &[(&str, &str)]| {
        let request = headers.iter().fold(request, |request, (name, value)| {
            request.header(*name, *value)
        });
        async move { request.send().await.unwrap().status() }
    };
    let id = ("mcp-session-id", session.as_str());
    for (why, headers, status) in [
        ("no session id", &[][..], 400),
        ("unknown session", &[("mcp-session-id", "nope")][..], 404),
        ("absent version header: 2025-03-26 assumed", &[id][..], 200),
        (
            "version header 2025-03-26",
            &[id, ("mcp-protocol-version", "2025-03-26")][..],
            200,
        ),
    ] {
        assert_eq!(with(bare(), headers).await, status, "{why}");
    }
    let (status, body) = send_json(
        bare()
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "1999-01-01"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32022)),
        "unsupported version header"
    );

    // DELETE ends the session; it is then unknown.
    let http = reqwest::Client::new();
    let delete = || http.delete(url(s.addr)).bearer_auth("user-1");
    assert_eq!(with(delete(), &[id]).await, 204);
    assert_eq!(with(bare(), &[id]).await, 404);
    assert_eq!(with(delete(), &[id]).await, 404);
    assert_eq!(
        with(delete(), &[]).await,
        400,
        "DELETE without a session id"
    );
    let get = http.get(url(s.addr)).bearer_auth("user-1");
    assert_eq!(with(get, &[]).await, 405);
    // A 2026-07-28 client has no session to end.
    let modern = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-session-id", "anything"),
    ];
    assert_eq!(with(delete(), &modern).await, 405);
}

#[tokio::test]
async fn a_session_presented_with_another_callers_token_is_refused() {
    let s = start(|b| b).await;
    let alice = Client::new(s.addr, Some("user-alice"));
    alice.initialize().await;
    let session = alice.session.lock().unwrap().clone().unwrap();
    let mallory = Client::without_session(s.addr, Some("user-mallory"));
    *mallory.session.lock().unwrap() = Some(session.clone());
    let (status, _, _) = mallory.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 404);
    let ended = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-mallory")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404, "mallory cannot end alice's session");
    let (status, _, _) = alice.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 200, "alice's session still works");
    // A session never replaces the token.
    let anonymous = Client::without_session(s.addr, None);
    *anonymous.session.lock().unwrap() = Some(session);
    assert_eq!(
        anonymous.call("echo.name", json!({ "name": "x" })).await.0,
        401
    );
}

#[tokio::test]
async fn ten_thousand_sessions_stay_bounded_and_expire() {
    let s = start(|b| {
        b.max_sessions(2_000)
            .session_idle_timeout(Duration::from_millis(300))
    })
    .await;
    let http = reqwest::Client::new();
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }
    })
    .to_string();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for batch in 0..100 {
        let requests = (0..100).map(|i| {
            http.post(url(s.addr))
                .bearer_auth(format!("user-{}", (batch * 100 + i) % 500))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for response in futures_join(requests).await {
            *statuses
                .entry(response.unwrap().status().as_u16())
                .or_default() += 1;
        }
        assert!(
            s.server.open_sessions() <= 2_000,
            "{} sessions",
            s.server.open_sessions()
        );
    }
    assert_eq!(statuses.values().sum::<usize>(), 10_000);
    assert!(statuses[&200] >= 2_000, "{statuses:?}");
    // 500 principals × 64 sessions each would exceed the global bound: the rest wait (503).
    assert_eq!(
        statuses.keys().filter(|k| **k != 200 && **k != 503).count(),
        0,
        "{statuses:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = Client::new(s.addr, Some("user-1"));
    assert_eq!(fresh.initialize().await, 200, "expired sessions made room");
    assert_eq!(s.server.open_sessions(), 1);
}

#[tokio::test]
async fn stateless_mode_issues_no_sessions() {
    let s = start(|b| b.stateless(true)).await;
    let client = Client::without_session(s.addr, Some("user-1"));
    let init = client.initialize().await;
    assert_eq!(init, 200);
    assert!(client.session.lock().unwrap().is_none());
    let (status, _, body) = client.call("echo.name", json!({ "name": "z" })).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "z");
    let delete = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-1");
    assert_eq!(delete.send().await.unwrap().status(), 405);
}

#[tokio::test]
async fn sessions_are_never_fixed_or_borrowed() {
    let fx = Fx::start_with(false).await;
    let alice = fx.token_with(|c| c["sub"] = "alice".into());
    let mallory = fx.token_with(|c| c["sub"] = "mallory".into());
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }
    })
    .to_string();
    let chosen = "attacker-chosen-session-id-0123456789abcdef";
    let response = fx
        .post(initialize.clone())
        .bearer_auth(&alice)
        .header("mcp-session-id", chosen)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let issued = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(issued, chosen, "a client-chosen session id was adopted");
    assert_eq!(issued.len(), 43, "256 random bits");

    let on = |session: &str, token: &str, tool: &str| {
        fx.call(tool, token)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
    };
    let other_client =
        fx.token_with(|c| patch(c, &json!({ "sub": "alice", "client_id": "mallory-app" })));
    for (attack, session, token) in [
        ("the fixated id", chosen, &alice),
        (
            "alice's session with mallory's token",
            issued.as_str(),
            &mallory,
        ),
        (
            "alice's session with a token of alice for another client",
            issued.as_str(),
            &other_client,
        ),
    ] {
        fx.rpc_error(attack, on(session, token, "void_invoice"), 404, -32600)
            .await;
    }
    fx.refused(
        "alice's session without a token",
        fx.post(call_body("void_invoice", "INV-1"))
            .header("mcp-session-id", &issued),
        401,
        Challenge::Missing,
    )
    .await;
    let ended = fx
        .http
        .delete(fx.url())
        .bearer_auth(&mallory)
        .header("mcp-session-id", &issued)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404, "mallory ended alice's session");
    // The session carries no privileges: alice's own token decides her scopes.
    let alice_reader =
        fx.token_with(|c| patch(c, &json!({ "sub": "alice", "scope": "invoices:read" })));
    fx.refused(
        "alice's session with her read-only token",
        on(&issued, &alice_reader, "void_invoice"),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
    fx.accepted(
        "alice's session still works for alice",
        on(&issued, &alice, "void_invoice"),
    )
    .await;
    fx.rpc_error(
        "a 4 KiB session id",
        on(&"s".repeat(4096), &alice, "void_invoice"),
        404,
        -32600,
    )
    .await;
}

#[tokio::test]
async fn a_full_session_store_refuses_initialize_with_its_id_and_opens_nothing() {
    let s = start(|b| b.max_sessions(1)).await;
    assert_eq!(Client::new(s.addr, Some("user-1")).initialize().await, 200);
    let initialize = json!({
        "jsonrpc": "2.0", "id": "init-7", "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }
    })
    .to_string();
    // Whatever the client accepts, the refusal is a `503` JSON-RPC error naming the request.
    for accept in [
        "application/json",
        "text/event-stream",
        "application/json, text/event-stream",
    ] {
        let response = reqwest::Client::new()
            .post(url(s.addr))
            .bearer_auth("user-2")
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(initialize.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{accept}");
        assert!(
            response.headers().get("mcp-session-id").is_none(),
            "{accept}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{accept}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "jsonrpc": "2.0", "id": "init-7",
                "error": { "code": -32603, "message": "too many sessions" }
            }),
            "{accept}"
        );
    }
    assert_eq!(s.server.open_sessions(), 1);
}
