//! Replicas sharing handshake-era sessions, rate limits and used DPoP proofs through a real
//! `redis-server`: two servers in this process, each with its own Redis connections as two
//! processes would have, on their own loopback ports.
//!
//! Needs `redis-server` on the PATH (Debian's `redis-server` package; `tests/run.sh`
//! installs it). Without it the tests say so and pass, unless `MCP_AUTH_REQUIRE_REDIS` is set,
//! as `tests/run.sh` does, which makes a missing server a failure.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_runtime::session::RedisSessions;
use mcp_auth_test_support::tools::{Counter, Users, confirm, count_slowly, echo, with_logs};
use mcp_auth_test_support::{Client, bind, modern_call};
use serde_json::{Value, json};

#[path = "redis/dpop.rs"]
mod dpop;
#[path = "redis/tasks.rs"]
mod tasks;

#[path = "redis/dpop_replay.rs"]
mod dpop_replay;

/// A `redis-server` of this test alone, on a free loopback port, without persistence.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one, or `None` (after saying why) when `redis-server` is not installed and
    /// `MCP_AUTH_REQUIRE_REDIS` is not set.
    fn start() -> Option<RedisServer> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !found {
            assert!(
                std::env::var_os("MCP_AUTH_REQUIRE_REDIS").is_none(),
                "redis-server is not installed, and MCP_AUTH_REQUIRE_REDIS is set"
            );
            eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer { child: None, port };
        server.restart();
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port, and waits until it answers.
    fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Replica {
    addr: SocketAddr,
    counter: Counter,
    /// Starts a graceful shutdown; the task ends when the replica has stopped.
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// One replica: its own Redis connections and subscription, sessions under `prefix`.
async fn replica(
    redis: &RedisServer,
    prefix: &str,
    configure: impl FnOnce(McpServerBuilder, &RedisSessions) -> McpServerBuilder,
) -> Replica {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let counter = Counter::default();
    let client = redis::Client::open(redis.url()).unwrap();
    let sessions = RedisSessions::connect_with_prefix(client, prefix)
        .await
        .unwrap();
    let builder = McpServer::builder("replica", "1.0.0")
        .tools(tools![count_slowly, with_logs, confirm, echo])
        .state(counter.clone())
        .verifier(Users)
        .resource("http://127.0.0.1/mcp")
        .redis_sessions(sessions.clone());
    let server = configure(builder, &sessions).build().unwrap();
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let stopped = tokio::spawn(mcp_auth_runtime::serve(listener, server, async {
        let _ = signal.await;
    }));
    Replica {
        addr,
        counter,
        shutdown: Some(shutdown),
        stopped,
    }
}

/// Two replicas sharing `redis` under a prefix of their own.
async fn pair(redis: &RedisServer) -> (Replica, Replica) {
    pair_with(redis, |b, _| b).await
}

async fn pair_with(
    redis: &RedisServer,
    configure: impl Fn(McpServerBuilder, &RedisSessions) -> McpServerBuilder,
) -> (Replica, Replica) {
    static PREFIXES: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("test{}", PREFIXES.fetch_add(1, Ordering::Relaxed));
    let a = replica(redis, &prefix, &configure).await;
    let b = replica(redis, &prefix, &configure).await;
    (a, b)
}

/// A session of `token` opened on `a`, and a client of `b` that uses it.
/// Redis, two replicas sharing it, and one session of `user-1` as a client of each; `None`
/// when there is no `redis-server` (see [`RedisServer::start`]).
async fn sessions_on_two_replicas() -> Option<(RedisServer, Replica, Replica, Client, Client)> {
    let redis = RedisServer::start()?;
    let (a, b) = pair(&redis).await;
    let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;
    Some((redis, a, b, on_a, on_b))
}

async fn session_on_both(a: &Replica, b: &Replica, token: &str) -> (Client, Client) {
    let on_a = Client::new(a.addr, Some(token));
    assert_eq!(on_a.initialize().await, 200);
    let on_b = same_session(b, token, &on_a);
    (on_a, on_b)
}

/// A client of `replica` that uses the session `from` opened.
fn same_session(replica: &Replica, token: &str, from: &Client) -> Client {
    let client = Client::without_session(replica.addr, Some(token));
    *client.session.lock().unwrap() = from.session.lock().unwrap().clone();
    client
}

async fn delete(client: &Client) -> u16 {
    let mut request = client.http.delete(&client.url);
    if let Some(session) = client.session.lock().unwrap().clone() {
        request = request.header("mcp-session-id", session);
    }
    request
        .bearer_auth(client.token.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_session_opened_on_one_replica_serves_on_the_other() {
    let Some((_redis, _a, b, on_a, on_b)) = sessions_on_two_replicas().await else {
        return;
    };
    let (status, _, body) = on_b.call("echo.name", json!({ "name": "ada" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "ada");

    // Another principal's token with the same id is refused on every replica.
    let mallory = same_session(&b, "user-2", &on_a);
    let (status, _, _) = mallory.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 404);

    // logging/setLevel through B applies to calls on A.
    let (status, _, _) = on_b
        .request("logging/setLevel", json!({ "level": "error" }))
        .await;
    assert_eq!(status, 200);
    let mut events = on_a.stream("with_logs", 5, json!({})).await;
    let first = events.next().await.unwrap();
    assert_eq!(first["method"], "notifications/message");
    assert_eq!(first["params"]["level"], "error", "info was filtered out");
    assert_eq!(events.next().await.unwrap()["id"], 5);

    // DELETE through B ends the session on A too.
    assert_eq!(delete(&mallory).await, 404, "only its principal may end it");
    assert_eq!(delete(&on_b).await, 204);
    let (status, _, _) = on_a.call("echo.name", json!({ "name": "ada" })).await;
    assert_eq!(status, 404);
    assert_eq!(delete(&on_b).await, 404);
}

#[tokio::test]
async fn an_answer_posted_to_another_replica_reaches_the_waiting_call() {
    let Some((_redis, _a, b, on_a, on_b)) = sessions_on_two_replicas().await else {
        return;
    };
    let mut events = on_a.stream("confirm", 3, json!({})).await;
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "elicitation/create");
    let answer = json!({
        "jsonrpc": "2.0", "id": request["id"],
        "result": { "action": "accept", "content": { "confirm": true } }
    });
    let (status, _, _) = on_b.send_raw(answer.to_string()).await;
    assert_eq!(status, 202);
    let result = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the answer was relayed to replica A")
        .unwrap();
    assert_eq!(result["id"], 3);
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );

    // An answer from another principal's session never reaches the call.
    let mut events = on_a.stream("confirm", 4, json!({})).await;
    let request = events.next().await.unwrap();
    let other = Client::new(b.addr, Some("user-2"));
    other.initialize().await;
    let forged = json!({
        "jsonrpc": "2.0", "id": request["id"],
        "result": { "action": "accept", "content": { "confirm": true } }
    });
    assert_eq!(other.send_raw(forged.to_string()).await.0, 202);
    let waited = tokio::time::timeout(Duration::from_millis(500), events.next()).await;
    assert!(waited.is_err(), "a forged answer completed the call");
    let decline =
        json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "action": "decline" } });
    assert_eq!(on_b.send_raw(decline.to_string()).await.0, 202);
    let result = events.next().await.unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "Decline {}");
}

