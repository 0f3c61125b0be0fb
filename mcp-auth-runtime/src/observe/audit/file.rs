//! The file behind a [`JsonLinesSink`](super::JsonLinesSink): opened owner-only, appended to,
//! rotated by size. Used by the sink's writer thread only, never on a request's task.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use super::Rotation;

/// An open audit file and its size so far.
#[derive(Debug)]
pub(super) struct AuditFile {
    path: PathBuf,
    rotation: Rotation,
    /// `None` after a failed rotation or write: reopened before the next line.
    file: Option<BufWriter<File>>,
    size: u64,
    /// `fsync` after each batch.
    sync: bool,
}

impl AuditFile {
    /// Opens `path` for appending, creating it owner-only (`0600`) if it does not exist. An
    /// existing file keeps its mode: an operator may have granted a log shipper's group read.
    pub(super) fn open(path: PathBuf, rotation: Rotation, sync: bool) -> io::Result<AuditFile> {
        let (file, size) = open_append(&path)?;
        Ok(AuditFile {
            path,
            rotation,
            file: Some(file),
            size,
            sync,
        })
    }

    /// Appends `line` (one JSON object and its `\n`), first rotating when it would take the
    /// file past the rotation size. A line is never split across files: one larger than the
    /// limit goes alone into a fresh file.
    pub(super) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Rotation::Size { max_bytes, keep } = self.rotation
            && self.size > 0
            && self.size.saturating_add(line.len() as u64) > max_bytes
        {
            self.rotate(keep)?;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let (file, size) = open_append(&self.path)?;
                self.size = size;
                self.file.insert(file)
            }
        };
        if let Err(err) = file.write_all(line) {
            // What reached the file of a partial write is unknown: start over from its size.
            self.file = None;
            return Err(err);
        }
        self.size += line.len() as u64;
        Ok(())
    }

    /// Hands what is buffered to the operating system, and with `sync` to the disk.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let flushed = file.flush().and_then(|()| {
            if self.sync {
                file.get_ref().sync_data()
            } else {
                Ok(())
            }
        });
        if flushed.is_err() {
            self.file = None;
        }
        flushed
    }

    /// `audit.jsonl` → `audit.jsonl.1` → … → `audit.jsonl.{keep}`, the oldest deleted, and a
    /// new empty `audit.jsonl`. With `keep` 0 the full file is deleted.
    fn rotate(&mut self, keep: usize) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        if keep == 0 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&numbered(&self.path, keep))?;
            for n in (1..keep).rev() {
                rename_if_present(&numbered(&self.path, n), &numbered(&self.path, n + 1))?;
            }
            fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        let (file, size) = open_append(&self.path)?;
        self.file = Some(file);
        self.size = size;
        Ok(())
    }
}

/// `path` with `.n` appended: `audit.jsonl.3`.
pub(super) fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::with_capacity(64 * 1024, file), size))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
