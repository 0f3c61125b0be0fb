//! MCP Streamable HTTP: the axum handlers of the MCP endpoint, for both protocol eras.
//!
//! - **POST** carries one JSON-RPC message. A request is answered with `application/json`,
//!   or with a `text/event-stream` when the client accepts one and the tool sends something
//!   before its result (progress, log messages, requests for input): the response switches
//!   to a stream at the first such message, so calls that send nothing cost no stream.
//!   Notifications and the client's responses get `202`.
//! - **GET** answers `405`: this server sends nothing outside the stream of a request (its
//!   tool list never changes), which MCP 2025-11-25 allows, and the 2026-07-28 era has no GET.
//! - **DELETE** ends a handshake-era session.
//!
//! A client that goes away cancels its call, in both eras, as `notifications/cancelled`
//! would: the call's future is dropped and the [`on_call`](crate::McpServerBuilder::on_call)
//! hook reports it `Cancelled`. The 2026-07-28 era says so (streamable HTTP §cancellation).
//! The handshake era says a disconnect SHOULD NOT be taken as cancellation, so that a client
//! can resume the stream with `Last-Event-ID`; this server offers no resumption (`GET`
//! answers `405`), so the result of a call whose client left can never be delivered, and
//! running it on would only let a client start work that no connection limit bounds: open a
//! call, hang up, repeat. A tool whose side effect must complete once begun runs that part
//! in a task of its own.
//!
//! The era of each request is read from the request itself: a request whose `_meta` carries
//! `io.modelcontextprotocol/protocolVersion` is served statelessly under 2026-07-28, with its
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers checked against the body;
//! anything else follows the handshake era, with sessions unless the server is stateless.

// The early returns of request validation are whole responses, built once per rejected
// request; boxing them would only add an allocation to the path that does work.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_channel::mpsc as relay;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::auth::AuthInfo;
use crate::jsonrpc::{
    Era, LEGACY_VERSIONS, Listen, MODERN_VERSIONS, Message, Reply, Request as RpcRequest,
    RequestCtx, code, error_for, meta, parse,
};
use crate::peer::{ClientSupport, LogLevel};
use crate::server::McpServer;
use crate::session::{Session, SessionError};

const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const SSE_RETRY_MS: u64 = 3000;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The caller, as the bearer layer (or the no-auth configuration) established it.
fn caller(server: &McpServer, request: &Request) -> Option<Arc<AuthInfo>> {
    server
        .local_identity()
        .or_else(|| crate::auth::auth_of(request))
}

/// What the client's `Accept` header allows.
#[derive(Clone, Copy)]
struct Accepts {
    json: bool,
    sse: bool,
}

fn accepts(headers: &HeaderMap) -> Accepts {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Accepts {
            json: true,
            sse: false,
        };
    }
    let mut accepts = Accepts {
        json: false,
        sse: false,
    };
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for media in value.split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            // The media types of interest differ in length: one comparison each.
            let expected = match media.len() {
                16 => "application/json",
                13 => "application/*",
                17 => "text/event-stream",
                6 => "text/*",
                3 => "*/*",
                _ => continue,
            };
            if !media.eq_ignore_ascii_case(expected) {
                continue;
            }
            match media.len() {
                16 | 13 => accepts.json = true,
                17 | 6 => accepts.sse = true,
                _ => {
                    accepts.json = true;
                    accepts.sse = true;
                }
            }
        }
    }
    accepts
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header that must appear at most once: two values for a mirrored header would let
/// intermediaries and this server read different things.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        Err(())
    } else {
        Ok(first)
    }
}

