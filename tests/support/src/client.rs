//! A handshake-era (2025-11-25) MCP client, and a reader of SSE streams.

use std::net::SocketAddr;

use serde_json::{Value, json};

/// A handshake-era client for one MCP endpoint: it opens a session (`initialize`) before its
/// first other request, and sends the session id and protocol version from then on.
pub struct Client {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The MCP endpoint.
    pub url: String,
    /// The bearer token sent, if any.
    pub token: Option<String>,
    /// The session id once one is open.
    pub session: std::sync::Mutex<Option<String>>,
    /// Whether to open a session before the first request.
    pub auto_initialize: bool,
}

impl Client {
    /// A client of the endpoint at `addr` sending `token`.
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/mcp"),
            token: token.map(str::to_owned),
            session: std::sync::Mutex::new(None),
            auto_initialize: true,
        }
    }

    /// A client that never opens a session on its own.
    pub fn without_session(addr: SocketAddr, token: Option<&str>) -> Self {
        Client {
            auto_initialize: false,
            ..Client::new(addr, token)
        }
    }

    /// A request builder with the content type, `Accept: application/json` (so that answers
    /// come as JSON) and the token; the session headers when a session is open.
    pub fn post(&self) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        self.identified(request)
    }

    /// `request` with the session headers when a session is open, and the token.
    fn identified(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(session) = self.session.lock().unwrap().clone() {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A `GET` on the endpoint (the session's standalone stream, or with `Last-Event-ID` a
    /// resumed one) accepting `text/event-stream`, with the session headers and the token.
    pub fn get_stream(&self) -> reqwest::RequestBuilder {
        let request = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream");
        self.identified(request)
    }

    /// Opens a session: `initialize`, then `notifications/initialized`. Returns the status of
    /// the `initialize` response.
    pub async fn initialize(&self) -> u16 {
        let body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": { "elicitation": {}, "sampling": {} },
                "clientInfo": { "name": "test", "version": "0" }
            }
        });
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if let Some(id) = response.headers().get("mcp-session-id") {
            *self.session.lock().unwrap() = Some(id.to_str().unwrap().to_owned());
            let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
            let status = self
                .post()
                .body(initialized.to_string())
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 202, "notifications/initialized");
        }
        status
    }

    async fn ensure_session(&self) {
        if self.auto_initialize && self.session.lock().unwrap().is_none() {
            self.initialize().await;
        }
    }

    /// Sends a raw body; returns the status, the `WWW-Authenticate` header and the body.
    pub async fn send_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Option<String>, String) {
        self.ensure_session().await;
        let response = self.post().body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = crate::header(&response, "www-authenticate");
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

    /// A `tools/call` of `tool` (no arguments, `_meta` = `meta`) that accepts an SSE answer.
    pub fn sse_call(&self, tool: &str, id: u64, meta: Value) -> reqwest::RequestBuilder {
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": tool, "arguments": {}, "_meta": meta }
        });
        self.post()
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    }

    /// Sends `body` as it is, without opening a session first: for the answers of the
    /// transport itself (limits, refusals) rather than of a method.
    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.post().body(body.to_string()).send().await.unwrap()
    }

    /// Sends [`Client::sse_call`]; returns the response as it starts.
    pub async fn send_sse_call(&self, tool: &str, id: u64, meta: Value) -> reqwest::Response {
        self.sse_call(tool, id, meta).send().await.unwrap()
    }

    /// Sends [`Client::sse_call`] and reads the answer's events.
    pub async fn stream(&self, tool: &str, id: u64, meta: Value) -> EventReader {
        EventReader::new(self.send_sse_call(tool, id, meta).await)
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

/// Reads SSE events from a streaming response as they come.
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

impl EventReader {
    /// Reads the events of `response`.
    pub fn new(response: reqwest::Response) -> Self {
        EventReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's JSON data, which must come within five seconds on a stream that stays
    /// open.
    pub async fn next_soon(&mut self) -> Value {
        tokio::time::timeout(std::time::Duration::from_secs(5), self.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
    }

    /// The next event's JSON data; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if data.is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&data).unwrap());
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The `initialize` request (id 0) of a 2025-11-25 client named `client` that declares no
/// capabilities.
pub fn initialize(client: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": client, "version": "0" }
        }
    })
}

/// A handshake-era session of `token` at `resource`: `initialize`, then
/// `notifications/initialized`; asserts both succeed and returns the session id.
pub async fn open_session(http: &reqwest::Client, resource: &str, token: &str) -> String {
    open_session_with(http, resource, |request| request.bearer_auth(token)).await
}

/// [`open_session`] with the credentials of each request added by `authorize`: a DPoP token
/// and a fresh proof per request, say ([`DpopKey::authorize`](crate::dpop::DpopKey::authorize)).
pub async fn open_session_with(
    http: &reqwest::Client,
    resource: &str,
    authorize: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    let post = |body: Value| {
        authorize(http.post(resource))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    };
    let response = post(initialize("billing-tests")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post(initialized)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    session
}

/// A handshake-era request of `method` with `params` in the open `session`, sent with
/// `Accept: accept` and `token`; the JSON-RPC id is `id`.
#[allow(clippy::too_many_arguments)]
pub fn legacy_request(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    accept: &str,
    session: &str,
    id: u64,
    method: &str,
    params: Value,
) -> reqwest::RequestBuilder {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    http.post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
}

/// `GET url` with `http`, and its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// What a client learns first (RFC 9728 §5.1): the `resource_metadata` URL of the challenge
/// to a request without a token to the MCP endpoint at `url`; panics unless that is a `401`
/// naming one.
pub async fn discover_metadata_url(http: &reqwest::Client, url: &str) -> String {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = crate::header(&response, "www-authenticate").unwrap();
    challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"))
        .to_owned()
}
