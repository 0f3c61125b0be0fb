//! API keys for machine clients that cannot run OAuth: static, high-entropy secrets with a
//! recognisable prefix, each mapped to a principal and scopes, verified as tokens are.
//!
//! A key is `PREFIX` + an id + `_` + a secret, e.g. `mcpk_3jd8..._Qx9...`: the id finds the
//! record, the secret's SHA-256 digest is compared in constant time with the stored one. Only
//! digests are stored, in a JSON file that [`ApiKeys`] reloads when it changes, without a
//! restart. [`VerifierChain`](super::VerifierChain) puts keys next to OAuth on one server:
//! a credential with the key prefix goes to the keys, any other to the JWT verifier.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{AuthError, AuthInfo, TokenVerifier};
use crate::rate_limit::Quota;

/// The prefix of keys made by [`ApiKeyRecord::generate`] unless another is given.
pub const DEFAULT_PREFIX: &str = "mcpk_";

/// How often [`ApiKeys::from_file`] looks at the file for changes, by default: 2 s.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The failed key attempts a peer may make per minute by default before its key attempts get
/// `429`: 20.
pub const DEFAULT_FAILURES_PER_MINUTE: u32 = 20;

/// A [`TokenVerifier`] of API keys. Clones share the keys, their reloads and the failure
/// counters. `Debug` output shows how many keys are loaded, never a key or a digest.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {}

impl ApiKeys {
    /// The keys of `path` (a file written by [`ApiKeyFile`]), reloaded when it changes (checked
    /// every [`DEFAULT_RELOAD_INTERVAL`] and before a request when due). A file that does not
    /// exist holds no keys (until it is created); one that cannot be read or parsed fails
    /// here, and at a reload keeps the keys loaded before (logged).
    pub fn from_file(path: impl Into<PathBuf>) -> Result<ApiKeys, ApiKeyError> {
        let _ = path.into();
        todo!("i18-apikeys")
    }

    /// These keys, fixed (no file).
    pub fn from_records(records: impl IntoIterator<Item = ApiKeyRecord>) -> ApiKeys {
        let _ = records.into_iter();
        todo!("i18-apikeys")
    }

    /// The prefix credentials must carry to be taken as keys ([`DEFAULT_PREFIX`]).
    pub fn prefix(&self) -> &str {
        todo!("i18-apikeys")
    }

    /// Uses another key prefix.
    pub fn with_prefix(self, prefix: impl Into<String>) -> Self {
        let _ = prefix.into();
        todo!("i18-apikeys")
    }

    /// Limits failed key attempts per peer address ([`DEFAULT_FAILURES_PER_MINUTE`] a minute):
    /// over it, the peer's key attempts are answered `429` without being checked.
    pub fn failure_limit(self, quota: Quota) -> Self {
        let _ = quota;
        todo!("i18-apikeys")
    }

    /// Reads the file now; returns how many keys are loaded.
    pub fn reload(&self) -> Result<usize, ApiKeyError> {
        todo!("i18-apikeys")
    }
}

impl TokenVerifier for ApiKeys {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let _ = token;
        todo!("i18-apikeys")
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

/// One stored key: its id, the SHA-256 digest of its secret, and what it stands for. Holds no
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiKeyRecord {
    /// The key's public id, part of the key itself; names it in logs, audits and
    /// [`ApiKeyFile::revoke`].
    pub id: String,
    /// `sha256:` + the base64url digest of the key's secret part.
    pub digest: String,
    /// The subject calls with this key are made as.
    pub subject: String,
    /// The client id of calls with this key.
    pub client_id: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// The scopes the key grants.
    pub scopes: Vec<String>,
    /// When the key stops working; never when `None`.
    #[serde(with = "unix_seconds")]
    pub expires_at: Option<SystemTime>,
    /// When the key was made.
    #[serde(with = "unix_seconds")]
    pub created_at: Option<SystemTime>,
}

impl ApiKeyRecord {
    /// Makes a new key for `subject` with `scopes`: returns the key (show it once, store it
    /// nowhere) and its record (store it).
    pub fn generate<I, T>(subject: impl Into<String>, scopes: I) -> (NewApiKey, ApiKeyRecord)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let _ = (subject.into(), scopes.into_iter().map(Into::into).count());
        todo!("i18-apikeys")
    }

    /// Sets the client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the expiry.
    pub fn with_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

/// A key just made: the only time its secret exists outside the client. `Debug` output never
/// shows it.
pub struct NewApiKey(String);

impl NewApiKey {
    /// The key, to hand to the client once.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewApiKey(<redacted>)")
    }
}

/// The JSON file of key records an [`ApiKeys`] reads: adds and revokes keys under a file lock,
/// replacing the file atomically, so that a running server never reads half a file.
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

    /// Adds `record`.
    pub fn add(&self, record: ApiKeyRecord) -> Result<(), ApiKeyError> {
        let _ = record;
        todo!("i18-apikeys")
    }

    /// Removes the key `id`; returns whether there was one.
    pub fn revoke(&self, id: &str) -> Result<bool, ApiKeyError> {
        let _ = id;
        todo!("i18-apikeys")
    }

    /// Every record of the file.
    pub fn list(&self) -> Result<Vec<ApiKeyRecord>, ApiKeyError> {
        todo!("i18-apikeys")
    }
}

/// Why keys could not be read or written.
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
    /// The file is not a valid key file.
    #[error("API key file {path} is not valid: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, without any digest.
        why: String,
    },
}

mod unix_seconds {
    //! `Option<SystemTime>` as whole seconds since the Unix epoch.
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(since) => serializer.serialize_some(&since.as_secs()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)))
    }
}
