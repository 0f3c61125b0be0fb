//! The events of handshake-era request streams the server closed for polling, kept so that
//! the client can resume each stream with `Last-Event-ID` (SEP-1699): per stream, bounded in
//! count and bytes, owned by one session and principal, and forgotten a while after the
//! response.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::polling::StreamPolling;

/// The most streams kept in this process at once (with [`StreamPolling::max_bytes`], what
/// they can hold); past it a new stream is not made resumable: its connection stays open.
const MAX_LOGS: usize = 1024;

/// The streams of this process that can be resumed, by stream id.
pub(crate) struct Replays {
    pub(crate) config: StreamPolling,
    logs: Mutex<HashMap<String, Arc<Log>>>,
    /// Where the streams are copied for the other replicas, with sessions in Redis.
    pub(crate) mirror: Mirror,
    /// How long a stream whose call still runs is kept in the mirror: the longest the call
    /// can run, then `keep_for`.
    running_ttl: std::time::Duration,
}

impl Replays {
    pub(crate) fn new(
        config: StreamPolling,
        mirror: Mirror,
        call_timeout: std::time::Duration,
    ) -> Self {
        Replays {
            running_ttl: call_timeout.saturating_add(config.keep_for),
            config,
            logs: Mutex::new(HashMap::new()),
            mirror,
        }
    }

    /// A new resumable stream of `session`, opened by `principal`; `None` when this process
    /// keeps as many as it may.
    pub(crate) fn open(&self, session: &str, principal: String) -> Option<Arc<Log>> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        // At most MAX_LOGS entries to look at: cheap next to the call that opens a stream.
        let now = Instant::now();
        logs.retain(|_, log| !log.expired(now));
        if logs.len() >= MAX_LOGS {
            return None;
        }
        let (changed, _) = watch::channel(0);
        let log = Arc::new(Log {
            id: crate::random::token(12),
            mirror: self.mirror.clone(),
            running_ttl: self.running_ttl,
            session: session.to_owned(),
            principal,
            max_events: self.config.max_events,
            max_bytes: self.config.max_bytes,
            keep_for: self.config.keep_for,
            state: Mutex::new(LogState::default()),
            changed,
        });
        logs.insert(log.id.clone(), log.clone());
        Some(log)
    }

    /// The stream an event id names, if it is kept and belongs to `session` and `principal`;
    /// with the sequence number of the event. Anything else (a malformed id, an unknown or
    /// expired stream, another session's or principal's) is `None`, alike.
    pub(crate) fn find(
        &self,
        event_id: &str,
        session: &str,
        principal: &str,
    ) -> Option<(Arc<Log>, u64)> {
        let (stream, seq) = parse_event_id(event_id)?;
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.get(stream)?.clone();
        if log.expired(Instant::now()) {
            logs.remove(stream);
            return None;
        }
        drop(logs);
        (log.session == session && log.principal == principal).then_some((log, seq))
    }

    /// Forgets the streams of a session that ended.
    pub(crate) fn end_session(&self, session: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.retain(|_, log| {
            let keep = log.session != session;
            if !keep {
                log.cancel();
            }
            keep
        });
    }
}

/// The stream id and sequence number of an event id, `ID-SEQ`.
pub(crate) fn parse_event_id(event_id: &str) -> Option<(&str, u64)> {
    let (stream, seq) = event_id.rsplit_once('-')?;
    Some((stream, seq.parse().ok()?))
}

/// Where streams are copied so that other replicas can resume them: Redis, when sessions
/// live there (feature `redis`); nowhere otherwise.
#[derive(Clone, Default)]
pub(crate) struct Mirror {
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<crate::session::kept_streams::RedisStreams>,
}

/// The events of one stream.
pub(crate) struct Log {
    #[cfg_attr(
        not(feature = "redis"),
        expect(dead_code, reason = "only Redis is a mirror")
    )]
    mirror: Mirror,
    running_ttl: std::time::Duration,
    /// The stream's part of its event ids: `ID-SEQ`.
    pub(crate) id: String,
    session: String,
    principal: String,
    max_events: usize,
    max_bytes: usize,
    keep_for: std::time::Duration,
    state: Mutex<LogState>,
    /// Bumped at each change, for the connection that reads the stream.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct LogState {
    events: VecDeque<(u64, Bytes)>,
    bytes: usize,
    last_seq: u64,
    finished: bool,
    /// When a finished stream is forgotten.
    expires: Option<Instant>,
    /// The connection reading the stream now: a newer one takes over from an older one.
    reader: u64,
    call: Option<AbortHandle>,
}

