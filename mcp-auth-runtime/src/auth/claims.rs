//! What every verifier shares: resource-URI normalisation, audience and issuer checks, and the
//! mapping of claims (a JWT's payload or an introspection response) to an [`AuthInfo`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use url::Url;

use super::scope_token::is_scope_token;
use super::{AuthError, AuthInfo};

/// Where a token carries its scopes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScopeClaim {
    /// `scope`, a space-separated string (RFC 9068 §2.2.3, RFC 7662 §2.2). The default.
    #[default]
    Scope,
    /// `scp`, a space-separated string or an array of strings (Microsoft Entra ID, Okta).
    Scp,
    /// Another claim, a space-separated string or an array of strings.
    Custom(String),
}

impl ScopeClaim {
    pub(crate) fn name(&self) -> &str {
        match self {
            ScopeClaim::Scope => "scope",
            ScopeClaim::Scp => "scp",
            ScopeClaim::Custom(name) => name,
        }
    }
}

/// How claims become an [`AuthInfo`]: which claim holds the scopes and which the tenant.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimMapping {
    pub(crate) scope: ScopeClaim,
    pub(crate) tenant: Option<String>,
}

impl ClaimMapping {
    /// Builds the caller's identity from verified claims. Claims of the wrong JSON type make
    /// the whole token invalid rather than being ignored: a token that says something
    /// unexpected about its own permissions is not to be trusted with any.
    pub(crate) fn auth_info(&self, claims: Map<String, Value>) -> Result<AuthInfo, AuthError> {
        let string = |name: &str| -> Result<Option<String>, AuthError> {
            match claims.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed(format!("claim `{name}` is not a string"))),
            }
        };
        // An empty `sub` or `client_id` names nobody: it is treated as absent.
        let named = |name: &str| Ok(string(name)?.filter(|s| !s.is_empty()));
        let scopes = self.scopes(&claims)?;
        let subject = named("sub")?;
        let client_id = match named("client_id")? {
            Some(id) => Some(id),
            None => named("azp")?,
        };
        // RFC 9068 §2.2 requires `sub`; RFC 7662 makes both optional. A token that names
        // neither would share one principal (sessions, rate limits) with every other such
        // token, so it is refused.
        if subject.is_none() && client_id.is_none() {
            return Err(malformed(
                "the token names neither a subject (`sub`) nor a client (`client_id`, `azp`)",
            ));
        }
        let mut auth = AuthInfo {
            subject,
            client_id,
            scopes,
            issuer: string("iss")?,
            audience: audiences(claims.get("aud"))?,
            tenant: match &self.tenant {
                Some(claim) => string(claim)?,
                None => None,
            },
            ..AuthInfo::default()
        };
        if let Some(exp) = claims.get("exp") {
            let exp = exp
                .as_u64()
                .ok_or_else(|| malformed("claim `exp` is not a NumericDate"))?;
            // `checked_add`: an absurd `exp` must not overflow the clock type.
            auth.expires_at = Some(
                UNIX_EPOCH
                    .checked_add(Duration::from_secs(exp))
                    .ok_or_else(|| malformed("claim `exp` is out of range"))?,
            );
        }
        auth.claims = claims;
        Ok(auth)
    }

    fn scopes(&self, claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
        let name = self.scope.name();
        let invalid = || malformed(format!("claim `{name}` has an unexpected type"));
        let raw: Vec<&str> = match claims.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split(' ').collect(),
            // RFC 9068 and RFC 7662 define `scope` as a string only.
            Some(Value::Array(_)) if self.scope == ScopeClaim::Scope => return Err(invalid()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(invalid))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid()),
        };
        // Anything that is not an RFC 6749 scope-token (look-alike Unicode, quotes, empty
        // strings from doubled spaces) can never equal a declared scope: drop it.
        Ok(raw
            .into_iter()
            .filter(|s| is_scope_token(s))
            .map(str::to_owned)
            .collect())
    }
}

fn audiences(aud: Option<&Value>) -> Result<Vec<String>, AuthError> {
    match aud {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed("claim `aud` holds a non-string"))
            })
            .collect(),
        Some(_) => Err(malformed("claim `aud` is not a string or array")),
    }
}

/// The refusal of a token whose claims say something unexpected.
pub(crate) fn malformed(why: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::InvalidToken(crate::auth::InvalidToken::new(
        crate::auth::InvalidTokenKind::Malformed,
        why,
    ))
}

