//! What is asked for and what comes back: [`Downstream`], [`DownstreamToken`], and the inbound
//! token an exchange presents, [`SubjectToken`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use crate::auth::AuthInfo;

/// What a token is asked for: the downstream API (`resource`, RFC 8707, or `audience`, RFC 8693
/// §2.1) and the scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Downstream {
    pub(super) target: Target,
    pub(super) scopes: Vec<String>,
}

/// Which parameter names the downstream API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Target {
    Resource(String),
    Audience(String),
}

impl Target {
    /// The URI or name, for logs and errors.
    pub(super) fn as_str(&self) -> &str {
        match self {
            Target::Resource(value) | Target::Audience(value) => value,
        }
    }
}

impl Downstream {
    /// A token for the API at this absolute URI, sent as `resource` (RFC 8707): the audience
    /// of the exchanged token.
    pub fn resource(uri: impl Into<String>) -> Self {
        Downstream {
            target: Target::Resource(uri.into()),
            scopes: Vec::new(),
        }
    }

    /// A token for the API of this logical name, sent as `audience` (RFC 8693 §2.1), for
    /// authorization servers that name APIs rather than locate them.
    pub fn audience(name: impl Into<String>) -> Self {
        Downstream {
            target: Target::Audience(name.into()),
            scopes: Vec::new(),
        }
    }

    /// The scopes asked for (`scope`); none by default, which leaves them to the
    /// authorization server. Their order does not matter: the cache sorts them.
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The resource URI, for [`Downstream::resource`].
    pub fn resource_uri(&self) -> Option<&str> {
        match &self.target {
            Target::Resource(uri) => Some(uri),
            Target::Audience(_) => None,
        }
    }

    /// The audience name, for [`Downstream::audience`].
    pub fn audience_name(&self) -> Option<&str> {
        match &self.target {
            Target::Audience(name) => Some(name),
            Target::Resource(_) => None,
        }
    }

    /// The scopes asked for.
    pub fn requested_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The scopes asked for, sorted, each once: what the cache is keyed by and what is sent.
    pub(super) fn sorted_scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }
}

/// A token for a downstream API, from a [`TokenExchange`](super::TokenExchange). `Debug`
/// output never shows it.
#[derive(Clone)]
pub struct DownstreamToken {
    pub(super) token: Arc<str>,
    pub(super) expires_at: Option<SystemTime>,
    pub(super) scopes: Vec<String>,
}

impl DownstreamToken {
    /// The access token itself. Send it only to the API it was asked for.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// `Bearer <token>`, for the `Authorization` header; marked sensitive so that HTTP
    /// libraries keep it out of their logs.
    pub fn authorization(&self) -> HeaderValue {
        // The response parser admits only RFC 6750 b64token characters, all visible ASCII.
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .expect("an access token is a visible ASCII b64token");
        value.set_sensitive(true);
        value
    }

    /// When the token expires (`expires_in` of the exchange), if the server said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The scopes of the token: the response's `scope`, or those asked for when it has none
    /// (RFC 8693 §2.2.1).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl fmt::Debug for DownstreamToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownstreamToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The inbound access token of a request, kept for the exchange only, with its expiry (no
/// exchanged token is cached past it). Never exposed to application code; `Debug` output
/// never shows it.
#[derive(Clone)]
pub(crate) struct SubjectToken {
    pub(super) token: Arc<str>,
    pub(super) expires_at: Option<SystemTime>,
}

impl SubjectToken {
    /// The subject token of a request whose credential `token` was verified as `auth`, if the
    /// credential is an access token. An API key is not one: it is a secret shared with this
    /// server alone, and must never reach the authorization server (its `AuthInfo` carries
    /// the `api_key_id` claim).
    pub(crate) fn of(token: impl Into<Arc<str>>, auth: &AuthInfo) -> Option<SubjectToken> {
        if auth.claims().contains_key("api_key_id") {
            return None;
        }
        Some(SubjectToken {
            token: token.into(),
            expires_at: auth.expires_at(),
        })
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_api_key_is_never_a_subject_token() {
        let user = AuthInfo::new("alice");
        assert!(SubjectToken::of("eyJ.a.b", &user).is_some());
        let mut key = AuthInfo::new("ci-bot");
        key.claims.insert("api_key_id".into(), json!("k1"));
        assert!(SubjectToken::of("mcpk_k1_secret", &key).is_none());
    }

    #[test]
    fn debug_output_shows_no_token() {
        let token = DownstreamToken {
            token: "s3cr3t-downstream".into(),
            expires_at: None,
            scopes: vec!["payments:write".into()],
        };
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let subject = SubjectToken::of("s3cr3t-inbound", &AuthInfo::new("a")).unwrap();
        assert!(!format!("{subject:?}").contains("s3cr3t"));
        assert!(token.authorization().is_sensitive());
    }

    #[test]
    fn scopes_are_sorted_and_deduplicated() {
        let downstream = Downstream::audience("payments").scopes(["b", "a", "b"]);
        assert_eq!(downstream.sorted_scopes(), ["a", "b"]);
        assert_eq!(downstream.requested_scopes(), ["b", "a", "b"]);
    }
}
