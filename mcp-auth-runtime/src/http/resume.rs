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
use crate::jsonrpc::code;
use crate::mcp::{Reply, StreamSlot};

/// A call in progress, as `POST` runs it.
pub(super) type Call = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// The header a resuming client names its last event with.
pub(super) const LAST_EVENT_ID: http::HeaderName = http::HeaderName::from_static("last-event-id");

/// Runs `call` on without its connection, recording what it sends (`first`, then `events`,
/// then its reply) in `log`, and answers the `POST` with a stream of the log that the server
/// closes at `close_at` if the reply is not there by then. `slot` is held until the call ends.
pub(super) fn detach(
    log: Arc<Log>,
    slot: StreamSlot,
    first: Option<Bytes>,
    mut events: relay::UnboundedReceiver<Bytes>,
    mut call: Call,
    retry_ms: u64,
    close_at: Instant,
) -> Response {
    let recorder = log.clone();
    let task = tokio::spawn(async move {
        let _slot = slot;
        if let Some(first) = first {
            recorder.push(first);
        }
        loop {
            tokio::select! {
                biased;
                event = events.next() => match event {
                    Some(event) => recorder.push(event),
                    // The call dropped its sender: only the reply is left.
                    None => {
                        let reply = (&mut call).await;
                        recorder.finish(reply_data(reply));
                        return;
                    }
                },
                reply = &mut call => {
                    while let Ok(event) = events.try_recv() {
                        recorder.push(event);
                    }
                    recorder.finish(reply_data(reply));
                    return;
                }
            }
        }
    });
    log.set_call(task.abort_handle());
    read(log, 0, retry_ms, close_at)
}

/// `GET` with `Last-Event-ID`: the rest of the stream it names, if that stream is kept and
/// belongs to this session and principal; `400` otherwise, with nothing replayed.
pub(super) fn resume(
    replays: &Replays,
    event_id: &str,
    session: &str,
    principal: &str,
) -> Response {
    let Some((log, seq)) = replays.find(event_id, session, principal) else {
        tracing::info!("a stream resumption names no stream of its session; refused");
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "Last-Event-ID names no stream of this session that can be resumed",
        );
    };
    let close_at = Instant::now() + replays.config.close_after;
    read(log, seq, replays.config.retry_ms(), close_at)
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
fn leave(log: &Log, cursor: u64, reader: u64) {
    if !log.read(cursor, reader).superseded {
        log.cancel();
    }
}
