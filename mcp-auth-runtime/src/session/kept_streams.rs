//! The events of request streams closed for polling, copied to Redis (feature `redis`) so
//! that a client may resume a stream through any replica (SEP-1699; see
//! [`StreamPolling`](crate::StreamPolling)).
//!
//! The replica running the call writes, in order, each event it keeps to the list
//! `PREFIX:stream:ID` (entries `SEQ DATA`, trimmed to the events its own bounds keep) and the
//! stream's owner to the hash `PREFIX:stream:ID:owner` (the session id, the principal's hash,
//! the scopes of the call, the number of the oldest kept event, the current reader's number,
//! and `done` once the response is in): both expire `keep_for` after the response, and while
//! the call runs, `keep_for` after the call timeout. Another replica reads them back with one
//! script that checks the owner and returns only the events the reader lacks, and polls them
//! (backing off) for new events while its connection stays open and no newer reader took the
//! stream over.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use redis::aio::ConnectionManager;

use super::RedisSessions;
use crate::auth::AuthInfo;

/// How long one Redis command may take before the resumption that needs it fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the kept events of request streams are copied, shared by every replica.
#[derive(Clone)]
pub(crate) struct RedisStreams {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

/// Who may resume a stream: its session, its principal (of `auth`), with the scopes its call
/// needed.
pub(crate) struct StreamOwner<'a> {
    pub(crate) session: &'a str,
    pub(crate) auth: &'a AuthInfo,
    pub(crate) scopes: &'a [String],
}

/// What another replica reads of a stream.
pub(crate) struct Remote {
    pub(crate) events: Vec<(u64, Bytes)>,
    pub(crate) done: bool,
    /// A newer reader took the stream over, here or on another replica.
    pub(crate) superseded: bool,
    /// The reader number of the connection that reads the stream now.
    pub(crate) reader: u64,
    /// The scopes the call needed.
    pub(crate) scopes: Vec<String>,
}

/// Reads a kept stream for one reader, in one step: checks the owner (`ARGV[1]` session,
/// `ARGV[2]` principal hash), takes the stream over when `ARGV[4]` is `0` (a new reader
/// number), and returns the current reader number, `done`, the call's scopes and the entries
/// after `ARGV[3]` only (from the index of the next event, the list holding events `first`
/// onwards), or nothing for a superseded reader.
static READ: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local o = redis.call('HMGET', KEYS[1], 'session', 'principal', 'done', 'reader', 'first', 'scopes')
if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] then return false end
local reader = tonumber(ARGV[4])
local current = tonumber(o[4] or '0')
if reader == 0 then
  reader = redis.call('HINCRBY', KEYS[1], 'reader', 1)
elseif reader ~= current then
  return {current, o[3] and 1 or 0, o[6] or '', {}}
end
local start = tonumber(ARGV[3]) + 1 - tonumber(o[5] or '1')
if start < 0 then start = 0 end
return {reader, o[3] and 1 or 0, o[6] or '', redis.call('LRANGE', KEYS[2], start, -1)}
",
    )
});

/// A list entry: `SEQ DATA`.
fn entry(seq: u64, data: &[u8]) -> Vec<u8> {
    let mut entry = format!("{seq} ").into_bytes();
    entry.extend_from_slice(data);
    entry
}

impl RedisStreams {
    pub(crate) fn new(sessions: &RedisSessions) -> Self {
        RedisStreams {
            connection: sessions.connection(),
            prefix: sessions.prefix(),
        }
    }

    fn keys(&self, stream: &str) -> (String, String) {
        let list = format!("{}:stream:{stream}", self.prefix);
        let owner = format!("{list}:owner");
        (list, owner)
    }

