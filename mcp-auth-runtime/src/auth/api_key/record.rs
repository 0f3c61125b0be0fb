//! [`ApiKeyRecord`]: what is stored of a key (its id, its secret's digest, its principal),
//! the rules every stored record obeys, and [`NewApiKey`], the one moment a secret exists.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DEFAULT_PREFIX;
use super::key;
use crate::auth::{AuthInfo, is_scope_token};

/// Longest subject, client id or tenant a record may have, in bytes.
const MAX_NAME_LEN: usize = 1024;

/// Most scopes a record may grant.
const MAX_SCOPES: usize = 256;

/// One stored key: its id, the SHA-256 digest of its secret, and what it stands for. Holds no
/// secret.
///
/// A record is valid when its id is 1 to 64 ASCII letters, digits or `-`; its digest is
/// `sha256:` + the base64url (no padding) of 32 bytes; its subject is not empty; its subject,
/// client id and tenant have no control character and at most 1,024 bytes; and each scope is
/// an RFC 6749 §3.3 scope-token. [`ApiKeyFile::add`](super::ApiKeyFile::add) refuses another,
/// and a file holding one is not loaded.
///
/// `Debug` output shows every field but the digest: a record printed in a log must not hand
/// out what a guess could be checked against offline.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)] // a misspelt `expires_at` must not make a key live forever
#[non_exhaustive]
pub struct ApiKeyRecord {
    /// The key's public id, part of the key itself; names it in logs, audits and
    /// [`ApiKeyFile::revoke`](super::ApiKeyFile::revoke).
    pub id: String,
    /// `sha256:` + the base64url digest of the key's secret part.
    pub digest: String,
    /// The subject calls with this key are made as.
    pub subject: String,
    /// The client id of calls with this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The scopes the key grants.
    pub scopes: Vec<String>,
    /// When the key stops working; never when `None`.
    #[serde(default, with = "unix_seconds")]
    pub expires_at: Option<SystemTime>,
    /// When the key was made.
    #[serde(default, with = "unix_seconds")]
    pub created_at: Option<SystemTime>,
}

