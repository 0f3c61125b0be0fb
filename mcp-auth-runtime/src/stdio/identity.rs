//! The identity of a stdio server's user, from the environment its client launched it with.

use std::ffi::OsString;

use crate::auth::{AuthInfo, is_scope_token};

/// The subject of an identity whose environment names none.
const DEFAULT_SUBJECT: &str = "local";

/// Why [`identity_from_env`] refused the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A variable is set to something that is not UTF-8.
    #[error("`{0}` is not valid UTF-8")]
    NotUnicode(String),
    /// A granted scope is not an RFC 6749 scope token (§3.3).
    #[error("`{variable}` grants `{scope}`, which is not a scope token")]
    InvalidScope {
        /// The variable.
        variable: String,
        /// The scope, as written.
        scope: String,
    },
}

/// The caller's identity from the process environment, for [`serve`](super::serve): the
/// variables `{prefix}_SUBJECT`, `{prefix}_SCOPES`, `{prefix}_TENANT` and
/// `{prefix}_CLIENT_ID`, as described in [`identity_from_vars`].
///
/// ```
/// let identity = mcp_auth_runtime::stdio::identity_from_env("NOTES")?;
/// // Without NOTES_SCOPES in the environment, nothing is granted.
/// # if std::env::var_os("NOTES_SCOPES").is_none() {
/// assert!(identity.scopes().is_empty());
/// # }
/// # Ok::<(), mcp_auth_runtime::stdio::IdentityError>(())
/// ```
pub fn identity_from_env(prefix: &str) -> Result<AuthInfo, IdentityError> {
    identity_from_vars(prefix, std::env::vars_os())
}

/// The caller's identity from `vars` (name, value pairs, as [`std::env::vars_os`] gives them):
///
/// | variable | becomes | when unset |
/// | --- | --- | --- |
/// | `{prefix}_SUBJECT` | [`subject`](AuthInfo::subject) | `local` |
/// | `{prefix}_SCOPES` | [`scopes`](AuthInfo::scopes), separated by spaces as in OAuth | no scopes: only unscoped tools can be called |
/// | `{prefix}_TENANT` | [`tenant`](AuthInfo::tenant) | none |
/// | `{prefix}_CLIENT_ID` | [`client_id`](AuthInfo::client_id) | none |
///
/// Nothing else is read, and nothing is granted by default. A variable that is not UTF-8,
/// or a scope that is not an RFC 6749 scope token, is an error rather than ignored: a typo
/// must not start a server with other rights than intended.
///
/// ```
/// use mcp_auth_runtime::stdio::identity_from_vars;
///
/// let identity = identity_from_vars("NOTES", [
///     ("NOTES_SUBJECT", "alice"),
///     ("NOTES_SCOPES", "notes:read notes:write"),
///     ("HOME", "/home/alice"),
/// ])?;
/// assert_eq!(identity.subject(), Some("alice"));
/// assert_eq!(identity.scopes(), ["notes:read", "notes:write"]);
/// assert_eq!(identity.tenant(), None);
/// # Ok::<(), mcp_auth_runtime::stdio::IdentityError>(())
/// ```
pub fn identity_from_vars<I, K, V>(prefix: &str, vars: I) -> Result<AuthInfo, IdentityError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let names = ["SUBJECT", "SCOPES", "TENANT", "CLIENT_ID"].map(|name| format!("{prefix}_{name}"));
    let mut values: [Option<String>; 4] = Default::default();
    for (name, value) in vars {
        let name = name.into();
        let Some(index) = names.iter().position(|n| name == n.as_str()) else {
            continue;
        };
        let value = value
            .into()
            .into_string()
            .map_err(|_| IdentityError::NotUnicode(names[index].clone()))?;
        values[index] = Some(value);
    }
    let [subject, scopes, tenant, client_id] = values;
    let scopes: Vec<&str> = scopes
        .as_deref()
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(IdentityError::InvalidScope {
            variable: names[1].clone(),
            scope: (*bad).to_owned(),
        });
    }
    let mut identity =
        AuthInfo::new(subject.unwrap_or_else(|| DEFAULT_SUBJECT.into())).with_scopes(scopes);
    if let Some(tenant) = tenant {
        identity = identity.with_tenant(tenant);
    }
    if let Some(client_id) = client_id {
        identity = identity.with_client_id(client_id);
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_granted_without_the_scopes_variable() {
        let identity =
            identity_from_vars("APP", [("APP_SUBJECT", "alice"), ("SCOPES", "a")]).expect("valid");
        assert_eq!(identity.subject(), Some("alice"));
        assert!(identity.scopes().is_empty());
        let identity = identity_from_vars("APP", [("APP_SCOPES", "  ")]).expect("valid");
        assert_eq!(identity.subject(), Some(DEFAULT_SUBJECT));
        assert!(identity.scopes().is_empty());
    }

    #[test]
    fn every_variable_is_read_with_its_prefix_only() {
        let identity = identity_from_vars(
            "APP",
            [
                ("APP_SCOPES", "a:read\tb:write "),
                ("APP_TENANT", "acme"),
                ("APP_CLIENT_ID", "desktop"),
                ("OTHER_SCOPES", "c:admin"),
            ],
        )
        .expect("valid");
        assert_eq!(identity.scopes(), ["a:read", "b:write"]);
        assert_eq!(identity.tenant(), Some("acme"));
        assert_eq!(identity.client_id(), Some("desktop"));
    }

    #[test]
    fn a_bad_scope_or_a_non_unicode_value_is_an_error() {
        assert_eq!(
            identity_from_vars("APP", [("APP_SCOPES", "a:read \"b\"")]),
            Err(IdentityError::InvalidScope {
                variable: "APP_SCOPES".into(),
                scope: "\"b\"".into(),
            })
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let bad = OsString::from_vec(vec![0xff]);
            assert_eq!(
                identity_from_vars("APP", [(OsString::from("APP_SUBJECT"), bad)]),
                Err(IdentityError::NotUnicode("APP_SUBJECT".into()))
            );
        }
    }
}
