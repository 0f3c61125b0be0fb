//! API keys for machine clients that cannot run OAuth: static, high-entropy secrets with a
//! recognisable prefix, each mapped to a principal and scopes, verified as tokens are.
//!
//! A key is `PREFIX` + an id + `_` + a secret, e.g. `mcpk_3f9a..._Qx9...` (`key`): the id
//! finds the record (`record`), the secret's SHA-256 digest is compared in constant time with
//! the stored one. Only digests are stored, in a JSON file (`file`) that [`ApiKeys`] reloads
//! when it changes, without a restart (`keys`); failed attempts are counted per peer
//! (`failures`). [`VerifierChain`](super::VerifierChain) puts keys next to OAuth on one
//! server. The guide is `docs/api-keys.md`, part of the `auth` module's docs.

mod error;
mod failures;
mod file;
mod key;
mod keys;
mod record;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::ApiKeyError;
pub use file::ApiKeyFile;
pub use record::{ApiKeyRecord, NewApiKey};

use super::{AuthError, AuthInfo, InvalidToken, InvalidTokenKind, Readiness, TokenVerifier};
use crate::rate_limit::Quota;
use failures::Failures;
use keys::{Keys, Refused};

/// The prefix of keys made by [`ApiKeyRecord::generate`] unless another is given.
pub const DEFAULT_PREFIX: &str = "mcpk_";

/// How often [`ApiKeys::from_file`] looks at the file for changes, by default: 2 s.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The failed key attempts a peer may make per minute by default before its key attempts get
/// `429`: 20.
pub const DEFAULT_FAILURES_PER_MINUTE: u32 = 20;

/// Longest key prefix.
const MAX_PREFIX_LEN: usize = 32;

/// A [`TokenVerifier`] of API keys. Clones share the keys, their reloads and the failure
/// counters. `Debug` output shows how many keys are loaded, never a key or a digest.
///
/// A key is accepted when it starts with the [prefix](Self::prefix), its id is one of the
/// loaded records', the SHA-256 digest of its secret equals the record's (compared in
/// constant time), and the record has not expired. The caller's [`AuthInfo`] is the record's
/// subject, client id, tenant, scopes and expiry, no issuer, and the claims
/// `{"api_key_id": ID}`.
///
/// Each peer (an IPv4 address, or an IPv6 /64) may fail [`DEFAULT_FAILURES_PER_MINUTE`]
/// times a minute ([`failure_limit`](Self::failure_limit)); then its key attempts get
/// [`AuthError::RateLimited`] (`429` with `Retry-After`) without being checked, until the
/// minute is over. Expired keys do not count (their holder knew the secret). The peer is the
/// TCP peer: a server started with [`serve`](crate::serve) or
/// `into_make_service_with_connect_info` knows it; without it, attempts are not limited.
#[derive(Clone)]
pub struct ApiKeys {
    prefix: Arc<str>,
    keys: Arc<Keys>,
    failures: Arc<Failures>,
    reload_interval: Duration,
}

