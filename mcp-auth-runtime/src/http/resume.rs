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

use super::replay::{Log, Replays};
use super::response::rpc_error;
use super::sse::{async_stream, priming_with, reply_data, sse_event, sse_headers};
use crate::auth::AuthInfo;
use crate::jsonrpc::code;
use crate::mcp::{Reply, StreamSlot};

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

/// Runs the call on without its connection, recording what it sends (`first`, then
/// `events`, then its reply) in `log`, and answers the `POST` with a stream of the log that
/// the server closes at `close_at` if the reply is not there by then. `slot` is held until
/// the call ends.
pub(super) async fn detach(
    log: Arc<Log>,
    auth: &AuthInfo,
    slot: StreamSlot,
    running: Running,
    retry_ms: u64,
    close_at: Instant,
) -> Response {
    let Running {
        first,
        mut events,
        mut call,
    } = running;
    log.announce(auth).await;
    let recorder = log.clone();
    let task = tokio::spawn(async move {
        let _slot = slot;
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
            }
        }
    });
    log.set_call(task.abort_handle());
    read(log, 0, retry_ms, close_at)
}

/// `GET` with `Last-Event-ID`: the rest of the stream it names, if that stream is kept (in
/// this process, or in Redis for another replica's) and belongs to this session and
/// principal; `400` otherwise, with nothing replayed.
pub(super) async fn resume(
    replays: &Replays,
    event_id: &str,
    session: &str,
    auth: &Arc<AuthInfo>,
) -> Response {
    let close_at = Instant::now() + replays.config.close_after;
    let retry_ms = replays.config.retry_ms();
    if let Some((log, seq)) = replays.find(event_id, session, &auth.principal().key()) {
        return read(log, seq, retry_ms, close_at);
    }
    #[cfg(feature = "redis")]
    if let Some(redis) = &replays.mirror.redis
        && let Some((stream, seq)) = super::replay::parse_event_id(event_id)
        && let Some(first) = redis.read(stream, session, auth, seq).await
    {
        let owner = Owner {
            redis: redis.clone(),
            stream: stream.to_owned(),
            session: session.to_owned(),
            auth: auth.clone(),
        };
        return read_remote(owner, seq, first, retry_ms, close_at);
    }
    tracing::info!("a stream resumption names no stream of its session; refused");
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        code::INVALID_REQUEST,
        "Last-Event-ID names no stream of this session that can be resumed",
    )
}

/// A stream kept in Redis by another replica, and who may read it.
#[cfg(feature = "redis")]
struct Owner {
    redis: crate::session::kept_streams::RedisStreams,
    stream: String,
    session: String,
    auth: Arc<AuthInfo>,
}

/// How often a connection reading another replica's stream looks for new events.
#[cfg(feature = "redis")]
const REMOTE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A connection reading another replica's stream from Redis, from after event `after`
/// (`first` read already): as [`read`], polling Redis for new events until the response,
/// `close_at`, or the client leaving. The call runs on the other replica: a client that leaves
/// here does not cancel it (`notifications/cancelled` does, relayed as ever).
#[cfg(feature = "redis")]
fn read_remote(
    owner: Owner,
    after: u64,
    first: crate::session::kept_streams::Remote,
    retry_ms: u64,
    close_at: Instant,
) -> Response {
    let stream = async_stream(move |tx| async move {
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
            if batch.done {
                return;
            }
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(REMOTE_POLL) => {}
            }
            if Instant::now() >= close_at {
                return;
            }
            next = owner
                .redis
                .read(&owner.stream, &owner.session, &owner.auth, cursor)
                .await;
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
}

/// A connection reading `log` from after event `after`: a priming event (the client's
/// position, and the `retry` field), the kept events, then new ones as they come, until the
/// reply (the end), `close_at` (the server closes; the call goes on), another connection
/// taking the stream over, or the client leaving (which cancels the call, as without polling).
fn read(log: Arc<Log>, after: u64, retry_ms: u64, close_at: Instant) -> Response {
    let (reader, mut changes) = log.take_over();
    let stream = async_stream(move |tx| async move {
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
                () = tokio::time::sleep_until(close_at) => return,
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream.map(Ok::<_, Infallible>)));
    sse_headers(&mut response);
    response
}

/// The client of reader `reader` left: its call is cancelled, unless another connection has
/// taken the stream over (the client came back on another).
fn leave(log: &Arc<Log>, cursor: u64, reader: u64) {
    if !log.read(cursor, reader).superseded {
        log.cancel();
    }
}