#[tokio::test]
async fn a_cancellation_sent_to_another_replica_stops_the_call() {
    let Some((_redis, a, b, on_a, on_b)) = sessions_on_two_replicas().await else {
        return;
    };
    let call = on_a.sse_call("count_slowly", 9, json!({})).send();
    let call = tokio::spawn(async move { call.await.unwrap().text().await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.counter.0.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the call never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancel = json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 9, "reason": "changed my mind" }
    });
    assert_eq!(on_b.send_raw(cancel.to_string()).await.0, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = a
        .counter
        .assert_stays(Duration::from_millis(300), "the call on A still runs")
        .await;
    assert!(stopped_at < 200, "cancelled late: {stopped_at} ticks");
    let body = call.await.unwrap().unwrap_or_default();
    assert!(
        !body.contains("counted"),
        "a cancelled call answered: {body}"
    );
    assert_eq!(b.counter.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn session_bounds_hold_across_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair_with(&redis, |builder, _| builder.max_sessions(3)).await;
    // A principal's sessions beyond 64 evict its oldest; here the server-wide bound of 3.
    let first = Client::new(a.addr, Some("user-1"));
    assert_eq!(first.initialize().await, 200);
    let second = Client::new(b.addr, Some("user-2"));
    assert_eq!(second.initialize().await, 200);
    let third = Client::new(a.addr, Some("user-3"));
    assert_eq!(third.initialize().await, 200);
    let fourth = Client::new(b.addr, Some("user-4"));
    assert_eq!(fourth.initialize().await, 503, "the shared bound holds");
    // Ending one on A makes room on B.
    assert_eq!(delete(&first).await, 204);
    assert_eq!(fourth.initialize().await, 200);
}

#[tokio::test]
async fn a_principal_holds_at_most_64_sessions_across_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair(&redis).await;
    let oldest = Client::new(a.addr, Some("user-1"));
    assert_eq!(oldest.initialize().await, 200);
    for i in 0..64 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let client = Client::new(replica.addr, Some("user-1"));
        assert_eq!(client.initialize().await, 200);
    }
    let (status, _, _) = oldest.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 404, "the least recently used session made room");
}

