//! Replies as `text/event-stream`: a call that sends something before its result, a client
//! that accepts only streams, and the `subscriptions/listen` stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_channel::mpsc as relay;
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue, header};
use tokio::sync::{mpsc, oneshot};

use super::Endpoint;
use super::post::AbortOnDrop;
use super::response::{is_refusal, render};
use crate::auth::Scheme;
use crate::mcp::{Listen, Reply, StreamSlot};
use crate::updates::Registration;

const SSE_RETRY_MS: u64 = 3000;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A reply for a client that accepts only `text/event-stream`; a refusal is rendered with
/// the `scheme` the token came in.
pub(super) fn stream_of(
    endpoint: &Endpoint,
    reply: Reply,
    modern: bool,
    scheme: Scheme,
) -> Response {
    if is_refusal(&reply) {
        return render(endpoint, reply, scheme);
    }
    match reply {
        Reply::Json(..) | Reply::Precomputed { .. } | Reply::Initialized { .. } => {
            let (done_tx, done_rx) = oneshot::channel();
            let _ = done_tx.send(reply);
            let (_unused, empty) = relay::unbounded();
            sse_response(Vec::new(), empty, done_rx, None, modern)
        }
        other => render(endpoint, other, scheme),
    }
}

/// One SSE event; the handshake era numbers its events so that a client could resume.
pub(super) fn sse_event(data: &[u8], id: Option<&str>) -> Bytes {
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

pub(super) fn sse_headers(response: &mut Response) {
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
pub(super) fn sse_response(
    first: Vec<Bytes>,
    mut events: relay::UnboundedReceiver<Bytes>,
    mut done: oneshot::Receiver<Reply>,
    abort: Option<AbortOnDrop>,
    modern: bool,
) -> Response {
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
                            let _ = tx.send(final_event(reply, next_id().as_deref())).await;
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
                        let _ = tx.send(final_event(reply, next_id().as_deref())).await;
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
/// stream has started, so the JSON-RPC error body stands alone; a refused tool call sends the
/// tool result that names the scopes instead.
fn final_event(reply: Reply, id: Option<&str>) -> Bytes {
    reply_data(reply).map_or_else(Bytes::new, |data| sse_event(&data, id))
}

/// The JSON-RPC message a reply sends as the last event of a stream (see [`final_event`]);
/// `None` for a cancelled call, which sends nothing.
pub(super) fn reply_data(reply: Reply) -> Option<Bytes> {
    match reply {
        Reply::Forbidden {
            streamed: Some(result),
            ..
        } => Some(result),
        Reply::Json(_, body) | Reply::Forbidden { body, .. } | Reply::Initialized { body, .. } => {
            Some(body)
        }
        Reply::Precomputed { head, tail } => Some(Bytes::from([&head[..], &tail[..]].concat())),
        Reply::Listen(listen) => Some(listen.ack),
        Reply::RateLimited { body, .. } => Some(body),
        Reply::Cancelled => None,
    }
}

/// `subscriptions/listen`: the acknowledgement, then the resource updates it subscribed to
/// and keep-alive comments until the client closes the stream, the token that opened it
/// expires, or the server shuts down ([`crate::serve_with`]). The caller's stream slot is
/// given back when it ends.
pub(super) fn listen_stream(listen: Listen) -> Response {
    let Listen {
        ack,
        expires_at,
        slot,
        updates,
    } = listen;
    long_stream(Some(sse_event(&ack, None)), None, expires_at, slot, updates)
}

/// A stream that stays open: `first`, then what `updates` receives (each event numbered
/// with `ids` when given, as the handshake era does), and keep-alive comments, until the
/// client closes it, `expires_at` passes, the registration is ended (its session ended), or
/// the server shuts down.
pub(super) fn long_stream(
    first: Option<Bytes>,
    ids: Option<String>,
    expires_at: Option<tokio::time::Instant>,
    slot: StreamSlot,
    updates: Option<Registration>,
) -> Response {
    let stream = async_stream(move |tx| async move {
        let _slot = slot;
        if let Some(first) = first
            && tx.send(first).await.is_err()
        {
            return;
        }
        let mut seq = 0u64;
        let mut updates = updates;
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
            let update = async {
                match updates.as_mut() {
                    Some(registration) => registration.rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // The client reconnects with a fresh token, or with none and gets `401`.
                () = &mut expired => return,
                // Noticed at once, not at the next keep-alive, so that the slot is free again.
                () = tx.closed() => return,
                update = update => {
                    // `None`: the hub let the stream go (its session ended).
                    let Some(update) = update else { return };
                    seq += 1;
                    let id = ids.as_ref().map(|ids| format!("{ids}-{seq}"));
                    if tx.send(sse_event(&update, id.as_deref())).await.is_err() {
                        return;
                    }
                }
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
    response.extensions_mut().insert(EndsAtShutdown);
    response
}

/// The event that opens a handshake-era stream (SEP-1699): an id with empty data, and how
/// long a client waits before reconnecting.
pub(super) fn priming_event(stream_id: &str) -> Bytes {
    priming_with(&format!("{stream_id}-0"), SSE_RETRY_MS)
}

/// A priming event with this event id and `retry` field.
pub(super) fn priming_with(event_id: &str, retry_ms: u64) -> Bytes {
    Bytes::from(format!("id: {event_id}\nretry: {retry_ms}\ndata: \n\n"))
}

/// Marks a response whose body never ends by itself (a `subscriptions/listen` stream):
/// [`serve_with`](crate::serve_with) ends it when the server shuts down, so that it cannot
/// hold the shutdown up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndsAtShutdown;

/// A byte stream fed by `producer` through a small channel; the producer stops when the
/// receiver (the response body) is dropped.
pub(super) fn async_stream<F, Fut>(
    producer: F,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_carry_ids_only_when_given() {
        assert_eq!(&sse_event(b"{}", Some("s-1"))[..], b"id: s-1\ndata: {}\n\n");
        assert_eq!(&sse_event(b"{\n}", None)[..], b"data: {}\n\n");
    }
}