/// A `200` JSON response of two buffers, sent as they are: a precomputed result after the
/// head that names the request's id ([`Reply::Precomputed`]).
fn json_parts(head: Bytes, tail: Bytes) -> Response {
    let mut response = Response::new(Body::new(Parts {
        head: Some(head),
        tail: Some(tail),
    }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body of two buffers of known length: sent with `Content-Length`, in one vectored write,
/// without copying either.
struct Parts {
    head: Option<Bytes>,
    tail: Option<Bytes>,
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.head.take().or_else(|| this.tail.take());
        Poll::Ready(next.map(|data| Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = |part: &Option<Bytes>| part.as_ref().map_or(0, |b| b.len() as u64);
        http_body::SizeHint::with_exact(len(&self.head) + len(&self.tail))
    }
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn rpc_error(
    status: StatusCode,
    id: Option<crate::jsonrpc::Id>,
    code: i32,
    message: impl Into<String>,
) -> Response {
    json_response(status, error_for(id, code, message))
}

/// `POST` on the MCP endpoint.
pub(crate) async fn post(State(server): State<McpServer>, request: Request) -> Response {
    let Some(auth) = caller(&server, &request) else {
        // Unreachable behind the bearer layer; fail closed all the same.
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if !is_json_content(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
            .into_response();
    }
    let accepts = accepts(&headers);
    if !accepts.json && !accepts.sse {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/json or text/event-stream",
        )
            .into_response();
    }
    let body = match axum::body::to_bytes(body, server.body_limit()).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let message = match parse(&body) {
        Ok(message) => message,
        Err(error) => return json_response(StatusCode::BAD_REQUEST, error.to_bytes()),
    };
    let dispatcher = server.dispatcher();
    match message {
        Message::Request(request) => {
            let modern = request
                .meta()
                .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION))
                || header_str(&headers, &MCP_PROTOCOL_VERSION)
                    .is_some_and(|v| !LEGACY_VERSIONS.contains(&v));
            let era = if modern {
                match modern_era(&headers, &request) {
                    Ok(era) => era,
                    Err(response) => return response,
                }
            } else {
                match legacy_era(&server, &headers, &request, &auth).await {
                    Ok(era) => era,
                    Err(response) => return response,
                }
            };
            answer(
                &server,
                request,
                RequestCtx {
                    auth,
                    era,
                    outbound: None,
                },
                accepts,
                modern,
            )
            .await
        }
        Message::Notification { method, params } => {
            let scope = match legacy_session(&server, &headers, &auth, false).await {
                Ok(Some(session)) => session.id.clone(),
                Ok(None) => auth.principal().key(),
                Err(response) => return response,
            };
            dispatcher
                .notification(&method, params.as_ref(), &scope)
                .await;
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response { id, answer } => {
            match legacy_session(&server, &headers, &auth, false).await {
                Ok(Some(session)) => dispatcher.answer(&session.id, id, answer).await,
                Ok(None) => tracing::debug!("a response without session was ignored"),
                Err(response) => return response,
            }
            StatusCode::ACCEPTED.into_response()
        }
    }
}

fn is_json_content(headers: &HeaderMap) -> bool {
    header_str(headers, &header::CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The session named by `Mcp-Session-Id`, in stateful mode. `initialize` needs none.
async fn legacy_session(
    server: &McpServer,
    headers: &HeaderMap,
    auth: &AuthInfo,
    initialize: bool,
) -> Result<Option<Arc<Session>>, Response> {
    let Some(store) = &server.dispatcher().sessions else {
        return Ok(None);
    };
    if initialize {
        return Ok(None);
    }
    let Some(id) = header_str(headers, &MCP_SESSION_ID) else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header: call `initialize` first",
        ));
    };
    match store.get(id, auth).await {
        Ok(session) => Ok(Some(session)),
        Err(SessionError::NotFound) => Err(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session: call `initialize` again",
        )),
        Err(_) => Err(sessions_unavailable()),
    }
}

/// `503` when the shared session store cannot be reached: a session that cannot be checked
/// is never assumed.
fn sessions_unavailable() -> Response {
    let mut response = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        code::INTERNAL_ERROR,
        "sessions are unavailable; retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn legacy_era(
    server: &McpServer,
    headers: &HeaderMap,
    request: &RpcRequest,
    auth: &AuthInfo,
) -> Result<Era, Response> {
    // Absent: 2025-03-26 clients did not send it (transports §protocol version header).
    if let Some(version) = headers.get(&MCP_PROTOCOL_VERSION) {
        let known = version.to_str().is_ok_and(|v| LEGACY_VERSIONS.contains(&v));
        if !known {
            return Err(unsupported_version(
                Some(request.id.clone()),
                version.to_str().unwrap_or(""),
            ));
        }
    }
    let session = legacy_session(server, headers, auth, request.method == "initialize").await?;
    Ok(Era::Legacy { session })
}

fn unsupported_version(id: Option<crate::jsonrpc::Id>, requested: &str) -> Response {
    let mut supported: Vec<&str> = MODERN_VERSIONS.to_vec();
    supported.extend(LEGACY_VERSIONS);
    let body = crate::jsonrpc::ErrorResponse::new(
        id,
        code::UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
    )
    .with_data(json!({ "supported": supported, "requested": requested }))
    .to_bytes();
    json_response(StatusCode::BAD_REQUEST, body)
}

/// 2026-07-28 request validation: the headers must mirror the body (streamable HTTP §server
/// validation), and `_meta` must carry the version and the client's capabilities.
fn modern_era(headers: &HeaderMap, request: &RpcRequest) -> Result<Era, Response> {
    let id = Some(request.id.clone());
    let mismatch = |message: String| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            id.clone(),
            code::HEADER_MISMATCH,
            message,
        )
    };
    let invalid = |message: &str| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            id.clone(),
            code::INVALID_PARAMS,
            message.to_owned(),
        )
    };
    for name in [&MCP_PROTOCOL_VERSION, &MCP_METHOD, &MCP_NAME] {
        if single_header(headers, name).is_err() {
            return Err(mismatch(format!(
                "Header mismatch: more than one {name} header"
            )));
        }
    }
    let meta = request.meta();
    let header_version = header_str(headers, &MCP_PROTOCOL_VERSION);
    let body_version = meta
        .and_then(|m| m.get(meta::PROTOCOL_VERSION))
        .and_then(Value::as_str);
    let Some(header_version) = header_version else {
        return Err(mismatch(
            "Header mismatch: the MCP-Protocol-Version header is missing".into(),
        ));
    };
    let Some(body_version) = body_version else {
        if !MODERN_VERSIONS.contains(&header_version) {
            return Err(unsupported_version(id, header_version));
        }
        return Err(invalid(
            "invalid params: `_meta` lacks `io.modelcontextprotocol/protocolVersion`",
        ));
    };
    if header_version != body_version {
        return Err(mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{header_version}' does not match body value '{body_version}'"
        )));
    }
    if !MODERN_VERSIONS.contains(&body_version) {
        return Err(unsupported_version(id, body_version));
    }
    let Some(capabilities) = meta
        .and_then(|m| m.get(meta::CLIENT_CAPABILITIES))
        .filter(|c| c.is_object())
    else {
        return Err(invalid(
            "invalid params: `_meta` lacks `io.modelcontextprotocol/clientCapabilities`",
        ));
    };
    match header_str(headers, &MCP_METHOD) {
        Some(method) if method == request.method => {}
        Some(method) => {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Method header value '{method}' does not match body value '{}'",
                request.method
            )));
        }
        None => {
            return Err(mismatch(
                "Header mismatch: the Mcp-Method header is missing".into(),
            ));
        }
    }
    let name_field = match request.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = name_field {
        let body_name = request
            .params
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(Value::as_str);
        let header_name = headers
            .get(&MCP_NAME)
            .map(|v| decode_header_value(v.as_bytes()));
        match (header_name, body_name) {
            (None, _) => {
                return Err(mismatch(
                    "Header mismatch: the Mcp-Name header is missing".into(),
                ));
            }
            (Some(None), _) => {
                return Err(mismatch(
                    "Header mismatch: the Mcp-Name header is malformed".into(),
                ));
            }
            (Some(Some(header)), Some(body)) if header == body => {}
            (Some(Some(header)), body) => {
                return Err(mismatch(format!(
                    "Header mismatch: Mcp-Name header value '{}' does not match body value '{}'",
                    header.escape_default(),
                    body.unwrap_or("").escape_default()
                )));
            }
        }
    }
    let log_level = match meta.and_then(|m| m.get(meta::LOG_LEVEL)) {
        None => None,
        Some(level) => Some(
            LogLevel::parse(level).ok_or_else(|| invalid("invalid params: unknown log level"))?,
        ),
    };
    Ok(Era::Modern {
        support: ClientSupport::from_capabilities(Some(capabilities)),
        log_level,
    })
}

