//! Task records in this process: a map bounded in count, expired records dropped as new ones
//! arrive and never returned once expired.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Record, StoreError, now_ms};

/// The tasks of a single-process server.
#[derive(Debug)]
pub(crate) struct MemoryTasks {
    capacity: usize,
    per_principal: usize,
    records: Mutex<HashMap<String, Record>>,
}

impl MemoryTasks {
    pub(crate) fn new(capacity: usize, per_principal: usize) -> MemoryTasks {
        MemoryTasks {
            capacity,
            per_principal,
            records: Mutex::default(),
        }
    }

    pub(super) fn insert(&self, record: &Record) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= self.capacity {
            // A full map is swept, not refused outright: most of it may have expired.
            let now = now_ms();
            records.retain(|_, r| r.expires_ms() > now);
            if records.len() >= self.capacity {
                return Err(StoreError::Full(self.capacity));
            }
        }
        let now = now_ms();
        let owned = records
            .values()
            .filter(|r| r.holder == record.holder && r.expires_ms() > now)
            .count();
        if owned >= self.per_principal {
            return Err(StoreError::PrincipalFull(self.per_principal));
        }
        records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    pub(super) fn get(&self, id: &str) -> Option<Record> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let record = records.get(id)?;
        if record.expires_ms() <= now_ms() {
            records.remove(id);
            return None;
        }
        Some(record.clone())
    }

    pub(super) fn replace(&self, record: &Record) -> bool {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get_mut(&record.id) {
            Some(current)
                if current.version + 1 == record.version && current.expires_ms() > now_ms() =>
            {
                *current = record.clone();
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Status;

    fn record(id: &str, owner: &str, ttl_ms: u64) -> Record {
        let now = now_ms();
        Record {
            id: id.into(),
            owner: owner.into(),
            holder: owner.into(),
            tool: "t".into(),
            scopes: Default::default(),
            arguments: None,
            capabilities: serde_json::json!({}),
            status: Status::Working,
            status_message: None,
            created_ms: now,
            updated_ms: now,
            ttl_ms,
            poll_interval_ms: 1000,
            result: None,
            error: None,
            pending: Default::default(),
            answers: Default::default(),
            issued: Default::default(),
            version: 0,
        }
    }

    #[test]
    fn a_change_applies_only_to_the_version_it_was_computed_from() {
        let tasks = MemoryTasks::new(10, 10);
        tasks.insert(&record("a", "o", 60_000)).unwrap();
        let mut first = tasks.get("a").unwrap();
        let mut second = first.clone();
        first.version += 1;
        first.status = Status::Cancelled;
        assert!(tasks.replace(&first));
        // Computed from the version before the cancellation: refused.
        second.version += 1;
        second.status = Status::Completed;
        assert!(!tasks.replace(&second));
        assert_eq!(tasks.get("a").unwrap().status, Status::Cancelled);
    }

    #[test]
    fn expired_records_are_gone_and_make_room() {
        let tasks = MemoryTasks::new(1, 10);
        tasks.insert(&record("a", "o", 0)).unwrap();
        assert!(tasks.get("a").is_none());
        // The expired one is swept when the map is full.
        tasks.insert(&record("b", "o", 60_000)).unwrap();
        assert_eq!(
            tasks.insert(&record("c", "o", 60_000)),
            Err(StoreError::Full(1))
        );
    }

    #[test]
    fn one_owner_is_capped_and_others_are_not() {
        let tasks = MemoryTasks::new(10, 2);
        tasks.insert(&record("a", "ann", 60_000)).unwrap();
        tasks.insert(&record("b", "ann", 60_000)).unwrap();
        assert_eq!(
            tasks.insert(&record("c", "ann", 60_000)),
            Err(StoreError::PrincipalFull(2))
        );
        tasks.insert(&record("d", "bob", 60_000)).unwrap();
    }
}
