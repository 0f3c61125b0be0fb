//! [`JsonLinesSink`]: audit events as JSON lines in a file, rotated by size.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::file::AuditFile;
use super::{AuditEvent, AuditSink};

/// Writes each [`AuditEvent`] as one line of JSON to a file, rotating it by size.
///
/// The request's task only serializes the event and queues the line; a writer thread owns the
/// file. What it promises:
///
/// - **Nothing lost silently.** The queue is bounded ([`JsonLinesSinkBuilder::capacity`]).
///   When it is full (the disk stalls, a burst outruns it), an event without room, or one
///   the file refused (disk full, permissions), is counted in [`JsonLinesSink::lost`] and
///   logged as a `tracing` error (at the 1st, 2nd, 4th, 8th, ... loss, so that a flood
///   cannot flood the log as well).
/// - **Never blocks an async runtime.** On a thread of a tokio runtime (a request's task:
///   the bearer layer reports each `401` there) `record` never waits for room: a worker
///   blocked in it would serve no other request, so a flood of unauthenticated requests
///   against a stalled disk would stall the whole server. There a full queue loses the event
///   at once (counted and logged as above). Only outside a runtime (a plain thread) does
///   `record` wait for room up to [`JsonLinesSinkBuilder::full_wait`].
/// - **Owner-only.** The file is created with mode `0600` (on Unix), as are the files that
///   replace it at rotation; an existing file keeps its mode.
/// - **One event per line**, appended, never split across files.
/// - **Flushing.** Woken by a line after a quiet spell, the writer gathers for 2 ms, then hands
///   the batch to the operating system at once (so a crash of the process loses nothing it wrote), and with
///   [`JsonLinesSinkBuilder::sync`] to the disk as well (so power loss does not either, at
///   the cost of one `fsync` per batch). [`JsonLinesSink::flush`] waits for everything
///   recorded so far; dropping the sink writes what is queued before the thread ends.
///
/// ```
/// use mcp_auth_runtime::observe::audit::{AuditEvent, AuditOutcome, AuditSink, JsonLinesSink, Rotation};
/// use mcp_auth_runtime::observe::RefusalReason;
///
/// # let dir = std::env::temp_dir().join(format!("jsonl-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("audit.jsonl");
/// let sink = JsonLinesSink::builder(&path)
///     .rotation(Rotation::Size { max_bytes: 10 * 1024 * 1024, keep: 5 })
///     .build()?;
/// sink.record(&AuditEvent::new(AuditOutcome::Refused { reason: RefusalReason::MissingToken }));
/// sink.flush();
///
/// let line = std::fs::read_to_string(&path)?;
/// let event: serde_json::Value = serde_json::from_str(line.trim_end())?;
/// assert_eq!(event["outcome"]["status"], "refused");
/// assert_eq!(event["outcome"]["reason"], "missing_token");
/// # drop(sink);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    shared: Arc<Shared>,
    capacity: usize,
    full_wait: Duration,
    writer: Option<JoinHandle<()>>,
}

/// Configures a [`JsonLinesSink`]. Created by [`JsonLinesSink::builder`].
#[derive(Debug)]
#[must_use]
pub struct JsonLinesSinkBuilder {
    path: PathBuf,
    rotation: Rotation,
    capacity: usize,
    full_wait: Duration,
    sync: bool,
}

/// When a [`JsonLinesSink`] starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// Never: one file grows for ever (rotate it with `logrotate`'s `copytruncate`).
    Never,
    /// When the file would exceed `max_bytes`, keeping the `keep` newest rotated files
    /// (`audit.jsonl.1` the newest).
    Size {
        /// The largest a file grows.
        max_bytes: u64,
        /// How many rotated files are kept.
        keep: usize,
    },
}

/// The queue between the request tasks and the writer thread.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a line is queued, or the sink closes.
    queued: Condvar,
    /// Signalled when the writer takes lines off the queue.
    room: Condvar,
    /// Signalled when the writer finished a batch.
    written: Condvar,
    lost: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    lines: VecDeque<Vec<u8>>,
    /// Lines queued since the start.
    queued: u64,
    /// Lines the writer is done with (written or lost) since the start.
    done: u64,
    /// The sink is dropped: the writer empties the queue and ends.
    closed: bool,
    /// The writer thread ended.
    writer_gone: bool,
    /// The writer waits for lines: the next line queued wakes it. While it writes or
    /// gathers a batch, recording wakes nobody (a wake-up is a system call and, on a busy
    /// machine, a context switch per request).
    idle: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `n` lost events and logs the loss at powers of two.
    fn lose(&self, n: u64, path: &Path, why: &dyn std::fmt::Display) {
        let before = self.lost.fetch_add(n, Ordering::Relaxed);
        let after = before + n;
        // A power of two in (before, after]: the log grows as log2 of the losses.
        if before == 0 || after.ilog2() > before.ilog2() {
            tracing::error!(
                path = %path.display(),
                lost = after,
                "audit events lost: {why}"
            );
        }
    }
}

