//! Streams the server closes for polling and the client resumes (SEP-1699, handshake era):
//! a `tools/call` detached from its connection, whose events go to its [`Log`], and the
//! connections that read the log, the `POST` that started it and each `GET` with
//! `Last-Event-ID` that resumes it. See [`StreamPolling`](super::polling::StreamPolling).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_channel::mpsc as relay;
use futures_util::StreamExt;
use http::StatusCode;
use tokio::time::Instant;

use super::Endpoint;
use super::readers::Reader;
use super::replay::{Log, Replays};
use super::response::rpc_error;
use super::sse::{async_stream, priming_with, reply_data, sse_event, sse_headers};
use crate::auth::{AuthInfo, Scheme};
use crate::jsonrpc::code;
use crate::mcp::{Reply, deadline_of};

/// A call in progress, as `POST` runs it.
pub(super) type Call = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// The header a resuming client names its last event with.
pub(super) const LAST_EVENT_ID: http::HeaderName = http::HeaderName::from_static("last-event-id");

/// A call that `POST` started, and what it has sent so far.
pub(super) struct Running {
    /// What the call sent before it was detached, if anything.
    pub(super) first: Option<Bytes>,
    /// What it sends from now on.
    pub(super) events: relay::UnboundedReceiver<Bytes>,
    pub(super) call: Call,
}

/// Runs the call on its own task, recording what it sends (`first`, then `events`, then its
/// reply) in `log`, and answers the `POST` with a stream of the log. At `keep_at`, if the
/// reply is not in and the caller has room ([`Replays::keep`]), the stream is kept for the
/// client's return and this connection closed; otherwise it stays open until the reply, as
/// without polling. With `keep_at` `None`, `log` is kept already.
pub(super) fn start(
    endpoint: Arc<Endpoint>,
    log: Arc<Log>,
    auth: Arc<AuthInfo>,
    running: Running,
    keep_at: Option<Instant>,
) -> Response {
    let Running {
        first,
        mut events,
        mut call,
    } = running;
    let Some(replays) = &endpoint.replays else {
        unreachable!("a stream is prepared only with polling on");
    };
    let retry_ms = replays.config.retry_ms();
    let recorder = log.clone();
    let task = tokio::spawn(async move {
        let mut keep_at = keep_at;
        if keep_at.is_none() {
            recorder.announce(&auth).await;
        }
        if let Some(first) = first {
            recorder.record(first).await;
        }
        loop {
            tokio::select! {
                biased;
                event = events.next() => match event {
                    Some(event) => recorder.record(event).await,
                    // The call dropped its sender: only the reply is left.
                    None => {
                        let reply = (&mut call).await;
                        recorder.close(reply_data(reply)).await;
                        return;
                    }
                },
                reply = &mut call => {
                    while let Ok(event) = events.try_recv() {
                        recorder.record(event).await;
                    }
                    recorder.close(reply_data(reply)).await;
                    return;
                }
                () = sleep_until_some(keep_at) => {
                    keep_at = None;
                    let Some(replays) = &endpoint.replays else { return };
                    if let Some(slot) = endpoint.mcp.streams.open(auth.principal_key().to_owned())
                        && replays.keep(&recorder, slot)
                    {
                        recorder.announce(&auth).await;
                    }
                }
            }
        }
    });
    log.set_call(task.abort_handle());
    read(log, 0, retry_ms, None, None)
}

