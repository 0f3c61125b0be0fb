//! [`JsonLinesSink`]: audit events as JSON lines in a file, rotated by size.
//!
//! SKELETON: to be written (issue 19). The names below are the contract the rest of the
//! workspace builds against; the implementation may add to them.

use std::io;
use std::path::PathBuf;

use super::{AuditEvent, AuditSink};

/// Writes each [`AuditEvent`] as one line of JSON to a file, rotating it by size.
#[derive(Debug)]
pub struct JsonLinesSink {
    _path: PathBuf,
}

/// Configures a [`JsonLinesSink`]. Created by [`JsonLinesSink::builder`].
#[derive(Debug)]
#[must_use]
pub struct JsonLinesSinkBuilder {
    path: PathBuf,
    rotation: Rotation,
}

/// When a [`JsonLinesSink`] starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// Never: one file grows for ever (rotate it with `logrotate`'s `copytruncate`).
    Never,
    /// When the file would exceed `max_bytes`, keeping the `keep` newest rotated files
    /// (`audit.jsonl.1` the newest).
    Size {
        /// The largest a file grows.
        max_bytes: u64,
        /// How many rotated files are kept.
        keep: usize,
    },
}

impl JsonLinesSink {
    /// A sink writing to `path`, appending to it if it exists.
    pub fn builder(path: impl Into<PathBuf>) -> JsonLinesSinkBuilder {
        JsonLinesSinkBuilder {
            path: path.into(),
            rotation: Rotation::Size {
                max_bytes: 100 * 1024 * 1024,
                keep: 10,
            },
        }
    }
}

impl JsonLinesSinkBuilder {
    /// When to start a new file; by default at 100 MiB, keeping 10.
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Opens the file.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened for appending.
    pub fn build(self) -> io::Result<JsonLinesSink> {
        let _ = self.rotation;
        Ok(JsonLinesSink { _path: self.path })
    }
}

impl AuditSink for JsonLinesSink {
    fn record(&self, _event: &AuditEvent) {}
}
