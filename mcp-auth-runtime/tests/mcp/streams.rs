//! What travels on a call's stream and on the listen stream: progress, logs, cancellation,
//! timeouts, acknowledgements and graceful shutdown.

use super::*;

#[tokio::test]
async fn progress_events_arrive_in_order_before_the_result() {
    let s = start(|b| b).await;
    let client = s.session("user-1").await;
    let meta = json!({ "progressToken": "p-1" });
    let response = client.send_sse_call("with_progress", 5, meta).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let (events, retry) = sse_events(&response.text().await.unwrap());
    assert!(retry, "the priming event sets a retry interval");
    assert_eq!(events[0].1, "", "the first event primes: an id and no data");
    assert!(events[0].0.is_some());
    let messages: Vec<Value> = events[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let progress: Vec<f64> = messages[..3]
        .iter()
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0]);
    assert!(
        messages[..3]
            .iter()
            .all(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "p-1")
    );
    assert_eq!(messages[0]["params"]["message"], "step 1");
    assert_eq!(messages[3]["id"], 5);
    assert_eq!(messages[3]["result"]["content"][0]["text"], "token \"p-1\"");
    assert_eq!(messages.len(), 4);
    let ids: Vec<_> = events.iter().map(|(id, _)| id.clone().unwrap()).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "event ids are unique");

    // Without a progress token, or without SSE in Accept, the answer is plain JSON.
    let response = client.send_sse_call("with_progress", 6, json!({})).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let (_, _, body) = client
        .request(
            "tools/call",
            json!({ "name": "with_progress", "_meta": { "progressToken": 1 } }),
        )
        .await;
    assert_eq!(body["result"]["content"][0]["text"], "token 1");
}

#[tokio::test]
async fn log_messages_respect_the_requested_level() {
    let s = start(|b| b).await;
    let client = s.session("user-1").await;
    let (_, _, body) = client
        .request("logging/setLevel", json!({ "level": "warning" }))
        .await;
    assert_eq!(body["result"], json!({}));
    let response = client.send_sse_call("with_logs", 2, json!({})).await;
    let (events, _) = sse_events(&response.text().await.unwrap());
    let levels: Vec<Value> = events[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["level"].clone())
        .collect();
    assert_eq!(levels, [json!("warning"), json!("error")]);
    let (_, _, body) = client
        .request("logging/setLevel", json!({ "level": "loud" }))
        .await;
    assert_eq!(body["error"]["code"], -32602);

    // 2026-07-28: no log messages unless the request asks for them.
    let (events, _) = sse_events(
        &modern(
            s.addr,
            "user-1",
            "tools/call",
            json!({ "name": "with_logs" }),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn notifications_cancelled_stops_a_running_tool() {
    let s = start(|b| b).await;
    let client = s.session("user-1").await;
    let response = client
        .send_sse_call("count_slowly", 41, json!({ "progressToken": "c" }))
        .await;
    let reader = tokio::spawn(async move { response.text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.counter.0.load(Ordering::SeqCst) > 0);
    let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 41, "reason": "user" } });
    let (status, _, _) = client.send_raw(cancel.to_string()).await;
    assert_eq!(status, 202);
    let body = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .unwrap()
        .unwrap();
    let after_cancel = s
        .counter
        .assert_stays(Duration::from_millis(100), "the tool kept running")
        .await;
    assert!(after_cancel < 100);
    assert!(
        !body.contains("\"result\""),
        "no response for a cancelled request: {body}"
    );
}

#[tokio::test]
async fn closing_a_modern_stream_cancels_the_call() {
    let s = start(|b| b).await;
    // The tool reports progress first, so the answer becomes a stream.
    let request = modern_bare_call(s.addr, "count_slowly", 7, json!({ "progressToken": "p" }));
    let mut response = request.send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    assert!(
        !String::from_utf8_lossy(&first).starts_with("id:"),
        "no event ids in this era"
    );
    drop(response);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.counter
        .assert_stays(Duration::from_millis(100), "the tool kept running")
        .await;
}

#[tokio::test]
async fn a_tool_that_overruns_the_call_timeout_is_abandoned() {
    let s = start(|b| b.call_timeout(Duration::from_millis(100))).await;
    let client = Client::new(s.addr, Some("user-1"));
    let started = Instant::now();
    let (status, _, body) = client.call("sleepy", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true);
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not finish")
    );
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn subscriptions_listen_acknowledges_and_stays_open() {
    let s = start(|b| b).await;
    let mut response = modern(
        s.addr,
        "user-1",
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true } }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let ack: Value = serde_json::from_str(first.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"], json!({}));
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        7
    );
    let next = tokio::time::timeout(Duration::from_millis(200), response.chunk()).await;
    assert!(next.is_err(), "the stream stays open");
}

#[tokio::test]
async fn sse_round_trips_do_not_wait_for_delayed_acks() {
    // With TCP_NODELAY off, each small SSE write waits for the peer's delayed ACK (~40 ms):
    // 50 streamed calls would take two seconds or more. Served with `mcp_auth_runtime::serve`, they
    // take a few milliseconds each.
    let (listener, addr, resource) = bind_endpoint().await;
    let server = unserved("latency", resource, |b| b.tools(tools![with_progress]));
    tokio::spawn(mcp_auth_runtime::serve(
        listener,
        server,
        std::future::pending(),
    ));
    let client = Client::new(addr, Some("user-1"));
    client.initialize().await;
    let started = Instant::now();
    for i in 0..50 {
        let response = client
            .send_sse_call("with_progress", i, json!({ "progressToken": i }))
            .await;
        let (events, _) = sse_events(&response.text().await.unwrap());
        assert_eq!(events.len(), 5);
    }
    let elapsed = started.elapsed();
    // Each call sleeps 15 ms in the tool itself.
    assert!(
        elapsed < Duration::from_millis(50 * 15 + 1500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_calls_finish() {
    let (listener, addr, resource) = bind_endpoint().await;
    let server = unserved("shutdown", resource, |b| b.tools(tools![sleepy]));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(mcp_auth_runtime::serve(listener, server, async {
        let _ = stopped.await;
    }));
    let client = Arc::new(Client::new(addr, Some("user-1")));
    client.initialize().await;
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.call("sleepy", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "awake");
    tokio::time::timeout(Duration::from_secs(2), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reqwest::Client::new().post(url(addr)).send().await.is_err(),
        "the server stopped"
    );
}
