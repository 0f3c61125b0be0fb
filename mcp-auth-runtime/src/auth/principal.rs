//! [`Principal`]: who is calling, as one value that keys sessions, rate limits and anything
//! else that must never mix two callers.

use serde::Serialize;

use super::AuthInfo;

/// Who is calling: the issuer, subject, client and tenant of a verified token, borrowed from
/// its [`AuthInfo`].
///
/// Two callers are the same principal exactly when all four parts are equal; a part that is
/// absent differs from every present one, the empty string included. [`key`](Self::key)
/// encodes the four parts injectively, so that no choice of claim values (a `sub` holding a
/// separator, say) makes two principals share a key.
///
/// Verifiers refuse tokens that name neither a subject nor a client, so a principal always
/// names somebody; an [`AuthInfo`] built by hand may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Principal<'a> {
    /// The issuer (`iss`).
    pub issuer: Option<&'a str>,
    /// The subject (`sub`).
    pub subject: Option<&'a str>,
    /// The OAuth client (`client_id` or `azp`).
    pub client: Option<&'a str>,
    /// The tenant, from the configured tenant claim.
    pub tenant: Option<&'a str>,
}

impl Principal<'_> {
    /// An injective encoding of the principal, for use as a map or storage key: the JSON
    /// array `[issuer, subject, client, tenant]`, `null` for an absent part. JSON escapes
    /// every character that could end a string, so distinct principals never share a key.
    pub fn key(&self) -> String {
        let parts = [self.issuer, self.subject, self.client, self.tenant];
        // Serializing strings and nulls cannot fail.
        serde_json::to_string(&parts).unwrap_or_default()
    }
}

impl AuthInfo {
    /// Who is calling, as one value: see [`Principal`].
    pub fn principal(&self) -> Principal<'_> {
        Principal {
            issuer: self.issuer(),
            subject: self.subject(),
            client: self.client_id(),
            tenant: self.tenant(),
        }
    }

    /// [`principal().key()`](Principal::key), made once per `AuthInfo` and kept: sessions,
    /// rate limits, stream counts and `requestState` bindings key by it on every request, and
    /// a token served from a verifier's cache brings the same `AuthInfo` to each of them.
    pub(crate) fn principal_key(&self) -> &str {
        self.principal_key
            .0
            .get_or_init(|| self.principal().key().into_boxed_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_key_follows_every_builder_that_changes_the_principal() {
        let fresh = |auth: &AuthInfo| auth.principal().key();
        let alice = AuthInfo::new("alice").with_issuer("https://a.example");
        assert_eq!(alice.principal_key(), fresh(&alice));
        // Each builder below is applied to a clone whose key was already made.
        let steps: [fn(AuthInfo) -> AuthInfo; 3] = [
            |a| a.with_issuer("https://b.example"),
            |a| a.with_client_id("cli"),
            |a| a.with_tenant("acme"),
        ];
        for step in steps {
            let changed = step(alice.clone());
            assert_eq!(changed.principal_key(), fresh(&changed));
            assert_ne!(changed.principal_key(), alice.principal_key());
        }
        // Builders that leave the principal alone keep it, and equality ignores the kept key.
        let scoped = alice.clone().with_scopes(["a"]);
        assert_eq!(scoped.principal_key(), alice.principal_key());
        assert_eq!(AuthInfo::new("bob"), {
            let bob = AuthInfo::new("bob");
            let _ = bob.principal_key();
            bob
        });
        assert_eq!(
            format!("{alice:?}"),
            format!(
                "{:?}",
                AuthInfo::new("alice").with_issuer("https://a.example")
            ),
            "the kept key is not part of the Debug output"
        );
    }

    #[test]
    fn keys_are_injective_where_separators_were_not() {
        let key = |iss: Option<&str>, sub: Option<&str>, client: Option<&str>| {
            Principal {
                issuer: iss,
                subject: sub,
                client,
                tenant: None,
            }
            .key()
        };
        // A separator inside one part cannot move a boundary.
        assert_ne!(
            key(Some("i"), Some("a\0b"), Some("c")),
            key(Some("i"), Some("a"), Some("b\0c"))
        );
        assert_ne!(
            key(Some("i"), Some("a\",\"b"), Some("c")),
            key(Some("i"), Some("a"), Some("b\",\"c"))
        );
        // Absent is not empty.
        assert_ne!(
            key(Some("i"), None, Some("c")),
            key(Some("i"), Some(""), Some("c"))
        );
        assert_ne!(key(None, Some("s"), None), key(Some(""), Some("s"), None));
        // The tenant is part of the principal.
        let tenant = |t: &str| {
            Principal {
                issuer: Some("i"),
                subject: Some("s"),
                client: None,
                tenant: Some(t),
            }
            .key()
        };
        assert_ne!(tenant("acme"), tenant("globex"));
        assert_eq!(tenant("acme"), tenant("acme"));
    }
}
