//! Connection-level limits over real sockets on loopback: the header-read timeout against
//! slowloris, the request-body timeout, the connection cap, the per-caller cap on
//! `subscriptions/listen` streams, streams that end with their token, calls whose client went
//! away, a graceful shutdown that ends listen streams, and the write timeout against clients
//! that stop reading. Every test is bounded in time.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{McpServerBuilder, ServeConfig};
use mcp_auth_test_support::Client;
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::tools::{Counter, count_slowly, echo};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with a real issuer, served by `mcp_auth_runtime::serve_with` on loopback.
struct Fx {
    tokens: Tokens,
    addr: SocketAddr,
    counter: Counter,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Fx {
    async fn start(config: ServeConfig) -> Fx {
        Fx::start_with(config, |b| b).await
    }

    async fn start_with(
        config: ServeConfig,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
    ) -> Fx {
        let (listener, tokens, builder) = protected("limits").await;
        let addr = listener.local_addr().unwrap();
        let counter = Counter::default();
        let builder = builder
            .tools(tools![count_slowly, echo])
            .state(counter.clone());
        let server = configure(builder).build().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(mcp_auth_runtime::serve_with(
            listener,
            server,
            config,
            async {
                let _ = stopped.await;
            },
        ));
        Fx {
            tokens,
            addr,
            counter,
            stop: Some(stop),
            serving,
        }
    }

    /// A token of `subject` with scope `t:use`, valid for `lifetime` seconds.
    fn token_of(&self, subject: &str, lifetime: i64) -> String {
        self.tokens.of(subject, "t:use", lifetime)
    }

    fn token(&self) -> String {
        self.token_of("user-1", 300)
    }

    fn ticks(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    /// A 2026-07-28 `subscriptions/listen` request with `accept`.
    fn listen(&self, token: &str, accept: &str) -> reqwest::RequestBuilder {
        let body = json!({
            "jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
            "params": {
                "notifications": { "toolsListChanged": true },
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                }
            }
        });
        reqwest::Client::new()
            .post(&self.tokens.resource)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .body(body.to_string())
    }
}

/// The soft limit on open files of this process, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Sends `bytes` one a second (cycling) until the server closes the connection, or
/// `give_up` passes. Returns how long after `opened` the server closed it, if it did.
async fn trickle_headers(
    mut tcp: TcpStream,
    opened: Instant,
    bytes: &'static [u8],
    give_up: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 256];
    let mut next = bytes.iter().cycle();
    loop {
        if opened.elapsed() > give_up {
            return None;
        }
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(opened.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let byte = *next.next().unwrap();
                if tcp.write_all(&[byte]).await.is_err() {
                    return Some(opened.elapsed());
                }
            }
        }
    }
}

