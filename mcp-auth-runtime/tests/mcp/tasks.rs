//! Tasks (the `io.modelcontextprotocol/tasks` extension) over real HTTP with JWTs signed by
//! keys generated here: a task answers only the principal that created it, is kept for its
//! time to live and no longer, keeps no result over the size bound, stops when cancelled, and
//! needs the tool's scopes again to be read.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../task_fixture/mod.rs"]
mod fixture;

use fixture::{
    Fx, TASKS, assert_capped_per_principal, assert_not_found, create_from_fresh_clients,
};
use mcp_auth_test_support::EventReader;

#[tokio::test]
async fn another_principal_gets_not_found_for_every_task_method() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    let id = fx.create(&owner, "crunch", json!({ "ms": 200 })).await;
    let strangers = [
        ("another subject", fx.token("bob")),
        (
            "the same subject in another tenant",
            fx.tokens.of_tenant("ann", "globex", "t:use"),
        ),
    ];
    for (who, token) in &strangers {
        for verb in ["get", "update", "cancel"] {
            let answer = fx.task(token, verb, &id).await;
            assert_not_found(&answer);
            // Indistinguishable from an id never issued.
            let never = fx
                .task(token, verb, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .await;
            assert_eq!(answer.1["error"], never.1["error"], "{who} {verb}");
        }
    }
    // The stranger's cancel did nothing: the owner gets the result, the strangers still not.
    let done = fx.settled(&owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "crunched for 200 ms");
    for (_, token) in &strangers {
        assert_not_found(&fx.task(token, "get", &id).await);
    }
    // There is no list of tasks to leak, nor `tasks/result` (SEP-2663 removed both).
    for method in ["tasks/list", "tasks/result"] {
        let (status, body) = fx.send(&owner, true, method, json!({ "taskId": id })).await;
        assert_eq!(status, 404, "{method}: {body}");
        assert_eq!(body["error"]["code"], -32601, "{method}: {body}");
    }
}

#[tokio::test]
async fn a_task_is_kept_for_its_time_to_live_and_no_longer() {
    let fx = Fx::start(|b| b.task_ttl(Duration::from_millis(1500))).await;
    let owner = fx.token("ann");
    let created = Instant::now();
    let id = fx.create(&owner, "crunch", json!({ "ms": 50 })).await;
    let done = fx.settled(&owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["ttlMs"], 1500, "{done}");
    let left = Duration::from_millis(1700).saturating_sub(created.elapsed());
    tokio::time::sleep(left).await;
    assert_not_found(&fx.task(&owner, "get", &id).await);
    assert_not_found(&fx.task(&owner, "cancel", &id).await);
}

#[tokio::test]
async fn a_result_over_the_size_bound_fails_the_task_and_is_not_kept() {
    let fx = Fx::start(|b| b.task_max_result_bytes(2_000)).await;
    let owner = fx.token("ann");
    let small = fx.create(&owner, "huge", json!({ "bytes": 500 })).await;
    let done = fx.settled(&owner, &small).await;
    assert_eq!(done["status"], "completed", "{done}");

    let big = fx.create(&owner, "huge", json!({ "bytes": 5_000 })).await;
    let failed = fx.settled(&owner, &big).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed.get("result").is_none(), "{failed}");
    assert_eq!(failed["error"]["code"], -32603, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("2000 bytes"), "{message}");
    assert!(!failed.to_string().contains("xxxx"), "the result leaked");
}