#[tokio::test]
async fn idle_sessions_expire_in_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair_with(&redis, |builder, _| {
        builder.session_idle_timeout(Duration::from_millis(600))
    })
    .await;
    let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;
    // Each use extends it...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(on_b.call("echo.name", json!({ "name": "x" })).await.0, 200);
    }
    // ...and idleness ends it.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(on_a.call("echo.name", json!({ "name": "x" })).await.0, 404);
}

#[tokio::test]
async fn rate_limits_are_shared_by_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair_with(&redis, |builder, sessions| {
        // An hour-long window: the burst below never straddles two windows.
        builder.rate_limits(
            RateLimits::redis(sessions.connection())
                .tool("echo.name", Quota::new(3, Duration::from_secs(3600))),
        )
    })
    .await;
    let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..6 {
        let client = if i % 2 == 0 { &on_a } else { &on_b };
        let body = json!({ "jsonrpc": "2.0", "id": i, "method": "tools/call", "params": { "name": "echo.name", "arguments": { "name": "x" } } });
        let response = client.post().body(body.to_string()).send().await.unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    let retry_after: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after));
    // Another caller has a budget of its own.
    let other = Client::new(b.addr, Some("user-2"));
    assert_eq!(other.call("echo.name", json!({ "name": "x" })).await.0, 200);

    // A server under another prefix, on the same Redis, counts apart.
    let (c, _) = pair_with(&redis, |builder, sessions| {
        builder.rate_limits(
            RateLimits::redis_with_prefix(sessions.connection(), "elsewhere")
                .tool("echo.name", Quota::new(3, Duration::from_secs(3600))),
        )
    })
    .await;
    let on_c = Client::new(c.addr, Some("user-1"));
    assert_eq!(on_c.call("echo.name", json!({ "name": "x" })).await.0, 200);
}

#[tokio::test]
async fn a_redis_outage_fails_closed_and_heals() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair(&redis).await;
    let http = reqwest::Client::new();
    let ready = |addr: SocketAddr| {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(ready(a.addr).await.0, 200);
    let on_a = Client::new(a.addr, Some("user-1"));
    on_a.initialize().await;

    redis.stop();
    // The first request that needs Redis after it went away gets its 503 promptly.
    let started = Instant::now();
    let response = on_a
        .post_json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let (status, body) = ready(a.addr).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["sessions"], "unavailable");
    let response = on_a
        .post_json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .await;
    assert_eq!(
        response.status(),
        503,
        "a session that cannot be checked is refused"
    );
    assert_eq!(response.headers()["retry-after"], "1");
    let newcomer = Client::new(b.addr, Some("user-2"));
    assert_eq!(newcomer.initialize().await, 503);
    let live = http
        .get(format!("http://{}/healthz", a.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200, "liveness does not depend on Redis");

    // Redis comes back empty (no persistence): old sessions are gone, new ones work, and the
    // relay between replicas resubscribed.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(a.addr).await.0 != 200 || ready(b.addr).await.0 != 200 {
        assert!(Instant::now() < deadline, "readiness did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(on_a.call("echo.name", json!({ "name": "x" })).await.0, 404);
    let fresh = Client::new(a.addr, Some("user-1"));
    assert_eq!(fresh.initialize().await, 200);
    let on_b = same_session(&b, "user-1", &fresh);
    loop {
        let mut events = fresh.stream("confirm", 3, json!({})).await;
        let request = events.next().await.unwrap();
        let answer =
            json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "action": "cancel" } });
        assert_eq!(on_b.send_raw(answer.to_string()).await.0, 202);
        match tokio::time::timeout(Duration::from_secs(1), events.next()).await {
            Ok(result) => {
                assert_eq!(result.unwrap()["result"]["content"][0]["text"], "Cancel {}");
                break;
            }
            // Published before A resubscribed: lost, as the docs say; the call times out.
            Err(_) => assert!(Instant::now() < deadline, "the relay never came back"),
        }
    }
}