/// A header value, Base64-decoded when it uses the `=?base64?…?=` sentinel (streamable HTTP
/// §value encoding); `None` when it is neither plain visible ASCII nor valid Base64 of UTF-8.
pub(crate) fn decode_header_value(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    if let Some(encoded) = text
        .strip_prefix("=?base64?")
        .and_then(|t| t.strip_suffix("?="))
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    let plain = text
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b));
    plain.then(|| text.to_owned())
}

/// Runs the request and answers as JSON, or as a stream if the call sends something first.
async fn answer(
    server: &McpServer,
    request: RpcRequest,
    mut ctx: RequestCtx,
    accepts: Accepts,
    modern: bool,
) -> Response {
    let dispatcher = server.dispatcher();
    if !(accepts.sse && request.method == "tools/call") {
        let reply = dispatcher.request(request, ctx).await;
        return if accepts.json {
            render(server, reply)
        } else {
            stream_of(server, reply, modern)
        };
    }
    let (tx, mut events) = relay::unbounded();
    ctx.outbound = Some(tx);
    let server_for_task = server.clone();
    let mut call =
        Box::pin(async move { server_for_task.dispatcher().request(request, ctx).await });
    let first = tokio::select! {
        biased;
        event = events.next() => Err(event),
        reply = &mut call => Ok(reply),
    };
    match first {
        Ok(reply) => {
            let pending: Vec<Bytes> = std::iter::from_fn(|| events.try_recv().ok()).collect();
            // A refusal is an HTTP status whatever the client accepts: wrapped in a `200`
            // stream, a `403` would lose its `WWW-Authenticate` challenge (no step-up) and a
            // `429` its `Retry-After`.
            if is_refusal(&reply) || (pending.is_empty() && accepts.json) {
                return render(server, reply);
            }
            let (done_tx, done_rx) = oneshot::channel();
            let _ = done_tx.send(reply);
            let (_unused, empty) = relay::unbounded();
            sse_response(server, pending, empty, done_rx, None, modern)
        }
        Err(first_event) => {
            let (done_tx, done_rx) = oneshot::channel();
            let task = tokio::spawn(async move {
                let _ = done_tx.send(call.await);
            });
            // Closing the stream cancels the call, in both eras: see "A client that goes
            // away" in the module docs.
            let abort = Some(AbortOnDrop(task));
            sse_response(
                server,
                first_event.into_iter().collect(),
                events,
                done_rx,
                abort,
                modern,
            )
        }
    }
}

