//! Reading the token endpoint's answer: a token response (RFC 8693 §2.2.1, or RFC 6749 §5.1
//! for Entra's on-behalf-of flow) becomes a [`DownstreamToken`], an error response (RFC 6749
//! §5.2) an [`ExchangeError::Refused`]; anything else fails closed.
//!
//! Parse errors are reported without serde's detail, which may quote the body.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::request::ACCESS_TOKEN_TYPE;
use super::{DownstreamToken, ExchangeError, ExchangeGrant};
use crate::auth::is_b64token;

/// `issued_token_type` of a JWT (RFC 8693 §3): an access token in JWT form, usable as one.
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The longest `error` code and `error_description` kept, in characters.
const MAX_ERROR_LEN: usize = 512;

/// A token response read from a `200` answer.
pub(super) struct Issued {
    pub(super) token: DownstreamToken,
    /// `expires_in`: without it, the token is used once and not cached.
    pub(super) lifetime: Option<Duration>,
}

/// Reads a `200` answer's body, as `grant` answers it; `requested` are the scopes asked for,
/// the token's scopes when the response names none (RFC 8693 §2.2.1).
pub(super) fn token(
    body: &[u8],
    grant: ExchangeGrant,
    requested: &[&str],
) -> Result<Issued, ExchangeError> {
    let unusable =
        |why: &str| ExchangeError::Unavailable(format!("unusable token response: {why}"));
    let fields: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| unusable("not a JSON object"))?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let token = text("access_token").ok_or_else(|| unusable("no `access_token`"))?;
    if !is_b64token(token.as_bytes()) {
        return Err(unusable("`access_token` is not an RFC 6750 b64token"));
    }
    // A DPoP-bound or `N_A` token cannot be sent as a bearer token (RFC 8693 §2.2.1).
    match text("token_type") {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(unusable("`token_type` is not `Bearer`")),
        None => return Err(unusable("no `token_type`")),
    }
    // Required by RFC 8693; Entra's on-behalf-of responses (RFC 6749 §5.1) have none.
    match (text("issued_token_type"), grant) {
        (Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE), _) => {}
        (None, ExchangeGrant::EntraOnBehalfOf) => {}
        (Some(_), _) => return Err(unusable("`issued_token_type` is not an access token")),
        (None, _) => return Err(unusable("no `issued_token_type`")),
    }
    let lifetime = match fields.get("expires_in") {
        None | Some(Value::Null) => None,
        // Entra's v1 endpoint sends it as a string.
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    }
    .map(Duration::from_secs);
    if fields.contains_key("expires_in") && lifetime.is_none() {
        return Err(unusable("`expires_in` is not a number of seconds"));
    }
    let scopes = match text("scope") {
        Some(scope) => scope.split_ascii_whitespace().map(str::to_owned).collect(),
        None => requested.iter().map(|s| (*s).to_owned()).collect(),
    };
    Ok(Issued {
        token: DownstreamToken {
            token: token.into(),
            expires_at: lifetime.and_then(|lifetime| SystemTime::now().checked_add(lifetime)),
            scopes,
        },
        lifetime,
    })
}