/// Reads until the server closes the connection or `give_up` passes; returns what was read
/// and when the connection closed, if it did.
async fn read_until_closed(tcp: &mut TcpStream, give_up: Duration) -> (String, Option<Instant>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + give_up;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(Instant::now()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_header_connections_are_closed_while_a_real_call_answers() {
    const SLOW: usize = 2_000;
    // Each slow connection holds two descriptors here, one on each side of loopback.
    let needed = (SLOW as u64) * 2 + 256;
    match open_files_limit() {
        Some(limit) if limit >= needed => {}
        limit => {
            eprintln!("skipped: needs {needed} open files, the limit is {limit:?} (ulimit -n)");
            return;
        }
    }
    // Long enough that "served while they are open" stays true on a loaded machine: the
    // call must answer well before the server starts closing the slow connections.
    let timeout = Duration::from_secs(6);
    let fx = Fx::start_with(ServeConfig::new().header_read_timeout(timeout), |b| {
        b.stateless(true)
    })
    .await;
    let token = fx.token();

    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW / 200 {
        let addr = fx.addr;
        let batch: Vec<_> = (0..200)
            .map(|_| {
                tokio::spawn(async move {
                    let tcp = TcpStream::connect(addr).await.expect("loopback connect");
                    (tcp, Instant::now())
                })
            })
            .collect();
        for connect in batch {
            let (tcp, opened) = connect.await.unwrap();
            slow.push(tokio::spawn(trickle_headers(
                tcp,
                opened,
                b"POST /mcp HTTP/1.1\r\nX-Slow: ",
                timeout * 3,
            )));
        }
    }

    // With every slow connection open and mid-header, a real caller is still served at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let client = Client::without_session(fx.addr, Some(&token));
    let served_within = timeout - Duration::from_secs(2);
    let (status, _, body) = tokio::time::timeout(
        served_within,
        client.call("echo.name", json!({ "name": "still here" })),
    )
    .await
    .expect("a real call answers while the slow connections are open");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "still here");
    assert!(started.elapsed() < served_within, "{:?}", started.elapsed());

    let mut closed_at = Vec::with_capacity(SLOW);
    for task in slow {
        closed_at.push(task.await.unwrap());
    }
    let open = closed_at.iter().filter(|c| c.is_none()).count();
    assert_eq!(open, 0, "{open} slow connections were never closed");
    // The server's clock starts when it accepts, after the client's: never early, give or
    // take the scheduling of 4,000 tasks on two threads.
    for closed in closed_at.into_iter().flatten() {
        assert!(
            closed >= timeout - Duration::from_millis(500),
            "closed before the timeout: {closed:?}"
        );
        assert!(
            closed <= timeout + Duration::from_secs(2),
            "closed late: {closed:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed_after_the_timeout() {
    let timeout = Duration::from_secs(1);
    let fx = Fx::start(ServeConfig::new().header_read_timeout(timeout)).await;
    let host = format!("Host: {}\r\n", fx.addr);
    let complete = format!(
        "GET /healthz HTTP/1.1\r\n{host}\r\n" // answered, then the connection idles
    );
    let cases: Vec<(&str, String)> = vec![
        ("nothing sent", String::new()),
        ("half a request line", "POST /mc".into()),
        ("a request line", "POST /mcp HTTP/1.1\r\n".into()),
        (
            "headers without their blank line",
            format!("POST /mcp HTTP/1.1\r\n{host}Content-Type: application/json\r\n"),
        ),
        ("an idle keep-alive connection", complete),
    ];
    let mut runs = Vec::new();
    for (name, sent) in cases {
        let addr = fx.addr;
        runs.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let opened = Instant::now();
            tcp.write_all(sent.as_bytes()).await.unwrap();
            let (received, closed) = read_until_closed(&mut tcp, Duration::from_secs(5)).await;
            (name, received, closed.map(|at| at - opened))
        }));
    }
    for run in runs {
        let (name, received, closed) = run.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("{name}: never closed"));
        assert!(
            closed >= timeout - Duration::from_millis(100) && closed < timeout * 3,
            "{name}: closed after {closed:?}"
        );
        if name.starts_with("an idle") {
            assert!(received.starts_with("HTTP/1.1 200"), "{name}: {received}");
        }
    }
}

#[tokio::test]
async fn a_trickling_body_is_cut_with_408_after_the_body_timeout() {
    let timeout = Duration::from_secs(1);
    let fx = Fx::start_with(ServeConfig::new().request_body_timeout(timeout), |b| {
        b.stateless(true)
    })
    .await;
    let token = fx.token();
    let legacy = "Mcp-Protocol-Version: 2025-11-25\r\n".to_owned();
    let modern =
        "Mcp-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: echo.name\r\n"
            .to_owned();
    let mut runs = Vec::new();
    for (era, era_headers) in [("legacy", legacy), ("modern", modern)] {
        for chunked in [false, true] {
            for accept in [
                "application/json",
                "text/event-stream",
                "application/json, text/event-stream",
            ] {
                let framing = if chunked {
                    "Transfer-Encoding: chunked\r\n".to_owned()
                } else {
                    "Content-Length: 4096\r\n".to_owned()
                };
                let head = format!(
                    "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: {accept}\r\n{era_headers}{framing}\r\n",
                    fx.addr
                );
                let addr = fx.addr;
                runs.push(tokio::spawn(async move {
                    let tcp = TcpStream::connect(addr).await.unwrap();
                    let (mut read, mut write) = tcp.into_split();
                    write.write_all(head.as_bytes()).await.unwrap();
                    let sent = Instant::now();
                    // One byte every 100 ms: 4 KiB would take seven minutes.
                    let trickle = tokio::spawn(async move {
                        for _ in 0..100 {
                            let piece: &[u8] = if chunked { b"1\r\n \r\n" } else { b" " };
                            if write.write_all(piece).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                    let mut tcp_read = Vec::new();
                    let answered = tokio::time::timeout(Duration::from_secs(5), async {
                        let mut buf = [0u8; 1024];
                        loop {
                            match read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => tcp_read.extend_from_slice(&buf[..n]),
                            }
                        }
                    })
                    .await;
                    trickle.abort();
                    let name = format!("{era}, chunked={chunked}, accept={accept}");
                    (
                        name,
                        String::from_utf8_lossy(&tcp_read).into_owned(),
                        answered.is_ok(),
                        sent.elapsed(),
                    )
                }));
            }
        }
    }
    for run in runs {
        let (name, response, closed, elapsed) = run.await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 408"),
            "{name}: {response:?} after {elapsed:?}"
        );
        assert!(closed, "{name}: the connection stays open after the 408");
        assert!(
            elapsed >= timeout - Duration::from_millis(100) && elapsed < timeout * 3,
            "{name}: answered after {elapsed:?}"
        );
    }

    // A body that arrives in time, if slowly, is served.
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo.name", "arguments": { "name": "slow but whole" } }
    })
    .to_string();
    let mut tcp = TcpStream::connect(fx.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        fx.addr,
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    tcp.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(timeout / 2).await;
    tcp.write_all(rest.as_bytes()).await.unwrap();
    let (response, _) = read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("slow but whole"),
        "a body within the timeout: {response}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_another_closes() {
    let fx = Fx::start_with(ServeConfig::new().max_connections(3), |b| b.stateless(true)).await;
    let token = fx.token();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(fx.addr).await.unwrap());
    }
    // Let the server accept the three.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let call = {
        let addr = fx.addr;
        tokio::spawn(async move {
            let started = Instant::now();
            let client = Client::without_session(addr, Some(&token));
            let (status, _, body) = client.call("echo.name", json!({ "name": "queued" })).await;
            (status, body, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !call.is_finished(),
        "a fourth connection was served while three were open"
    );
    drop(held.pop());
    let (status, body, elapsed) = tokio::time::timeout(Duration::from_secs(3), call)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "queued");
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
}

