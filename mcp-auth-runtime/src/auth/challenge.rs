//! `WWW-Authenticate` challenges: `Bearer` (RFC 6750 §3, RFC 9728 §5.1) and `DPoP` (RFC 9449
//! §7.1).

use http::HeaderValue;

use super::{Dpop, DpopPolicy};

/// The parameters every challenge of a protected resource carries.
///
/// ```
/// use mcp_auth_runtime::auth::Challenge;
///
/// let challenge = Challenge::new("billing")
///     .resource_metadata("https://billing.example.com/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(
///     challenge.insufficient_scope(&["invoices:write"]).to_str().unwrap(),
///     "Bearer realm=\"billing\", \
///      resource_metadata=\"https://billing.example.com/.well-known/oauth-protected-resource/mcp\", \
///      error=\"insufficient_scope\", scope=\"invoices:write\", \
///      error_description=\"the request requires higher privileges than provided by the access token\""
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Challenge {
    realm: String,
    resource_metadata: Option<String>,
    scope: Option<String>,
    dpop: Option<DpopChallenge>,
}

/// The `DPoP` scheme's part of a resource's challenges (RFC 9449 §7.1).
#[derive(Debug, Clone)]
struct DpopChallenge {
    /// `algs`: the accepted proof algorithms, space-separated.
    algs: String,
    /// Whether `Bearer` is left out: the resource takes DPoP-bound tokens only.
    only: bool,
}

/// How a request presented its access token: the scheme of its `Authorization` header. The
/// bearer layer records it in each request's extensions (the verified [`AuthInfo`](super::AuthInfo)
/// is shared across requests with the same token, so it cannot say), for the `403` step-up
/// challenge to answer in the scheme the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    #[default]
    Bearer,
    /// `Authorization: DPoP` with a proof (RFC 9449 §7.1).
    Dpop,
}

/// What a challenge reports about a refused request (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Problem<'a> {
    /// `error`.
    pub(crate) error: &'a str,
    /// `error_description`: for developers, never a token or a secret.
    pub(crate) description: &'a str,
}

impl Challenge {
    /// A challenge for `realm`.
    pub fn new(realm: impl Into<String>) -> Self {
        Challenge {
            realm: realm.into(),
            resource_metadata: None,
            scope: None,
            dpop: None,
        }
    }

    /// The URL of the protected-resource metadata document (RFC 9728 §5.1), which MCP clients
    /// use to discover the authorization server.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The scopes to request, sent with the challenge to a request that carried no token.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// Challenges in the `DPoP` scheme too (RFC 9449 §7.1), as `dpop`'s policy says:
    /// [`DpopPolicy::Accept`] answers a `401` with a `Bearer` challenge and then a `DPoP` one
    /// (two `WWW-Authenticate` values), [`DpopPolicy::Require`] with the `DPoP` one alone, and
    /// [`DpopPolicy::Off`] changes nothing. The `DPoP` challenge names the accepted proof
    /// algorithms in `algs`. [`BearerAuthLayer::dpop`](super::BearerAuthLayer::dpop) and
    /// [`McpServerBuilder::dpop`](crate::McpServerBuilder::dpop) set this; it matters on its
    /// own for a [`RequireScopes`](super::RequireScopes) given a challenge of your own.
    ///
    /// ```
    /// use mcp_auth_runtime::auth::{Algorithm, Challenge, Dpop};
    ///
    /// let challenge = Challenge::new("billing")
    ///     .dpop(&Dpop::require().algorithms([Algorithm::ES256, Algorithm::EdDSA]));
    /// # let _ = challenge;
    /// ```
    pub fn dpop(mut self, dpop: &Dpop) -> Self {
        let algs = dpop
            .accepted_algorithms()
            .iter()
            .map(|alg| alg.name())
            .collect::<Vec<_>>()
            .join(" ");
        self.dpop = match dpop.policy() {
            DpopPolicy::Accept => Some(DpopChallenge { algs, only: false }),
            DpopPolicy::Require => Some(DpopChallenge { algs, only: true }),
            _ => None,
        };
        self
    }

    /// The `Bearer` challenge to a request with no token (RFC 6750 §3.1: no error code).
    pub fn missing_token(&self) -> HeaderValue {
        self.render(BEARER, None, self.scope.as_deref(), None)
    }

    /// The `Bearer` challenge to a request whose token is invalid, expired or for another
    /// resource.
    pub fn invalid_token(&self) -> HeaderValue {
        self.render(BEARER, Some(&INVALID_TOKEN), None, None)
    }

    /// The `Bearer` challenge to a malformed request, such as two `Authorization` headers.
    pub fn invalid_request(&self) -> HeaderValue {
        self.render(BEARER, Some(&INVALID_REQUEST), None, None)
    }

    /// The `Bearer` step-up challenge: `403` with every scope the request needs, so the
    /// client can ask for them all at once.
    pub fn insufficient_scope(&self, required: &[&str]) -> HeaderValue {
        self.insufficient_scope_in(Scheme::Bearer, required)
    }

    /// The step-up challenge in the scheme the client used.
    pub(crate) fn insufficient_scope_in(&self, scheme: Scheme, required: &[&str]) -> HeaderValue {
        let problem = Problem {
            error: "insufficient_scope",
            description: "the request requires higher privileges than provided by the access token",
        };
        let scheme = match scheme {
            Scheme::Bearer => BEARER,
            Scheme::Dpop => DPOP,
        };
        self.render(scheme, Some(&problem), Some(&required.join(" ")), None)
    }

