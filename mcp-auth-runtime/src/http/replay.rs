//! The events of handshake-era request streams the server closed for polling, kept so that
//! the client can resume each stream with `Last-Event-ID` (SEP-1699): per stream, bounded in
//! count and bytes, owned by one session and principal, and forgotten a while after the
//! response.
//!
//! A stream's [`Log`] is made when its call first sends something, and buffers what the
//! connection that is still open forwards; it is *kept* (entered in [`Replays`], copied to
//! the mirror, given a stream slot) only when the `close_after` deadline passes with the call
//! still running. Kept streams are bounded per principal and, in bytes, per process.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::polling::StreamPolling;
use crate::mcp::StreamSlot;

/// The most streams kept in this process at once; past it (or past
/// [`StreamPolling::max_total_bytes`], or the caller's own share) a new stream is not made
/// resumable: its connection stays open.
const MAX_LOGS: usize = 1024;

/// The streams of this process that can be resumed, by stream id.
pub(crate) struct Replays {
    pub(crate) config: StreamPolling,
    logs: Mutex<HashMap<String, Arc<Log>>>,
    /// The most streams one principal has kept at once: its
    /// [`max_streams_per_principal`](crate::McpServerBuilder::max_streams_per_principal).
    max_per_principal: usize,
    /// The bytes of events held by kept streams, against `config.max_total_bytes`.
    bytes: Arc<AtomicUsize>,
    /// The connections reading kept streams here, and the stream slots they hold.
    pub(crate) readers: Arc<super::readers::Readers>,
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
        max_per_principal: usize,
    ) -> Self {
        Replays {
            running_ttl: call_timeout.saturating_add(config.keep_for),
            config,
            logs: Mutex::new(HashMap::new()),
            max_per_principal,
            bytes: Arc::new(AtomicUsize::new(0)),
            readers: Arc::default(),
            mirror,
        }
    }

    /// A new stream of `session`, opened by `principal` for a call that needs `scopes`: it
    /// buffers what the open connection forwards, and is not kept (not resumable) until
    /// [`keep`](Self::keep).
    pub(crate) fn prepare(
        &self,
        session: &str,
        principal: String,
        scopes: Vec<String>,
    ) -> Arc<Log> {
        let (changed, _) = watch::channel(0);
        Arc::new(Log {
            id: crate::random::token(12),
            mirror: self.mirror.clone(),
            running_ttl: self.running_ttl,
            session: session.to_owned(),
            principal,
            scopes,
            max_events: self.config.max_events,
            max_bytes: self.config.max_bytes,
            budget: self.bytes.clone(),
            max_total_bytes: self.config.max_total_bytes,
            keep_for: self.config.keep_for,
            state: Mutex::new(LogState::default()),
            changed,
        })
    }

    /// Keeps `log` for its client's return, its call holding `slot` until it ends: `false`
    /// (and nothing kept) when the call has ended already, or when this process keeps as many
    /// streams as it may, in all, in bytes, or for this principal once its oldest finished
    /// stream is forgotten.
    pub(crate) fn keep(&self, log: &Arc<Log>, slot: StreamSlot) -> bool {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        // At most MAX_LOGS entries to look at: cheap next to the call that opens a stream.
        let now = Instant::now();
        logs.retain(|_, kept| {
            let keep = !kept.expired(now);
            if !keep {
                kept.release();
            }
            keep
        });
        let mut own: Vec<&Arc<Log>> = logs
            .values()
            .filter(|kept| kept.principal == log.principal)
            .collect();
        if own.len() >= self.max_per_principal {
            // Make room by forgetting this principal's oldest finished stream, if it has one;
            // its running calls hold stream slots, so they are fewer than the maximum.
            own.retain(|kept| kept.lock().expires.is_some());
            let Some(oldest) = own
                .into_iter()
                .min_by_key(|kept| kept.lock().expires)
                .map(|kept| kept.id.clone())
            else {
                return false;
            };
            if let Some(forgotten) = logs.remove(&oldest) {
                forgotten.release();
            }
        }
        if logs.len() >= MAX_LOGS {
            return false;
        }
        let mut state = log.lock();
        let total = self.bytes.load(Ordering::Relaxed);
        if state.finished || total.saturating_add(state.bytes) > self.config.max_total_bytes {
            return false;
        }
        self.bytes.fetch_add(state.bytes, Ordering::Relaxed);
        state.kept = true;
        state.slot = Some(slot);
        drop(state);
        logs.insert(log.id.clone(), log.clone());
        drop(logs);
        log.changed.send_modify(|v| *v += 1);
        true
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
            log.release();
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
                log.release();
            }
            keep
        });
    }

    /// The bytes held by kept streams now.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
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
    /// The scopes the call needed: a resumption's token must carry them too.
    pub(crate) scopes: Vec<String>,
    max_events: usize,
    max_bytes: usize,
    /// The bytes held by the kept streams of the process, shared with [`Replays`].
    budget: Arc<AtomicUsize>,
    max_total_bytes: usize,
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
    /// Entered in [`Replays`], its bytes counted against the process's budget.
    kept: bool,
    /// The caller's stream slot, held by a kept stream until its call ends.
    slot: Option<StreamSlot>,
}

