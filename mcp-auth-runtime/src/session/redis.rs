//! Sessions kept in Redis, so that every replica of a server knows every session.

use std::fmt;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script, Value};
use sha2::Digest as _;

use super::{Limits, LocalCalls, Relayed, Session, SessionError};
use crate::auth::AuthInfo;
use crate::peer::{ClientSupport, LogLevel};
use crate::protocol::LEGACY_VERSIONS;

/// Handshake-era sessions shared by every replica of a server through Redis (feature
/// `redis`).
///
/// Give it to [`McpServerBuilder::redis_sessions`](crate::McpServerBuilder::redis_sessions)
/// on every replica, with the same Redis and prefix. Then a client's requests may land on
/// any replica: each session (its principal, protocol version, client capabilities and log
/// level) lives in Redis with the idle timeout as its TTL, and `DELETE` on one replica ends it
/// on all. A tool call runs where its request landed and answers on that request's stream;
/// what the client sends back about it (answers to requests for input,
/// `notifications/cancelled`) is relayed through Redis pub/sub to the replica running it, so
/// no load-balancer affinity is needed.
///
/// Keys (`PREFIX:session:ID`, `PREFIX:subs:ID` (its resource subscriptions), `PREFIX:sessions`,
/// `PREFIX:principal:HASH`) hold a hash of the
/// principal, never a token or a subject in clear. The same server records there the
/// 2026-07-28 request states its replicas spent (`PREFIX:spent:NONCE`), so that a retry's
/// state confirms one retry across all of them (see
/// [`McpServerBuilder::request_state_key`](crate::McpServerBuilder::request_state_key)). The scripts touch keys they compute, so a
/// single Redis (with replicas or Sentinel) is supported, not Redis Cluster.
///
/// If Redis cannot be reached, requests that need a session are refused with `503`: a
/// session that cannot be checked is never assumed.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_auth_runtime::McpServer;
/// use mcp_auth_runtime::session::RedisSessions;
///
/// let redis = redis::Client::open("redis://127.0.0.1/")?;
/// let sessions = RedisSessions::connect(redis).await?;
/// let builder = McpServer::builder("billing", "1.0.0").redis_sessions(sessions);
/// # let _ = builder; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisSessions {
    connection: ConnectionManager,
    prefix: Arc<str>,
    channel: Arc<str>,
    calls: Arc<LocalCalls>,
}

impl fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessions")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How long one Redis command may take before the request that needs it fails (`503`).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest wait between two attempts to resubscribe after losing Redis.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(5);

impl RedisSessions {
    /// Connects to Redis with the key prefix `mcp-auth`, and subscribes to the channel that
    /// relays client messages between replicas. Fails if Redis cannot be reached now.
    pub async fn connect(client: redis::Client) -> RedisResult<Self> {
        Self::connect_with_prefix(client, "mcp-auth").await
    }

