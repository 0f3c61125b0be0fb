//! Tasks across replicas: records and results in Redis, so that a task created through one
//! replica is served, cancelled and kept private by another.

use std::time::{Duration, Instant};

use mcp_auth_runtime::session::RedisSessions;
use mcp_auth_test_support::issuer::protected;
use serde_json::json;

use super::RedisServer;

#[path = "../task_fixture/mod.rs"]
mod fixture;

use fixture::{Fx, assert_not_found, create_from_fresh_clients, replica_of};

/// Two replicas of one server sharing `redis` under `prefix`, each with its own connections.
/// Each allows a principal `cap` live tasks.
async fn pair(redis: &RedisServer, prefix: &str, cap: usize) -> (Fx, Fx) {
    let sessions = || async {
        let client = redis::Client::open(redis.url()).unwrap();
        RedisSessions::connect_with_prefix(client, prefix)
            .await
            .unwrap()
    };
    let (listener, tokens, builder) = protected("tasks").await;
    let a_sessions = sessions().await;
    let a = Fx::serve(listener, tokens, builder, |b| {
        b.redis_sessions(a_sessions).max_tasks_per_principal(cap)
    });
    let b_sessions = sessions().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = replica_of(&a, listener, |b| {
        b.redis_sessions(b_sessions).max_tasks_per_principal(cap)
    });
    (a, b)
}

#[tokio::test]
async fn a_task_created_on_one_replica_is_served_by_the_other_to_its_owner_only() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair(&redis, "tasks-served", 100).await;
    let owner = a.token("ann");
    let id = a.create(&owner, "crunch", json!({ "ms": 300 })).await;
    // Durable before the answer: the other replica knows it at once.
    let (status, working) = b.task(&owner, "get", &id).await;
    assert_eq!(status, 200, "{working}");
    assert_eq!(working["result"]["status"], "working", "{working}");
    let done = b.settled(&owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "crunched for 300 ms");
    for verb in ["get", "update", "cancel"] {
        assert_not_found(&b.task(&b.token("bob"), verb, &id).await);
    }
}

#[tokio::test]
async fn a_task_cancelled_through_the_other_replica_stops_where_it_runs() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair(&redis, "tasks-cancel", 100).await;
    let owner = a.token("ann");
    let id = a.create(&owner, "forever", json!({})).await;
    let (status, ack) = b.task(&owner, "cancel", &id).await;
    assert_eq!(status, 200, "{ack}");
    let cancelled = a.settled(&owner, &id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // Replica `a` sees the cancellation in Redis and stops the run.
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.ended() == 0 {
        assert!(Instant::now() < deadline, "the run goes on after cancel");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_task_expires_in_redis_with_its_time_to_live() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sessions =
        RedisSessions::connect_with_prefix(redis::Client::open(redis.url()).unwrap(), "tasks-ttl")
            .await
            .unwrap();
    let (listener, tokens, builder) = protected("tasks").await;
    let fx = Fx::serve(listener, tokens, builder, |b| {
        b.redis_sessions(sessions)
            .task_ttl(Duration::from_millis(1200))
    });
    let owner = fx.token("ann");
    let created = Instant::now();
    let id = fx.create(&owner, "crunch", json!({ "ms": 20 })).await;
    assert_eq!(fx.settled(&owner, &id).await["status"], "completed");
    tokio::time::sleep(Duration::from_millis(1400).saturating_sub(created.elapsed())).await;
    assert_not_found(&fx.task(&owner, "get", &id).await);
}

#[tokio::test]
async fn the_per_principal_cap_holds_across_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = pair(&redis, "tasks-cap", 2).await;
    let owner = a.token("ann");
    a.create(&owner, "forever", json!({})).await;
    a.create(&owner, "forever", json!({})).await;
    // The third, through the other replica, is over the cap the replicas share.
    let call = json!({ "name": "forever", "arguments": {} });
    let (status, body) = b.send(&owner, true, "tools/call", call).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], -32005, "{body}");
    b.create(&b.token("bob"), "forever", json!({})).await;
}

#[tokio::test]
async fn live_tasks_are_capped_in_all_with_redis_and_across_client_ids() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let sessions = RedisSessions::connect_with_prefix(client, "tasks-global")
        .await
        .unwrap();
    let (listener, tokens, builder) = protected("tasks").await;
    let fx = Fx::serve(listener, tokens, builder, |b| {
        b.redis_sessions(sessions)
            .max_tasks(4)
            .max_tasks_per_principal(2)
    });
    // One user, a fresh client id per batch: one allowance of two places, not one per client.
    assert_eq!(create_from_fresh_clients(&fx, "ann", 10, 2).await, 2);
    // Places in all: two more users fill them, a third finds none.
    assert_eq!(create_from_fresh_clients(&fx, "bob", 1, 2).await, 2);
    let call = json!({ "name": "forever", "arguments": {} });
    let (status, body) = fx.send(&fx.token("cid"), true, "tools/call", call).await;
    assert_eq!(status, 503, "{body}");
}