/// The key both replicas seal 2026-07-28 request states with.
const STATE_KEY: [u8; 32] = [9; 32];

/// The first round of `confirm` on `replica`, and the retry that confirms it.
/// `confirm` called by `user-1` on `replica` with `params`, accepting `accept`.
async fn confirm_on(
    http: &reqwest::Client,
    replica: &Replica,
    accept: &str,
    params: &Value,
) -> (u16, Value) {
    modern_call(
        http,
        replica.addr,
        "user-1",
        accept,
        "confirm",
        params.clone(),
    )
    .await
}

async fn confirm_retry(http: &reqwest::Client, replica: &Replica) -> Value {
    let (status, body) = confirm_on(http, replica, "application/json", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["resultType"], "input_required", "{body}");
    json!({
        "inputResponses": { "elicitation-0": { "action": "accept", "content": { "confirm": true } } },
        "requestState": body["result"]["requestState"],
    })
}

#[tokio::test]
async fn a_request_state_spent_on_one_replica_is_refused_on_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let http = reqwest::Client::new();
    // Stateless or not, replicas given Redis record spent states there.
    for stateless in [false, true] {
        let (a, b) = pair_with(&redis, |builder, _| {
            builder.request_state_key(STATE_KEY).stateless(stateless)
        })
        .await;
        let retry = confirm_retry(&http, &a).await;
        let (status, body) = confirm_on(&http, &b, "application/json", &retry).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["content"][0]["text"], "Accept {\"confirm\":true}",
            "{body}"
        );
        for replica in [&a, &b] {
            let (_, body) = confirm_on(&http, replica, "application/json", &retry).await;
            assert_eq!(body["error"]["code"], -32602, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("already been used"), "{message}");
        }
        let runs = (
            a.counter.0.load(Ordering::SeqCst),
            b.counter.0.load(Ordering::SeqCst),
        );
        assert_eq!(runs, (0, 1), "stateless: {stateless}");
    }
}

#[tokio::test]
async fn a_retry_is_refused_with_503_while_redis_is_down() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (a, _b) = pair_with(&redis, |builder, _| builder.request_state_key(STATE_KEY)).await;
    let http = reqwest::Client::new();
    let retry = confirm_retry(&http, &a).await;
    redis.stop();
    let started = Instant::now();
    let (status, body) = confirm_on(&http, &a, "application/json", &retry).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // A stream-only client gets the same status: the refusal is decided before a stream opens.
    let (status, _) = confirm_on(&http, &a, "text/event-stream", &retry).await;
    assert_eq!(status, 503);
    assert_eq!(
        a.counter.0.load(Ordering::SeqCst),
        0,
        "a state that cannot be spent runs nothing"
    );

    // Once Redis is back, the state (never spent) confirms the call.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = confirm_on(&http, &a, "application/json", &retry).await;
        if status == 200 {
            assert_eq!(
                body["result"]["content"][0]["text"], "Accept {\"confirm\":true}",
                "{body}"
            );
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "the spent-state store did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.counter.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_replica_shutting_down_finishes_its_calls_with_answers_relayed_to_it() {
    let Some((_redis, mut a, _b, on_a, on_b)) = sessions_on_two_replicas().await else {
        return;
    };
    let mut events = on_a.stream("confirm", 3, json!({})).await;
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "elicitation/create");

    // A is told to stop (a rolling restart): it takes no new connection...
    a.shutdown.take().unwrap().send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(a.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "A still accepts connections");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...but its call still gets the answer the client sends to B, and finishes.
    let answer = json!({
        "jsonrpc": "2.0", "id": request["id"],
        "result": { "action": "accept", "content": { "confirm": true } }
    });
    assert_eq!(on_b.send_raw(answer.to_string()).await.0, 202);
    let result = events.next().await.unwrap();
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );
    assert_eq!(a.counter.0.load(Ordering::SeqCst), 1);
    tokio::time::timeout(Duration::from_secs(5), a.stopped)
        .await
        .expect("A stopped once its call finished")
        .unwrap()
        .unwrap();
    // The session carries on through B.
    assert_eq!(
        on_b.call("echo.name", json!({ "name": "ada" })).await.0,
        200
    );
}

// Resource subscriptions across replicas, with JWTs signed by a real issuer's key.

mod subscriptions {
    use mcp_auth_runtime::auth::JwtVerifier;
    use mcp_auth_test_support::EventReader;
    use mcp_auth_test_support::issuer::{Issuer, TestKey, Tokens};