/// Waits until `at`, or forever without one.
pub(super) async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `GET` with `Last-Event-ID`: the rest of the stream it names, if that stream is kept (in
/// this process, or in Redis for another replica's) and belongs to this session and
/// principal (`400` otherwise, with nothing replayed), and `auth` carries the scopes its call
/// needed (`403` with an `insufficient_scope` challenge otherwise). The connection holds one
/// of the caller's stream slots (`429` without), shared with the older connections reading
/// the same stream here, which it supersedes; it closes after `close_after`, or when the
/// token expires, whichever comes first.
pub(super) async fn resume(
    endpoint: &Endpoint,
    replays: &Replays,
    event_id: &str,
    session: &str,
    auth: &Arc<AuthInfo>,
    scheme: Scheme,
) -> Response {
    let close_at = Instant::now() + replays.config.close_after;
    let close_at = deadline_of(auth).map_or(close_at, |expiry| expiry.min(close_at));
    let retry_ms = replays.config.retry_ms();
    let principal = auth.principal_key();
    let slot = || endpoint.mcp.streams.open(principal.to_owned());
    if let Some((log, seq)) = replays.find(event_id, session, principal) {
        if let Some(refused) = missing_scopes(endpoint, auth, &log.scopes, scheme) {
            return refused;
        }
        let Some(reader) = replays.readers.enter(&log.id, slot) else {
            return too_many_streams(auth);
        };
        return read(log, seq, retry_ms, Some(close_at), Some(reader));
    }
    #[cfg(feature = "redis")]
    if let Some(redis) = &replays.mirror.redis
        && let Some((stream, seq)) = super::replay::parse_event_id(event_id)
        && let Some(first) = redis.read(stream, session, auth, seq, 0).await
    {
        if let Some(refused) = missing_scopes(endpoint, auth, &first.scopes, scheme) {
            return refused;
        }
        let Some(reader) = replays.readers.enter(stream, slot) else {
            return too_many_streams(auth);
        };
        let owner = Owner {
            redis: redis.clone(),
            stream: stream.to_owned(),
            session: session.to_owned(),
            auth: auth.clone(),
        };
        return read_remote(owner, seq, first, retry_ms, close_at, reader);
    }
    tracing::info!("a stream resumption names no stream of its session; refused");
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        code::INVALID_REQUEST,
        "Last-Event-ID names no stream of this session that can be resumed",
    )
}

/// `403` with an `insufficient_scope` challenge naming `required`, in the `scheme` the token
/// came in, when `auth` lacks any of them: the call's result is for a token that could have
/// made the call.
fn missing_scopes(
    endpoint: &Endpoint,
    auth: &AuthInfo,
    required: &[String],
    scheme: Scheme,
) -> Option<Response> {
    if required.iter().all(|scope| auth.has_scope(scope)) {
        return None;
    }
    tracing::info!(
        subject = auth.subject(),
        client_id = auth.client_id(),
        "a stream resumption lacks the scopes of its call; refused"
    );
    let required: Vec<&str> = required.iter().map(String::as_str).collect();
    let mut refused = rpc_error(
        StatusCode::FORBIDDEN,
        None,
        code::INVALID_REQUEST,
        "the token lacks the scopes the resumed call needed",
    );
    refused.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        endpoint.challenge.insufficient_scope_in(scheme, &required),
    );
    Some(refused)
}

/// `429`: the caller holds as many streams as it may.
pub(super) fn too_many_streams(auth: &AuthInfo) -> Response {
    tracing::info!(
        subject = auth.subject(),
        client_id = auth.client_id(),
        "too many open streams; GET refused"
    );
    let mut refused = rpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        code::RATE_LIMITED,
        "too many open streams: close one before opening another",
    );
    refused.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    refused
}

/// A stream kept in Redis by another replica, and who may read it.
#[cfg(feature = "redis")]
struct Owner {
    redis: crate::session::kept_streams::RedisStreams,
    stream: String,
    session: String,
    auth: Arc<AuthInfo>,
}