impl JsonLinesSink {
    /// A sink writing to `path`, appending to it if it exists.
    pub fn builder(path: impl Into<PathBuf>) -> JsonLinesSinkBuilder {
        JsonLinesSinkBuilder {
            path: path.into(),
            rotation: Rotation::Size {
                max_bytes: 100 * 1024 * 1024,
                keep: 10,
            },
            capacity: 8192,
            full_wait: Duration::from_millis(100),
            sync: false,
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many events were not written: the queue stayed full for longer than
    /// [`full_wait`](JsonLinesSinkBuilder::full_wait), or the file refused them.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Waits until every event recorded before the call is written and flushed (or counted
    /// [lost](Self::lost)). Blocks: call it from a blocking context.
    pub fn flush(&self) {
        let shared = &self.shared;
        let mut state = shared.lock();
        let target = state.queued;
        while state.done < target && !state.writer_gone {
            state = shared
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl JsonLinesSinkBuilder {
    /// When to start a new file; by default at 100 MiB, keeping 10.
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// How many events may wait for the writer; 8192 by default. Each waiting event holds
    /// its line of JSON.
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events.max(1);
        self
    }

    /// How long `record`, called outside an async runtime, waits for room when the queue is
    /// full before it counts the event [lost](JsonLinesSink::lost); 100 ms by default. On a
    /// thread of a tokio runtime it never waits (see [`JsonLinesSink`]): size
    /// [`capacity`](Self::capacity) for the bursts to absorb instead.
    pub fn full_wait(mut self, wait: Duration) -> Self {
        self.full_wait = wait;
        self
    }

    /// `fsync` the file after each batch of lines, so that they survive power loss, not only
    /// the process's crash; off by default.
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// Opens the file (created `0600`) and starts the writer thread.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened for appending, or the thread cannot start.
    pub fn build(self) -> io::Result<JsonLinesSink> {
        let file = AuditFile::open(self.path.clone(), self.rotation, self.sync)?;
        let shared = Arc::new(Shared::default());
        let writer = std::thread::Builder::new()
            .name("audit-jsonl".into())
            .spawn({
                let (shared, path) = (shared.clone(), self.path.clone());
                move || write_lines(&shared, file, &path)
            })?;
        Ok(JsonLinesSink {
            path: self.path,
            shared,
            capacity: self.capacity,
            full_wait: self.full_wait,
            writer: Some(writer),
        })
    }
}

impl AuditSink for JsonLinesSink {
    fn record(&self, event: &AuditEvent) {
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(err) => {
                self.shared.lose(1, &self.path, &err);
                return;
            }
        };
        line.push(b'\n');
        let shared = &self.shared;
        let mut state = shared.lock();
        // A tokio worker blocked here would serve no other request: wait only off the runtime.
        let wait = match tokio::runtime::Handle::try_current() {
            Ok(_) => Duration::ZERO,
            Err(_) => self.full_wait,
        };
        let deadline = Instant::now() + wait;
        while state.lines.len() >= self.capacity && !state.writer_gone {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(state);
                shared.lose(1, &self.path, &"the queue stayed full");
                return;
            }
            state = shared
                .room
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if state.writer_gone {
            drop(state);
            shared.lose(1, &self.path, &"the writer thread ended");
            return;
        }
        state.lines.push_back(line);
        state.queued += 1;
        let wake = std::mem::take(&mut state.idle);
        drop(state);
        if wake {
            shared.queued.notify_one();
        }
    }
}

impl Drop for JsonLinesSink {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.queued.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Marks the writer gone when its thread ends, by return or by panic, so that nobody waits
/// for it.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.lock().writer_gone = true;
        self.0.room.notify_all();
        self.0.written.notify_all();
    }
}

/// How long the writer, woken by a line, waits for more before it writes them: what a line
/// may wait in memory beyond the time it takes to write.
const GATHER: Duration = Duration::from_millis(2);

/// The writer thread: takes every queued line at once, writes them, flushes, and again,
/// until the sink is dropped and the queue empty.
fn write_lines(shared: &Shared, mut file: AuditFile, path: &Path) {
    let _gone = Gone(shared);
    loop {
        let mut state = shared.lock();
        let mut waited = false;
        while state.lines.is_empty() && !state.closed {
            state.idle = true;
            waited = true;
            state = shared
                .queued
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.idle = false;
        if state.lines.is_empty() {
            return;
        }
        if waited && !state.closed {
            // Woken by the first line after a quiet spell: let the lines of the next moment
            // join it, so that a busy server costs one write per batch, not one per request.
            drop(state);
            std::thread::sleep(GATHER);
            state = shared.lock();
        }
        let batch = std::mem::take(&mut state.lines);
        drop(state);
        shared.room.notify_all();

        let count = batch.len() as u64;
        let mut failed = 0;
        let mut error = None;
        for line in &batch {
            if let Err(err) = file.write_line(line) {
                failed += 1;
                error = Some(err);
            }
        }
        if let Err(err) = file.flush() {
            // What the buffer held is lost with it; which lines that was is unknown, so
            // the batch counts as lost.
            failed = count;
            error = Some(err);
        }
        if let Some(err) = error {
            shared.lose(failed, path, &err);
        }
        shared.lock().done += count;
        shared.written.notify_all();
    }
}
