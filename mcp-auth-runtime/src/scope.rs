//! Scope checks: does a caller hold what a tool requires?

use std::fmt;
use std::sync::Arc;

use crate::auth::AuthInfo;
use crate::error::ToolError;

/// Decides whether a granted scope satisfies a required one.
///
/// The default policy matches exactly. [`ScopePolicy::hierarchical`] lets a broader scope
/// satisfy a narrower one (`x:write` ⊇ `x:read`, `x:*` ⊇ `x:anything`), as the MCP 2026-07-28
/// authorization specification asks servers to account for; [`ScopePolicy::custom`] takes any
/// rule.
#[derive(Clone, Default)]
pub struct ScopePolicy {
    rule: Option<Arc<ScopeRule>>,
}

/// `rule(granted, required)`: whether `granted` satisfies `required`.
type ScopeRule = dyn Fn(&str, &str) -> bool + Send + Sync;

impl ScopePolicy {
    /// Exact matching: a required scope is satisfied only by the same scope token.
    pub fn exact() -> Self {
        ScopePolicy::default()
    }

    /// `resource:write` satisfies `resource:read`, and `resource:*` satisfies every
    /// `resource:action`; otherwise scopes match exactly.
    ///
    /// ```
    /// use mcp_auth_runtime::ScopePolicy;
    ///
    /// let policy = ScopePolicy::hierarchical();
    /// assert!(policy.satisfies("invoices:write", "invoices:read"));
    /// assert!(policy.satisfies("invoices:*", "invoices:void"));
    /// assert!(!policy.satisfies("invoices:read", "invoices:write"));
    /// assert!(!policy.satisfies("payments:write", "invoices:read"));
    /// ```
    pub fn hierarchical() -> Self {
        ScopePolicy::custom(|granted, required| {
            let (Some((g_res, g_act)), Some((r_res, r_act))) =
                (granted.rsplit_once(':'), required.rsplit_once(':'))
            else {
                return false;
            };
            g_res == r_res && (g_act == "*" || (g_act == "write" && r_act == "read"))
        })
    }

    /// A rule of your own: `rule(granted, required)` says whether `granted` also satisfies
    /// `required`. Identical scopes always satisfy each other.
    pub fn custom(rule: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Self {
        ScopePolicy {
            rule: Some(Arc::new(rule)),
        }
    }

    /// Whether the granted scope satisfies the required one.
    pub fn satisfies(&self, granted: &str, required: &str) -> bool {
        granted == required
            || self
                .rule
                .as_ref()
                .is_some_and(|rule| rule(granted, required))
    }

    /// The required scopes the caller lacks, in the order given.
    pub fn missing<'a>(&self, auth: &AuthInfo, required: &[&'a str]) -> Vec<&'a str> {
        required
            .iter()
            .copied()
            .filter(|req| !auth.scopes().iter().any(|g| self.satisfies(g, req)))
            .collect()
    }

    /// `Err(ToolError::InsufficientScope)` unless the caller holds every required scope.
    pub fn require(&self, auth: &AuthInfo, required: &[&str]) -> Result<(), ToolError> {
        let missing = self.missing(auth, required);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ToolError::InsufficientScope {
                required: required.iter().map(|s| (*s).to_owned()).collect(),
                missing: missing.into_iter().map(str::to_owned).collect(),
            })
        }
    }
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.rule.is_some() {
            "ScopePolicy(custom)"
        } else {
            "ScopePolicy(exact)"
        })
    }
}

/// Every scope of `scopes`, sorted, each once: what a set of descriptors requires in all.
pub(crate) fn union(scopes: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = scopes.into_iter().collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_policy_reports_every_missing_scope() {
        let auth = AuthInfo::new("a").with_scopes(["invoices:read"]);
        let policy = ScopePolicy::exact();
        assert!(policy.require(&auth, &["invoices:read"]).is_ok());
        assert_eq!(
            policy.missing(
                &auth,
                &["invoices:write", "invoices:read", "payments:write"]
            ),
            ["invoices:write", "payments:write"]
        );
        let err = policy
            .require(&auth, &["invoices:read", "payments:write"])
            .unwrap_err();
        let ToolError::InsufficientScope { required, missing } = err else {
            panic!("wrong error")
        };
        assert_eq!(required, ["invoices:read", "payments:write"]);
        assert_eq!(missing, ["payments:write"]);
    }

    #[test]
    fn hierarchy_is_off_unless_configured() {
        let auth = AuthInfo::new("a").with_scopes(["invoices:write"]);
        assert!(
            ScopePolicy::exact()
                .require(&auth, &["invoices:read"])
                .is_err()
        );
        assert!(
            ScopePolicy::hierarchical()
                .require(&auth, &["invoices:read"])
                .is_ok()
        );
    }
}