/// Reads an error answer (`400`, or `401` for `invalid_client`): a refusal if it is an OAuth
/// error response, `None` otherwise. A description quoting `subject` (the inbound token) has
/// it replaced before it is cut to length: cut first, the part of the token kept would no
/// longer match, and would reach the logs and whoever reads the error.
pub(super) fn refusal(body: &[u8], subject: &str) -> Option<ExchangeError> {
    let fields: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let error = fields.get("error")?.as_str()?;
    // RFC 6749 §5.2: NQSCHAR only.
    let error_chars = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if error.is_empty() || error.len() > MAX_ERROR_LEN || !error.chars().all(error_chars) {
        return None;
    }
    let description = fields
        .get("error_description")
        .and_then(Value::as_str)
        .map(|d| {
            d.replace(subject, "<redacted>")
                .chars()
                .take(MAX_ERROR_LEN)
                .collect()
        });
    Some(ExchangeError::Refused {
        error: error.to_owned(),
        description,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value, grant: ExchangeGrant) -> Result<Issued, ExchangeError> {
        token(body.to_string().as_bytes(), grant, &["payments:write"])
    }

    fn exchanged(extra: Value) -> Value {
        let mut body = json!({
            "access_token": "eyJ.payload.sig",
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 300,
        });
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    }

    #[test]
    fn a_token_exchange_response_gives_the_token_its_lifetime_and_scopes() {
        let issued = parse(exchanged(json!({})), ExchangeGrant::TokenExchange).unwrap();
        assert_eq!(issued.token.secret(), "eyJ.payload.sig");
        assert_eq!(issued.lifetime, Some(Duration::from_secs(300)));
        assert_eq!(issued.token.scopes(), ["payments:write"], "those asked for");
        let issued = parse(
            exchanged(json!({"scope": "payments:read", "token_type": "bearer",
                             "issued_token_type": JWT_TOKEN_TYPE})),
            ExchangeGrant::TokenExchange,
        )
        .unwrap();
        assert_eq!(issued.token.scopes(), ["payments:read"]);
        let issued = parse(
            exchanged(json!({"expires_in": null})),
            ExchangeGrant::TokenExchange,
        );
        assert!(issued.unwrap().lifetime.is_none());
    }

    #[test]
    fn responses_that_are_no_usable_bearer_access_token_fail_closed() {
        for (case, body) in [
            ("DPoP-bound", exchanged(json!({"token_type": "DPoP"}))),
            (
                "not an access token",
                exchanged(json!({"token_type": "N_A"})),
            ),
            ("no token type", exchanged(json!({"token_type": null}))),
            (
                "an id token",
                exchanged(
                    json!({"issued_token_type": "urn:ietf:params:oauth:token-type:id_token"}),
                ),
            ),
            (
                "no issued type",
                exchanged(json!({"issued_token_type": null})),
            ),
            ("no token", exchanged(json!({"access_token": null}))),
            (
                "header injection",
                exchanged(json!({"access_token": "a\r\nX-Evil: 1"})),
            ),
            ("empty token", exchanged(json!({"access_token": ""}))),
            ("expires_in text", exchanged(json!({"expires_in": "soon"}))),
            ("not an object", json!(["access_token"])),
        ] {
            let parsed = parse(body, ExchangeGrant::TokenExchange);
            assert!(
                matches!(parsed, Err(ExchangeError::Unavailable(_))),
                "{case}"
            );
        }
    }

    #[test]
    fn an_on_behalf_of_response_needs_no_issued_token_type() {
        let body = json!({"access_token": "eyJ.a.b", "token_type": "Bearer", "expires_in": "3599",
                          "scope": "api://payments/Refunds.Write", "refresh_token": "r"});
        let issued = parse(body.clone(), ExchangeGrant::EntraOnBehalfOf).unwrap();
        assert_eq!(issued.lifetime, Some(Duration::from_secs(3599)));
        assert!(parse(body, ExchangeGrant::TokenExchange).is_err());
    }

    #[test]
    fn error_responses_are_refusals_and_other_bodies_are_not() {
        let body = json!({"error": "invalid_target", "error_description": "not for you"});
        match refusal(body.to_string().as_bytes(), "inbound") {
            Some(ExchangeError::Refused { error, description }) => {
                assert_eq!(error, "invalid_target");
                assert_eq!(description.as_deref(), Some("not for you"));
            }
            other => panic!("{other:?}"),
        }
        for body in [
            &b"<html>bad gateway</html>"[..],
            b"{\"error\":\"a\\\"b\"}",
            b"{}",
        ] {
            assert!(refusal(body, "inbound").is_none());
        }
    }

    #[test]
    fn parse_errors_never_quote_the_body() {
        let body = br#"{"access_token": "s3cr3t", "token_type": 7}"#;
        let Err(err) = token(body, ExchangeGrant::TokenExchange, &[]) else {
            panic!("accepted");
        };
        assert!(!err.to_string().contains("s3cr3t"));
    }
}
