//! The 2026-07-28 era: one POST per request, no session, the protocol version and the client's
//! capabilities in `_meta`, mirrored in the `Mcp-*` headers. The one request builder of the
//! tests, and the reading of an answer that comes as JSON or as a stream.

use std::net::SocketAddr;

use serde_json::{Value, json};

/// Every `Accept` a client may send with a call.
pub const ACCEPTS: [&str; 3] = [
    "application/json, text/event-stream",
    "application/json",
    "text/event-stream",
];

/// A 2026-07-28 request of `method` to `url` with `token`: `_meta` carries the version and
/// `capabilities` (beside what `params` has there), and `Mcp-Protocol-Version`, `Mcp-Method` and (when `params` names one)
/// `Mcp-Name` mirror the body. The JSON-RPC id is `id`.
#[allow(clippy::too_many_arguments)]
pub fn request(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    accept: &str,
    capabilities: Value,
    id: u64,
    method: &str,
    mut params: Value,
) -> reqwest::RequestBuilder {
    // Members of `_meta` the caller set (a `progressToken`, say) are kept.
    let mut meta = params.get("_meta").cloned().unwrap_or_else(|| json!({}));
    meta["io.modelcontextprotocol/protocolVersion"] = "2026-07-28".into();
    meta["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    params["_meta"] = meta;
    let mut request = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        request = request.header("mcp-name", name);
    }
    request
        .body(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string())
}

/// The JSON-RPC response in a body: the body itself when it is JSON, else (an SSE stream) the
/// last event that carries an id; the text as a JSON string when neither.
pub fn response_of(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .rfind(|message| message.get("id").is_some())
            .unwrap_or(Value::String(text))
    })
}

/// A 2026-07-28 `tools/call` of `tool` with `params` (arguments, answers, state) and
/// `token`, as a client that can answer elicitations and accepts `accept`. Returns the status
/// and the JSON-RPC response, whether it came as JSON or as the last event of a stream.
pub async fn modern_call(
    http: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    accept: &str,
    tool: &str,
    mut params: Value,
) -> (u16, Value) {
    params["name"] = tool.into();
    let response = request(
        http,
        &format!("http://{addr}/mcp"),
        token,
        accept,
        json!({ "elicitation": {} }),
        7,
        "tools/call",
        params,
    )
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response_of(response.text().await.unwrap()))
}

/// A 2026-07-28 `tools/call` of `tool` whose body is `body` exactly as given (for what a
/// `Value` cannot hold: integers beyond 64 bits, escapes, number spellings), sent with
/// `token` and `Accept: accept` and the `Mcp-*` headers of the call. Returns the status and
/// the JSON-RPC response (see [`response_of`]).
pub async fn raw_call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    accept: &str,
    tool: &str,
    body: String,
) -> (u16, Value) {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response_of(response.text().await.unwrap()))
}

/// An HTTP answer to an MCP request.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header.
    pub www_authenticate: Option<String>,
    /// The JSON-RPC response (see [`response_of`]).
    pub body: Value,
}

impl Reply {
    /// Sends `request` and reads its answer.
    pub async fn of(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let www_authenticate = crate::header(&response, "www-authenticate");
        let body = response_of(response.text().await.unwrap());
        Reply {
            status,
            www_authenticate,
            body,
        }
    }

    /// The structured result of a successful tool call.
    #[track_caller]
    pub fn structured(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_ne!(self.body["result"]["isError"], true, "{self:?}");
        self.body["result"]["structuredContent"].clone()
    }

    /// The message of a tool error.
    #[track_caller]
    pub fn tool_error(&self) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.body["result"]["isError"], true, "{self:?}");
        self.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Asserts a `403` with an `insufficient_scope` challenge naming `scope`.
    #[track_caller]
    pub fn assert_insufficient_scope(&self, scope: &str) {
        assert_eq!(self.status, 403, "{self:?}");
        let challenge = self.www_authenticate.as_deref().unwrap_or("");
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!(r#"scope="{scope}""#)),
            "{challenge}"
        );
    }
}