#[tokio::test]
async fn cancel_stops_the_run_and_is_acknowledged_again_once_over() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    let id = fx.create(&owner, "forever", json!({})).await;
    assert_eq!(fx.ended(), 0);
    let (status, ack) = fx.task(&owner, "cancel", &id).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(ack["result"].get("taskId").is_none(), "{ack}");
    let cancelled = fx.settled(&owner, &id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // The run itself stopped, long before its minute.
    let deadline = Instant::now() + Duration::from_secs(2);
    while fx.ended() == 0 {
        assert!(Instant::now() < deadline, "the run goes on after cancel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, again) = fx.task(&owner, "cancel", &id).await;
    assert_eq!(
        (status, &again["result"]["resultType"]),
        (200, &json!("complete"))
    );
}

#[tokio::test]
async fn reading_a_task_needs_the_tools_scopes_again() {
    let fx = Fx::start(|b| b).await;
    let id = fx
        .create(&fx.token("ann"), "crunch", json!({ "ms": 10 }))
        .await;
    // The same principal, its scopes since cut.
    let cut = fx.tokens.of("ann", "other:scope", 300);
    let (status, body) = fx.task(&cut, "get", &id).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], -32003, "{body}");
    assert!(body.get("result").is_none(), "{body}");
    // Cancelling one's own task needs no scope.
    let (status, ack) = fx.task(&cut, "cancel", &id).await;
    assert_eq!(status, 200, "{ack}");
}

