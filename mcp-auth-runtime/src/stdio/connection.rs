//! One stdio connection: each line read is dispatched as the MCP endpoint dispatches a POST,
//! with the connection standing for the handshake-era session.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::FutureExt as _;
use serde_json::{Map, Value};
use tokio::task::{AbortHandle, JoinSet};

use crate::auth::AuthInfo;
use crate::http::Endpoint;
use crate::jsonrpc::{ErrorResponse, Message, Request, code, parse, request_id_key};
use crate::mcp::{Era, Reply, RequestCtx, declares_version, modern_era};
use crate::observe::Transport;
use crate::peer::LogLevel;
use crate::session::Session;

/// What one connection knows: the caller, the session `initialize` opened, and the requests
/// running.
pub(super) struct Connection {
    endpoint: Arc<Endpoint>,
    auth: Arc<AuthInfo>,
    /// The handshake-era session, once `initialize` is answered. It lives as long as the
    /// connection, in this struct only: no session store holds it.
    session: Option<Arc<Session>>,
    /// Names the session to the calls that await the client's answers.
    session_id: String,
    /// Every message written, in order, to the output.
    out: mpsc::UnboundedSender<Bytes>,
    calls: JoinSet<()>,
    /// The running requests by id, for `notifications/cancelled`.
    running: HashMap<String, AbortHandle>,
}