    /// The `WWW-Authenticate` values of a `401` or `400`: one challenge per scheme this
    /// resource accepts, `Bearer` first (MCP clients such as the TypeScript SDK look for
    /// `resource_metadata` in a value that starts with `Bearer`). `problem` goes to the
    /// challenge of the scheme the client used (`to`), or to each when that is ambiguous
    /// (`None`), as RFC 9449 §7.2 recommends; with no `problem` (no token came) every
    /// challenge carries the scopes to ask for instead.
    pub(crate) fn values(
        &self,
        problem: Option<&Problem<'_>>,
        to: Option<Scheme>,
    ) -> Vec<HeaderValue> {
        // With one challenge, it reports the problem whatever the scheme used.
        let only_dpop = self.dpop.as_ref().is_some_and(|dpop| dpop.only);
        let to = to.filter(|_| !only_dpop && self.dpop.is_some());
        let reported = |scheme: Scheme| problem.filter(|_| to.is_none_or(|to| to == scheme));
        let scope = match problem {
            None => self.scope.as_deref(),
            Some(_) => None,
        };
        let mut values = Vec::with_capacity(2);
        if !only_dpop {
            values.push(self.render(BEARER, reported(Scheme::Bearer), scope, None));
        }
        if let Some(dpop) = &self.dpop {
            values.push(self.render(DPOP, reported(Scheme::Dpop), scope, Some(&dpop.algs)));
        }
        values
    }

    fn render(
        &self,
        scheme: &str,
        problem: Option<&Problem<'_>>,
        scope: Option<&str>,
        algs: Option<&str>,
    ) -> HeaderValue {
        let mut out = String::from(scheme);
        out.push(' ');
        let mut params: Vec<(&str, &str)> = vec![("realm", &self.realm)];
        if let Some(url) = &self.resource_metadata {
            params.push(("resource_metadata", url));
        }
        // A `DPoP` challenge always names the algorithms, even a step-up one rendered without
        // the resource's configuration.
        let algs = algs.or_else(|| {
            (scheme == DPOP)
                .then(|| self.dpop.as_ref().map(|dpop| dpop.algs.as_str()))
                .flatten()
        });
        if let Some(algs) = algs {
            params.push(("algs", algs));
        }
        if let Some(problem) = problem {
            params.push(("error", problem.error));
        }
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        if let Some(problem) = problem {
            params.push(("error_description", problem.description));
        }
        for (i, (key, value)) in params.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(key);
            out.push_str("=\"");
            push_quoted(&mut out, value);
            out.push('"');
        }
        // Unreachable: `push_quoted` keeps every value a valid header value.
        HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

const BEARER: &str = "Bearer";
const DPOP: &str = "DPoP";

/// `invalid_token` (RFC 6750 §3.1), with the description every `Bearer` refusal of a token
/// has carried.
pub(crate) const INVALID_TOKEN: Problem<'static> = Problem {
    error: "invalid_token",
    description: "the access token is invalid or expired",
};

/// `invalid_request` (RFC 6750 §3.1).
pub(crate) const INVALID_REQUEST: Problem<'static> = Problem {
    error: "invalid_request",
    description: "the request is malformed",
};

/// RFC 9110 §5.6.4 quoted-string: `"` and `\` are escaped, and characters a header value
/// cannot carry are dropped, so no configured value can break the header.
fn push_quoted(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' | '\t' => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Algorithm;
    use super::*;

    #[test]
    fn quoted_values_are_escaped() {
        let value = Challenge::new("a \"b\" \\ c\r\n").missing_token();
        assert_eq!(value.to_str().unwrap(), r#"Bearer realm="a \"b\" \\ c""#);
    }

    #[test]
    fn a_problem_goes_to_the_scheme_used_or_to_each() {
        let challenge = Challenge::new("r").scope("a");
        let accept = challenge
            .clone()
            .dpop(&Dpop::accept().algorithms([Algorithm::ES256]));
        let require = challenge
            .clone()
            .dpop(&Dpop::require().algorithms([Algorithm::ES256]));
        let problem = Problem {
            error: "e",
            description: "d",
        };
        let text = |values: Vec<HeaderValue>| -> Vec<String> {
            values
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        let bearer_e = r#"Bearer realm="r", error="e", error_description="d""#;
        let dpop_e = r#"DPoP realm="r", algs="ES256", error="e", error_description="d""#;
        assert_eq!(
            text(accept.values(None, None)),
            [
                r#"Bearer realm="r", scope="a""#,
                r#"DPoP realm="r", algs="ES256", scope="a""#
            ]
        );
        assert_eq!(
            text(accept.values(Some(&problem), Some(Scheme::Dpop))),
            [r#"Bearer realm="r""#, dpop_e]
        );
        assert_eq!(
            text(accept.values(Some(&problem), Some(Scheme::Bearer))),
            [bearer_e, r#"DPoP realm="r", algs="ES256""#]
        );
        assert_eq!(
            text(accept.values(Some(&problem), None)),
            [bearer_e, dpop_e]
        );
        // One challenge reports the problem, whichever scheme the client used.
        for to in [None, Some(Scheme::Bearer), Some(Scheme::Dpop)] {
            assert_eq!(text(require.values(Some(&problem), to)), [dpop_e]);
            assert_eq!(text(challenge.values(Some(&problem), to)), [bearer_e]);
        }
    }

    #[test]
    fn missing_token_carries_no_error() {
        let value = Challenge::new("mcp").scope("a b").missing_token();
        assert_eq!(
            value.to_str().unwrap(),
            r#"Bearer realm="mcp", scope="a b""#
        );
    }
}
