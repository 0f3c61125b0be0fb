//! `JsonLinesSink`: one JSON line per event, in order, owner-only, rotated by size at the
//! right boundaries, nothing lost under a burst or concurrent writers, and every event either
//! written or counted lost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_runtime::observe::RefusalReason;
use mcp_auth_runtime::observe::audit::{
    AuditEvent, AuditOutcome, AuditSink, JsonLinesSink, Principal, Rotation, Target,
};
use mcp_auth_test_support::fixture::TempDir;
use serde_json::Value;

/// Event `n`: its request id is `n` on six digits, so that every event's line has the same
/// length.
fn event(n: usize) -> AuditEvent {
    let mut event = AuditEvent::new(AuditOutcome::Done);
    event.request_id = Some(format!("{n:06}"));
    event.method = Some("tools/call".into());
    event.target = Some(Target::tool("void_invoice"));
    event
}

fn line_len() -> u64 {
    serde_json::to_vec(&event(0)).unwrap().len() as u64 + 1
}

/// The request ids of the lines of `path`, each line parsed as one JSON object.
fn ids(path: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a line cut short");
    text.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            event["request_id"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

/// A sink rotating `path` at `max_bytes`, keeping `keep` files.
fn rotating(path: &Path, max_bytes: u64, keep: usize) -> JsonLinesSink {
    JsonLinesSink::builder(path)
        .rotation(Rotation::Size { max_bytes, keep })
        .build()
        .unwrap()
}

fn numbered(path: &Path, n: usize) -> std::path::PathBuf {
    path.with_file_name(format!("audit.jsonl.{n}"))
}

#[test]
fn each_event_is_one_line_of_json_in_order() {
    let dir = TempDir::new("audit-lines");
    let path = dir.path().join("audit.jsonl");
    let sink = JsonLinesSink::builder(&path).build().unwrap();
    let mut refused = AuditEvent::new(AuditOutcome::Refused {
        reason: RefusalReason::InsufficientScope,
    });
    let mut principal = Principal::default();
    principal.subject = Some("alice".into());
    principal.tenant = Some("acme".into());
    refused.principal = Some(principal);
    refused.scopes = vec!["invoices:write".into()];
    for n in 0..100 {
        sink.record(&event(n));
    }
    sink.record(&refused);
    sink.flush();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 101);
    let first: Vec<usize> = lines[..100]
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(first, (0..100).collect::<Vec<_>>());
    let last: Value = serde_json::from_str(lines[100]).unwrap();
    assert_eq!(
        last,
        serde_json::json!({
            "time": last["time"],
            "principal": {"subject": "alice", "tenant": "acme"},
            "outcome": {"status": "refused", "reason": "insufficient_scope"},
            "scopes": ["invoices:write"],
        })
    );
    assert!(last["time"].as_str().unwrap().ends_with('Z'), "{last}");
    assert_eq!(sink.lost(), 0);
}

#[test]
fn an_existing_file_is_appended_to() {
    let dir = TempDir::new("audit-append");
    let path = dir.path().join("audit.jsonl");
    drop(JsonLinesSink::builder(&path).build().unwrap());
    for round in 0..2 {
        let sink = JsonLinesSink::builder(&path).build().unwrap();
        sink.record(&event(round));
    }
    assert_eq!(ids(&path), [0, 1]);
}

#[test]
fn dropping_the_sink_writes_what_is_queued() {
    let dir = TempDir::new("audit-drop");
    let path = dir.path().join("audit.jsonl");
    let sink = JsonLinesSink::builder(&path).build().unwrap();
    for n in 0..5000 {
        sink.record(&event(n));
    }
    drop(sink);
    assert_eq!(ids(&path), (0..5000).collect::<Vec<_>>());
}

#[cfg(unix)]
#[test]
fn the_file_and_its_successors_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new("audit-mode");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, line_len(), 2);
    assert_eq!(mode(&path), 0o600);
    sink.record(&event(0));
    sink.record(&event(1));
    sink.flush();
    assert_eq!(ids(&numbered(&path, 1)), [0]);
    assert_eq!(mode(&numbered(&path, 1)), 0o600);
    assert_eq!(mode(&path), 0o600, "the file opened at rotation");
}