#[tokio::test]
async fn without_the_extension_task_methods_are_refused_and_optional_tools_answer_at_once() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    let id = fx.create(&owner, "crunch", json!({ "ms": 10 })).await;
    let (status, body) = fx
        .send(&owner, false, "tasks/get", json!({ "taskId": id }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32021, "{body}");
    assert!(body["error"]["data"]["requiredCapabilities"]["extensions"][TASKS].is_object());

    let (status, body) = fx
        .send(
            &owner,
            false,
            "tools/call",
            json!({ "name": "crunch", "arguments": { "ms": 10 } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "crunched for 10 ms");
    let (status, body) = fx
        .send(&owner, false, "tools/call", json!({ "name": "forever" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32021, "{body}");
}

#[tokio::test]
async fn a_task_asks_for_input_and_resumes_with_the_answer() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    let id = fx.create(&owner, "approve", json!({})).await;
    let asking = fx.settled(&owner, &id).await;
    assert_eq!(asking["status"], "input_required", "{asking}");
    let requests = asking["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{asking}");
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(question["method"], "elicitation/create");
    // A stranger cannot answer it.
    let stranger = fx
        .send(
            &fx.token("bob"),
            true,
            "tasks/update",
            json!({ "taskId": id, "inputResponses": { key.clone(): { "action": "decline" } } }),
        )
        .await;
    assert_not_found(&stranger);
    let (status, ack) = fx
        .send(
            &owner,
            true,
            "tasks/update",
            json!({ "taskId": id, "inputResponses": { key.clone(): { "action": "accept", "content": { "ok": true } } } }),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let done = fx.settled(&owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "approved: Accept");
}

/// The run after a round of input reads the arguments as the client wrote them, as the first
/// run, the task's record and every check did: not the record's `Value`s written out and read
/// again, which for a float is not always the same number (serde_json's default parsing reads
/// `1.0715660391465826e-75` as the float it writes `1.0715660391465825e-75`, and that text as
/// yet another float), so the amount confirmed would not be the amount paid.
#[tokio::test]
async fn a_resumed_run_reads_the_arguments_as_the_client_wrote_them() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    // Sent as `1.0715660391465826e-75`, the shortest text of this float.
    let amount = 1.0715660391465826e-75_f64;
    let written = serde_json::to_string(&amount).unwrap();
    assert_eq!(written, "1.0715660391465826e-75");
    let read: f64 = serde_json::from_str(&written).unwrap();
    let bits = format!("{:#x}", read.to_bits());
    let id = fx.create(&owner, "pay", json!({ "amount": amount })).await;
    let asking = fx.settled(&owner, &id).await;
    let key = asked_key(&asking);
    assert_eq!(
        asking["inputRequests"][&key]["params"]["message"],
        format!("Pay {bits}?"),
        "{asking}"
    );
    let (status, ack) = fx
        .send(
            &owner,
            true,
            "tasks/update",
            json!({ "taskId": id, "inputResponses": { key: { "action": "accept", "content": { "ok": true } } } }),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    let done = fx.settled(&owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"],
        format!("paid {bits}"),
        "the amount confirmed is the amount paid"
    );
}

/// What the tool reads of its arguments (the JSON it was sent) is what every check reads (the
/// `on_call` hook here; `requestState`, the audit trail and the `Mcp-Param-*` checks read the
/// same map), for each way of writing the same numbers, strings and names, with each `Accept`:
/// a call the checks would read otherwise is refused before the tool runs.
#[tokio::test]
async fn the_tool_and_the_checks_read_the_same_arguments() {
    #[derive(Debug, serde::Deserialize)]
    struct Mirror {
        text: String,
        number: Option<f64>,
        count: Option<u64>,
        signed: Option<i64>,
        ratio: Option<f32>,
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let fx = Fx::start(move |b| {
        b.on_call(move |event: &mcp_auth_runtime::CallEvent<'_>| {
            record.lock().unwrap().push(
                event
                    .arguments
                    .map(|a| serde_json::Value::Object(a.clone())),
            );
        })
    })
    .await;
    let token = fx.token("ann");
    let http = mcp_auth_test_support::fixture::http();
    let cases = [
        r#"{"text":"a","number":1}"#,
        r#"{"text":"a","number":1.0}"#,
        r#"{"text":"a","number":1e0}"#,
        r#"{"text":"a","number":1E+0}"#,
        r#"{"text":"a","number":-0}"#,
        r#"{"text":"a","number":-0.0}"#,
        r#"{"text":"a","number":1e-400}"#,
        r#"{"text":"a","number":1e400}"#,
        r#"{"text":"a","number":1.0715660391465826e-75}"#,
        r#"{"text":"a","number":0.1000000000000000055511151231257827021181583404541015625}"#,
        r#"{"text":"a","number":18446744073709551616.0}"#,
        r#"{"text":"a","number":18446744073709551616}"#,
        // Both read as the f64 halfway between the f32s 1 and 1 + 2^-23.
        r#"{"text":"a","ratio":1.0000000596046448}"#,
        r#"{"text":"a","ratio":1.0000000596046447}"#,
        r#"{"text":"a","ratio":1e39}"#,
        r#"{"text":"a","count":0}"#,
        r#"{"text":"a","count":-0}"#,
        r#"{"text":"a","count":1.0}"#,
        r#"{"text":"a","count":1e0}"#,
        r#"{"text":"a","count":18446744073709551615}"#,
        r#"{"text":"a","count":18446744073709551616}"#,
        r#"{"text":"a","signed":-9223372036854775808}"#,
        r#"{"text":"a","signed":-9223372036854775809}"#,
        r#"{"text":"a","signed":-0}"#,
        r#"{"text":"\u0000"}"#,
        r#"{"text":"\ud83d\ude00"}"#,
        r#"{"text":"\ud800"}"#,
        r#"{"text":"\udc00\ud800"}"#,
        r#"{"text":"a\/b\u00e9é"}"#,
        r#"{"te\u0078t":"a"}"#,
        r#"{"text":"a","te\u0078t":"b"}"#,
        r#"{"text":"a","number":1,"n\u0075mber":2}"#,
        " \t\r\n{ \"text\" :\t\"a\" ,\r\n\"number\"\n:\n1 } \n",
        "\u{feff}{\"text\":\"a\"}",
        r#"{"text":"a","extra":{"x":[1,{"y":2,"y":3}]}}"#,
        r#"{"text":"a","extra":[18446744073709551616]}"#,
        r#"{"text":"a","number":null,"count":null}"#,
        r#"null"#,
        r#"[]"#,
        r#""x""#,
        r#"{}"#,
    ];
    let mut ran = 0;
    for accept in mcp_auth_test_support::modern::ACCEPTS {
        for arguments in cases {
            seen.lock().unwrap().clear();
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"mirror","arguments":{arguments},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
            );
            let (status, reply) = mcp_auth_test_support::modern::raw_call(
                &http, &fx.url, &token, accept, "mirror", body,
            )
            .await;
            let what = format!("{arguments} with {accept}: {status} {reply}");
            let result = &reply["result"];
            if result.is_null() || result["isError"] == true {
                continue;
            }
            ran += 1;
            let tool: Value =
                serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
            // The hook hears of a call as it ends, which a stream may not have waited for.
            let deadline = Instant::now() + Duration::from_secs(2);
            while seen.lock().unwrap().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let heard = seen.lock().unwrap().clone();
            assert_eq!(heard.len(), 1, "{what}");
            let map = heard[0].clone().unwrap_or_else(|| json!({}));
            // What the tool read when it read the checks' map, as it did before.
            let checks: Mirror = serde_json::from_value(map.clone())
                .unwrap_or_else(|err| panic!("the checks' map {map} is no call ({err}): {what}"));
            let checks = json!({
                "text": checks.text,
                "number": checks.number.map(f64::to_bits),
                "count": checks.count,
                "signed": checks.signed,
                "ratio": checks.ratio.map(f32::to_bits),
            });
            assert_eq!(tool, checks, "{what}");
        }
    }
    assert!(ran >= 3 * 20, "{ran} calls ran");
}

#[tokio::test]
async fn task_ids_are_long_random_and_distinct() {
    let fx = Fx::start(|b| b).await;
    let owner = fx.token("ann");
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let id = fx.create(&owner, "crunch", json!({ "ms": 50 })).await;
        assert_eq!(id.len(), 32, "{id}");
        assert!(ids.insert(id));
    }
}

#[tokio::test]
async fn a_listen_stream_follows_the_callers_own_tasks_only() {
    let fx = Fx::start(|b| b.task_poll_interval(Duration::from_millis(100))).await;
    let owner = fx.token("ann");
    let mine = fx.create(&owner, "crunch", json!({ "ms": 300 })).await;
    let theirs = fx
        .create(&fx.token("bob"), "crunch", json!({ "ms": 300 }))
        .await;
    let never = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let response = fx.listen(&owner, true, json!([theirs, mine, never])).await;
    assert_eq!(response.status(), 200);
    let mut events = EventReader::new(response);
    let ack = events.next_soon().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["notifications"]["taskIds"],
        json!([mine]),
        "{ack}"
    );
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("completed") {
        let note = events.next_soon().await;
        assert_eq!(note["method"], "notifications/tasks", "{note}");
        assert_eq!(note["params"]["taskId"], mine.as_str(), "{note}");
        assert_eq!(
            note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            11
        );
        statuses.push(note["params"]["status"].as_str().unwrap().to_owned());
        if note["params"]["status"] == "completed" {
            assert_eq!(
                note["params"]["result"]["content"][0]["text"],
                "crunched for 300 ms"
            );
        }
    }
    assert_eq!(statuses, ["working", "completed"]);

    // Asking for task notifications without the extension is refused.
    let response = fx.listen(&owner, false, json!([mine])).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32021, "{body}");
}