    use super::*;

    const SUMMARY: &str = "billing://tenant/summary";
    const LOGO: &str = "billing://logo";
    const RESOURCE: &str = "http://127.0.0.1/mcp";

    /// Counts and totals.
    #[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
    async fn summary() -> Result<String, ToolError> {
        Ok("{}".into())
    }

    /// The brand logo.
    #[resource(uri = "billing://logo", unscoped)]
    async fn logo() -> Result<String, ToolError> {
        Ok("logo".into())
    }

    /// A document; the secret ones need `docs:secret` as well.
    #[resource(
        uri_template = "doc://{id}",
        scope = "invoices:read",
        require(scope = "docs:secret", when = id.starts_with("secret"))
    )]
    async fn doc(_ctx: ToolContext, id: String) -> Result<String, ToolError> {
        Ok(id)
    }

    /// A replica serving the three resources, tokens checked against `issuer`'s keys.
    async fn replica(
        redis: &RedisServer,
        prefix: &str,
        issuer: &Issuer,
    ) -> (SocketAddr, McpServer) {
        let listener = bind().await;
        let addr = listener.local_addr().unwrap();
        let client = redis::Client::open(redis.url()).unwrap();
        let sessions = RedisSessions::connect_with_prefix(client, prefix)
            .await
            .unwrap();
        let verifier = JwtVerifier::builder(issuer.url.clone(), RESOURCE)
            .build()
            .unwrap();
        let server = McpServer::builder("replica", "1.0.0")
            .resources(resources![summary, logo, doc])
            .resource(RESOURCE)
            .authorization_server(issuer.url.clone())
            .verifier(verifier)
            .redis_sessions(sessions)
            .build()
            .unwrap();
        tokio::spawn(mcp_auth_runtime::serve(
            listener,
            server.clone(),
            std::future::pending(),
        ));
        (addr, server)
    }

    /// Redis, an issuer and two replicas; `None` without `redis-server`.
    async fn cluster() -> Option<(
        RedisServer,
        Tokens,
        (SocketAddr, McpServer),
        (SocketAddr, McpServer),
    )> {
        let redis = RedisServer::start()?;
        let key = TestKey::es256("es-1");
        let issuer = Issuer::start(&[&key]).await;
        static PREFIXES: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!("subs{}", PREFIXES.fetch_add(1, Ordering::Relaxed));
        let a = replica(&redis, &prefix, &issuer).await;
        let b = replica(&redis, &prefix, &issuer).await;
        let tokens = Tokens {
            issuer,
            key,
            resource: RESOURCE.into(),
        };
        Some((redis, tokens, a, b))
    }

    async fn in_session(client: &Client, method: &str, uri: &str) -> Value {
        let (status, _, body) = client.request(method, json!({ "uri": uri })).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn standalone_stream(client: &Client) -> EventReader {
        let response = client.get_stream().send().await.unwrap();
        assert_eq!(response.status(), 200);
        EventReader::new(response)
    }

    #[tokio::test]
    async fn an_update_published_on_one_replica_reaches_a_session_streaming_from_another() {
        let Some((_redis, tokens, (a, server_a), (b, server_b))) = cluster().await else {
            return;
        };
        let token = tokens.of("alice", "invoices:read", 300);
        let on_a = Client::new(a, Some(&token));
        assert_eq!(on_a.initialize().await, 200);
        let on_b = same_session_at(b, &token, &on_a);
        let mut events = standalone_stream(&on_a).await;

        // Subscribed through B, published on B, streamed from A.
        let body = in_session(&on_b, "resources/subscribe", SUMMARY).await;
        assert_eq!(body["result"], json!({}));
        server_b.notify_resource_updated(SUMMARY);
        let note = events.next_soon().await;
        assert_eq!(note["method"], "notifications/resources/updated");
        assert_eq!(note["params"]["uri"], SUMMARY);
        server_a.notify_resource_updated(SUMMARY);
        assert_eq!(events.next_soon().await["params"]["uri"], SUMMARY);

        // Unsubscribed through A: B's next update of it reaches no one; the sentinel does.
        in_session(&on_a, "resources/unsubscribe", SUMMARY).await;
        in_session(&on_b, "resources/subscribe", LOGO).await;
        server_b.notify_resource_updated(SUMMARY);
        server_b.notify_resource_updated(LOGO);
        assert_eq!(events.next_soon().await["params"]["uri"], LOGO);

        // The scope check and the principal binding hold on every replica.
        let weak = tokens.of("alice", "", 300);
        let refused = same_session_at(b, &weak, &on_a);
        let (status, _, _) = refused
            .request("resources/subscribe", json!({ "uri": SUMMARY }))
            .await;
        assert_eq!(status, 403);
        let mallory = same_session_at(b, &tokens.of("mallory", "invoices:read", 300), &on_a);
        let (status, _, _) = mallory
            .request("resources/subscribe", json!({ "uri": SUMMARY }))
            .await;
        assert_eq!(status, 404);

        // A subscription ends with its session, whichever replica ends it.
        assert_eq!(delete(&on_b).await, 204);
        let other = Client::new(a, Some(&token));
        assert_eq!(other.initialize().await, 200);
        let mut other_events = standalone_stream(&other).await;
        in_session(&other, "resources/subscribe", LOGO).await;
        server_b.notify_resource_updated(LOGO);
        assert_eq!(other_events.next_soon().await["params"]["uri"], LOGO);
        let ended = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
        assert_eq!(ended.expect("the stream on A ends with its session"), None);
    }

    #[tokio::test]
    async fn an_update_published_on_one_replica_reaches_a_listen_stream_on_another() {
        let Some((_redis, tokens, (_a, server_a), (b, _server_b))) = cluster().await else {
            return;
        };
        let token = tokens.of("alice", "invoices:read", 300);
        let response = mcp_auth_test_support::modern::request(
            &reqwest::Client::new(),
            &format!("http://{b}/mcp"),
            &token,
            "text/event-stream",
            json!({}),
            9,
            "subscriptions/listen",
            json!({ "notifications": { "resourceSubscriptions": [SUMMARY] } }),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let mut events = EventReader::new(response);
        assert_eq!(
            events.next_soon().await["method"],
            "notifications/subscriptions/acknowledged"
        );
        server_a.notify_resource_updated(LOGO);
        server_a.notify_resource_updated(SUMMARY);
        let note = events.next_soon().await;
        assert_eq!(
            note["params"],
            json!({ "uri": SUMMARY, "_meta": { "io.modelcontextprotocol/subscriptionId": 9 } })
        );
    }

    #[tokio::test]
    async fn a_conditional_scope_the_subscription_needed_is_required_of_the_stream_on_every_replica()
     {
        let Some((_redis, tokens, (a, _server_a), (b, server_b))) = cluster().await else {
            return;
        };
        let broad = tokens.of("alice", "invoices:read docs:secret", 300);
        let narrow = tokens.of("alice", "invoices:read", 300);
        let on_a = Client::new(a, Some(&broad));
        assert_eq!(on_a.initialize().await, 200);
        // Subscribed through B with `docs:secret`; streamed from A with a token without it.
        let on_b = same_session_at(b, &broad, &on_a);
        in_session(&on_b, "resources/subscribe", "doc://secret-1").await;
        in_session(&on_b, "resources/subscribe", LOGO).await;
        let narrow_on_a = same_session_at(a, &narrow, &on_a);
        let mut events = standalone_stream(&narrow_on_a).await;
        server_b.notify_resource_updated("doc://secret-1");
        server_b.notify_resource_updated(LOGO);
        assert_eq!(events.next_soon().await["params"]["uri"], LOGO);
    }

    #[tokio::test]
    async fn a_session_streaming_from_two_replicas_receives_each_update_once() {
        let Some((_redis, tokens, (a, server_a), (b, _server_b))) = cluster().await else {
            return;
        };
        let token = tokens.of("alice", "invoices:read", 300);
        let on_a = Client::new(a, Some(&token));
        assert_eq!(on_a.initialize().await, 200);
        let on_b = same_session_at(b, &token, &on_a);
        // One stream per replica for the one session: an update goes to one of them only
        // (streamable HTTP: a message is sent on one stream, never broadcast on several).
        let mut streams = [
            standalone_stream(&on_a).await,
            standalone_stream(&on_b).await,
        ];
        in_session(&on_a, "resources/subscribe", SUMMARY).await;
        in_session(&on_a, "resources/subscribe", LOGO).await;
        for _ in 0..3 {
            server_a.notify_resource_updated(SUMMARY);
        }
        server_a.notify_resource_updated(LOGO);
        // Each stream's events up to the sentinel (the LOGO update, which reaches one
        // stream only as well): three SUMMARY updates in all, then the sentinel once.
        let mut summaries = 0;
        let mut sentinels = 0;
        for events in &mut streams {
            while let Ok(Some(note)) =
                tokio::time::timeout(Duration::from_millis(500), events.next()).await
            {
                match note["params"]["uri"].as_str() {
                    Some(SUMMARY) => summaries += 1,
                    Some(LOGO) => sentinels += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!((summaries, sentinels), (3, 1));
    }

    /// A client of the replica at `addr` that uses the session `from` opened, with `token`.
    fn same_session_at(addr: SocketAddr, token: &str, from: &Client) -> Client {
        let client = Client::without_session(addr, Some(token));
        *client.session.lock().unwrap() = from.session.lock().unwrap().clone();
        client
    }
}

/// Request streams closed for polling on one replica and resumed through another (SEP-1699,
/// `StreamPolling`): the kept events are copied to Redis.
mod resumption {
    use mcp_auth_runtime::StreamPolling;

    use super::*;

    /// `GET` with `Last-Event-ID` in `client`'s session, on the replica `client` talks to.
    async fn resume(client: &Client, last: &str) -> (u16, String) {
        let response = client
            .get_stream()
            .header("last-event-id", last)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = tokio::time::timeout(Duration::from_secs(5), response.text())
            .await
            .expect("the replica ends the stream")
            .unwrap();
        (status, body)
    }

    /// The (id, data) of each event of a finished SSE body, priming events included.
    fn events(body: &str) -> Vec<(String, String)> {
        body.split("\n\n")
            .filter_map(|block| {
                let id = block.lines().find_map(|l| l.strip_prefix("id: "))?;
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                Some((id.to_owned(), data))
            })
            .collect()
    }

    #[tokio::test]
    async fn a_stream_closed_on_one_replica_is_resumed_through_the_other() {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let polling = StreamPolling::after(Duration::from_millis(200));
        let (a, b) = pair_with(&redis, |builder, _| builder.stream_polling(polling.clone())).await;
        let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;

        // On A: the elicitation request, then A closes the stream for polling.
        let response = on_a.send_sse_call("confirm", 5, json!({})).await;
        let first = events(&response.text().await.unwrap());
        assert_eq!(first[0].1, "", "priming first");
        let request: Value = serde_json::from_str(&first[1].1).unwrap();
        assert_eq!(request["method"], "elicitation/create");
        let last = first.last().unwrap().0.clone();

        // Another principal, through B: refused in the session, and with the id in its own.
        let mallory = same_session(&b, "user-2", &on_a);
        assert_eq!(resume(&mallory, &last).await.0, 404);
        let own = Client::new(b.addr, Some("user-2"));
        own.initialize().await;
        let (status, body) = resume(&own, &last).await;
        assert_eq!(status, 400);
        assert!(!body.contains("elicitation"), "{body}");
        let (stream, _) = last.rsplit_once('-').unwrap();
        let forged = format!("{}-0", "A".repeat(stream.len()));
        assert_eq!(resume(&on_b, &forged).await.0, 400);

        // Through B: the answer (relayed to A), then the stream from the start, polled until
        // the result, which A wrote to Redis.
        let answer = json!({
            "jsonrpc": "2.0", "id": request["id"],
            "result": { "action": "accept", "content": { "confirm": true } }
        });
        assert_eq!(on_b.send_raw(answer.to_string()).await.0, 202);
        let mut cursor = first[0].0.clone();
        let mut received = Vec::new();
        for _ in 0..20 {
            let (status, body) = resume(&on_b, &cursor).await;
            assert_eq!(status, 200, "{body}");
            let got = events(&body);
            cursor = got.last().unwrap().0.clone();
            received.extend(got.into_iter().filter(|(_, data)| !data.is_empty()));
            if received.iter().any(|(_, data)| data.contains("\"result\"")) {
                break;
            }
        }
        let messages: Vec<Value> = received
            .iter()
            .map(|(_, data)| serde_json::from_str(data).unwrap())
            .collect();
        assert_eq!(
            messages.len(),
            2,
            "the request again, then the result: {messages:?}"
        );
        assert_eq!(messages[0]["method"], "elicitation/create");
        assert_eq!(messages[1]["id"], 5);
        assert_eq!(
            messages[1]["result"]["content"][0]["text"],
            "Accept {\"confirm\":true}"
        );
        assert_eq!(
            a.counter.0.load(Ordering::SeqCst),
            1,
            "the call ran once, on A"
        );
        assert_eq!(b.counter.0.load(Ordering::SeqCst), 0);
        // The same ids through either replica.
        let (_, on_a_again) = resume(&on_a, &first[0].0).await;
        let ids = |body: &str| {
            events(body)
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>()
        };
        let (_, on_b_again) = resume(&on_b, &first[0].0).await;
        assert_eq!(ids(&on_a_again), ids(&on_b_again));
    }
}

/// REVIEW: attacks on streams resumed through another replica.
mod resumption_review {
    use mcp_auth_runtime::StreamPolling;

    use super::*;

    /// REVIEW: resumptions of one stream through a replica that does not run its call take no
    /// stream slot and do not supersede each other (unlike those on the replica running it):
    /// each polls Redis (`HMGET` and `LRANGE 0 -1`, the whole kept stream, up to `max_bytes`)
    /// every 100 ms until `close_after`, however many a principal opens.
    #[tokio::test]
    async fn remote_resumptions_of_one_stream_do_not_pile_up() {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let polling = StreamPolling::after(Duration::from_millis(1500));
        let (a, b) = pair_with(&redis, |builder, _| {
            builder
                .stream_polling(polling.clone())
                .max_streams_per_principal(2)
        })
        .await;
        let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;
        // The call waits on its elicitation: its stream stays unfinished.
        let response = on_a.send_sse_call("confirm", 5, json!({})).await;
        let body = response.text().await.unwrap();
        let last = body
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .to_owned();
        let mut open = Vec::new();
        for _ in 0..8 {
            let response = on_b
                .get_stream()
                .header("last-event-id", &last)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            open.push(response);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut still_open = 0;
        for response in open {
            if tokio::time::timeout(Duration::from_millis(100), response.text())
                .await
                .is_err()
            {
                still_open += 1;
            }
        }
        assert!(
            still_open <= 1,
            "{still_open} resumptions of one stream each polling Redis at once, with 2 slots"
        );
    }

    /// REVIEW: `DELETE` through B ends the session, but the call detached on A goes on (and
    /// holds a stream slot of its caller) until it ends by itself; through A, it is cancelled.
    #[tokio::test]
    async fn ending_a_session_through_another_replica_cancels_its_detached_calls() {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let polling = StreamPolling::after(Duration::from_millis(200));
        let (a, b) = pair_with(&redis, |builder, _| {
            builder
                .stream_polling(polling.clone())
                .max_streams_per_principal(1)
        })
        .await;
        let (on_a, on_b) = session_on_both(&a, &b, "user-1").await;
        // Detached on A, waiting on its elicitation; it holds user-1's only slot.
        let body = on_a
            .send_sse_call("confirm", 5, json!({}))
            .await
            .text()
            .await
            .unwrap();
        assert!(body.contains("elicitation/create"), "{body}");
        assert_eq!(delete(&on_b).await, 204);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A new session of user-1 on A: a slow call is detached (its stream closed after
        // priming) only if the caller's one slot is free again.
        let fresh = Client::new(a.addr, Some("user-1"));
        assert_eq!(fresh.initialize().await, 200);
        let second = fresh.send_sse_call("confirm", 6, json!({})).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(2), second.text())
                .await
                .is_ok(),
            "the call of the ended session still runs on A and holds the caller's slot"
        );
    }

    /// REVIEW: `call_timeout(Duration::MAX)` (a tool may run as long as it likes) makes the
    /// running TTL overflow Redis's expire time: `PEXPIRE` fails inside the `MULTI`, the
    /// `HSET`/`RPUSH` before it are applied, and the stream's keys live without any TTL until
    /// the call ends; for ever, if the replica dies first. Same with `keep_for(Duration::MAX)`
    /// after the response.
    #[tokio::test]
    async fn kept_stream_keys_always_expire() {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let polling = StreamPolling::after(Duration::from_millis(200));
        let (a, b) = pair_with(&redis, |builder, _| {
            builder
                .stream_polling(polling.clone())
                .call_timeout(Duration::MAX)
        })
        .await;
        let (on_a, _on_b) = session_on_both(&a, &b, "user-1").await;
        let body = on_a
            .send_sse_call("confirm", 5, json!({}))
            .await
            .text()
            .await
            .unwrap();
        assert!(body.contains("elicitation/create"), "{body}");
        let mut connection = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*:stream:*")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(!keys.is_empty(), "the stream is mirrored");
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert!(ttl > 0, "{key} has no expiry (PTTL {ttl})");
        }
    }
}
