//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1).

use http::HeaderValue;

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
}

impl Challenge {
    /// A challenge for `realm`.
    pub fn new(realm: impl Into<String>) -> Self {
        Challenge {
            realm: realm.into(),
            resource_metadata: None,
            scope: None,
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

    /// The challenge to a request with no token (RFC 6750 §3.1: no error code).
    pub fn missing_token(&self) -> HeaderValue {
        self.render(None, self.scope.as_deref(), None)
    }

    /// The challenge to a request whose token is invalid, expired or for another resource.
    pub fn invalid_token(&self) -> HeaderValue {
        self.render(
            Some("invalid_token"),
            None,
            Some("the access token is invalid or expired"),
        )
    }

    /// The challenge to a malformed request, such as two `Authorization` headers.
    pub fn invalid_request(&self) -> HeaderValue {
        self.render(
            Some("invalid_request"),
            None,
            Some("the request is malformed"),
        )
    }

    /// The step-up challenge: `403` with every scope the request needs, so the client can ask
    /// for them all at once.
    pub fn insufficient_scope(&self, required: &[&str]) -> HeaderValue {
        self.render(
            Some("insufficient_scope"),
            Some(&required.join(" ")),
            Some("the request requires higher privileges than provided by the access token"),
        )
    }

    fn render(
        &self,
        error: Option<&str>,
        scope: Option<&str>,
        description: Option<&str>,
    ) -> HeaderValue {
        let mut out = String::from("Bearer ");
        let mut params: Vec<(&str, &str)> = vec![("realm", &self.realm)];
        if let Some(url) = &self.resource_metadata {
            params.push(("resource_metadata", url));
        }
        if let Some(error) = error {
            params.push(("error", error));
        }
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        if let Some(description) = description {
            params.push(("error_description", description));
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
        HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

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
    use super::*;

    #[test]
    fn quoted_values_are_escaped() {
        let value = Challenge::new("a \"b\" \\ c\r\n").missing_token();
        assert_eq!(value.to_str().unwrap(), r#"Bearer realm="a \"b\" \\ c""#);
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