#[tokio::test]
async fn one_principal_cannot_take_every_place() {
    let fx = Fx::start(|b| b.max_tasks_per_principal(3)).await;
    assert_capped_per_principal(&fx, 3).await;
}

#[tokio::test]
async fn a_listen_stream_needs_the_tools_scopes_to_see_a_task() {
    let fx = Fx::start(|b| b.task_poll_interval(Duration::from_millis(100))).await;
    let id = fx
        .create(&fx.token("ann"), "crunch", json!({ "ms": 50 }))
        .await;
    // The same principal, its scopes since cut: `tasks/get` refuses it...
    let cut = fx.tokens.of("ann", "other:scope", 300);
    let (status, body) = fx.task(&cut, "get", &id).await;
    assert_eq!(status, 403, "{body}");
    // ...and a listen stream must not hand it the result either: the same challenge.
    let response = fx.listen(&cut, true, json!([id])).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32003, "{body}");
    // The owner's full token still follows it.
    let response = fx.listen(&fx.token("ann"), true, json!([id])).await;
    assert_eq!(response.status(), 200);
    let ack = EventReader::new(response).next_soon().await;
    assert_eq!(
        ack["params"]["notifications"]["taskIds"],
        json!([id]),
        "{ack}"
    );
}

#[tokio::test]
async fn reading_a_task_needs_the_conditional_scopes_its_call_needed() {
    let fx = Fx::start(|b| b).await;
    let admin = fx.tokens.of("ann", "t:use t:admin", 300);
    let id = fx.create(&admin, "report", json!({ "all": true })).await;
    let done = fx.settled(&admin, &id).await;
    assert_eq!(
        done["result"]["content"][0]["text"],
        "every tenant's figures"
    );
    // The call itself is refused to a token without `t:admin`...
    let plain = fx.token("ann");
    let call = json!({ "name": "report", "arguments": { "all": true } });
    let (status, body) = fx.send(&plain, true, "tools/call", call).await;
    assert_eq!(status, 403, "{body}");
    // ...so must the result it produced be.
    let (status, body) = fx.task(&plain, "get", &id).await;
    assert_eq!(
        status, 403,
        "the admin-only result is read without t:admin: {body}"
    );
}