/// The canonical form of a resource URI (RFC 8707 §2, MCP authorization): lowercase scheme
/// and host, no default port, no trailing slash, no fragment. Two URIs name the same resource
/// exactly when their canonical forms are equal.
///
/// Only RFC 3986 syntax-based normalisation is applied (case of scheme and host, the default
/// port, dot segments, the empty path), plus the trailing slash (DESIGN.md). A value that is not
/// an RFC 3986 URI is refused rather than repaired the way a browser-style (WHATWG) parser
/// would: backslashes, whitespace, control or non-ASCII characters, bad percent-escapes, a
/// userinfo part (`user@`, `:pw@`, even an empty `@`), or a host the parser would rewrite
/// (`0x7f.1`, IDNA, percent-encoded names). Otherwise `https://r.example\\@evil/mcp` or
/// ` https://r.example/mcp` could match a resource they do not name.
pub(crate) fn canonical_resource(uri: &str) -> Option<String> {
    let authority = rfc3986_authority(uri)?;
    if authority.contains('@') {
        return None;
    }
    let url = Url::parse(uri).ok()?;
    if url.cannot_be_a_base() || url.fragment().is_some() || !url.username().is_empty() {
        return None;
    }
    let host = url.host_str()?;
    // The host as written, lowercased, must be the host the parser kept.
    if !written_host(authority).is_some_and(|written| written.eq_ignore_ascii_case(host)) {
        return None;
    }
    let mut out = format!("{}://{}", url.scheme(), host);
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path().trim_end_matches('/'));
    if let Some(query) = url.query() {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

/// The host of an RFC 3986 authority without userinfo: `host`, `host:port` or `[v6]:port`.
fn written_host(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let rest = &authority[end..];
        (
            &authority[..end],
            rest.strip_prefix(':').or(rest.is_empty().then_some("")),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, Some("")),
        }
    };
    port?.bytes().all(|b| b.is_ascii_digit()).then_some(host)
}

/// The authority of `uri` if it is an RFC 3986 URI with one (`scheme://authority...`): only
/// the characters RFC 3986 allows, percent-escapes of two hex digits, a valid scheme.
fn rfc3986_authority(uri: &str) -> Option<&str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !uri.bytes().all(allowed) {
        return None;
    }
    let mut escapes = uri.split('%').skip(1);
    if !escapes
        .all(|rest| rest.len() >= 2 && rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    {
        return None;
    }
    let (scheme, rest) = uri.split_once("://")?;
    let mut scheme_bytes = scheme.bytes();
    if !scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Whether one of `audience` names `resource` (already canonical).
pub(crate) fn audience_matches(audience: &[String], resource: &str) -> bool {
    audience
        .iter()
        .any(|aud| canonical_resource(aud).as_deref() == Some(resource))
}

/// Whether `url` may be used to reach an issuer or serve a resource: `https`, or `http` on a
/// loopback host (OAuth 2.1 §1.5, MCP authorization: communication security).
/// A URL with userinfo or a fragment is refused too: neither has a meaning for these
/// endpoints, and userinfo is a classic way to make a URL look like another host's.
pub(crate) fn is_secure_url(raw: &str) -> bool {
    // Checked on the text as well as on the parsed URL: the parser drops an empty `@`.
    if rfc3986_authority(raw).is_none_or(|authority| authority.contains('@')) {
        return false;
    }
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => true,
        "http" => is_loopback_host(url.host()),
        _ => false,
    }
}