impl Connection {
    pub(super) fn new(
        endpoint: Arc<Endpoint>,
        auth: Arc<AuthInfo>,
        out: mpsc::UnboundedSender<Bytes>,
    ) -> Self {
        Connection {
            endpoint,
            auth,
            session: None,
            session_id: format!("stdio-{}", crate::random::token(16)),
            out,
            calls: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    fn send(&self, message: Bytes) {
        // Fails only once the writer has stopped, when nothing can be sent any more.
        let _ = self.out.unbounded_send(message);
    }

    /// Answers a line longer than the limit, whose id is unknown.
    pub(super) fn too_long(&self, limit: usize) {
        tracing::info!(limit, "a message longer than the limit was dropped");
        self.send(
            ErrorResponse::new(
                None,
                code::INVALID_REQUEST,
                format!("invalid request: a message is limited to {limit} bytes"),
            )
            .to_bytes(),
        );
    }

    /// Handles one line: a request starts (`initialize` and `logging/setLevel`, which change
    /// the session, finish before the next line is read), a notification or an answer is
    /// applied, anything else is answered with its JSON-RPC error.
    pub(super) async fn line(&mut self, line: &[u8]) {
        self.reap();
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match parse(line) {
            Ok(Message::Request(request)) => self.request(request).await,
            Ok(Message::Notification { method, params }) => {
                self.notification(&method, params.as_ref()).await;
            }
            Ok(Message::Response { id, answer }) => match &self.session {
                Some(session) => self.endpoint.mcp.answer(&session.id, id, answer).await,
                None => tracing::debug!("a response before `initialize` was ignored"),
            },
            Err(error) => self.send(error.to_bytes()),
        }
    }

    async fn request(&mut self, request: Request) {
        let era = if declares_version(&request) {
            match modern_era(&request) {
                Ok(era) => era,
                Err(error) => return self.send(error.to_bytes()),
            }
        } else {
            match request.method.as_str() {
                "initialize" => return self.initialize(request).await,
                "logging/setLevel" => return self.set_level(request).await,
                // Lifecycle §initialization: only pings before `initialize`.
                "ping" => Era::Legacy { session: None },
                _ if self.session.is_none() => {
                    return self.send(
                        ErrorResponse::new(
                            Some(request.id),
                            code::INVALID_REQUEST,
                            "invalid request: call `initialize` first",
                        )
                        .to_bytes(),
                    );
                }
                _ => Era::Legacy {
                    session: self.session.clone(),
                },
            }
        };
        let ctx = RequestCtx {
            auth: self.auth.clone(),
            // The stdio transport carries no access token: nothing to exchange.
            subject: None,
            era,
            outbound: Some(self.out.clone()),
            transport: Transport::Pipe,
            peer: None,
            outcome: None,
        };
        let key = request.id.key();
        let id = request.id.clone();
        let endpoint = self.endpoint.clone();
        let out = self.out.clone();
        let call = self.calls.spawn(async move {
            // A panicking tool still gets its request answered, so that the client does not
            // wait for it until its own timeout (over HTTP the connection would close).
            let reply = AssertUnwindSafe(endpoint.mcp.request(request, ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a request panicked");
                    let error =
                        ErrorResponse::new(Some(id), code::INTERNAL_ERROR, "internal error");
                    Reply::Json(http::StatusCode::INTERNAL_SERVER_ERROR, error.to_bytes())
                });
            match reply {
                // Open until the client cancels it or the input ends: this server's tools
                // never change, so nothing is ever sent on it.
                Reply::Listen(listen) => {
                    let _ = out.unbounded_send(listen.ack);
                    let _slot = listen.slot;
                    std::future::pending::<()>().await;
                }
                reply => {
                    if let Some(message) = message_of(reply) {
                        let _ = out.unbounded_send(message);
                    }
                }
            }
        });
        self.running.insert(key, call);
    }

    /// `initialize`: answered by the dispatcher, and the connection's session opened with
    /// what the client declared.
    async fn initialize(&mut self, request: Request) {
        let reply = self.dispatch_now(request).await;
        if let Reply::Initialized {
            version, support, ..
        } = &reply
        {
            self.session = Some(Arc::new(Session {
                id: self.session_id.clone(),
                version,
                support: *support,
                log_level: LogLevel::Debug,
            }));
        }
        if let Some(message) = message_of(reply) {
            self.send(message);
        }
    }

    /// `logging/setLevel`: validated and answered by the dispatcher, then applied to the
    /// session for the calls that start after it.
    async fn set_level(&mut self, request: Request) {
        let level = request
            .params
            .as_ref()
            .and_then(|p| p.get("level"))
            .and_then(LogLevel::parse);
        let reply = self.dispatch_now(request).await;
        if let (Some(level), Some(session)) = (level, &self.session) {
            self.session = Some(Arc::new(Session {
                id: session.id.clone(),
                version: session.version,
                support: session.support,
                log_level: level,
            }));
        }
        if let Some(message) = message_of(reply) {
            self.send(message);
        }
    }

    /// A request that changes the connection, dispatched without a session so that the
    /// dispatcher keeps nothing of it in a session store.
    async fn dispatch_now(&self, request: Request) -> Reply {
        let ctx = RequestCtx {
            auth: self.auth.clone(),
            // The stdio transport carries no access token: nothing to exchange.
            subject: None,
            era: Era::Legacy { session: None },
            outbound: None,
            transport: Transport::Pipe,
            peer: None,
            outcome: None,
        };
        self.endpoint.mcp.request(request, ctx).await
    }

    /// `notifications/cancelled` aborts the request it names, in both eras (stdio has no
    /// response stream whose closing would cancel a 2026-07-28 call); the request is then
    /// never answered (MCP cancellation).
    async fn notification(&mut self, method: &str, params: Option<&Map<String, Value>>) {
        if method != "notifications/cancelled" {
            let scope = self.session.as_ref().map_or(&*self.session_id, |s| &s.id);
            return self.endpoint.mcp.notification(method, params, scope).await;
        }
        let Some(id) = params.and_then(|p| p.get("requestId")) else {
            return;
        };
        if let Some(call) = self.running.remove(&request_id_key(id)) {
            tracing::debug!("request cancelled by the client");
            call.abort();
        }
    }

    /// Forgets the requests that have finished.
    fn reap(&mut self) {
        while self.calls.try_join_next().is_some() {}
        self.running.retain(|_, call| !call.is_finished());
    }

    /// At the end of the input: every request still running is cancelled, and is over when
    /// this returns.
    pub(super) async fn close(mut self) {
        if !self.calls.is_empty() {
            tracing::info!(
                running = self.calls.len(),
                "input closed: cancelling the requests still running"
            );
        }
        self.calls.abort_all();
        while self.calls.join_next().await.is_some() {}
    }
}

/// The JSON-RPC message a reply sends; `None` when it sends nothing. A refusal is the same
/// JSON-RPC error as the body of its HTTP response (`403` and `429` included).
fn message_of(reply: Reply) -> Option<Bytes> {
    match reply {
        Reply::Json(_, body)
        | Reply::Initialized { body, .. }
        | Reply::Forbidden { body, .. }
        | Reply::RateLimited { body, .. } => Some(body),
        Reply::Precomputed { head, tail } => {
            let mut message = Vec::with_capacity(head.len() + tail.len());
            message.extend_from_slice(&head);
            message.extend_from_slice(&tail);
            Some(message.into())
        }
        Reply::Listen(listen) => Some(listen.ack),
        Reply::Cancelled => None,
    }
}