/// What a connection reads of a stream at one time.
pub(crate) struct Batch {
    pub(crate) events: Vec<(u64, Bytes)>,
    pub(crate) finished: bool,
    /// Another connection took the stream over.
    pub(crate) superseded: bool,
    /// The stream is kept for resumption: the connection that started it may close.
    pub(crate) kept: bool,
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, now: Instant) -> bool {
        self.lock().expires.is_some_and(|at| at <= now)
    }

    /// Takes a stream out of [`Replays`]: its bytes no longer count against the budget.
    fn release(&self) {
        let mut state = self.lock();
        if std::mem::take(&mut state.kept) {
            self.budget.fetch_sub(state.bytes, Ordering::Relaxed);
        }
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
        if state.kept {
            self.budget.fetch_add(data.len(), Ordering::Relaxed);
        }
        state.events.push_back((seq, data));
        while state.events.len() > 1
            && (state.events.len() > self.max_events
                || state.bytes > self.max_bytes
                || (state.kept && self.budget.load(Ordering::Relaxed) > self.max_total_bytes))
        {
            if let Some((_, dropped)) = state.events.pop_front() {
                state.bytes -= dropped.len();
                if state.kept {
                    self.budget.fetch_sub(dropped.len(), Ordering::Relaxed);
                }
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
        let slot = state.slot.take();
        drop(state);
        drop(slot);
        self.changed.send_modify(|v| *v += 1);
        pushed
    }

    /// Records who owns the kept stream, and the events it holds, where the other replicas
    /// can see them.
    pub(crate) async fn announce(&self, auth: &crate::auth::AuthInfo) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.mirror.redis {
            let (events, finished) = {
                let state = self.lock();
                (
                    state.events.iter().cloned().collect::<Vec<_>>(),
                    state.finished,
                )
            };
            let ttl = if finished {
                self.keep_for
            } else {
                self.running_ttl
            };
            let owner = crate::session::kept_streams::StreamOwner {
                session: &self.session,
                auth,
                scopes: &self.scopes,
            };
            redis.open(&self.id, owner, &events, finished, ttl).await;
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

    /// Copies an event of a kept stream to the mirror; a stream not kept is not copied.
    async fn copy(&self, event: Option<(u64, Bytes, usize)>, done: bool) {
        if self.lock().kept {
            self.mirror_write(event, done).await;
        }
    }

    async fn mirror_write(&self, event: Option<(u64, Bytes, usize)>, done: bool) {
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
        // Read now: a stream of a session that ended is released right after.
        let kept = state.kept;
        drop(state);
        if let Some(call) = call {
            call.abort();
        }
        self.finish(None);
        // Other replicas reading the stream learn that no response will come.
        if kept {
            let log = self.clone();
            tokio::spawn(async move { log.mirror_write(None, true).await });
        }
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
            kept: state.kept,
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
            2,
        )
    }

    /// A stream of `session` and `principal`, kept as if its deadline passed.
    fn kept(replays: &Replays, session: &str, principal: &str) -> Option<Arc<Log>> {
        let log = replays.prepare(session, principal.into(), Vec::new());
        let slot = crate::mcp::OpenStreams::new(usize::MAX).open(principal.into())?;
        replays.keep(&log, slot).then_some(log)
    }

    #[test]
    fn the_oldest_events_go_first_and_the_last_stays() {
        let replays = replays(3, 10);
        let log = kept(&replays, "s", "p").unwrap();
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
        let log = kept(&replays, "s", "p").unwrap();
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
        let log = kept(&replays, "s", "p").unwrap();
        let (first, _) = log.take_over();
        let (second, _) = log.take_over();
        assert!(log.read(0, first).superseded);
        assert!(!log.read(0, second).superseded);
    }

    #[test]
    fn a_principal_keeps_its_share_and_its_oldest_finished_stream_goes_first() {
        let replays = replays(8, 1024);
        let first = kept(&replays, "s", "p").unwrap();
        let second = kept(&replays, "s", "p").unwrap();
        // Two running streams: the principal's share is taken.
        assert!(kept(&replays, "s", "p").is_none());
        assert!(kept(&replays, "s", "q").is_some(), "others keep theirs");
        first.finish(Some(Bytes::from_static(b"done")));
        let third = kept(&replays, "s", "p").unwrap();
        assert!(replays.find(&first.event_id(0), "s", "p").is_none());
        assert!(replays.find(&second.event_id(0), "s", "p").is_some());
        assert!(replays.find(&third.event_id(0), "s", "p").is_some());
    }

    #[tokio::test]
    async fn kept_streams_share_a_byte_budget() {
        let replays = Replays::new(
            StreamPolling::after(Duration::from_secs(1)).max_total_bytes(100),
            Mirror::default(),
            Duration::from_secs(60),
            8,
        );
        let log = kept(&replays, "s", "p").unwrap();
        for _ in 0..10 {
            log.push(Bytes::from(vec![b'x'; 30]));
        }
        assert!(replays.held_bytes() <= 100, "{}", replays.held_bytes());
        let full = replays.prepare("s", "q".into(), Vec::new());
        full.push(Bytes::from(vec![b'x'; 80]));
        let slot = crate::mcp::OpenStreams::new(1).open("q".into()).unwrap();
        assert!(
            !replays.keep(&full, slot),
            "past the budget, the connection stays open"
        );
        replays.end_session("s");
        assert_eq!(replays.held_bytes(), 0);
    }

    #[test]
    fn a_stream_whose_call_ended_is_not_kept() {
        let replays = replays(8, 1024);
        let log = replays.prepare("s", "p".into(), Vec::new());
        log.finish(Some(Bytes::from_static(b"done")));
        let slot = crate::mcp::OpenStreams::new(1).open("p".into()).unwrap();
        assert!(!replays.keep(&log, slot));
    }
}
