//! Shared helpers: serve a router on loopback and talk JSON-RPC to it.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use serde_json::{Value, json};

pub mod issuer;

/// Serves `router` on an ephemeral loopback port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = bind().await;
    serve_on(listener, router)
}

/// An ephemeral loopback listener, for servers that must know their URL before they are built.
pub async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Serves `router` on `listener` until the test ends.
pub fn serve_on(listener: tokio::net::TcpListener, router: axum::Router) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A client for one MCP endpoint.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/mcp"),
            token: token.map(str::to_owned),
        }
    }

    pub fn post(&self) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a raw body; returns the status, the `WWW-Authenticate` header and the body.
    pub async fn send_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Option<String>, String) {
        let response = self.post().body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, response.text().await.unwrap())
    }

    /// Sends a request; returns the status, the challenge and the parsed body (`Null` if empty).
    pub async fn request(&self, method: &str, params: Value) -> (u16, Option<String>, Value) {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let (status, challenge, text) = self.send_raw(body.to_string()).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, challenge, value)
    }

    /// `tools/call`, returning the status and the body.
    pub async fn call(&self, tool: &str, arguments: Value) -> (u16, Option<String>, Value) {
        self.request(
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        )
        .await
    }
}