    /// Records who owns the newly kept stream `stream` (and the scopes its call needed), with
    /// the events it holds already, for `ttl`.
    pub(crate) async fn open(
        &self,
        stream: &str,
        owner: StreamOwner<'_>,
        events: &[(u64, Bytes)],
        done: bool,
        ttl: Duration,
    ) {
        let StreamOwner {
            session,
            auth,
            scopes,
        } = owner;
        let (list, owner) = self.keys(stream);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &owner,
                &[
                    ("session", session),
                    ("principal", &super::redis::principal_hash(auth)),
                    ("scopes", &scopes.join(" ")),
                ],
            )
            .ignore();
        if let Some((first, _)) = events.first() {
            pipe.hset(&owner, "first", *first).ignore();
            for (seq, data) in events {
                pipe.rpush(&list, entry(*seq, data)).ignore();
            }
            pipe.pexpire(&list, millis(ttl)).ignore();
        }
        if done {
            pipe.hset(&owner, "done", 1).ignore();
        }
        pipe.pexpire(&owner, millis(ttl)).ignore();
        self.run(pipe, "open").await;
    }

    /// Appends event `seq` (when given), keeps the last `keep` events, marks the stream done
    /// when `done`, and sets both keys to expire after `ttl`.
    pub(crate) async fn write(
        &self,
        stream: &str,
        event: Option<(u64, &Bytes)>,
        keep: usize,
        done: bool,
        ttl: Duration,
    ) {
        let (list, owner) = self.keys(stream);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some((seq, data)) = event {
            // The kept events are numbered without gaps: the oldest is `seq - keep + 1`.
            let first = seq.saturating_sub(keep.saturating_sub(1) as u64).max(1);
            let keep = isize::try_from(keep).unwrap_or(isize::MAX);
            pipe.rpush(&list, entry(seq, data))
                .ignore()
                .ltrim(&list, -keep, -1)
                .ignore()
                .hset(&owner, "first", first)
                .ignore();
        }
        if done {
            pipe.hset(&owner, "done", 1).ignore();
        }
        pipe.pexpire(&list, millis(ttl))
            .ignore()
            .pexpire(&owner, millis(ttl))
            .ignore();
        self.run(pipe, "write").await;
    }

    /// The kept events of `stream` after `after`, if it belongs to `session` and `auth`'s
    /// principal, for the reader numbered `reader`, or a new reader that takes the stream over
    /// from every other (`0`). `None` when the stream does not belong to them, is unknown, or
    /// Redis cannot be reached. Only the events after `after` are read.
    pub(crate) async fn read(
        &self,
        stream: &str,
        session: &str,
        auth: &AuthInfo,
        after: u64,
        reader: u64,
    ) -> Option<Remote> {
        let (list, owner) = self.keys(stream);
        let mut invocation = READ.key(&owner);
        invocation
            .key(&list)
            .arg(session)
            .arg(super::redis::principal_hash(auth))
            .arg(after)
            .arg(reader);
        let mut connection = self.connection.clone();
        let read =
            invocation.invoke_async::<Option<(u64, u8, String, Vec<Vec<u8>>)>>(&mut connection);
        let (reader_now, done, scopes, entries) =
            match tokio::time::timeout(RESPONSE_TIMEOUT, read).await {
                Ok(Ok(found)) => found?,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "cannot read a kept stream from Redis");
                    return None;
                }
                Err(_) => {
                    tracing::error!("cannot read a kept stream from Redis: no answer in time");
                    return None;
                }
            };
        let events = entries
            .into_iter()
            .filter_map(|entry| {
                let space = entry.iter().position(|b| *b == b' ')?;
                let seq: u64 = std::str::from_utf8(&entry[..space]).ok()?.parse().ok()?;
                (seq > after).then(|| (seq, Bytes::copy_from_slice(&entry[space + 1..])))
            })
            .collect();
        Some(Remote {
            events,
            done: done == 1,
            superseded: reader != 0 && reader_now != reader,
            reader: reader_now,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        })
    }

    async fn run(&self, pipe: redis::Pipeline, what: &str) {
        let mut connection = self.connection.clone();
        // A command refused inside `MULTI`/`EXEC` is an error item of `EXEC`'s reply, which
        // redis-rs turns into an `Err` (ignored commands included): logged below.
        let sent = pipe.query_async::<()>(&mut connection);
        match tokio::time::timeout(RESPONSE_TIMEOUT, sent).await {
            Ok(Ok(())) => {}
            // The replica running the call still serves the stream; only resumptions through
            // other replicas miss what was not written.
            Ok(Err(err)) => tracing::error!(error = %err, "cannot {what} a kept stream in Redis"),
            Err(_) => tracing::error!("cannot {what} a kept stream in Redis: no answer in time"),
        }
    }
}

/// The longest a kept stream's keys live in Redis from one write: a week. Redis refuses an
/// expiry time past its own range, and inside `MULTI` that refusal leaves the commands before
/// it applied, keys without any expiry; every write sets the expiry again, so a call that runs
/// longer keeps its keys alive as long as it sends something within the week.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// `duration`, clamped to `1..=MAX_TTL`, in milliseconds.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.min(MAX_TTL).as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_times_stay_within_what_redis_accepts() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), 7 * 24 * 3600 * 1000);
    }
}
