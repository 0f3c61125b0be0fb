//! A tool's `securitySchemes` (SEP-1488, and the OpenAI Apps SDK's tool descriptor): whether a
//! client must sign in before calling it, and with which scopes. Clients such as ChatGPT's
//! connector runtime decide from it, per tool, whether to start OAuth.
//!
//! The declaration follows from how the server authenticates and from the tool's scopes:
//!
//! - a server that authenticates nobody (`without_auth`, or stdio only) declares every tool
//!   `[{"type": "noauth"}]`: calls need no credentials;
//! - otherwise every tool needs a token, unscoped ones included (the bearer layer refuses a
//!   request without one before any tool is reached), so each declares
//!   `[{"type": "oauth2", "scopes": [...]}]`: the scopes a call requires, then those it may
//!   require depending on its arguments (`require(.., when = ..)`, `may_require`), so that a
//!   client which signs in once, as these clients do, is not refused half-way. An unscoped
//!   tool declares `[{"type": "oauth2"}]`: a token, no particular scope.
//!
//! The list goes in the tool's own `securitySchemes` field and, for clients that read only
//! `_meta`, in `_meta.securitySchemes` too, as the Apps SDK describes.

use serde_json::{Value, json};

/// The `_meta` key, and the tool field, of the declaration.
pub(crate) const KEY: &str = "securitySchemes";

/// The `securitySchemes` of a tool requiring `scopes`, then possibly `conditional` ones, on a
/// server that authenticates callers unless `anonymous`.
pub(crate) fn schemes(anonymous: bool, scopes: &[&str], conditional: &[&str]) -> Value {
    if anonymous {
        return json!([{ "type": "noauth" }]);
    }
    let mut all: Vec<&str> = Vec::with_capacity(scopes.len() + conditional.len());
    for scope in scopes.iter().chain(conditional) {
        if !all.contains(scope) {
            all.push(scope);
        }
    }
    if all.is_empty() {
        json!([{ "type": "oauth2" }])
    } else {
        json!([{ "type": "oauth2", "scopes": all }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_the_server_and_the_scopes() {
        assert_eq!(
            schemes(true, &["a:write"], &[]),
            json!([{ "type": "noauth" }])
        );
        assert_eq!(schemes(false, &[], &[]), json!([{ "type": "oauth2" }]));
        assert_eq!(
            schemes(false, &["a:read", "a:write"], &["a:admin", "a:write"]),
            json!([{ "type": "oauth2", "scopes": ["a:read", "a:write", "a:admin"] }])
        );
        assert_eq!(
            schemes(false, &[], &["a:admin"]),
            json!([{ "type": "oauth2", "scopes": ["a:admin"] }])
        );
    }
}
