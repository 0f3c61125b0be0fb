//! What is refused before authentication: DNS rebinding through `Host` and `Origin` (each
//! form of each, and repeated headers), and oversized headers.

use super::*;
use crate::adversarial::{Fx, call_body};

#[tokio::test]
async fn dns_rebinding_is_refused_by_host_and_origin() {
    let s = start(|b| b.allowed_origin("https://app.example.com")).await;
    let send = |host: Option<&str>, origin: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(url(s.addr))
            .header("content-type", "application/json")
            .body(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } } }).to_string());
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let port = s.addr.port();
    // Refused before authentication: no token is needed to be turned away.
    assert_eq!(send(Some("evil.example.com"), None).await, 403);
    assert_eq!(
        send(Some(&format!("evil.example.com:{port}")), None).await,
        403
    );
    assert_eq!(send(None, Some("http://evil.example.com")).await, 403);
    assert_eq!(send(None, Some("null")).await, 403);
    // Allowed hosts and origins reach authentication (401 without a token).
    assert_eq!(send(Some(&format!("localhost:{port}")), None).await, 401);
    assert_eq!(send(Some(&format!("127.0.0.1:{port}")), None).await, 401);
    assert_eq!(send(None, Some("http://localhost:6274")).await, 401);
    assert_eq!(send(None, Some("https://app.example.com")).await, 401);
    assert_eq!(
        send(None, Some(&format!("http://127.0.0.1:{port}"))).await,
        401
    );
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let s = start(|b| b).await;
    let response = reqwest::Client::new()
        .post(url(s.addr))
        .header("content-type", "application/json")
        .header("x-padding", "p".repeat(40 * 1024))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
}

#[tokio::test]
async fn rebinding_hosts_and_foreign_origins_are_refused_before_authentication() {
    let fx = Fx::start().await;
    let good = fx.good();
    let port = fx.addr.port();
    let hosts = [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("localhost.:{port}"),
        // Parsed as an authority, not split at its last colon: userinfo is not a host.
        format!("localhost:{port}@evil.example"),
        format!("127.0.0.1:{port}@evil.example:{port}"),
        format!("user@127.0.0.1:{port}"),
        format!("[::1]:{port}@evil.example"),
        format!("localhost:{port}/x"),
        format!("localhost:x{port}"),
    ]
    .map(|host| ("host", host));
    let origins = [
        "http://evil.example".to_owned(),
        "null".to_owned(),
        "http://localhost.evil.example".to_owned(),
        format!("http://127.0.0.1@evil.example:{port}"),
        format!("file://127.0.0.1:{port}"),
        "https://127.0.0.1.nip.io".to_owned(),
        // Parsed as a URL, not split at its last colon: these name evil.example.
        format!("http://localhost:{port}@evil.example"),
        format!("http://[::1]:{port}@evil.example"),
        format!("http://localhost:{port}@evil.example:{port}"),
        // A serialized origin has no path, query or fragment.
        format!("http://localhost:{port}/path"),
        format!("http://localhost:{port}?q"),
        format!("http://localhost:{port}#f"),
        format!("http://localhost:{port}\\@evil.example"),
    ]
    .map(|origin| ("origin", origin));
    for (name, value) in hosts.into_iter().chain(origins) {
        fx.rpc_error(
            &format!("{name} {value}"),
            fx.void(&good).header(name, value.as_str()),
            403,
            -32600,
        )
        .await;
    }
    fx.accepted(
        "a loopback origin",
        fx.void(&good)
            .header("origin", format!("http://localhost:{port}")),
    )
    .await;
}

/// RFC 9112 §3.2: a request with more than one `Host` line must get `400`; and a second
/// `Origin` must not hide behind a trusted first one. Browsers never send either, so DNS
/// rebinding through a browser cannot use this; a proxy that appends headers could.
#[tokio::test]
async fn repeated_host_or_origin_headers_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = Fx::start().await;
    let good = fx.good();
    let port = fx.addr.port();
    let before = fx.runs();
    let response = fx
        .void(&good)
        .header("origin", format!("http://127.0.0.1:{port}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a second, foreign Origin");
    let body = call_body("void_invoice", "INV-1");
    let mut stream = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\
         Authorization: Bearer {good}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "two Host lines: {answer}"
    );
    assert_eq!(fx.runs(), before, "a tool ran");
}
