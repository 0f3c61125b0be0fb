//! [`ApiKeyError`]: why keys could not be read or written.

use std::path::PathBuf;

/// Why keys could not be read or written. Messages name the file and what is wrong, never a
/// digest or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The file could not be read or written.
    #[error("API key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid key file, or a record is not valid.
    #[error("API key file {path} is not valid: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, without any digest.
        why: String,
    },
}

impl ApiKeyError {
    pub(super) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ApiKeyError {
        let path = path.to_owned();
        move |source| ApiKeyError::Io { path, source }
    }

    pub(super) fn invalid(path: &std::path::Path, why: impl Into<String>) -> ApiKeyError {
        ApiKeyError::Invalid {
            path: path.to_owned(),
            why: why.into(),
        }
    }
}
