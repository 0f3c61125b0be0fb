//! `POST` on the MCP endpoint: one JSON-RPC message in; a request is answered as JSON, or as
//! an event stream when the client accepts one and the call sends something before its
//! result (the response switches at the first such message, so calls that send nothing cost
//! no stream); notifications and the client's responses get `202`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_channel::mpsc as relay;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode, header};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::era::{is_modern, legacy_era, modern_era};
use super::param_headers;
use super::response::{Accepts, accepts, is_refusal, json_response, render};
use super::resume::{Call, Running, sleep_until_some, start};
use super::session::{legacy_session, name_session, open_session};
use super::sse::{sse_response, stream_of};
use super::{Endpoint, caller, header_str};
use crate::auth::Scheme;
use crate::jsonrpc::{Message, Request as RpcRequest, parse};
use crate::mcp::{Era, Reply, RequestCtx};
use crate::observe::Transport;

/// `POST` on the MCP endpoint.
pub(crate) async fn post(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let Some(auth) = caller(&endpoint, &request) else {
        // Unreachable behind the bearer layer; fail closed all the same.
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let subject = super::subject(&endpoint, &request);
    let scheme = crate::auth::scheme_of(&request);
    let peer = super::peer_of(&request);
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
    let body = match axum::body::to_bytes(body, endpoint.body_limit).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let message = match parse(&body) {
        Ok(message) => message,
        Err(error) => return json_response(StatusCode::BAD_REQUEST, error.to_bytes()),
    };
    let dispatcher = &endpoint.mcp;
    match message {
        Message::Request(request) => {
            let modern = is_modern(&headers, &request);
            let era = if modern {
                match modern_era(&headers, &request) {
                    Ok(era) => era,
                    Err(response) => return response,
                }
            } else {
                match legacy_era(&endpoint, &headers, &request, &auth).await {
                    Ok(era) => era,
                    Err(response) => return response,
                }
            };
            if let Err(response) =
                param_headers::check(&dispatcher.registry, &headers, &request, modern)
            {
                return response;
            }
            answer(
                &endpoint,
                request,
                RequestCtx {
                    auth,
                    subject,
                    era,
                    outbound: None,
                    transport: Transport::Tcp,
                    peer,
                    outcome: None,
                },
                accepts,
                modern,
                scheme,
            )
            .await
        }
        Message::Notification { method, params } => {
            let scope = match legacy_session(&endpoint, &headers, &auth, false).await {
                Ok(Some(session)) => session.id.clone(),
                Ok(None) => auth.principal_key().to_owned(),
                Err(response) => return response,
            };
            dispatcher
                .notification(&method, params.as_ref(), &scope)
                .await;
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response { id, answer } => {
            match legacy_session(&endpoint, &headers, &auth, false).await {
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

/// Runs the request and answers as JSON, or as a stream if the call sends something first.
async fn answer(
    endpoint: &Arc<Endpoint>,
    request: RpcRequest,
    mut ctx: RequestCtx,
    accepts: Accepts,
    modern: bool,
    scheme: Scheme,
) -> Response {
    let dispatcher = &endpoint.mcp;
    // Only calls, prompt gets and resource reads send anything before their answer
    // (progress, logs, requests for input).
    let streams = matches!(
        request.method.as_str(),
        "tools/call" | "prompts/get" | "resources/read"
    );
    if !(accepts.sse && streams) {
        // Only `initialize` opens a session: the id and caller it needs are kept for it alone.
        let initialize =
            (request.method == "initialize").then(|| (request.id.clone(), ctx.auth.clone()));
        let reply = dispatcher.request(request, ctx).await;
        let session = match (&reply, initialize) {
            (
                Reply::Initialized {
                    version, support, ..
                },
                Some((id, auth)),
            ) => match open_session(endpoint, &auth, version, *support, id).await {
                Ok(session) => session,
                Err(refused) => return refused,
            },
            _ => None,
        };
        let mut response = if accepts.json {
            render(endpoint, reply, scheme)
        } else {
            stream_of(endpoint, reply, modern, scheme)
        };
        name_session(&mut response, session);
        return response;
    }
    let (tx, mut events) = relay::unbounded();
    ctx.outbound = Some(tx);
    // A handshake-era call in a session may be detached from its connection for polling.
    let polling = match (&endpoint.replays, &ctx.era, modern) {
        (
            Some(replays),
            Era::Legacy {
                session: Some(session),
            },
            false,
        ) => Some((replays, session.id.clone(), ctx.auth.clone())),
        _ => None,
    };
    let deadline = polling
        .as_ref()
        .map(|(replays, ..)| Instant::now() + replays.config.close_after);
    // The stream of a call that polling may detach: its events are buffered from the first,
    // and kept for the client's return only if the deadline passes first.
    let scopes = call_scopes(endpoint, &request);
    let prepare = || {
        let (replays, session, auth) = polling.as_ref()?;
        Some((
            replays.prepare(session, auth.principal_key().to_owned(), scopes.clone()),
            auth.clone(),
        ))
    };
    let endpoint_for_task = endpoint.clone();
    let mut call: Call = Box::pin(async move { endpoint_for_task.mcp.request(request, ctx).await });
    let mut close_at = deadline;
    let first = loop {
        tokio::select! {
            biased;
            event = events.next() => break Err(event),
            reply = &mut call => break Ok(reply),
            () = sleep_until_some(close_at) => {}
        }
        // The response is slow: the server closes the connection if the caller has room for
        // a detached call; if not, it waits on as without polling.
        close_at = None;
        if let Some((replays, session, auth)) = &polling
            && let Some(slot) = endpoint.mcp.streams.open(auth.principal_key().to_owned())
        {
            let log = replays.prepare(session, auth.principal_key().to_owned(), scopes.clone());
            if replays.keep(&log, slot) {
                let running = Running {
                    first: None,
                    events,
                    call,
                };
                return start(endpoint.clone(), log, auth.clone(), running, None);
            }
        }
    };
    match first {
        Ok(reply) => {
            let pending: Vec<Bytes> = std::iter::from_fn(|| events.try_recv().ok()).collect();
            // A refusal is an HTTP status whatever the client accepts: wrapped in a `200`
            // stream, a `403` would lose its `WWW-Authenticate` challenge (no step-up) and a
            // `429` its `Retry-After`.
            if is_refusal(&reply) || (pending.is_empty() && accepts.json) {
                return render(endpoint, reply, scheme);
            }
            let (done_tx, done_rx) = oneshot::channel();
            let _ = done_tx.send(reply);
            let (_unused, empty) = relay::unbounded();
            sse_response(pending, empty, done_rx, None, modern)
        }
        Err(first_event) => {
            // The call sent something in time: a stream whose events are buffered, kept and
            // closed at the deadline if the call still runs then and the caller has room.
            if let Some(deadline) = close_at
                && let Some((log, auth)) = prepare()
            {
                let running = Running {
                    first: first_event,
                    events,
                    call,
                };
                return start(endpoint.clone(), log, auth, running, Some(deadline));
            }
            let (done_tx, done_rx) = oneshot::channel();
            let task = tokio::spawn(async move {
                let _ = done_tx.send(call.await);
            });
            // Closing the stream cancels the call, in both eras: see "A client that goes
            // away" in the module docs.
            let abort = Some(AbortOnDrop(task));
            sse_response(
                first_event.into_iter().collect(),
                events,
                done_rx,
                abort,
                modern,
            )
        }
    }
}

/// The scopes a resumption of this request's stream must carry: those the tool called needs
/// (see [`ToolDef::scopes`](crate::ToolDef::scopes)); none for other requests.
fn call_scopes(endpoint: &Endpoint, request: &RpcRequest) -> Vec<String> {
    if request.method != "tools/call" {
        return Vec::new();
    }
    request
        .params
        .as_ref()
        .and_then(|params| params.get("name"))
        .and_then(|name| name.as_str())
        .and_then(|name| endpoint.mcp.registry.get(name))
        .map(|tool| tool.scopes().iter().map(|s| (*s).to_owned()).collect())
        .unwrap_or_default()
}

/// Aborts a spawned call when the response stream is dropped (the client went away).
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