/// Aborts a spawned call when the response stream is dropped (the client went away).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn render(server: &McpServer, reply: Reply) -> Response {
    match reply {
        Reply::Json(status, body) => json_response(status, body),
        Reply::Precomputed { head, tail } => json_parts(head, tail),
        Reply::Initialized { body, session } => {
            let mut response = json_response(StatusCode::OK, body);
            if let Some(id) = session.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert(MCP_SESSION_ID, id);
            }
            response
        }
        Reply::Forbidden { required, body } => {
            let required: Vec<&str> = required.iter().map(String::as_str).collect();
            let mut response = json_response(StatusCode::FORBIDDEN, body);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                server.challenge().insufficient_scope(&required),
            );
            response
        }
        Reply::Listen(ack) => listen_stream(ack),
        Reply::RateLimited { retry_after, body } => too_many_requests(retry_after, body),
        // The client no longer waits for an answer; the HTTP exchange still needs an end.
        Reply::Cancelled => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Whether `reply` refuses the request (`4xx`, `5xx`): it is answered with its own status and
/// headers, never inside a `200` event stream.
fn is_refusal(reply: &Reply) -> bool {
    match reply {
        Reply::Forbidden { .. } | Reply::RateLimited { .. } => true,
        Reply::Json(status, _) => !status.is_success(),
        Reply::Precomputed { .. }
        | Reply::Initialized { .. }
        | Reply::Listen(_)
        | Reply::Cancelled => false,
    }
}

