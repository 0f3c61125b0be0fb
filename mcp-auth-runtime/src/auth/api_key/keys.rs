//! The loaded keys, and their reload from the file when it changes.
//!
//! No background task: a request checks the file when the reload interval has passed since
//! the last check, one request at a time (the others go on with the keys loaded), with a
//! `stat` that costs microseconds; only a changed file is read. A file that cannot be read or
//! parsed keeps the keys loaded before, is logged once, and is tried again when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::file::{self, Seen};
use super::{ApiKeyError, ApiKeyRecord, key};
use crate::auth::AuthInfo;

/// A loaded key: its digest and the caller it stands for.
struct Entry {
    digest: [u8; 32],
    info: Arc<AuthInfo>,
}

/// Why a presented key was not accepted.
pub(super) enum Refused {
    /// Not a key of this format, unknown, or the wrong secret: a guess, counted as a failure.
    Guess(String),
    /// A real key that expired: its holder knew the secret, so not counted.
    Expired(String),
}

/// The keys, shared by an [`ApiKeys`](super::ApiKeys) and its clones.
pub(super) struct Keys {
    current: RwLock<Arc<HashMap<String, Entry>>>,
    file: Option<Watched>,
}

/// A key file and what was last seen of it.
struct Watched {
    path: PathBuf,
    state: Mutex<WatchState>,
}

struct WatchState {
    checked: Instant,
    /// The version the keys were loaded from.
    loaded: Seen,
    /// The version that last failed to load (`None`: it could not be looked at), and why:
    /// not tried again until it changes.
    failed: Option<(Option<Seen>, String)>,
}

impl Keys {
    /// Fixed keys.
    pub(super) fn fixed(records: Vec<ApiKeyRecord>) -> Keys {
        Keys {
            current: RwLock::new(Arc::new(index(records))),
            file: None,
        }
    }

    /// The keys of the file at `path`, loaded now.
    pub(super) fn watch(path: PathBuf) -> Result<Keys, ApiKeyError> {
        let snapshot = file::read(&path)?;
        Ok(Keys {
            current: RwLock::new(Arc::new(index(snapshot.records))),
            file: Some(Watched {
                path,
                state: Mutex::new(WatchState {
                    checked: Instant::now(),
                    loaded: snapshot.seen,
                    failed: None,
                }),
            }),
        })
    }

    pub(super) fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    pub(super) fn len(&self) -> usize {
        self.current.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Why the last reload failed, if it did.
    pub(super) fn reload_error(&self) -> Option<String> {
        let watched = self.file.as_ref()?;
        let state = watched.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failed.as_ref().map(|(_, why)| why.clone())
    }

    /// Reloads the file if `interval` has passed since the last check and it changed. A
    /// check under way elsewhere is not waited for.
    pub(super) fn refresh(&self, interval: Duration) {
        let Some(watched) = &self.file else { return };
        let Ok(mut state) = watched.state.try_lock() else {
            return;
        };
        if state.checked.elapsed() < interval {
            return;
        }
        let _ = self.load(watched, &mut state, false);
    }

    /// Reads the file now, changed or not; the number of keys loaded.
    pub(super) fn reload(&self) -> Result<usize, ApiKeyError> {
        let Some(watched) = &self.file else {
            return Ok(self.len());
        };
        let mut state = watched.state.lock().unwrap_or_else(|e| e.into_inner());
        self.load(watched, &mut state, true)
    }

    fn load(
        &self,
        watched: &Watched,
        state: &mut WatchState,
        force: bool,
    ) -> Result<usize, ApiKeyError> {
        state.checked = Instant::now();
        let now = Seen::at(&watched.path);
        let seen = now.as_ref().ok().copied();
        let unchanged = seen.is_some_and(|now| {
            now == state.loaded || state.failed.as_ref().is_some_and(|(f, _)| *f == Some(now))
        });
        if unchanged && !force {
            return Ok(self.len());
        }
        match now.and_then(|_| file::read(&watched.path)) {
            Ok(snapshot) => {
                let keys = index(snapshot.records);
                let count = keys.len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                if snapshot.seen == Seen::Missing {
                    tracing::warn!(path = %watched.path.display(), "API key file is gone: no key is accepted");
                } else {
                    tracing::info!(path = %watched.path.display(), keys = count, "API keys reloaded");
                }
                state.loaded = snapshot.seen;
                state.failed = None;
                Ok(count)
            }
            Err(err) => {
                let why = err.to_string();
                if state
                    .failed
                    .as_ref()
                    .is_none_or(|(_, before)| *before != why)
                {
                    tracing::error!(error = %why, "API key file not reloaded; the keys loaded before stay in use");
                }
                // The version seen before reading: one that changes after is tried again, and
                // so is a file that could not be looked at (`None`).
                state.failed = Some((seen, why));
                Err(err)
            }
        }
    }

    /// The caller `rest` (a presented key without its prefix) stands for.
    pub(super) fn find(&self, rest: &str) -> Result<Arc<AuthInfo>, Refused> {
        let Some((id, secret)) = key::split(rest) else {
            return Err(Refused::Guess("not a well-formed API key".into()));
        };
        let keys = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(entry) = keys.get(id) else {
            // The same work as for a known id: the time taken does not tell ids apart.
            let _ = key::matches(secret, &[0; 32]);
            return Err(Refused::Guess(format!("unknown API key id {id}")));
        };
        if !key::matches(secret, &entry.digest) {
            return Err(Refused::Guess(format!("wrong secret for API key {id}")));
        }
        if entry
            .info
            .expires_at()
            .is_some_and(|at| at <= SystemTime::now())
        {
            return Err(Refused::Expired(format!("API key {id} expired")));
        }
        Ok(entry.info.clone())
    }
}

/// The records by id. Records come validated (a file is read whole or not at all; fixed
/// records are checked by [`ApiKeys::from_records`](super::ApiKeys::from_records)).
fn index(records: Vec<ApiKeyRecord>) -> HashMap<String, Entry> {
    records
        .into_iter()
        .filter_map(|record| {
            let (digest, info) = record.principal()?;
            Some((record.id, Entry { digest, info }))
        })
        .collect()
}