#[test]
fn rotation_happens_when_the_next_line_would_pass_the_limit_and_keeps_the_newest() {
    let dir = TempDir::new("audit-rotate");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, 3 * line_len(), 2);
    // Exactly at the limit: no rotation yet.
    for n in 0..3 {
        sink.record(&event(n));
    }
    sink.flush();
    assert_eq!(ids(&path), [0, 1, 2]);
    assert!(!numbered(&path, 1).exists());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * line_len());

    // One more line would pass it: a new file.
    sink.record(&event(3));
    sink.flush();
    assert_eq!(ids(&path), [3]);
    assert_eq!(ids(&numbered(&path, 1)), [0, 1, 2]);

    // Two more rotations: the oldest file is deleted, two are kept.
    for n in 4..10 {
        sink.record(&event(n));
    }
    sink.flush();
    assert_eq!(ids(&path), [9]);
    assert_eq!(ids(&numbered(&path, 1)), [6, 7, 8]);
    assert_eq!(ids(&numbered(&path, 2)), [3, 4, 5]);
    assert!(!numbered(&path, 3).exists());
    assert_eq!(sink.lost(), 0);
}

#[cfg(unix)]
#[test]
fn the_file_is_reopened_after_rotation() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = TempDir::new("audit-reopen");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, line_len(), 1);
    sink.record(&event(0));
    sink.flush();
    let before = std::fs::metadata(&path).unwrap().ino();
    sink.record(&event(1));
    sink.flush();
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), before);
    assert_eq!(std::fs::metadata(numbered(&path, 1)).unwrap().ino(), before);
    assert_eq!((ids(&numbered(&path, 1)), ids(&path)), (vec![0], vec![1]));
}

#[test]
fn a_line_longer_than_the_limit_goes_alone_into_a_new_file() {
    let dir = TempDir::new("audit-long");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, 10, 3);
    for n in 0..3 {
        sink.record(&event(n));
    }
    sink.flush();
    assert_eq!(ids(&path), [2]);
    assert_eq!(ids(&numbered(&path, 1)), [1]);
    assert_eq!(ids(&numbered(&path, 2)), [0]);
}

#[test]
fn keeping_none_deletes_the_full_file() {
    let dir = TempDir::new("audit-keep0");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, 2 * line_len(), 0);
    for n in 0..5 {
        sink.record(&event(n));
    }
    sink.flush();
    assert_eq!(ids(&path), [4]);
    assert!(!numbered(&path, 1).exists());
}

#[test]
fn concurrent_writers_lose_nothing_and_never_interleave_lines() {
    const THREADS: usize = 8;
    const EACH: usize = 2000;
    let dir = TempDir::new("audit-concurrent");
    let path = dir.path().join("audit.jsonl");
    // A small queue: the writers keep filling it and waiting for room.
    let sink = Arc::new(
        JsonLinesSink::builder(&path)
            .capacity(16)
            .full_wait(Duration::from_secs(30))
            .rotation(Rotation::Size {
                max_bytes: 400 * line_len(),
                keep: 100,
            })
            .build()
            .unwrap(),
    );
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let sink = &sink;
            scope.spawn(move || {
                for n in 0..EACH {
                    sink.record(&event(t * EACH + n));
                }
            });
        }
    });
    sink.flush();
    assert_eq!(sink.lost(), 0);
    let mut all: Vec<usize> = (1..=100)
        .rev()
        .map(|n| numbered(&path, n))
        .filter(|p| p.exists())
        .chain([path.clone()])
        .flat_map(|p| ids(&p))
        .collect();
    // Each thread's events in its own order, across the rotated files.
    for t in 0..THREADS {
        let mine: Vec<usize> = all.iter().copied().filter(|n| n / EACH == t).collect();
        assert_eq!(mine, (t * EACH..(t + 1) * EACH).collect::<Vec<_>>());
    }
    all.sort_unstable();
    assert_eq!(all, (0..THREADS * EACH).collect::<Vec<_>>());
}

#[test]
fn a_burst_is_written_whole() {
    let dir = TempDir::new("audit-burst");
    let path = dir.path().join("audit.jsonl");
    let sink = JsonLinesSink::builder(&path).build().unwrap();
    for n in 0..50_000 {
        sink.record(&event(n));
    }
    sink.flush();
    assert_eq!(sink.lost(), 0);
    assert_eq!(ids(&path), (0..50_000).collect::<Vec<_>>());
}