    /// As [`connect`](Self::connect), with keys and channel under `prefix`: servers that
    /// share a Redis but not their sessions need different prefixes.
    pub async fn connect_with_prefix(client: redis::Client, prefix: &str) -> RedisResult<Self> {
        // Few, quick reconnection attempts: a request waits for them, and a request that
        // needs Redis while it is down should get its 503 promptly.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        let channel: Arc<str> = format!("{prefix}:relay").into();
        let calls = Arc::new(LocalCalls::default());
        // Subscribed before this returns, so that nothing relayed to a call of this process
        // can be missed once it serves requests.
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&*channel).await?;
        tokio::spawn(listen(
            client,
            pubsub,
            channel.clone(),
            Arc::downgrade(&calls),
        ));
        Ok(RedisSessions {
            connection,
            prefix: prefix.into(),
            channel,
            calls,
        })
    }

    /// The connection, to share with [`RateLimits::redis`](crate::rate_limit::RateLimits::redis).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The key prefix, for other records kept beside the sessions.
    pub(crate) fn prefix(&self) -> Arc<str> {
        self.prefix.clone()
    }

    pub(crate) fn calls(&self) -> Arc<LocalCalls> {
        self.calls.clone()
    }

    pub(crate) async fn create(
        &self,
        auth: &AuthInfo,
        version: &'static str,
        support: ClientSupport,
        limits: &Limits,
    ) -> Result<Arc<Session>, SessionError> {
        let id = crate::random::token(32);
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg(&id)
            .arg(principal_hash(auth))
            .arg(version)
            .arg(encode_support(support))
            .arg(LogLevel::Debug.as_u8())
            .arg(limits.idle_timeout.as_millis() as u64)
            .arg(limits.max_sessions)
            .arg(limits.max_per_principal);
        let created: i64 = bounded(invocation.invoke_async(&mut self.connection.clone())).await?;
        if created == 0 {
            return Err(SessionError::Full(limits.max_sessions));
        }
        Ok(Arc::new(Session {
            id,
            version,
            support,
            log_level: LogLevel::Debug,
        }))
    }

    pub(crate) async fn get(
        &self,
        id: &str,
        auth: &AuthInfo,
        limits: &Limits,
    ) -> Result<Arc<Session>, SessionError> {
        let found = self.touch(id, auth, limits, None).await?;
        let Value::Array(fields) = found else {
            return Err(SessionError::NotFound);
        };
        let text = |i: usize| match fields.get(i) {
            Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        };
        let version = text(0).and_then(|v| LEGACY_VERSIONS.iter().copied().find(|&k| k == v));
        let support = text(1).and_then(|s| s.parse::<u8>().ok());
        let level = text(2).and_then(|s| s.parse::<u8>().ok());
        let (Some(version), Some(support), Some(level)) = (version, support, level) else {
            tracing::error!("a session record in Redis is malformed; treated as unknown");
            return Err(SessionError::NotFound);
        };
        Ok(Arc::new(Session {
            id: id.to_owned(),
            version,
            support: decode_support(support),
            log_level: LogLevel::from_u8(level),
        }))
    }

    pub(crate) async fn set_log_level(
        &self,
        id: &str,
        auth: &AuthInfo,
        level: LogLevel,
        limits: &Limits,
    ) -> Result<(), SessionError> {
        self.touch(id, auth, limits, Some(level)).await.map(drop)
    }

    /// Checks that `id` belongs to `auth`, refreshes its expiry and, with `level`, sets its
    /// log level: the session's fields, or `NotFound`.
    async fn touch(
        &self,
        id: &str,
        auth: &AuthInfo,
        limits: &Limits,
        level: Option<LogLevel>,
    ) -> Result<Value, SessionError> {
        let mut invocation = TOUCH.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg(id)
            .arg(principal_hash(auth))
            .arg(limits.idle_timeout.as_millis() as u64);
        if let Some(level) = level {
            invocation.arg(level.as_u8());
        }
        let found: Value = bounded(invocation.invoke_async(&mut self.connection.clone())).await?;
        check_owner(found, auth)
    }

    pub(crate) async fn remove(&self, id: &str, auth: &AuthInfo) -> Result<(), SessionError> {
        let mut invocation = REMOVE.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg(id)
            .arg(principal_hash(auth));
        let removed: Value = bounded(invocation.invoke_async(&mut self.connection.clone())).await?;
        check_owner(removed, auth).map(drop)
    }

    /// Sends what a client said about a call to every replica; the one running it applies
    /// it. Failing to reach Redis loses the message, as a lost packet would: the call then
    /// ends by its own timeout.
    pub(crate) async fn relay(&self, message: &Relayed) {
        let Ok(payload) = serde_json::to_vec(message) else {
            return;
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&*self.channel).arg(payload);
        let sent: Result<i64, _> = bounded(publish.query_async(&mut self.connection.clone())).await;
        if let Err(err) = sent {
            tracing::error!(error = %err, "cannot relay a client message through Redis");
        }
    }

    pub(crate) async fn subscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
        held: &str,
        max: usize,
        limits: &Limits,
    ) -> Result<bool, SessionError> {
        let mut invocation = SUBSCRIBE.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg(id)
            .arg(principal_hash(auth))
            .arg(uri)
            .arg(max)
            .arg(limits.idle_timeout.as_millis() as u64)
            .arg(held);
        let done: Value = bounded(invocation.invoke_async(&mut self.connection.clone())).await?;
        Ok(!matches!(check_owner(done, auth)?, Value::Int(2)))
    }

    pub(crate) async fn unsubscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
    ) -> Result<(), SessionError> {
        let mut invocation = UNSUBSCRIBE.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg(id)
            .arg(principal_hash(auth))
            .arg(uri);
        let done: Value = bounded(invocation.invoke_async(&mut self.connection.clone())).await?;
        check_owner(done, auth).map(drop)
    }

    /// One round trip for all the sessions with a stream in this process.
    pub(crate) async fn subscribed(&self, ids: &[&str], uri: &str) -> Vec<Option<String>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGET")
                .arg(format!("{}:subs:{id}", self.prefix))
                .arg(uri);
        }
        let found: Result<Vec<Option<String>>, _> =
            bounded(pipe.query_async(&mut self.connection.clone())).await;
        found.unwrap_or_else(|_| vec![None; ids.len()])
    }

    /// One round trip: for each session, whether this replica is the first to claim the
    /// delivery of `update` (a claim expires after a minute). An update without an id (from
    /// a replica that gives none) is delivered by every replica.
    pub(crate) async fn claim(&self, ids: &[&str], update: &str) -> Vec<bool> {
        if update.is_empty() || ids.is_empty() {
            return vec![true; ids.len()];
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("SET")
                .arg(format!("{}:sent:{id}:{update}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(60_000);
        }
        let claimed: Result<Vec<Option<String>>, _> =
            bounded(pipe.query_async(&mut self.connection.clone())).await;
        match claimed {
            Ok(claimed) => claimed.iter().map(Option::is_some).collect(),
            Err(_) => vec![false; ids.len()],
        }
    }

    pub(crate) async fn ping(&self) -> Result<(), String> {
        let ping = redis::cmd("PING");
        bounded(ping.query_async::<String>(&mut self.connection.clone()))
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

/// Runs a Redis operation for at most [`RESPONSE_TIMEOUT`], reconnection attempts included.
async fn bounded<T>(operation: impl Future<Output = RedisResult<T>>) -> Result<T, SessionError> {
    let error = match tokio::time::timeout(RESPONSE_TIMEOUT, operation).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {RESPONSE_TIMEOUT:?}"),
    };
    tracing::error!(%error, "the session store (Redis) is unavailable");
    Err(SessionError::Unavailable(error))
}

/// `0`: no such session; `-1`: another principal's session; anything else: found.
fn check_owner(found: Value, auth: &AuthInfo) -> Result<Value, SessionError> {
    match found {
        Value::Int(0) => Err(SessionError::NotFound),
        Value::Int(-1) => {
            tracing::warn!(
                subject = auth.subject(),
                client_id = auth.client_id(),
                "a session id was presented with another principal's token; refused"
            );
            Err(SessionError::NotFound)
        }
        found => Ok(found),
    }
}

/// The principal as stored: a hash, since Redis keys and values show up in monitoring.
pub(super) fn principal_hash(auth: &AuthInfo) -> String {
    let digest = sha2::Sha256::digest(auth.principal_key().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn encode_support(support: ClientSupport) -> u8 {
    u8::from(support.elicitation)
        | (u8::from(support.sampling) << 1)
        | (u8::from(support.roots) << 2)
}

fn decode_support(bits: u8) -> ClientSupport {
    ClientSupport {
        elicitation: bits & 1 != 0,
        sampling: bits & 2 != 0,
        roots: bits & 4 != 0,
    }
}

/// Delivers relayed messages to this process's calls until the sessions are dropped,
/// resubscribing whenever the connection is lost.
async fn listen(
    client: redis::Client,
    pubsub: redis::aio::PubSub,
    channel: Arc<str>,
    calls: Weak<LocalCalls>,
) {
    let mut pubsub = Some(pubsub);
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(mut subscribed) = pubsub.take() else {
            tokio::time::sleep(delay).await;
            if calls.strong_count() == 0 {
                return;
            }
            match client.get_async_pubsub().await {
                Ok(mut fresh) => match fresh.subscribe(&*channel).await {
                    Ok(()) => {
                        tracing::info!("resubscribed to the Redis relay channel");
                        delay = Duration::from_millis(100);
                        pubsub = Some(fresh);
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot resubscribe to Redis"),
                },
                Err(err) => tracing::warn!(error = %err, "cannot reconnect to Redis"),
            }
            delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
            continue;
        };
        let mut messages = subscribed.on_message();
        loop {
            // Wakes up now and then to notice that the server is gone.
            let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
            let Some(calls) = calls.upgrade() else {
                return;
            };
            match next {
                Ok(Some(message)) => {
                    match serde_json::from_slice::<Relayed>(message.get_payload_bytes()) {
                        Ok(relayed) => {
                            calls.deliver(&relayed);
                        }
                        Err(_) => {
                            tracing::warn!("ignored a malformed message on the relay channel")
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!("lost the Redis relay subscription; resubscribing");
                    break;
                }
                Err(_idle) => {}
            }
        }
    }
}

/// Drops expired entries, makes room among the principal's sessions (its least recently
/// used go first), refuses when the server is full, then stores the new session.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, who = ARGV[1], ARGV[2], ARGV[3]
local idle, max_all, max_own = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all, own = p .. ':sessions', p .. ':principal:' .. who
redis.call('ZREMRANGEBYSCORE', all, '-inf', now - idle)
redis.call('ZREMRANGEBYSCORE', own, '-inf', now - idle)
local evict = redis.call('ZCARD', own) - max_own + 1
if evict < 0 then evict = 0 end
if redis.call('ZCARD', all) - evict >= max_all then return 0 end
if evict > 0 then
  for _, old in ipairs(redis.call('ZRANGE', own, 0, evict - 1)) do
    redis.call('DEL', p .. ':session:' .. old)
    redis.call('DEL', p .. ':subs:' .. old)
    redis.call('ZREM', all, old)
    redis.call('ZREM', own, old)
  end
end
local key = p .. ':session:' .. id
redis.call('HSET', key, 'principal', who, 'version', ARGV[4], 'support', ARGV[5], 'level', ARGV[6])
redis.call('PEXPIRE', key, idle)
redis.call('ZADD', all, now, id)
redis.call('PEXPIRE', all, idle)
redis.call('ZADD', own, now, id)
redis.call('PEXPIRE', own, idle)
return 1
",
    )
});

/// Finds a session of the principal, marks it used, optionally sets its log level.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, who, idle = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = p .. ':session:' .. id
local s = redis.call('HMGET', key, 'principal', 'version', 'support', 'level')
if not s[1] then return 0 end
if s[1] ~= who then return -1 end
if ARGV[5] then
  redis.call('HSET', key, 'level', ARGV[5])
  s[4] = ARGV[5]
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all, own = p .. ':sessions', p .. ':principal:' .. who
redis.call('PEXPIRE', key, idle)
redis.call('PEXPIRE', p .. ':subs:' .. id, idle)
redis.call('ZADD', all, now, id)
redis.call('PEXPIRE', all, idle)
redis.call('ZADD', own, now, id)
redis.call('PEXPIRE', own, idle)
return {s[2], s[3], s[4]}
",
    )
});