/// A reply for a client that accepts only `text/event-stream`.
fn stream_of(server: &McpServer, reply: Reply, modern: bool) -> Response {
    if is_refusal(&reply) {
        return render(server, reply);
    }
    match reply {
        Reply::Json(..) | Reply::Precomputed { .. } | Reply::Initialized { .. } => {
            let session = match &reply {
                Reply::Initialized { session, .. } => session.clone(),
                _ => None,
            };
            let (done_tx, done_rx) = oneshot::channel();
            let _ = done_tx.send(reply);
            let (_unused, empty) = relay::unbounded();
            let mut response = sse_response(server, Vec::new(), empty, done_rx, None, modern);
            if let Some(id) = session.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert(MCP_SESSION_ID, id);
            }
            response
        }
        other => render(server, other),
    }
}

/// One SSE event; the handshake era numbers its events so that a client could resume.
fn sse_event(data: &[u8], id: Option<&str>) -> Bytes {
    let mut frame = Vec::with_capacity(data.len() + 32);
    if let Some(id) = id {
        frame.extend_from_slice(b"id: ");
        frame.extend_from_slice(id.as_bytes());
        frame.push(b'\n');
    }
    frame.extend_from_slice(b"data: ");
    // JSON from serde_json has no raw newlines; strip any all the same, as a newline would end
    // the SSE field.
    frame.extend(data.iter().copied().filter(|b| *b != b'\n' && *b != b'\r'));
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

fn sse_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies such as nginx must not buffer the stream.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
}

/// A stream of `first`, then `events` until the call's reply arrives, then the reply.
fn sse_response(
    server: &McpServer,
    first: Vec<Bytes>,
    mut events: relay::UnboundedReceiver<Bytes>,
    mut done: oneshot::Receiver<Reply>,
    abort: Option<AbortOnDrop>,
    modern: bool,
) -> Response {
    let server = server.clone();
    let stream_id = crate::random::token(6);
    let stream = async_stream(move |tx| async move {
        let _abort = abort;
        let mut seq = 0u64;
        let mut next_id = || {
            seq += 1;
            (!modern).then(|| format!("{stream_id}-{seq}"))
        };
        if !modern {
            // SEP-1699: an event id with empty data first, so that a client could resume.
            let priming = format!("id: {stream_id}-0\nretry: {SSE_RETRY_MS}\ndata: \n\n");
            if tx.send(Bytes::from(priming)).await.is_err() {
                return;
            }
        }
        for event in first {
            if tx
                .send(sse_event(&event, next_id().as_deref()))
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            tokio::select! {
                biased;
                // The client closed the stream: stop, which drops (and so cancels) the call
                // where the era says so.
                () = tx.closed() => return,
                event = events.next() => match event {
                    Some(event) => {
                        if tx.send(sse_event(&event, next_id().as_deref())).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        // The call dropped its sender: only the reply is left.
                        let Ok(reply) = (&mut done).await else { return };
                        if !matches!(reply, Reply::Cancelled) {
                            let _ = tx.send(final_event(&server, reply, next_id().as_deref())).await;
                        }
                        return;
                    }
                },
                reply = &mut done => {
                    while let Ok(event) = events.try_recv() {
                        if tx.send(sse_event(&event, next_id().as_deref())).await.is_err() {
                            return;
                        }
                    }
                    if let Ok(reply) = reply
                        && !matches!(reply, Reply::Cancelled)
                    {
                        let _ = tx.send(final_event(&server, reply, next_id().as_deref())).await;
                    }
                    return;
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
}

/// The reply as the stream's last event. Statuses other than 200 cannot be sent once the
/// stream has started, so the JSON-RPC error body stands alone.
fn final_event(_server: &McpServer, reply: Reply, id: Option<&str>) -> Bytes {
    match reply {
        Reply::Json(_, body) | Reply::Forbidden { body, .. } | Reply::Initialized { body, .. } => {
            sse_event(&body, id)
        }
        Reply::Precomputed { head, tail } => sse_event(&[&head[..], &tail[..]].concat(), id),
        Reply::Listen(listen) => sse_event(&listen.ack, id),
        Reply::RateLimited { body, .. } => sse_event(&body, id),
        Reply::Cancelled => Bytes::new(),
    }
}

/// `429` with `Retry-After` in whole seconds, rounded up.
/// `429` for a caller over its request budget ([`crate::rate_limit::RateLimitLayer`]).
pub(crate) fn rate_limited(retry_after: Duration) -> Response {
    let body = error_for(None, code::RATE_LIMITED, "rate limit exceeded");
    too_many_requests(retry_after, body)
}

fn too_many_requests(retry_after: Duration, body: Bytes) -> Response {
    let seconds = retry_after.as_millis().div_ceil(1000).max(1);
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
    response
}

/// `subscriptions/listen`: the acknowledgement, then keep-alive comments until the client
/// closes the stream, the token that opened it expires, or the server shuts down
/// ([`crate::serve_with`]). The caller's stream slot is given back when it ends.
fn listen_stream(listen: Listen) -> Response {
    let Listen {
        ack,
        expires_at,
        slot,
    } = listen;
    let stream = async_stream(move |tx| async move {
        let _slot = slot;
        if tx.send(sse_event(&ack, None)).await.is_err() {
            return;
        }
        let expired = async {
            match expires_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut expired = std::pin::pin!(expired);
        let mut ticks = tokio::time::interval(KEEP_ALIVE);
        ticks.tick().await;
        loop {
            tokio::select! {
                // The client reconnects with a fresh token, or with none and gets `401`.
                () = &mut expired => return,
                // Noticed at once, not at the next keep-alive, so that the slot is free again.
                () = tx.closed() => return,
                _ = ticks.tick() => {
                    if tx.send(Bytes::from_static(b":\n\n")).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
        .extensions_mut()
        .insert(crate::serve::EndsAtShutdown);
    response
}

/// A byte stream fed by `producer` through a small channel; the producer stops when the
/// receiver (the response body) is dropped.
fn async_stream<F, Fut>(producer: F) -> impl futures_util::Stream<Item = Bytes> + Send + 'static
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(producer(tx));
    tokio_stream(rx)
}

fn tokio_stream(
    mut rx: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `GET` on the MCP endpoint.
pub(crate) async fn get() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("POST, DELETE"))],
    )
        .into_response()
}

/// `DELETE` on the MCP endpoint: ends the caller's handshake-era session.
pub(crate) async fn delete(State(server): State<McpServer>, request: Request) -> Response {
    // The 2026-07-28 era has no sessions to end (streamable HTTP §backward compatibility).
    let modern = header_str(request.headers(), &MCP_PROTOCOL_VERSION)
        .is_some_and(|v| MODERN_VERSIONS.contains(&v));
    let Some(store) = server.dispatcher().sessions.as_ref().filter(|_| !modern) else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("POST"))],
        )
            .into_response();
    };
    let Some(auth) = caller(&server, &request) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(id) = header_str(request.headers(), &MCP_SESSION_ID) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header",
        );
    };
    match store.remove(id, &auth).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(SessionError::NotFound) => rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session",
        ),
        Err(_) => sessions_unavailable(),
    }
}