#[tokio::test]
async fn reading_a_task_needs_the_scopes_its_body_required() {
    let fx = Fx::start(|b| b.task_poll_interval(Duration::from_millis(100))).await;
    let admin = fx.tokens.of("ann", "t:use t:admin", 300);
    let plain = fx.token("ann");
    let id = fx.create(&admin, "purge", json!({})).await;
    // A stream of the owner's `t:use` token, opened before the body checked `t:admin` (or
    // refused, if the run was quicker)...
    let response = fx.listen(&plain, true, json!([id])).await;
    let streamed = (response.status() == 200).then(|| EventReader::new(response));
    let done = fx.settled(&admin, &id).await;
    assert_eq!(done["result"]["content"][0]["text"], "purged");
    // ...never carries the result that check guarded,
    if let Some(mut events) = streamed {
        let leaked = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match events.next().await {
                    Some(note) if note["params"].get("result").is_some() => return note,
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        assert!(leaked.is_err(), "the stream carried {leaked:?}");
    }
    // and `tasks/get` answers the challenge.
    let (status, body) = fx.task(&plain, "get", &id).await;
    assert_eq!(status, 403, "{body}");
    // A task whose condition did not hold needs the static scopes only.
    let mine = fx.create(&plain, "report", json!({ "all": false })).await;
    let done = fx.settled(&plain, &mine).await;
    assert_eq!(done["result"]["content"][0]["text"], "your figures");
}

#[tokio::test]
async fn one_user_has_one_allowance_whatever_its_client_and_runs_are_capped() {
    let fx = Fx::start(|b| b.max_tasks(3).max_tasks_per_principal(2)).await;
    assert_eq!(create_from_fresh_clients(&fx, "ann", 5, 2).await, 2);
    // The third place in all, then none: for the store, and for this process's runs.
    fx.create(&fx.token("bob"), "forever", json!({})).await;
    let call = json!({ "name": "forever", "arguments": {} });
    let (status, body) = fx.send(&fx.token("cid"), true, "tools/call", call).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("result").is_none(), "{body}");
}

