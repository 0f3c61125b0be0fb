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
            .filter(|r| r.owner == record.owner && r.expires_ms() > now)
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