impl ApiKeyRecord {
    /// Makes a new key for `subject` with `scopes`, with the [default
    /// prefix](super::DEFAULT_PREFIX): returns the key (show it once, store it nowhere) and
    /// its record (store it).
    ///
    /// ```
    /// use mcp_auth_runtime::auth::ApiKeyRecord;
    ///
    /// let (key, record) = ApiKeyRecord::generate("reporting-bot", ["invoices:read"]);
    /// assert!(key.secret().starts_with(&format!("mcpk_{}_", record.id)));
    /// assert!(record.digest.starts_with("sha256:"));
    /// assert!(!record.digest.contains(&key.secret()[5 + record.id.len() + 1..]));
    /// ```
    pub fn generate<I, T>(subject: impl Into<String>, scopes: I) -> (NewApiKey, ApiKeyRecord)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ApiKeyRecord::generate_with_prefix(DEFAULT_PREFIX, subject, scopes)
    }

    /// [`generate`](Self::generate) for keys with `prefix` (the one given to
    /// [`ApiKeys::with_prefix`](super::ApiKeys::with_prefix)).
    pub fn generate_with_prefix<I, T>(
        prefix: &str,
        subject: impl Into<String>,
        scopes: I,
    ) -> (NewApiKey, ApiKeyRecord)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let (id, secret) = key::generate();
        let record = ApiKeyRecord {
            digest: key::stored_digest(&secret),
            subject: subject.into(),
            client_id: None,
            tenant: None,
            scopes: scopes.into_iter().map(Into::into).collect(),
            expires_at: None,
            created_at: Some(SystemTime::now()),
            id,
        };
        let secret = NewApiKey(format!("{prefix}{}_{secret}", record.id));
        (secret, record)
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

    /// Checks the rules of the [type docs](Self); `Err` says which was broken, naming the id
    /// (when it is one) and never the digest.
    pub fn validate(&self) -> Result<(), String> {
        if !key::is_id(&self.id) {
            return Err(format!(
                "a key id must be 1 to {} ASCII letters, digits or `-`",
                key::MAX_ID_LEN
            ));
        }
        let id = &self.id;
        if key::parse_digest(&self.digest).is_none() {
            return Err(format!(
                "key {id}: the digest is not `sha256:` and the base64url of 32 bytes"
            ));
        }
        if self.subject.is_empty() {
            return Err(format!("key {id}: the subject is empty"));
        }
        let names = [
            ("subject", Some(&self.subject)),
            ("client id", self.client_id.as_ref()),
            ("tenant", self.tenant.as_ref()),
        ];
        for (what, name) in names {
            if name.is_some_and(|n| n.len() > MAX_NAME_LEN || n.chars().any(char::is_control)) {
                return Err(format!(
                    "key {id}: the {what} has a control character or more than {MAX_NAME_LEN} bytes"
                ));
            }
        }
        if self.scopes.len() > MAX_SCOPES {
            return Err(format!("key {id}: more than {MAX_SCOPES} scopes"));
        }
        if let Some(bad) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(format!(
                "key {id}: {bad:?} is not a scope-token (RFC 6749 §3.3)"
            ));
        }
        Ok(())
    }

    /// The caller a request with this key is made as; the record's digest, parsed.
    pub(super) fn principal(&self) -> Option<([u8; 32], Arc<AuthInfo>)> {
        let digest = key::parse_digest(&self.digest)?;
        let mut claims = Map::new();
        claims.insert("api_key_id".into(), Value::String(self.id.clone()));
        let info = AuthInfo {
            subject: Some(self.subject.clone()),
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            tenant: self.tenant.clone(),
            claims,
            ..AuthInfo::default()
        };
        Some((digest, Arc::new(info)))
    }
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("digest", &"<redacted>")
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
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
        Option::<u64>::deserialize(deserializer)?
            .map(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .map_or(Ok(None), |time| {
                time.map(Some)
                    .ok_or_else(|| serde::de::Error::custom("a time out of range"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ApiKeyRecord {
        ApiKeyRecord::generate("bot", ["invoices:read"]).1
    }

    #[test]
    fn generated_records_are_valid() {
        valid().validate().unwrap();
        valid()
            .with_client_id("ci")
            .with_tenant("acme")
            .validate()
            .unwrap();
    }

    #[test]
    fn invalid_records_are_refused() {
        type Spoil = fn(&mut ApiKeyRecord);
        let cases: [(&str, Spoil); 11] = [
            ("empty id", |r| r.id.clear()),
            ("id with a path", |r| r.id = "../etc".into()),
            ("id with an underscore", |r| r.id = "a_b".into()),
            ("id with a quote", |r| r.id = "a\"b".into()),
            ("id too long", |r| r.id = "a".repeat(65)),
            ("digest of another algorithm", |r| {
                r.digest = r.digest.replace("sha256:", "md5:")
            }),
            ("digest too short", |r| r.digest.truncate(20)),
            ("empty subject", |r| r.subject.clear()),
            ("subject with a newline", |r| r.subject = "a\nb".into()),
            ("scope with a space", |r| r.scopes = vec!["a b".into()]),
            ("tenant with an escape", |r| {
                r.tenant = Some("\u{1b}[31m".into())
            }),
        ];
        for (why, spoil) in cases {
            let mut record = valid();
            spoil(&mut record);
            let err = record.validate().expect_err(why);
            assert!(!err.contains(&valid().digest[7..]), "{why}: {err}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_times_are_refused() {
        let mut json = serde_json::to_value(valid()).unwrap();
        json["expires"] = 1.into();
        assert!(serde_json::from_value::<ApiKeyRecord>(json).is_err());
        let mut json = serde_json::to_value(valid()).unwrap();
        json["expires_at"] = u64::MAX.into();
        assert!(serde_json::from_value::<ApiKeyRecord>(json).is_err());
    }

    #[test]
    fn debug_of_a_record_never_shows_its_digest() {
        let record = valid().with_tenant("acme");
        let encoded = &record.digest["sha256:".len()..];
        for debug in [format!("{record:?}"), format!("{record:#?}")] {
            assert!(!debug.contains(encoded), "{debug}");
            assert!(
                debug.contains(&record.id) && debug.contains("acme"),
                "{debug}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let (key, _) = ApiKeyRecord::generate("bot", ["a"]);
        assert_eq!(format!("{key:?}"), "NewApiKey(<redacted>)");
    }
}