/// Other methods on the MCP endpoint.
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("POST, DELETE"))],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_the_base64_sentinel() {
        assert_eq!(
            decode_header_value(b"get_weather").as_deref(),
            Some("get_weather")
        );
        assert_eq!(
            decode_header_value(b"=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode_header_value(b"=?base64?not base64?=").as_deref(),
            None
        );
        assert_eq!(
            decode_header_value(b"=?base64?/w==?=").as_deref(),
            None,
            "not UTF-8"
        );
        assert_eq!(
            decode_header_value("caf\u{e9}".as_bytes()).as_deref(),
            None,
            "raw non-ASCII"
        );
    }

    #[test]
    fn accept_headers_are_read_per_media_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let a = accepts(&headers);
        assert!(a.json && a.sse);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let a = accepts(&headers);
        assert!(!a.json && a.sse);
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let a = accepts(&headers);
        assert!(!a.json && !a.sse);
        let a = accepts(&HeaderMap::new());
        assert!(a.json && !a.sse);
    }

    #[test]
    fn sse_events_carry_ids_only_when_given() {
        assert_eq!(&sse_event(b"{}", Some("s-1"))[..], b"id: s-1\ndata: {}\n\n");
        assert_eq!(&sse_event(b"{\n}", None)[..], b"data: {}\n\n");
    }
}
