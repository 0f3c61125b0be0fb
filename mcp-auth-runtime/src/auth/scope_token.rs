//! The RFC 6749 §3.3 `scope-token` grammar: which strings can be a scope at all.
//!
//! It lives here because verifiers drop granted scopes that are not scope-tokens; the tool
//! side ([`ScopePolicy`](crate::ScopePolicy), the server's checks of declared scopes) imports
//! it from here, so the dependency points one way.

/// Whether `scope` is an RFC 6749 §3.3 `scope-token`: one or more of `%x21 / %x23-5B / %x5D-7E`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("invoices:read"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("é"));
    }
}