/// Ends a session of the principal.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, who = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':session:' .. id
local owner = redis.call('HGET', key, 'principal')
if not owner then return 0 end
if owner ~= who then return -1 end
redis.call('DEL', key)
redis.call('DEL', p .. ':subs:' .. id)
redis.call('ZREM', p .. ':sessions', id)
redis.call('ZREM', p .. ':principal:' .. who, id)
return 1
",
    )
});

/// Records a subscription of a session of the principal, up to the maximum (`2` when full),
/// with the session's lifetime: it ends with the session. A hash: the URI, and the
/// conditional scopes the subscribing token held.
static SUBSCRIBE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, who, uri = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max, idle = tonumber(ARGV[5]), tonumber(ARGV[6])
local owner = redis.call('HGET', p .. ':session:' .. id, 'principal')
if not owner then return 0 end
if owner ~= who then return -1 end
local subs = p .. ':subs:' .. id
if redis.call('HEXISTS', subs, uri) == 0 and redis.call('HLEN', subs) >= max then return 2 end
redis.call('HSET', subs, uri, ARGV[7])
redis.call('PEXPIRE', subs, idle)
return 1
",
    )
});

/// Forgets a subscription of a session of the principal.
static UNSUBSCRIBE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, who = ARGV[1], ARGV[2], ARGV[3]
local owner = redis.call('HGET', p .. ':session:' .. id, 'principal')
if not owner then return 0 end
if owner ~= who then return -1 end
redis.call('HDEL', p .. ':subs:' .. id, ARGV[4])
return 1
",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_capability_survives_the_session_record() {
        for bits in 0..8u8 {
            let support = ClientSupport {
                elicitation: bits & 1 != 0,
                sampling: bits & 2 != 0,
                roots: bits & 4 != 0,
            };
            let back = decode_support(encode_support(support));
            assert_eq!(
                (back.elicitation, back.sampling, back.roots),
                (support.elicitation, support.sampling, support.roots)
            );
        }
    }
}
