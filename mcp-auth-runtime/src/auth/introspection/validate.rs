//! Judging an introspection response (RFC 7662 §2.2) by this resource server's rules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::IntrospectionVerifier;
use crate::auth::claims::audience_matches;
use crate::auth::cnf;
use crate::auth::{AuthError, AuthInfo, InvalidToken, InvalidTokenKind};

/// Latest `exp` or `nbf` accepted (the last second of year 9999): larger values are nonsense,
/// and would overflow `SystemTime` arithmetic.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

impl IntrospectionVerifier {
    /// Applies RFC 7662 §2.2 and this resource server's rules to a response.
    pub(super) fn validate(&self, response: Map<String, Value>) -> Result<AuthInfo, AuthError> {
        let inner = &*self.inner;
        use InvalidTokenKind as Kind;
        let invalid =
            |kind, why: &'static str| AuthError::InvalidToken(InvalidToken::new(kind, why));
        // Only the JSON boolean counts: `"true"` or `1` are malformed answers, not consent.
        if response.get("active") != Some(&Value::Bool(true)) {
            return Err(invalid(Kind::Inactive, "token is not active"));
        }
        // A DPoP-bound token (`cnf.jkt`, RFC 9449 §6.2) is accepted here; the bearer layer
        // lets it through only with a proof of possession of that key.
        let jkt = cnf::jkt(&response).map_err(|why| invalid(Kind::Malformed, why))?;
        check_token_type(&response, jkt.is_some()).map_err(|why| invalid(Kind::Malformed, why))?;
        let exp = numeric_date(&response, "exp")?;
        let nbf = numeric_date(&response, "nbf")?;
        let mut auth = inner.mapping.auth_info(response)?;
        auth.dpop_thumbprint = jkt;
        if inner
            .issuer
            .as_deref()
            .is_some_and(|issuer| auth.issuer() != Some(issuer))
        {
            return Err(invalid(
                Kind::WrongIssuer,
                "token issuer is not the configured issuer",
            ));
        }
        if auth.audience().is_empty() {
            tracing::warn!(
                endpoint = %inner.endpoint,
                "introspection response has no `aud`: configure the authorization server to \
                 return the token's audience (RFC 8707 resource indicators)"
            );
            return Err(invalid(
                Kind::WrongAudience,
                "introspection response has no audience",
            ));
        }
        if !audience_matches(auth.audience(), &inner.resource) {
            return Err(invalid(
                Kind::WrongAudience,
                "token audience does not include this resource",
            ));
        }
        let now = SystemTime::now();
        // `checked_add` is `None` only for an absurd leeway, which then tolerates everything.
        if exp.is_some_and(|exp| exp.checked_add(inner.leeway).is_some_and(|end| end < now)) {
            return Err(invalid(Kind::Expired, "token expired"));
        }
        if nbf.is_some_and(|nbf| now.checked_add(inner.leeway).is_some_and(|late| nbf > late)) {
            return Err(invalid(Kind::NotYetValid, "token not yet valid"));
        }
        Ok(auth)
    }
}

/// RFC 9449 §6.2: the `token_type` of a DPoP-bound token, when given, is `DPoP`; and a
/// response that calls the token `DPoP` without naming its key (`cnf.jkt`) leaves nothing to
/// check a proof against, so it is refused too. Token types are case-insensitive (RFC 6749
/// §7.1).
fn check_token_type(response: &Map<String, Value>, bound: bool) -> Result<(), &'static str> {
    let dpop = match response.get("token_type") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(kind)) => kind.eq_ignore_ascii_case("DPoP"),
        Some(_) => return Err("`token_type` is not a string"),
    };
    match (dpop, bound) {
        (false, true) => {
            Err("the token is DPoP-bound (`cnf.jkt`) but its `token_type` is not `DPoP`")
        }
        (true, false) => Err("the token's `token_type` is `DPoP` but it names no key (`cnf.jkt`)"),
        _ => Ok(()),
    }
}

/// A NumericDate member (RFC 7519 §2) as a time; a member of another type rejects the token.
pub(super) fn numeric_date(
    response: &Map<String, Value>,
    name: &str,
) -> Result<Option<SystemTime>, AuthError> {
    match response.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|secs| *secs <= MAX_NUMERIC_DATE)
            .map(|secs| Some(UNIX_EPOCH + Duration::from_secs(secs)))
            .ok_or_else(|| {
                crate::auth::claims::malformed(format!("claim `{name}` is not a NumericDate"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_are_bounded_integers() {
        let response = |v: Value| serde_json::json!({ "exp": v }).as_object().unwrap().clone();
        assert!(numeric_date(&response(Value::from(u64::MAX)), "exp").is_err());
        assert!(numeric_date(&response(Value::from(-1)), "exp").is_err());
        assert!(numeric_date(&response(Value::from("1")), "exp").is_err());
        assert_eq!(
            numeric_date(&response(Value::from(10)), "exp").unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(10))
        );
    }
}