/// What a connection reads of a stream at one time.
pub(crate) struct Batch {
    pub(crate) events: Vec<(u64, Bytes)>,
    pub(crate) finished: bool,
    /// Another connection took the stream over.
    pub(crate) superseded: bool,
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, now: Instant) -> bool {
        self.lock().expires.is_some_and(|at| at <= now)
    }

    /// The event id of event `seq` of this stream.
    pub(crate) fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.id)
    }

    /// The call that feeds the stream, aborted if the client cancels by leaving.
    pub(crate) fn set_call(&self, call: AbortHandle) {
        self.lock().call = Some(call);
    }

    /// Appends an event, dropping the oldest ones beyond the bounds; the newest is kept
    /// whatever its size.
    fn push(&self, data: Bytes) -> Option<(u64, usize)> {
        let mut state = self.lock();
        if state.finished {
            return None;
        }
        state.last_seq += 1;
        let seq = state.last_seq;
        state.bytes += data.len();
        state.events.push_back((seq, data));
        while state.events.len() > 1
            && (state.events.len() > self.max_events || state.bytes > self.max_bytes)
        {
            if let Some((_, dropped)) = state.events.pop_front() {
                state.bytes -= dropped.len();
            }
        }
        let kept = state.events.len();
        drop(state);
        self.changed.send_modify(|v| *v += 1);
        Some((seq, kept))
    }

    /// Ends the stream, with its last event if there is one, and starts its expiry.
    fn finish(&self, last: Option<Bytes>) -> Option<(u64, usize)> {
        let pushed = last.and_then(|last| self.push(last));
        let mut state = self.lock();
        state.finished = true;
        state.call = None;
        state.expires = Some(Instant::now() + self.keep_for);
        drop(state);
        self.changed.send_modify(|v| *v += 1);
        pushed
    }

    /// Records who owns the stream where the other replicas can see it.
    pub(crate) async fn announce(&self, auth: &crate::auth::AuthInfo) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.mirror.redis {
            redis
                .open(&self.id, &self.session, auth, self.running_ttl)
                .await;
        }
        let _ = auth;
    }

    /// Appends an event (see [`push`](Self::push)), here and in the mirror.
    pub(crate) async fn record(&self, data: Bytes) {
        let pushed = self.push(data.clone());
        self.copy(pushed.map(|(seq, kept)| (seq, data, kept)), false)
            .await;
    }

    /// Ends the stream (see [`finish`](Self::finish)), here and in the mirror.
    pub(crate) async fn close(&self, last: Option<Bytes>) {
        let pushed = self.finish(last.clone());
        let event = pushed
            .zip(last)
            .map(|((seq, kept), data)| (seq, data, kept));
        self.copy(event, true).await;
    }

    async fn copy(&self, event: Option<(u64, Bytes, usize)>, done: bool) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.mirror.redis {
            let keep = event.as_ref().map_or(usize::MAX, |(_, _, kept)| *kept);
            let ttl = if done {
                self.keep_for
            } else {
                self.running_ttl
            };
            let event = event.as_ref().map(|(seq, data, _)| (*seq, data));
            redis.write(&self.id, event, keep, done, ttl).await;
        }
        let _ = (event, done, self.running_ttl);
    }

    /// Aborts the call that feeds the stream, which then ends without a response.
    pub(crate) fn cancel(self: &Arc<Self>) {
        let mut state = self.lock();
        if state.finished {
            return;
        }
        let call = state.call.take();
        drop(state);
        if let Some(call) = call {
            call.abort();
        }
        self.finish(None);
        // Other replicas reading the stream learn that no response will come.
        let log = self.clone();
        tokio::spawn(async move { log.copy(None, true).await });
    }

    /// Makes a new connection the stream's reader: its number, and a receiver that wakes at
    /// each change.
    pub(crate) fn take_over(&self) -> (u64, watch::Receiver<u64>) {
        let mut state = self.lock();
        state.reader += 1;
        let reader = state.reader;
        drop(state);
        let changes = self.changed.subscribe();
        self.changed.send_modify(|v| *v += 1);
        (reader, changes)
    }

    /// The events after `after`, for the reader `reader`.
    pub(crate) fn read(&self, after: u64, reader: u64) -> Batch {
        let state = self.lock();
        Batch {
            events: state
                .events
                .iter()
                .filter(|(seq, _)| *seq > after)
                .cloned()
                .collect(),
            finished: state.finished,
            superseded: state.reader != reader,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn replays(max_events: usize, max_bytes: usize) -> Replays {
        Replays::new(
            StreamPolling::after(Duration::from_secs(1))
                .max_events(max_events)
                .max_bytes(max_bytes),
            Mirror::default(),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn the_oldest_events_go_first_and_the_last_stays() {
        let replays = replays(3, 10);
        let log = replays.open("s", "p".into()).unwrap();
        let (reader, _) = log.take_over();
        for data in ["aaaa", "bbbb", "cccc"] {
            log.push(Bytes::from(data));
        }
        // 12 bytes > 10: the oldest went.
        let seqs: Vec<u64> = log.read(0, reader).events.iter().map(|e| e.0).collect();
        assert_eq!(seqs, [2, 3]);
        log.finish(Some(Bytes::from(vec![b'x'; 64])));
        let batch = log.read(0, reader);
        assert_eq!(
            batch.events.len(),
            1,
            "the response alone exceeds the bytes"
        );
        assert_eq!(batch.events[0].0, 4);
        assert!(batch.finished);
    }

    #[tokio::test]
    async fn streams_are_found_only_by_their_session_and_principal() {
        let replays = replays(8, 1024);
        let log = replays.open("s", "p".into()).unwrap();
        let id = log.event_id(0);
        assert!(replays.find(&id, "s", "p").is_some());
        assert!(replays.find(&id, "other", "p").is_none());
        assert!(replays.find(&id, "s", "q").is_none());
        assert!(replays.find("nonsense", "s", "p").is_none());
        assert!(replays.find(&format!("{}x-0", log.id), "s", "p").is_none());
        replays.end_session("s");
        assert!(replays.find(&id, "s", "p").is_none());
    }

    #[test]
    fn a_newer_reader_supersedes_an_older_one() {
        let replays = replays(8, 1024);
        let log = replays.open("s", "p".into()).unwrap();
        let (first, _) = log.take_over();
        let (second, _) = log.take_over();
        assert!(log.read(0, first).superseded);
        assert!(!log.read(0, second).superseded);
    }
}
