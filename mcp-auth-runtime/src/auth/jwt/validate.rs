//! The checks of a JWT access token: header, signature and claims (RFC 9068 §4, RFC 8725).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::JwtVerifier;
use super::names::{REPEATED_CLAIM, UniqueClaims, header_names_are_distinct};
use super::typ::check_type;
use crate::auth::claims::{ScopeClaim, audience_matches, now};
use crate::auth::cnf;
use crate::auth::{AuthError, AuthInfo, InvalidToken, InvalidTokenKind};

impl JwtVerifier {
    /// Every check, without the cache.
    pub(super) async fn verify_uncached(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let inner = &self.inner;
        let invalid = |why: &'static str| invalid(InvalidTokenKind::Malformed, why);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed JWT"))?;
        if !inner.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not allowed"));
        }
        if header.crit.is_some() {
            return Err(invalid("`crit` header parameters are not supported"));
        }
        // Before any key is looked up: a token of another type costs no key-set fetch.
        check_type(header.typ.as_deref(), inner.allow_untyped)
            .map_err(|why| self::invalid(InvalidTokenKind::WrongTokenType, why))?;
        let validation = inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .map(|(_, validation)| validation)
            .ok_or_else(|| invalid("algorithm not allowed"))?;
        // HMAC tokens are checked with the configured secret only, never with a key from a
        // key set: a public key used as an HMAC secret is the algorithm-confusion attack.
        let claims = if is_hmac(header.alg) {
            let secret = inner
                .hmac
                .as_ref()
                .ok_or_else(|| invalid("algorithm not allowed"))?;
            decode(token, secret, validation)?
        } else {
            let key = self.key(header.kid.as_deref(), header.alg).await?;
            decode(token, &key.decoding, validation)?
        };
        self.accept(token, claims)
    }

    /// The checks that follow a valid signature: distinct header and claim names, `iat`, the
    /// claims' types, and the audience.
    fn accept(&self, token: &str, claims: Map<String, Value>) -> Result<AuthInfo, AuthError> {
        let inner = &self.inner;
        // The claims' names were checked while they were read (`UniqueClaims`).
        if !header_names_are_distinct(token) {
            return Err(invalid(
                InvalidTokenKind::Malformed,
                "the token repeats a header or claim name",
            ));
        }
        let id_token = || {
            invalid(
                InvalidTokenKind::WrongTokenType,
                "the token is an ID token, not an access token",
            )
        };
        if let Some(marker) = ID_TOKEN_CLAIMS.iter().find(|c| claims.contains_key(**c)) {
            tracing::debug!(claim = marker, "token carries an ID-token claim");
            return Err(id_token());
        }
        if inner.allow_untyped && looks_like_id_token(&claims, &inner.mapping.scope) {
            return Err(id_token());
        }
        // A DPoP-bound token (`cnf.jkt`) is accepted here; the bearer layer lets it through
        // only with a proof of possession of that key. Any other binding is refused.
        let jkt = cnf::jkt(&claims).map_err(|why| invalid(InvalidTokenKind::Malformed, why))?;
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_u64().ok_or_else(|| {
                invalid(
                    InvalidTokenKind::Malformed,
                    "claim `iat` is not a NumericDate",
                )
            })?;
            if iat > now() + inner.leeway {
                return Err(invalid(
                    InvalidTokenKind::NotYetValid,
                    "token issued in the future",
                ));
            }
        }
        let mut auth = inner.mapping.auth_info(claims)?;
        auth.dpop_thumbprint = jkt;
        // An audience spelled exactly as the canonical resource matches without parsing.
        let exact = inner.resource_is_canonical && auth.audience().contains(&inner.resource);
        if !exact && !audience_matches(auth.audience(), &inner.resource) {
            return Err(invalid(
                InvalidTokenKind::WrongAudience,
                "token audience is not this resource",
            ));
        }
        Ok(auth)
    }
}

/// Claims that only OpenID Connect ID tokens carry (OIDC Core §2, §3.1.3.6, §3.3.2.11; FAPI's
/// `s_hash`): they bind an ID token to a nonce, an access token, a code or a state.
const ID_TOKEN_CLAIMS: &[&str] = &["nonce", "at_hash", "c_hash", "s_hash"];

/// What marks an untyped JWT as an OpenID Connect ID token rather than an access token, beyond
/// [`ID_TOKEN_CLAIMS`]: `auth_time` without any scope claim (an ID token records when the user
/// signed in and grants nothing), or Keycloak's `typ` claim naming another kind than `Bearer`
/// (`ID`, `Refresh`, `Logout`).
fn looks_like_id_token(claims: &Map<String, Value>, scope: &ScopeClaim) -> bool {
    let no_scope = !claims.contains_key(scope.name()) && !claims.contains_key("scope");
    let other_kind = claims.get("typ").is_some_and(|typ| {
        !typ.as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    });
    (claims.contains_key("auth_time") && no_scope) || other_kind
}

/// A refusal of class `kind`; `why` is a fixed sentence, so nothing is allocated.
fn invalid(kind: InvalidTokenKind, why: &'static str) -> AuthError {
    AuthError::InvalidToken(InvalidToken::new(kind, why))
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    jsonwebtoken::decode::<UniqueClaims>(token, key, validation)
        .map(|data| data.claims.0)
        .map_err(|err| {
            use InvalidTokenKind as Kind;
            let (kind, why) = match err.kind() {
                ErrorKind::Json(json)
                    if json.to_string().starts_with(REPEATED_CLAIM)
                        || json
                            .to_string()
                            .starts_with(crate::jsonrpc::REPEATED_MEMBER) =>
                {
                    (Kind::Malformed, "the token repeats a header or claim name")
                }
                ErrorKind::ExpiredSignature => (Kind::Expired, "token expired"),
                ErrorKind::ImmatureSignature => (Kind::NotYetValid, "token not yet valid"),
                ErrorKind::InvalidIssuer => (
                    Kind::WrongIssuer,
                    "token issuer is not the configured issuer",
                ),
                ErrorKind::InvalidAudience => {
                    (Kind::WrongAudience, "token audience is not this resource")
                }
                ErrorKind::InvalidSignature => (Kind::BadSignature, "invalid signature"),
                ErrorKind::MissingRequiredClaim(_) => (
                    Kind::Malformed,
                    "token lacks a required claim (exp, iss, aud)",
                ),
                ErrorKind::InvalidAlgorithm => {
                    (Kind::Malformed, "algorithm does not match the key")
                }
                _ => (Kind::Malformed, "malformed or unverifiable JWT"),
            };
            invalid(kind, why)
        })
}