#[tokio::test]
async fn a_caller_over_its_listen_streams_is_refused_with_429_while_others_listen() {
    let fx = Fx::start_with(ServeConfig::new(), |b| b.max_streams_per_principal(2)).await;
    let alice = fx.token_of("alice", 300);
    let bob = fx.token_of("bob", 300);
    let sse = "text/event-stream";
    let both = "application/json, text/event-stream";
    let mut open = Vec::new();
    for accept in [sse, both] {
        let mut response = fx.listen(&alice, accept).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        response
            .chunk()
            .await
            .unwrap()
            .expect("the acknowledgement");
        open.push(response);
    }
    for accept in [sse, both, "application/json"] {
        let response = fx.listen(&alice, accept).send().await.unwrap();
        assert_eq!(response.status(), 429, "accept {accept}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "accept {accept}: refused before any stream opens"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], -32005, "{body}");
    }
    // Another caller is not affected.
    let mut other = fx.listen(&bob, sse).send().await.unwrap();
    assert_eq!(other.status(), 200);
    other.chunk().await.unwrap().expect("the acknowledgement");
    // A stream closed gives its slot back.
    drop(open.pop());
    let reopened = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let response = fx.listen(&alice, sse).send().await.unwrap();
            if response.status() == 200 {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the closed stream's slot is given back");
    assert_eq!(reopened.headers()["content-type"], "text/event-stream");
}

#[tokio::test]
async fn a_listen_stream_ends_when_the_token_that_opened_it_expires() {
    let fx = Fx::start(ServeConfig::new()).await;
    let short = fx.token_of("alice", 2);
    let long = fx.token_of("bob", 300);
    let mut expiring = fx.listen(&short, "text/event-stream").send().await.unwrap();
    assert_eq!(expiring.status(), 200);
    let mut lasting = fx.listen(&long, "text/event-stream").send().await.unwrap();
    assert_eq!(lasting.status(), 200);
    let ack = expiring.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&ack).contains("acknowledged"));
    lasting.chunk().await.unwrap().unwrap();
    let opened = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        while expiring.chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
    assert!(
        opened.elapsed() <= Duration::from_secs(3),
        "{:?}",
        opened.elapsed()
    );
    // The other caller's stream, whose token is still valid, stays open.
    let next = tokio::time::timeout(Duration::from_millis(300), lasting.chunk()).await;
    assert!(next.is_err(), "a stream with a valid token stays open");
}