/// How soon a connection reading another replica's stream first looks for new events; it
/// waits twice as long after each look that finds none, up to [`REMOTE_POLL_MAX`].
#[cfg(feature = "redis")]
const REMOTE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The longest wait between two looks for another replica's new events.
#[cfg(feature = "redis")]
const REMOTE_POLL_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// A connection reading another replica's stream from Redis, from after event `after`
/// (`first` read already, which took the stream over in Redis): as [`read`], polling Redis
/// for new events, with back-off, until the response, `close_at`, a newer reader taking over
/// (here or on any replica), or the client leaving. The call runs on the other replica: a
/// client that leaves here does not cancel it (`notifications/cancelled` does, relayed as
/// ever).
#[cfg(feature = "redis")]
fn read_remote(
    owner: Owner,
    after: u64,
    first: crate::session::kept_streams::Remote,
    retry_ms: u64,
    close_at: Instant,
    mut reader: Reader,
) -> Response {
    let stream = async_stream(move |tx| async move {
        let in_redis = first.reader;
        let mut wait = REMOTE_POLL;
        let event_id = |seq: u64| format!("{}-{seq}", owner.stream);
        if tx
            .send(priming_with(&event_id(after), retry_ms))
            .await
            .is_err()
        {
            return;
        }
        let mut cursor = after;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            for (seq, data) in batch.events {
                if tx
                    .send(sse_event(&data, Some(&event_id(seq))))
                    .await
                    .is_err()
                {
                    return;
                }
                cursor = seq;
            }
            if batch.done || batch.superseded {
                return;
            }
            tokio::select! {
                () = tx.closed() => return,
                () = reader.until_superseded() => return,
                () = tokio::time::sleep_until(close_at) => return,
                () = tokio::time::sleep(wait) => {}
            }
            let before = cursor;
            next = owner
                .redis
                .read(&owner.stream, &owner.session, &owner.auth, cursor, in_redis)
                .await;
            let found = next.as_ref().is_some_and(|batch| {
                batch.events.last().is_some_and(|(seq, _)| *seq > before) || batch.done
            });
            wait = if found {
                REMOTE_POLL
            } else {
                (wait * 2).min(REMOTE_POLL_MAX)
            };
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
}

/// A connection reading `log` from after event `after`: a priming event (the client's
/// position, and the `retry` field), the kept events, then new ones as they come, until the
/// reply (the end), `close_at` (the server closes; the call goes on), without `close_at` the
/// stream being kept (the connection that started it closes), another connection taking the
/// stream over, or the client leaving (which cancels the call, as without polling). `slot`,
/// the resumption's hold on a stream slot, is kept until the connection ends.
fn read(
    log: Arc<Log>,
    after: u64,
    retry_ms: u64,
    close_at: Option<Instant>,
    slot: Option<Reader>,
) -> Response {
    let (reader, mut changes) = log.take_over();
    let stream = async_stream(move |tx| async move {
        let mut slot = slot;
        if tx
            .send(priming_with(&log.event_id(after), retry_ms))
            .await
            .is_err()
        {
            return;
        }
        let mut cursor = after;
        loop {
            changes.borrow_and_update();
            let batch = log.read(cursor, reader);
            if batch.superseded {
                return;
            }
            for (seq, data) in batch.events {
                if tx
                    .send(sse_event(&data, Some(&log.event_id(seq))))
                    .await
                    .is_err()
                {
                    leave(&log, cursor, reader);
                    return;
                }
                cursor = seq;
            }
            if batch.finished {
                return;
            }
            if close_at.is_none() && batch.kept {
                return;
            }
            tokio::select! {
                biased;
                () = tx.closed() => {
                    leave(&log, cursor, reader);
                    return;
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = sleep_until_some(close_at) => return,
                // A newer resumption here took the stream (and this slot) over.
                () = superseded(slot.as_mut()) => return,
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
}

/// Waits until `reader` is superseded; for ever without one.
async fn superseded(reader: Option<&mut Reader>) {
    match reader {
        Some(reader) => reader.until_superseded().await,
        None => std::future::pending().await,
    }
}

/// The client of reader `reader` left: its call is cancelled, unless another connection has
/// taken the stream over (the client came back on another).
fn leave(log: &Arc<Log>, cursor: u64, reader: u64) {
    if !log.read(cursor, reader).superseded {
        log.cancel();
    }
}