#[tokio::test]
async fn a_resumed_run_is_rate_limited_and_observed_as_a_retry_is() {
    use std::sync::{Arc, Mutex};

    use mcp_auth_runtime::CallOutcome;
    use mcp_auth_runtime::rate_limit::{Quota, RateLimits};

    let seen: Arc<Mutex<Vec<CallOutcome>>> = Arc::default();
    let record = seen.clone();
    let fx = Fx::start(move |b| {
        b.on_call(move |event| record.lock().unwrap().push(event.outcome))
            .rate_limits(RateLimits::local().tool("approve", Quota::per_minute(3)))
    })
    .await;
    let owner = fx.token("ann");
    let accept = json!({ "action": "accept", "content": { "ok": true } });
    // Calls one and two of the minute: the task, then its resumed run.
    let id = fx.create(&owner, "approve", json!({})).await;
    let key = asked_key(&fx.settled(&owner, &id).await);
    let update = json!({ "taskId": id, "inputResponses": { key: accept.clone() } });
    let (status, ack) = fx.send(&owner, true, "tasks/update", update).await;
    assert_eq!(status, 200, "{ack}");
    let done = fx.settled(&owner, &id).await;
    assert_eq!(done["result"]["content"][0]["text"], "approved: Accept");
    // The hook heard the task created, and how each run ended (before the task shows it).
    let heard = || seen.lock().unwrap().clone();
    use CallOutcome::*;
    assert_eq!(heard(), [TaskCreated, InputRequired, Completed]);
    // Call three: another task. Resuming it would be a fourth call in the minute.
    let id = fx.create(&owner, "approve", json!({})).await;
    let key = asked_key(&fx.settled(&owner, &id).await);
    let update = json!({ "taskId": id, "inputResponses": { key: accept } });
    let (status, body) = fx.send(&owner, true, "tasks/update", update).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], -32005, "{body}");
    // The answer was not filed: the task still waits for it.
    let waiting = fx.settled(&owner, &id).await;
    assert_eq!(waiting["status"], "input_required", "{waiting}");
    assert_eq!(heard().last(), Some(&RateLimited));
}

/// The key of the one request for input an `input_required` task shows.
fn asked_key(task: &serde_json::Value) -> String {
    assert_eq!(task["status"], "input_required", "{task}");
    let requests = task["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{task}");
    requests.keys().next().unwrap().clone()
}

#[tokio::test]
async fn a_scope_refusal_in_the_body_fails_the_task_with_the_challenge() {
    let fx = Fx::start(|b| b).await;
    let plain = fx.token("ann");
    let call = json!({ "name": "purge", "arguments": {} });
    // Without the extension: the step-up challenge, as the README promises while nothing
    // has been sent.
    let (status, body) = fx.send(&plain, false, "tools/call", call.clone()).await;
    assert_eq!(status, 403, "{body}");
    // With it the call is a task by the time the body refuses: the task fails with the same
    // error, scopes named, and no result.
    let id = fx.create(&plain, "purge", json!({})).await;
    let failed = fx.settled(&plain, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed.get("result").is_none(), "{failed}");
    assert_eq!(failed["error"]["code"], -32003, "{failed}");
    assert_eq!(
        failed["error"]["data"]["requiredScopes"],
        json!(["t:use", "t:admin"]),
        "{failed}"
    );
    assert_eq!(failed["error"]["data"]["missingScopes"], json!(["t:admin"]));
    // Stepped up, the call goes through.
    let admin = fx.tokens.of("ann", "t:use t:admin", 300);
    let id = fx.create(&admin, "purge", json!({})).await;
    let done = fx.settled(&admin, &id).await;
    assert_eq!(done["result"]["content"][0]["text"], "purged", "{done}");
}

#[tokio::test]
async fn a_run_stops_when_its_token_expires_unless_tasks_outlive_tokens() {
    for outlive in [false, true] {
        let fx = Fx::start(|b| if outlive { b.tasks_outlive_tokens() } else { b }).await;
        let short = fx.tokens.of("ann", "t:use", 2);
        let id = fx.create(&short, "forever", json!({})).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // Read with a fresh token of the same principal.
        let (status, body) = fx.task(&fx.token("ann"), "get", &id).await;
        assert_eq!(status, 200, "{body}");
        let task = &body["result"];
        if outlive {
            assert_eq!(task["status"], "working", "{task}");
            assert_eq!(fx.ended(), 0);
        } else {
            assert_eq!(task["status"], "failed", "{task}");
            let message = task["error"]["message"].as_str().unwrap();
            assert!(message.contains("token expired"), "{message}");
            assert_eq!(fx.ended(), 1, "the run goes on past its token");
        }
    }
}
