//! [`StreamPolling`]: when the server closes a handshake-era request stream so that the client
//! polls it (SEP-1699), and what it keeps for the client's return.

use std::time::Duration;

/// Closes handshake-era (2025-11-25) request streams whose response is slow, so that no
/// connection stays open for the length of a call (SEP-1699, streamable HTTP §sending
/// messages to the server); give it to
/// [`McpServerBuilder::stream_polling`](crate::McpServerBuilder::stream_polling). Off by
/// default: without it a stream stays open until its response.
///
/// With it, a `tools/call` whose client accepts `text/event-stream` and whose response is not
/// ready [`after`](Self::after) the given time is answered with a stream that opens with a
/// priming event (an event id, empty data and the [`retry`](Self::retry) interval) and is then
/// closed by the server. The call goes on; what it sends, and its response, are kept for the
/// stream, and the client resumes it with `GET` and `Last-Event-ID` (streamable HTTP
/// §resumability and redelivery). A resumed stream is closed again after the same time if the
/// response is still not ready, and the client polls again.
///
/// - A stream is kept only if the deadline passes with its call still running; until then what
///   the call sends goes out on the open connection. Each principal keeps at most its
///   [`max_streams_per_principal`](crate::McpServerBuilder::max_streams_per_principal)
///   streams (its oldest finished one is forgotten to make room), and all kept streams share
///   [`max_total_bytes`](Self::max_total_bytes); past either, the stream stays open instead.
/// - A stream is resumed only in the session that opened it, by the principal that opened it,
///   with a token that carries the scopes the call needed: another principal's token is
///   refused as every request of that session is (`404`), one without the call's scopes with
///   `403` and an `insufficient_scope` challenge, and an event id of another session's
///   stream, of a stream no longer kept, or one this server did not issue, with `400`;
///   nothing is replayed. Stream ids are random (96 bits).
/// - A resumption holds one of its caller's stream slots while it is open (`429` without one;
///   a newer resumption of the same stream takes the older one's over), and is closed at the
///   latest when its token expires.
/// - Each stream keeps at most [`max_events`](Self::max_events) events and
///   [`max_bytes`](Self::max_bytes) of them, dropping the oldest first; its last event (the
///   response) is always kept. A client that resumes after events were dropped gets those that
///   are left, from the oldest.
/// - A finished stream is kept for [`keep_for`](Self::keep_for) after its response; after
///   that a resumption is refused like an unknown one.
/// - A call running without a connection holds one of its caller's
///   [`max_streams_per_principal`](crate::McpServerBuilder::max_streams_per_principal) slots
///   until it ends, so that closing connections does not let a caller run more calls than it
///   could hold streams. When the caller holds none, the stream stays open instead.
/// - A client that closes the connection itself still cancels the call, as without polling
///   (see "How the endpoint answers" in [`McpServer`](crate::McpServer)'s docs).
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_runtime::{McpServer, StreamPolling};
///
/// let builder = McpServer::builder("reports", "1.0.0").stream_polling(
///     StreamPolling::after(Duration::from_secs(20)).retry(Duration::from_secs(2)),
/// );
/// # let _ = builder;
/// ```
#[derive(Debug, Clone)]
pub struct StreamPolling {
    pub(crate) close_after: Duration,
    pub(crate) retry: Duration,
    pub(crate) max_events: usize,
    pub(crate) max_bytes: usize,
    pub(crate) keep_for: Duration,
    pub(crate) max_total_bytes: usize,
}

impl StreamPolling {
    /// Default of [`retry`](Self::retry): 3 seconds.
    pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);
    /// Default of [`max_events`](Self::max_events): 256 events per stream.
    pub const DEFAULT_MAX_EVENTS: usize = 256;
    /// Default of [`max_bytes`](Self::max_bytes): 1 MiB per stream.
    pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
    /// Default of [`keep_for`](Self::keep_for): 5 minutes.
    pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(300);
    /// Default of [`max_total_bytes`](Self::max_total_bytes): 64 MiB for all kept streams.
    pub const DEFAULT_MAX_TOTAL_BYTES: usize = 64 * 1024 * 1024;

    /// Closes a request stream once it has been open `close_after` without its response.
    pub fn after(close_after: Duration) -> Self {
        StreamPolling {
            close_after,
            retry: Self::DEFAULT_RETRY,
            max_events: Self::DEFAULT_MAX_EVENTS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            keep_for: Self::DEFAULT_KEEP_FOR,
            max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES,
        }
    }

    /// How long the client waits before it reconnects (the SSE `retry` field of the priming
    /// event, which clients must respect).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// The most events kept per stream for a client's return (at least 1).
    pub fn max_events(mut self, max: usize) -> Self {
        self.max_events = max.max(1);
        self
    }

    /// The most bytes of events kept per stream for a client's return; the last event is kept
    /// whatever its size.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// How long a stream is kept after its response, for a client that has not collected it.
    pub fn keep_for(mut self, keep_for: Duration) -> Self {
        self.keep_for = keep_for;
        self
    }

    /// The most bytes of events kept by all the streams of this process together: past it, a
    /// new stream is not kept (its connection stays open until its response) and kept ones
    /// drop their oldest events first.
    pub fn max_total_bytes(mut self, max: usize) -> Self {
        self.max_total_bytes = max;
        self
    }

    /// The `retry` field, in milliseconds.
    pub(crate) fn retry_ms(&self) -> u64 {
        u64::try_from(self.retry.as_millis()).unwrap_or(u64::MAX)
    }
}
