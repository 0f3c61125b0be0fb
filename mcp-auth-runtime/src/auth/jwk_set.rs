//! [`JwkSet`]: a JSON Web Key Set (RFC 7517 §5), for keys configured rather than fetched.
//!
//! Ours rather than `jsonwebtoken`'s, so that its releases do not change this crate's API: it
//! is built from the JSON an issuer publishes, and read by `jsonwebtoken` inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A JSON Web Key Set (RFC 7517 §5): `{"keys": [...]}`, as an issuer publishes at its
/// `jwks_uri`. Give it to [`JwtVerifierBuilder::static_keys`](super::JwtVerifierBuilder::static_keys).
///
/// Keys that can never verify a token here (symmetric keys, encryption keys, unsupported
/// curves) are accepted in the set and ignored by the verifier.
///
/// ```
/// use mcp_auth_runtime::auth::JwkSet;
///
/// let set: JwkSet = r#"{"keys": [{
///     "kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "use": "sig",
///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
/// }]}"#
///     .parse()
///     .unwrap();
/// assert_eq!(set.len(), 1);
/// assert!(JwkSet::from_json(r#"{"keys": "nope"}"#).is_err());
/// ```
///
/// `Debug` shows the number of keys and their `kid`s, never key material.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JwkSet(jsonwebtoken::jwk::JwkSet);

/// Why a JSON document is not a [`JwkSet`].
#[derive(Debug, thiserror::Error)]
#[error("invalid JWK set: {0}")]
pub struct JwkSetError(String);

impl JwkSet {
    /// Parses the JSON text of a key set.
    pub fn from_json(text: &str) -> Result<JwkSet, JwkSetError> {
        serde_json::from_str(text).map_err(|err| JwkSetError(err.to_string()))
    }

    /// Reads a key set from a JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<JwkSet, JwkSetError> {
        serde_json::from_value(value).map_err(|err| JwkSetError(err.to_string()))
    }

    /// The number of keys in the set, usable or not.
    pub fn len(&self) -> usize {
        self.0.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.keys.is_empty()
    }

    #[cfg(feature = "dev-issuer")]
    pub(crate) fn from_jsonwebtoken(set: jsonwebtoken::jwk::JwkSet) -> JwkSet {
        JwkSet(set)
    }

    pub(crate) fn as_jsonwebtoken(&self) -> &jsonwebtoken::jwk::JwkSet {
        &self.0
    }
}

impl FromStr for JwkSet {
    type Err = JwkSetError;

    fn from_str(text: &str) -> Result<JwkSet, JwkSetError> {
        JwkSet::from_json(text)
    }
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the keys: a set may hold a symmetric key by mistake.
        let kids: Vec<_> = self
            .0
            .keys
            .iter()
            .map(|k| k.common.key_id.as_deref())
            .collect();
        f.debug_struct("JwkSet").field("kids", &kids).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_kids_but_no_key_material() {
        let set = JwkSet::from_value(serde_json::json!({ "keys": [
            { "kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ" },
        ] }))
        .unwrap();
        let debug = format!("{set:?}");
        assert!(debug.contains("shared"), "{debug}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }

    #[test]
    fn malformed_sets_are_clear_errors() {
        for bad in ["", "[]", r#"{"keys": 1}"#, r#"{"keys": [1]}"#] {
            let err = JwkSet::from_json(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid JWK set: "),
                "{bad}: {err}"
            );
        }
        let round_trip = JwkSet::from_json(r#"{"keys": []}"#).unwrap();
        assert!(round_trip.is_empty());
        assert_eq!(
            serde_json::to_value(&round_trip).unwrap(),
            serde_json::json!({ "keys": [] })
        );
    }
}
