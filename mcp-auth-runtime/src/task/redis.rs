//! Task records in Redis, beside the sessions (`PREFIX:task:ID`), each expiring with its task:
//! any replica serves a task another created.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::{Record, StoreError};

/// What a command may take before the store counts as unavailable.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Replaces `KEYS[1]` with `ARGV[1]`, keeping its expiry, if the stored record's `version` is
/// `ARGV[2]`: the compare-and-set every change goes through. Only the version is read from
/// the stored JSON; the new value is written as given.
const REPLACE: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if tostring(cjson.decode(current).version) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
";

/// Stores a new task (`KEYS[1]`, `ARGV[1]`, expiring at `ARGV[2]`) unless its holder already
/// has `ARGV[4]` live tasks, or all replicas together `ARGV[6]`: counted in the holder's set
/// (`KEYS[2]`) and the set of all (`KEYS[3]`), task ids scored by their expiry, entries past
/// `ARGV[3]`, now, dropped first. `-2` when all places are taken, `-1` when the holder is at
/// its limit, `0` when the id exists, `1` when stored.
const INSERT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then return -2 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[5])
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], last[2])
end
return 1
";

/// The tasks of replicas sharing a Redis.
pub(crate) struct RedisTasks {
    connection: ConnectionManager,
    prefix: Arc<str>,
    capacity: usize,
    per_principal: usize,
    insert: Script,
    replace: Script,
}

impl std::fmt::Debug for RedisTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTasks")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    let error = error.to_string();
    tracing::error!(%error, "the task store (Redis) is unavailable");
    StoreError::Unavailable(error)
}

impl RedisTasks {
    pub(crate) fn new(
        connection: ConnectionManager,
        prefix: Arc<str>,
        capacity: usize,
        per_principal: usize,
    ) -> RedisTasks {
        RedisTasks {
            connection,
            prefix,
            capacity,
            per_principal,
            insert: Script::new(INSERT),
            replace: Script::new(REPLACE),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:task:{id}", self.prefix)
    }

    pub(super) async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(unavailable)?;
        let mut invocation = self.insert.key(self.key(&record.id));
        // The holder's set is named by the holder digest: no subject in clear in Redis.
        invocation
            .key(format!("{}:tasks-of:{}", self.prefix, record.holder))
            .key(format!("{}:tasks-all", self.prefix))
            .arg(json)
            .arg(record.expires_ms())
            .arg(super::now_ms())
            .arg(self.per_principal)
            .arg(&record.id)
            .arg(self.capacity);
        let mut connection = self.connection.clone();
        match tokio::time::timeout(TIMEOUT, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(1)) => Ok(()),
            Ok(Ok(-1)) => Err(StoreError::PrincipalFull(self.per_principal)),
            Ok(Ok(-2)) => Err(StoreError::Full(self.capacity)),
            // 192 random bits do not collide: a clash means a broken generator, so refuse.
            Ok(Ok(_)) => Err(unavailable("a task id was issued twice")),
            Ok(Err(err)) => Err(unavailable(err)),
            Err(_) => Err(unavailable(format!("no answer within {TIMEOUT:?}"))),
        }
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let mut get = redis::cmd("GET");
        get.arg(self.key(id));
        let mut connection = self.connection.clone();
        let json =
            match tokio::time::timeout(TIMEOUT, get.query_async::<Option<String>>(&mut connection))
                .await
            {
                Ok(Ok(json)) => json,
                Ok(Err(err)) => return Err(unavailable(err)),
                Err(_) => return Err(unavailable(format!("no answer within {TIMEOUT:?}"))),
            };
        json.map(|json| serde_json::from_str(&json).map_err(unavailable))
            .transpose()
    }

    pub(super) async fn replace(&self, record: &Record) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record).map_err(unavailable)?;
        let mut invocation = self.replace.key(self.key(&record.id));
        invocation
            .arg(json)
            .arg(record.version.saturating_sub(1).to_string());
        let mut connection = self.connection.clone();
        match tokio::time::timeout(TIMEOUT, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(replaced)) => Ok(replaced == 1),
            Ok(Err(err)) => Err(unavailable(err)),
            Err(_) => Err(unavailable(format!("no answer within {TIMEOUT:?}"))),
        }
    }
}
