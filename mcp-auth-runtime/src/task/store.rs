//! Where task records live: [`TaskStore`], in this process or in Redis, with one contract:
//! `insert` is durable when it returns (a `tasks/get` anywhere then finds the task), and
//! `replace` applies only to the version the change was computed from.

use super::{MemoryTasks, Record};

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StoreError {
    /// The store holds as many live tasks as it may, or this process runs as many.
    #[error("{0} live tasks are kept or running, the maximum")]
    Full(usize),
    /// The principal holds as many live tasks as one may.
    #[error("the caller has {0} live tasks, the maximum")]
    PrincipalFull(usize),
    /// A task id was issued twice: 192 random bits do not collide, so the generator is
    /// broken.
    #[error("a task id was issued twice")]
    Collision,
    /// The shared store did not answer.
    #[error("the task store is unavailable: {0}")]
    Unavailable(String),
}

/// The task records of a server.
#[derive(Debug)]
pub(crate) enum TaskStore {
    Memory(MemoryTasks),
    #[cfg(feature = "redis")]
    Redis(super::RedisTasks),
}

impl TaskStore {
    /// Stores a new task until its expiry.
    pub(crate) async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        match self {
            TaskStore::Memory(memory) => memory.insert(record),
            #[cfg(feature = "redis")]
            TaskStore::Redis(redis) => redis.insert(record).await,
        }
    }

    /// The live task `id`, whoever owns it (the caller compares owners).
    pub(crate) async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        match self {
            TaskStore::Memory(memory) => Ok(memory.get(id)),
            #[cfg(feature = "redis")]
            TaskStore::Redis(redis) => redis.get(id).await,
        }
    }

    /// Replaces the record if it is still at `record.version - 1`; `false` when it changed
    /// meanwhile (or expired), and the caller reads it again.
    pub(crate) async fn replace(&self, record: &Record) -> Result<bool, StoreError> {
        match self {
            TaskStore::Memory(memory) => Ok(memory.replace(record)),
            #[cfg(feature = "redis")]
            TaskStore::Redis(redis) => redis.replace(record).await,
        }
    }

    /// Applies `change` to the live task `id` until it applies to the current version (a
    /// few tries); `change` returns `false` to leave the record as it is. The record as
    /// stored afterwards, `None` if the task is gone.
    pub(crate) async fn update(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Option<Record>, StoreError> {
        for _ in 0..8 {
            let Some(mut record) = self.get(id).await? else {
                return Ok(None);
            };
            if !change(&mut record) {
                return Ok(Some(record));
            }
            record.version += 1;
            record.updated_ms = super::now_ms().max(record.updated_ms);
            if self.replace(&record).await? {
                return Ok(Some(record));
            }
        }
        Err(StoreError::Unavailable(
            "the task changed under every attempt to update it".into(),
        ))
    }
}