/// Whether a URL host is a loopback host: `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_resources_ignore_case_default_ports_and_trailing_slashes() {
        let canonical = canonical_resource("https://billing.example.com/mcp").unwrap();
        for same in [
            "HTTPS://Billing.Example.COM/mcp",
            "https://billing.example.com:443/mcp",
            "https://billing.example.com/mcp/",
        ] {
            assert_eq!(canonical_resource(same).unwrap(), canonical, "{same}");
        }
        for other in [
            "http://billing.example.com/mcp",
            "https://billing.example.com:8443/mcp",
            "https://billing.example.com/MCP",
            "https://billing.example.com/mcp/x",
            "https://billing.example.com/mc",
            "https://evil.billing.example.com/mcp",
            "https://billing.example.com.evil/mcp",
        ] {
            assert_ne!(canonical_resource(other).unwrap(), canonical, "{other}");
        }
        assert_eq!(
            canonical_resource("https://a.example/").unwrap(),
            "https://a.example"
        );
        assert!(canonical_resource("https://a.example/mcp#frag").is_none());
        assert!(canonical_resource("mailto:a@example.com").is_none());
        assert!(canonical_resource("/mcp").is_none());
        assert!(canonical_resource("").is_none());
    }

    #[test]
    fn audience_must_contain_the_resource() {
        let resource = canonical_resource("https://r.example/mcp").unwrap();
        let aud = |v: Value| audiences(Some(&v)).unwrap();
        assert!(audience_matches(
            &aud(json!("https://r.example/mcp/")),
            &resource
        ));
        assert!(audience_matches(
            &aud(json!(["junk", "https://R.example/mcp"])),
            &resource
        ));
        assert!(!audience_matches(
            &aud(json!("https://r.example/mcp2")),
            &resource
        ));
        assert!(!audience_matches(&aud(json!("")), &resource));
        assert!(!audience_matches(&aud(json!([])), &resource));
        assert!(audiences(Some(&json!(5))).is_err());
        assert!(audiences(Some(&json!([5]))).is_err());
    }

    /// The members of a JSON object.
    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn scope_claims_are_strict_about_types() {
        let mapping = ClaimMapping::default();
        let auth = mapping
            .auth_info(map(
                json!({ "scope": "a:read  b:write é x\"y", "sub": "s", "azp": "c" }),
            ))
            .unwrap();
        assert_eq!(auth.scopes(), ["a:read", "b:write"]);
        assert_eq!(auth.client_id(), Some("c"));
        for wrong_type in [
            json!({ "scope": ["a:read"], "sub": "s" }),
            json!({ "scope": 7, "sub": "s" }),
            json!({ "sub": 7 }),
        ] {
            assert!(
                mapping.auth_info(map(wrong_type.clone())).is_err(),
                "{wrong_type}"
            );
        }

        let scp = ClaimMapping {
            scope: ScopeClaim::Scp,
            tenant: Some("tid".into()),
        };
        let auth = scp
            .auth_info(map(
                json!({ "scp": ["a:read", "b:write"], "scope": "admin", "tid": "t1", "sub": "s" }),
            ))
            .unwrap();
        assert_eq!(auth.scopes(), ["a:read", "b:write"]);
        assert_eq!(auth.tenant(), Some("t1"));
        assert!(
            scp.auth_info(map(json!({ "scp": [1], "sub": "s" })))
                .is_err()
        );
    }

    #[test]
    fn only_https_or_loopback_http_is_secure() {
        assert!(is_secure_url("https://auth.example.com"));
        assert!(is_secure_url("http://127.0.0.1:8080/realms/master"));
        assert!(is_secure_url("http://localhost:8080"));
        assert!(is_secure_url("http://[::1]:8080"));
        assert!(!is_secure_url("http://auth.example.com"));
        assert!(!is_secure_url("http://10.0.0.1"));
        assert!(!is_secure_url("ftp://auth.example.com"));
        assert!(!is_secure_url("not a url"));
    }

    #[test]
    fn a_token_must_name_a_subject_or_a_client() {
        let mapping = ClaimMapping::default();
        for nobody in [
            json!({ "scope": "a:read" }),
            json!({ "scope": "a:read", "sub": "", "client_id": "" }),
            json!({ "scope": "a:read", "sub": null, "azp": "" }),
        ] {
            assert!(mapping.auth_info(map(nobody.clone())).is_err(), "{nobody}");
        }
        let client_only = mapping
            .auth_info(map(json!({ "client_id": "svc", "sub": "" })))
            .unwrap();
        assert_eq!(client_only.subject(), None);
        assert_eq!(client_only.client_id(), Some("svc"));
        assert!(mapping.auth_info(map(json!({ "sub": "u" }))).is_ok());
    }

    #[test]
    fn audiences_are_rfc3986_uris_not_repaired_urls() {
        let resource = canonical_resource("http://host.example/mcp").unwrap();
        for bad in [
            "http://:pw@host.example/mcp",
            "http://@host.example/mcp",
            "http://user@host.example/mcp",
            "http://user:pw@host.example/mcp",
            "http://host.example\\mcp",
            "http:\\\\host.example/mcp",
            " http://host.example/mcp",
            "http://host.example/mcp ",
            "http://host.example/m cp",
            "http://host.example/mcp\t",
            "\thttp://host.example/mcp",
            "http://host.example/mcp\n",
            "http://host.exam\u{0}ple/mcp",
            "http://hôst.example/mcp",
            "http://host%2eexample/mcp",
            "http://host.example/mcp%zz",
            "http://host.example/mcp%4",
            "http:/host.example/mcp",
            "http:host.example/mcp",
        ] {
            assert_eq!(canonical_resource(bad), None, "{bad:?}");
            assert!(
                !audience_matches(&[bad.to_owned()], &resource),
                "{bad:?} matched"
            );
        }
        // A host the parser rewrites is not the host that was written.
        let loopback = canonical_resource("http://127.0.0.1/mcp").unwrap();
        for rewritten in [
            "http://0x7f.1/mcp",
            "http://2130706433/mcp",
            "http://127.1/mcp",
        ] {
            assert!(
                !audience_matches(&[rewritten.to_owned()], &loopback),
                "{rewritten}"
            );
        }
        // What RFC 3986 normalises still matches.
        for same in [
            "HTTP://HOST.example/mcp",
            "http://host.example:80/mcp",
            "http://host.example/a/../mcp",
            "http://host.example/mcp/",
        ] {
            assert!(audience_matches(&[same.to_owned()], &resource), "{same}");
        }
        assert!(canonical_resource("http://[::1]:8080/mcp").is_some());
        assert!(canonical_resource("http://host.example:/mcp").is_some());
    }

    #[test]
    fn secure_urls_have_no_userinfo_or_fragment() {
        for bad in [
            "https://user@auth.example.com",
            "https://:pw@auth.example.com",
            "https://@auth.example.com",
            "https://auth.example.com/jwks#frag",
            "https://auth.example.com\\@evil.example",
        ] {
            assert!(!is_secure_url(bad), "{bad}");
        }
    }
}