#[test]
fn every_event_is_written_or_counted_lost_when_the_queue_has_no_room() {
    const THREADS: usize = 4;
    const EACH: usize = 5000;
    let dir = TempDir::new("audit-full");
    let path = dir.path().join("audit.jsonl");
    let sink = JsonLinesSink::builder(&path)
        .capacity(1)
        .full_wait(Duration::ZERO)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let sink = &sink;
            scope.spawn(move || {
                for n in 0..EACH {
                    sink.record(&event(t * EACH + n));
                }
            });
        }
    });
    sink.flush();
    let written = ids(&path).len() as u64;
    assert_eq!(written + sink.lost(), (THREADS * EACH) as u64);
}

#[test]
fn a_failed_rotation_counts_the_events_lost_and_writing_resumes_once_it_works() {
    let dir = TempDir::new("audit-fail");
    let path = dir.path().join("audit.jsonl");
    let sink = rotating(&path, line_len(), 1);
    sink.record(&event(0));
    sink.flush();
    // `audit.jsonl.1` a directory with something in it: the rotation cannot delete it.
    std::fs::create_dir_all(numbered(&path, 1).join("in-the-way")).unwrap();
    sink.record(&event(1));
    sink.record(&event(2));
    sink.flush();
    assert_eq!(sink.lost(), 2);
    assert_eq!(ids(&path), [0]);

    std::fs::remove_dir_all(numbered(&path, 1)).unwrap();
    sink.record(&event(3));
    sink.flush();
    assert_eq!(sink.lost(), 2);
    assert_eq!((ids(&numbered(&path, 1)), ids(&path)), (vec![0], vec![3]));
}

/// A flood of unauthenticated requests while the audit file stalls (a FIFO nobody reads,
/// standing for a disk that hangs) must not stall the server: the sink's `record` runs on the
/// request's task, and a tokio worker blocked in it serves nobody else. Every event it cannot
/// queue is counted lost, none silently.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_audit_file_does_not_stall_the_server_under_a_flood_of_401s() {
    use mcp_auth_runtime::prelude::*;
    use mcp_auth_test_support::issuer::protected;
    use mcp_auth_test_support::tools::read_invoice;
    use std::time::Instant;

    let dir = TempDir::new("audit-stall");
    let path = dir.path().join("audit.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    // Read-write: a reader exists (the sink's open does not block), and nobody ever reads,
    // so the writer thread hangs once the pipe's buffer is full.
    let hold = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let sink = Arc::new(
        JsonLinesSink::builder(&path)
            .rotation(Rotation::Never)
            .capacity(8)
            .build()
            .unwrap(),
    );
    let (listener, _tokens, builder) = protected("stalled").await;
    let shared = sink.clone();
    let server = builder
        .tools(tools![read_invoice])
        .audit(move |event: &AuditEvent| shared.record(event))
        .build()
        .unwrap();
    let addr = mcp_auth_test_support::serve_with_peers(listener, server.into_router());
    let client = reqwest::Client::new();

    // A bounded flood: 32 clients, 2 s, each request refused 401 and audited.
    let until = Instant::now() + Duration::from_secs(2);
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < until {
                    let response = client
                        .post(format!("http://{addr}/mcp"))
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 401);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    // Meanwhile, a request that audits nothing must be answered promptly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let response = client
            .get(format!(
                "http://{addr}/.well-known/oauth-protected-resource/mcp"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut sent = 0;
    for task in flood {
        sent += task.await.unwrap();
    }
    let lost = sink.lost();
    // The disk recovers: drain the pipe for ever, so that the sink's writer can end.
    std::thread::spawn(move || std::io::copy(&mut &hold, &mut std::io::sink()));
    assert!(
        slowest < Duration::from_millis(400),
        "the metadata took {slowest:?} during the flood ({sent} 401s, {lost} lost)"
    );
    // The pipe holds a bounded number of lines; the rest are counted, not dropped silently.
    assert!(
        lost > 0,
        "{sent} refusals and nothing lost in a stalled file"
    );
}