/// A raw POST of `tools/call count_slowly` (which reports progress first), sent and then
/// abandoned by its client once the server began answering.
async fn call_then_go_away(fx: &Fx, extra_headers: &str, accept: &str, modern: bool) {
    let mut meta = json!({ "progressToken": "p" });
    if modern {
        meta["io.modelcontextprotocol/protocolVersion"] = "2026-07-28".into();
        meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
    }
    let body = json!({
        "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": { "name": "count_slowly", "arguments": {}, "_meta": meta }
    })
    .to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nAccept: {accept}\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        fx.addr,
        fx.token(),
        body.len()
    );
    let mut tcp = TcpStream::connect(fx.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body.as_bytes()).await.unwrap();
    // The tool is running: it counts every 10 ms.
    let before = fx.ticks();
    let running = tokio::time::timeout(Duration::from_secs(2), async {
        while fx.ticks() < before + 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(running.is_ok(), "the tool did not start");
    drop(tcp);
}

#[tokio::test]
async fn a_call_whose_client_went_away_stops_in_every_era() {
    for stateless in [false, true] {
        let fx = Fx::start_with(ServeConfig::new(), |b| b.stateless(stateless)).await;
        let mut cases: Vec<(String, String, &str, bool)> = Vec::new();
        let legacy_headers = if stateless {
            String::new()
        } else {
            // The session stays open after the client goes away.
            let client = Client::new(fx.addr, Some(&fx.token()));
            assert_eq!(client.initialize().await, 200);
            let session = client.session.lock().unwrap().clone().unwrap();
            format!("Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n")
        };
        let modern_headers = "Mcp-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: count_slowly\r\n".to_owned();
        for accept in [
            "application/json",
            "text/event-stream",
            "application/json, text/event-stream",
        ] {
            cases.push(("legacy".into(), legacy_headers.clone(), accept, false));
            cases.push(("modern".into(), modern_headers.clone(), accept, true));
        }
        for (era, headers, accept, modern) in cases {
            call_then_go_away(&fx, &headers, accept, modern).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let after = fx.ticks();
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(
                fx.ticks(),
                after,
                "{era} era, accept {accept}, stateless={stateless}: the call ran on after its client went away"
            );
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_ends_listen_streams_and_lets_calls_finish() {
    let mut fx = Fx::start_with(ServeConfig::new(), |b| b.stateless(true)).await;
    let mut listening = fx
        .listen(&fx.token(), "text/event-stream")
        .send()
        .await
        .unwrap();
    listening.chunk().await.unwrap().unwrap();
    let client = Client::without_session(fx.addr, Some(&fx.token()));
    let in_flight = tokio::spawn(async move { client.call("count_slowly", json!({})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    fx.stop.take().unwrap().send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(_)) = listening.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the listen stream ended at shutdown");
    // The call in flight (five seconds of counting) still finishes, then the server stops.
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "counted");
    let stopped = tokio::time::timeout(Duration::from_secs(2), &mut fx.serving).await;
    assert!(stopped.is_ok(), "the server did not stop");
}

/// Requests each answered in full by a server that never stops to think, pipelined on a client
/// that will not read the answers: enough of them that the answers overflow every buffer
/// between the two (about 0.6 MB of answers; the buffers hold some 200 KB).
const PIPELINED: usize = 2_000;

/// The shapes of a stalled reader that need no token: protected-resource metadata, and calls
/// refused with `401`.
fn unread_answers(addr: SocketAddr) -> [(&'static str, String); 2] {
    let metadata =
        format!("GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let unauthenticated = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    [
        ("pipelined metadata GETs", metadata.repeat(PIPELINED)),
        (
            "pipelined unauthenticated POSTs",
            unauthenticated.repeat(PIPELINED),
        ),
    ]
}

/// A client socket with a `recv_buffer`-byte receive buffer and an Ethernet-sized MSS of
/// 1460 bytes, as on a real network path: with loopback's 64 KiB segments, the server's send
/// buffer would grow to megabytes before a write stalls.
fn small_window_client(addr: SocketAddr, recv_buffer: usize) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(recv_buffer).unwrap();
    socket.set_tcp_mss(1460).unwrap();
    // On loopback the handshake completes at once, accepted or not.
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    TcpStream::from_std(socket.into()).unwrap()
}

/// Sends `requests` on a small-window client that never reads an answer nor half-closes; the
/// task holds the connection until it is aborted.
fn never_reading(addr: SocketAddr, requests: String) -> tokio::task::JoinHandle<()> {
    let mut tcp = small_window_client(addr, 4096);
    tokio::spawn(async move {
        // Once the server's writes stall it stops reading too: this write need not finish.
        let _ = tcp.write_all(requests.as_bytes()).await;
        std::future::pending::<()>().await;
    })
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_write_timeout_and_frees_its_slot() {
    let timeout = Duration::from_secs(1);
    let fx = Fx::start_with(
        ServeConfig::new().write_timeout(timeout).max_connections(1),
        |b| b.stateless(true),
    )
    .await;
    let token = fx.token();
    for (shape, requests) in unread_answers(fx.addr) {
        let stalled = never_reading(fx.addr, requests);
        // The server accepts it, answers until its buffers are full, and stalls.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let client = Client::without_session(fx.addr, Some(&token));
        let answered = tokio::time::timeout(
            Duration::from_secs(5),
            client.call("echo.name", json!({ "name": "next" })),
        )
        .await;
        stalled.abort();
        let (status, _, body) =
            answered.unwrap_or_else(|_| panic!("{shape}: the stalled client kept the only slot"));
        assert_eq!(status, 200, "{shape}: {body}");
        assert_eq!(body["result"]["content"][0]["text"], "next", "{shape}");
        // It waited for the stalled connection to be cut: the stall was real.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(400) && waited < timeout * 3,
            "{shape}: served after {waited:?}"
        );
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_while_a_client_stops_reading() {
    let timeout = Duration::from_secs(1);
    for shape in 0..2 {
        let mut fx = Fx::start(ServeConfig::new().write_timeout(timeout)).await;
        let (shape, requests) = unread_answers(fx.addr)[shape].clone();
        let stalled = never_reading(fx.addr, requests);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stopping = Instant::now();
        fx.stop.take().unwrap().send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(5), &mut fx.serving).await;
        stalled.abort();
        assert!(
            stopped.is_ok(),
            "{shape}: shutdown waits for a client that stops reading"
        );
        assert!(
            stopping.elapsed() < timeout * 3,
            "{shape}: stopped after {:?}",
            stopping.elapsed()
        );
    }
}

#[tokio::test]
async fn an_idle_listen_stream_outlives_the_write_timeout() {
    let fx = Fx::start(ServeConfig::new().write_timeout(Duration::from_millis(300))).await;
    let mut listening = fx
        .listen(&fx.token(), "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(listening.status(), 200);
    listening
        .chunk()
        .await
        .unwrap()
        .expect("the acknowledgement");
    // Nothing to write is not a stalled write: the stream neither ends nor fails.
    let next = tokio::time::timeout(Duration::from_secs(2), listening.chunk()).await;
    assert!(next.is_err(), "an idle stream was cut: {next:?}");
}

#[tokio::test]
async fn a_slow_reader_that_keeps_reading_is_not_cut() {
    let timeout = Duration::from_secs(2);
    let fx = Fx::start(ServeConfig::new().write_timeout(timeout)).await;
    let [(_, requests), _] = unread_answers(fx.addr);
    let mut tcp = small_window_client(fx.addr, 4096);
    let (mut read, mut write) = tcp.split();
    let answers = |received: &[u8]| {
        String::from_utf8_lossy(received)
            .matches("HTTP/1.1 200")
            .count()
    };
    let started = Instant::now();
    let mut received = Vec::new();
    let reading = async {
        // 16 KiB every 100 ms: about 0.6 MB of answers take some four seconds, twice the
        // timeout, during which the server's writes, its buffers full, wait most of the time.
        // (The kernel wakes a waiting writer once a third of its buffer is free, about every
        // 0.6 s here.)
        let mut buf = [0u8; 16 * 1024];
        while answers(&received) < PIPELINED {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut taken = 0;
            while taken < buf.len() && answers(&received) < PIPELINED {
                let read =
                    tokio::time::timeout(Duration::from_secs(5), read.read(&mut buf[taken..]));
                match read.await {
                    Ok(Ok(n)) if n > 0 => {
                        received.extend_from_slice(&buf[taken..taken + n]);
                        taken += n;
                    }
                    outcome => return Err(format!("{outcome:?}")),
                }
            }
        }
        Ok(())
    };
    let (_, read) = tokio::join!(write.write_all(requests.as_bytes()), reading);
    let elapsed = started.elapsed();
    if let Err(ended) = read {
        panic!(
            "cut after {} answers and {elapsed:?}: {ended}",
            answers(&received)
        );
    }
    assert!(elapsed > timeout, "the reader was not slow: {elapsed:?}");
}

#[tokio::test]
async fn timeouts_as_long_as_duration_max_serve_requests() {
    let fx = Fx::start_with(
        ServeConfig::new()
            .header_read_timeout(Duration::MAX)
            .request_body_timeout(Duration::MAX)
            .write_timeout(Duration::MAX),
        |b| b.stateless(true),
    )
    .await;
    let client = Client::without_session(fx.addr, Some(&fx.token()));
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo.name", "arguments": { "name": "forever" } }
    });
    // A deadline `now + Duration::MAX` would panic while serving the request.
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        client.post().body(body.to_string()).send(),
    )
    .await
    .expect("answered")
    .expect("served, not dropped");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "forever", "{body}");
}
