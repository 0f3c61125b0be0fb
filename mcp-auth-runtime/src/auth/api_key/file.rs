//! [`ApiKeyFile`]: the JSON file of key records, read whole and replaced whole.
//!
//! Writers take an exclusive lock on a sidecar file (`<file>.lock`; the key file itself is
//! replaced, so a lock on it would die with the old inode), read the records, write the new
//! ones to a fresh temporary file (mode `0600`) in the same directory, `fsync` it and rename
//! it over the old file: a reader sees the old file or the new one, never half of one.
//! Readers take no lock.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{ApiKeyError, ApiKeyRecord};

/// Largest key file read: 16 MiB, some 40,000 keys.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// The file's contents.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    keys: Vec<ApiKeyRecord>,
}

/// The JSON file of key records an [`ApiKeys`](super::ApiKeys) reads: adds and revokes keys
/// under a file lock, replacing the file atomically, so that a running server never reads
/// half a file. The file is written with mode `0600` (owner only).
///
/// ```
/// use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("api-key-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let file = ApiKeyFile::new(dir.join("api-keys.json"));
/// let (key, record) = ApiKeyRecord::generate("reporting-bot", ["invoices:read"]);
/// let id = record.id.clone();
/// file.add(record)?;
/// println!("{}", key.secret()); // shown once; only its digest is stored
/// assert_eq!(file.list()?.len(), 1);
/// assert!(file.revoke(&id)?);
/// assert!(file.list()?.is_empty());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeyFile {
    path: PathBuf,
}

impl ApiKeyFile {
    /// The file at `path` (created by the first [`add`](Self::add)).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ApiKeyFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds `record`, which must be valid (see [`ApiKeyRecord`]) and have an id no other key
    /// of the file has.
    pub fn add(&self, record: ApiKeyRecord) -> Result<(), ApiKeyError> {
        record
            .validate()
            .map_err(|why| ApiKeyError::invalid(&self.path, why))?;
        self.update(|records| {
            if records.iter().any(|r| r.id == record.id) {
                return Err(format!("a key with id {} exists", record.id));
            }
            records.push(record);
            Ok(true)
        })
        .map(drop)
    }

    /// Removes the key `id`; returns whether there was one. A server reading the file refuses
    /// the key from its next reload on.
    pub fn revoke(&self, id: &str) -> Result<bool, ApiKeyError> {
        self.update(|records| {
            let before = records.len();
            records.retain(|r| r.id != id);
            Ok(records.len() != before)
        })
    }

    /// Every record of the file (none when it does not exist).
    pub fn list(&self) -> Result<Vec<ApiKeyRecord>, ApiKeyError> {
        read(&self.path).map(|snapshot| snapshot.records)
    }

    /// Applies `change` to the records under the lock, and writes them if it returns
    /// `Ok(true)`.
    fn update(
        &self,
        change: impl FnOnce(&mut Vec<ApiKeyRecord>) -> Result<bool, String>,
    ) -> Result<bool, ApiKeyError> {
        let io = ApiKeyError::io;
        let lock_path = sibling(&self.path, ".lock");
        let lock = private(OpenOptions::new().create(true).truncate(false).write(true))
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut records = read(&self.path)?.records;
        let changed = change(&mut records).map_err(|why| ApiKeyError::invalid(&self.path, why))?;
        if changed {
            write(&self.path, &records)?;
        }
        // Dropping the handle releases the lock.
        drop(lock);
        Ok(changed)
    }
}

/// The identity of a file's version: a replaced file (new inode) or an edited one (new
/// length or modification time) has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// No file.
    Missing,
    /// A file: length, modification time, device and inode.
    File(u64, Option<SystemTime>, u64, u64),
}

impl Seen {
    /// What is at `path` now.
    pub(super) fn at(path: &Path) -> Result<Seen, ApiKeyError> {
        match fs::metadata(path) {
            Ok(meta) => Ok(Seen::of(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seen::Missing),
            Err(e) => Err(ApiKeyError::io(path)(e)),
        }
    }

    fn of(meta: &fs::Metadata) -> Seen {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Seen::File(meta.len(), meta.modified().ok(), dev, ino)
    }
}

/// The records of a file and the version they were read from.
pub(super) struct Snapshot {
    pub(super) records: Vec<ApiKeyRecord>,
    pub(super) seen: Seen,
}

/// Reads and checks the file at `path`: no records when it does not exist; `Err` when it
/// cannot be read, is writable by others, changed while it was read, is larger than 16 MiB,
/// or holds an invalid record or an id twice.
pub(super) fn read(path: &Path) -> Result<Snapshot, ApiKeyError> {
    let invalid = |why: String| ApiKeyError::invalid(path, why);
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                records: Vec::new(),
                seen: Seen::Missing,
            });
        }
        Err(e) => return Err(ApiKeyError::io(path)(e)),
    };
    let meta = file.metadata().map_err(ApiKeyError::io(path))?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    check_mode(&meta).map_err(&invalid)?;
    check_directory(path).map_err(&invalid)?;
    let before = Seen::of(&meta);
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(ApiKeyError::io(path))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(invalid(format!("larger than {MAX_FILE_LEN} bytes")));
    }
    // Edited in place while being read: what was read may be half of each version.
    let after = Seen::of(&file.metadata().map_err(ApiKeyError::io(path))?);
    if before != after {
        return Err(invalid("it changed while it was read".into()));
    }
    let contents: Contents = serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message may quote a value (a digest): only the kind and place.
        invalid(format!(
            "JSON {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let mut ids = HashSet::new();
    for record in &contents.keys {
        record.validate().map_err(&invalid)?;
        if !ids.insert(record.id.as_str()) {
            return Err(invalid(format!("the id {} is used twice", record.id)));
        }
    }
    Ok(Snapshot {
        records: contents.keys,
        seen: before,
    })
}

/// Refuses a file that someone other than its owner may write: they could add a key.
#[cfg(unix)]
fn check_mode(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by its group or others (mode {:o}): anyone who can write it can add a key; `chmod 600` it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Refuses a file whose directory anyone may write: they could rename a file of their own
/// over it (whose mode passes [`check_mode`]), or create it before the first key is added. A
/// sticky directory (`/tmp`) is refused too, for the second reason. A group-writable one is
/// not: with a umask of `002` (user private groups) a user's directories are, harmlessly.
#[cfg(unix)]
fn check_directory(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mode = fs::metadata(dir)
        .map_err(|e| format!("its directory cannot be looked at: {e}"))?
        .permissions()
        .mode();
    if mode & 0o002 != 0 {
        return Err(format!(
            "its directory is writable by anyone (mode {:o}): anyone can put a file of their own in its place; use a directory only its owner may write",
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_directory(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Writes `records` to a new temporary file beside `path` and renames it over `path`.
fn write(path: &Path, records: &[ApiKeyRecord]) -> Result<(), ApiKeyError> {
    let io = ApiKeyError::io;
    let contents = Contents {
        keys: records.to_vec(),
    };
    let mut json = serde_json::to_vec_pretty(&contents).expect("records serialize");
    json.push(b'\n');
    let temp = sibling(path, &format!(".tmp-{}", crate::random::token(9)));
    // `create_new`: never through a link or over a file someone placed there.
    let mut file = private(OpenOptions::new().write(true).create_new(true))
        .open(&temp)
        .map_err(io(&temp))?;
    let written = file
        .write_all(&json)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(io(path)(e));
    }
    // The rename itself is durable once the directory is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `options` creating files readable and writable by their owner only.
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}