impl ApiKeys {
    /// Counts the requests refused for their peer's failures in `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &crate::observe::Metrics) {
        metrics.attach_rejections(crate::observe::Limit::Failures, &self.failures.rejections);
    }

    /// The keys of `path` (a file written by [`ApiKeyFile`]), reloaded when it changes (checked
    /// every [`DEFAULT_RELOAD_INTERVAL`] and before a request when due). A file that does not
    /// exist holds no keys (until it is created); one that cannot be read or parsed fails
    /// here, and at a reload keeps the keys loaded before (logged).
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not a valid key file (any invalid record or an id
    /// used twice makes the whole file invalid), is larger than 16 MiB, or may be written by
    /// its group or others, or lies in a directory anyone may write (on Unix: anyone who can
    /// write either can add a key).
    pub fn from_file(path: impl Into<PathBuf>) -> Result<ApiKeys, ApiKeyError> {
        Ok(ApiKeys::with_keys(Keys::watch(path.into())?))
    }

    /// These keys, fixed (no file).
    ///
    /// # Panics
    ///
    /// If a record is not valid (see [`ApiKeyRecord`]) or two have the same id: fixed keys
    /// come from the program, and a key that silently never works would be a bug in it.
    pub fn from_records(records: impl IntoIterator<Item = ApiKeyRecord>) -> ApiKeys {
        let records: Vec<ApiKeyRecord> = records.into_iter().collect();
        let mut ids = std::collections::HashSet::new();
        for record in &records {
            if let Err(why) = record.validate() {
                panic!("invalid API key record: {why}");
            }
            assert!(
                ids.insert(record.id.as_str()),
                "two API key records have the id {}",
                record.id
            );
        }
        ApiKeys::with_keys(Keys::fixed(records))
    }

    fn with_keys(keys: Keys) -> ApiKeys {
        ApiKeys {
            prefix: DEFAULT_PREFIX.into(),
            keys: Arc::new(keys),
            failures: Arc::new(Failures::new(Quota::per_minute(
                DEFAULT_FAILURES_PER_MINUTE,
            ))),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    /// The prefix credentials must carry to be taken as keys ([`DEFAULT_PREFIX`]).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Uses another key prefix (make keys for it with
    /// [`ApiKeyRecord::generate_with_prefix`]).
    ///
    /// # Panics
    ///
    /// If `prefix` is empty, longer than 32 bytes, or has a character other than an ASCII
    /// letter, digit, `-` or `_` (a key must be a valid bearer token, RFC 6750 §2.1).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        assert!(
            (1..=MAX_PREFIX_LEN).contains(&prefix.len())
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "an API key prefix must be 1 to {MAX_PREFIX_LEN} ASCII letters, digits, `-` or `_`"
        );
        self.prefix = prefix.into();
        self
    }

    /// Limits failed key attempts per peer address ([`DEFAULT_FAILURES_PER_MINUTE`] a minute):
    /// over it, the peer's key attempts are answered `429` without being checked. A quota of
    /// `0` refuses every key attempt of a known peer.
    pub fn failure_limit(mut self, quota: Quota) -> Self {
        self.failures = Arc::new(Failures::new(quota));
        self
    }

    /// Looks at the file for changes at most this often ([`DEFAULT_RELOAD_INTERVAL`]).
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Reads the file now; returns how many keys are loaded. On an error the keys loaded
    /// before stay in use. Fixed keys ([`from_records`](Self::from_records)) just count.
    pub fn reload(&self) -> Result<usize, ApiKeyError> {
        self.keys.reload()
    }

    /// How many keys are loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenVerifier for ApiKeys {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.verify_from(token, None)
            .await
            .map(Arc::unwrap_or_clone)
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        self.verify_from(token, None).await
    }

    async fn verify_from(
        &self,
        token: &str,
        peer: Option<IpAddr>,
    ) -> Result<Arc<AuthInfo>, AuthError> {
        // Over its failures, a peer learns nothing more: not even whether this key is good.
        self.failures.check(peer)?;
        let found = match token.strip_prefix(&*self.prefix) {
            Some(rest) => {
                self.keys.refresh(self.reload_interval);
                self.keys.find(rest)
            }
            None => Err(Refused::Guess("not an API key (wrong prefix)".into())),
        };
        found.map_err(|refused| match refused {
            Refused::Guess(why) => {
                self.failures.record(peer);
                AuthError::InvalidToken(InvalidToken::new(InvalidTokenKind::UnknownKey, why))
            }
            Refused::Expired(why) => {
                AuthError::InvalidToken(InvalidToken::new(InvalidTokenKind::Expired, why))
            }
        })
    }

    async fn ready(&self) -> Readiness {
        match self.keys.reload_error() {
            Some(why) => Readiness::Degraded(why),
            None => Readiness::Ready,
        }
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("prefix", &self.prefix)
            .field("keys", &self.keys.len())
            .field("file", &self.keys.path())
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}
