//! The events of request streams closed for polling, copied to Redis (feature `redis`) so
//! that a client may resume a stream through any replica (SEP-1699; see
//! [`StreamPolling`](crate::StreamPolling)).
//!
//! The replica running the call writes, in order, each event it keeps to the list
//! `PREFIX:stream:ID` (entries `SEQ DATA`, trimmed to the events its own bounds keep) and the
//! stream's owner to the hash `PREFIX:stream:ID:owner` (the session id, the principal's hash,
//! and `done` once the response is in): both expire `keep_for` after the response, and while
//! the call runs, `keep_for` after the call timeout. Another replica reads them back, after
//! checking the owner, and polls them for new events while its connection stays open.

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

/// What another replica reads of a stream.
pub(crate) struct Remote {
    pub(crate) events: Vec<(u64, Bytes)>,
    pub(crate) done: bool,
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

    /// Records who owns the new stream `stream`, for `ttl`.
    pub(crate) async fn open(&self, stream: &str, session: &str, auth: &AuthInfo, ttl: Duration) {
        let (_, owner) = self.keys(stream);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &owner,
                &[
                    ("session", session),
                    ("principal", &super::redis::principal_hash(auth)),
                ],
            )
            .ignore()
            .pexpire(&owner, millis(ttl))
            .ignore();
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
            let mut entry = format!("{seq} ").into_bytes();
            entry.extend_from_slice(data);
            let keep = isize::try_from(keep).unwrap_or(isize::MAX);
            pipe.rpush(&list, entry)
                .ignore()
                .ltrim(&list, -keep, -1)
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
    /// principal; `None` when it does not, is unknown, or Redis cannot be reached.
    pub(crate) async fn read(
        &self,
        stream: &str,
        session: &str,
        auth: &AuthInfo,
        after: u64,
    ) -> Option<Remote> {
        let (list, owner) = self.keys(stream);
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET")
            .arg(&owner)
            .arg("session")
            .arg("principal")
            .arg("done")
            .lrange(&list, 0, -1);
        let mut connection = self.connection.clone();
        let read = pipe.query_async::<(Vec<Option<String>>, Vec<Vec<u8>>)>(&mut connection);
        let (fields, entries) = match tokio::time::timeout(RESPONSE_TIMEOUT, read).await {
            Ok(Ok(found)) => found,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "cannot read a kept stream from Redis");
                return None;
            }
            Err(_) => {
                tracing::error!("cannot read a kept stream from Redis: no answer in time");
                return None;
            }
        };
        let [Some(owner_session), Some(principal), done] =
            <[Option<String>; 3]>::try_from(fields).ok()?
        else {
            return None;
        };
        if owner_session != session || principal != super::redis::principal_hash(auth) {
            return None;
        }
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
            done: done.is_some(),
        })
    }

    async fn run(&self, pipe: redis::Pipeline, what: &str) {
        let mut connection = self.connection.clone();
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

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}
