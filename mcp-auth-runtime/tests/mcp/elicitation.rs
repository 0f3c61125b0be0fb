//! Requests for input: on the call's stream in the handshake era, as retries in the
//! 2026-07-28 era.

use super::*;

#[tokio::test]
async fn legacy_elicitation_and_sampling_travel_on_the_calls_stream() {
    let s = start(|b| b).await;
    let client = s.session("user-1").await;
    let mut events = client.stream("confirm", 3, json!({})).await;
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "Really?");
    assert_eq!(request["params"]["mode"], "form");
    assert_eq!(
        s.counter.0.load(Ordering::SeqCst),
        0,
        "nothing happens before the answer"
    );
    let answer = json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "action": "accept", "content": { "confirm": true } } });
    let (status, _, _) = client.send_raw(answer.to_string()).await;
    assert_eq!(status, 202);
    let result = events.next().await.unwrap();
    assert_eq!(result["id"], 3);
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);

    let mut events = client.stream("ask_model", 4, json!({})).await;
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let answer = json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "role": "assistant", "content": { "type": "text", "text": "hello" }, "model": "m" } });
    client.send_raw(answer.to_string()).await;
    assert_eq!(
        events.next().await.unwrap()["result"]["content"][0]["text"],
        "hello"
    );

    // A client that did not declare elicitation gets a tool error, not a request.
    let plain = Client::without_session(s.addr, Some("user-2"));
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } } });
    let response = reqwest::Client::new()
        .post(url(s.addr))
        .bearer_auth("user-2")
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    *plain.session.lock().unwrap() = Some(
        response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    let (_, _, body) = plain.call("confirm", json!({})).await;
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["content"][0]["text"],
        "the client does not support elicitation"
    );
}

#[tokio::test]
async fn modern_elicitation_is_a_round_trip_of_retries() {
    let s = start(|b| b).await;
    let (status, body) = send_json(modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "confirm" }),
    ))
    .await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["resultType"], "input_required");
    let request = &result["inputRequests"]["elicitation-0"];
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "Really?");
    assert!(request.get("id").is_none() && request.get("jsonrpc").is_none());
    let state = result["requestState"].as_str().unwrap().to_owned();
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 0);

    let retry = json!({
        "name": "confirm",
        "inputResponses": { "elicitation-0": { "action": "accept", "content": { "confirm": true } } },
        "requestState": state,
    });
    let (status, body) = send_json(modern(s.addr, "user-1", "tools/call", retry)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);

    // A client without the capability: -32021 with the capability it lacks.
    let (status, body) = send_json(modern_bare_call(s.addr, "ask_model", 9, json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32021);
    assert_eq!(
        body["error"]["data"]["requiredCapabilities"],
        json!({ "sampling": {} })
    );
}
