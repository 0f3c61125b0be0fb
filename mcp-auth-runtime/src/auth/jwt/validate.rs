//! The checks of a JWT access token: header, signature and claims (RFC 9068 §4, RFC 8725).

use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde_json::{Map, Value};

use super::JwtVerifier;
use super::names::{REPEATED_CLAIM, UniqueClaims, header_names_are_distinct};
use super::typ::check_type;
use crate::auth::claims::{ScopeClaim, audience_matches, now};
use crate::auth::cnf;
use crate::auth::{AuthError, AuthInfo, InvalidToken, InvalidTokenKind};

impl JwtVerifier {
    /// Every check, without the cache.
    ///
    /// Each segment of the token is decoded once and each JSON document read once:
    /// `jsonwebtoken::decode` would decode the header three times (twice more than the
    /// `decode_header` needed to pick the key) and read the claims twice, once into the
    /// caller's type and once into its own for `exp`, `nbf` and `iss`. Only the signature
    /// check is left to it ([`jsonwebtoken::crypto::verify`]); the registered claims are
    /// checked here as `jsonwebtoken::decode` checks them ([`registered_claims`]).
    pub(super) async fn verify_uncached(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let inner = &self.inner;
        let invalid = |why: &'static str| invalid(InvalidTokenKind::Malformed, why);
        let jwt = Segments::split(token).ok_or_else(|| invalid("malformed JWT"))?;
        let header_json = base64_url(jwt.header).ok_or_else(|| invalid("malformed JWT"))?;
        let header: Header =
            serde_json::from_slice(&header_json).map_err(|_| invalid("malformed JWT"))?;
        // Reported after the signature, as a repeated claim name is.
        let names_distinct = header_names_are_distinct(&header_json);
        if !inner.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not allowed"));
        }
        if header.crit.is_some() {
            return Err(invalid("`crit` header parameters are not supported"));
        }
        // Before any key is looked up: a token of another type costs no key-set fetch.
        check_type(header.typ.as_deref(), inner.allow_untyped)
            .map_err(|why| self::invalid(InvalidTokenKind::WrongTokenType, why))?;
        // HMAC tokens are checked with the configured secret only, never with a key from a
        // key set: a public key used as an HMAC secret is the algorithm-confusion attack.
        if is_hmac(header.alg) {
            let secret = inner
                .hmac
                .as_ref()
                .ok_or_else(|| invalid("algorithm not allowed"))?;
            verify_signature(&jwt, secret, header.alg)?;
        } else {
            let key = self.key(header.kid.as_deref(), header.alg).await?;
            verify_signature(&jwt, &key.decoding, header.alg)?;
        }
        let claims = read_claims(jwt.payload)?;
        registered_claims(&claims, &inner.issuer, inner.leeway)?;
        if !names_distinct {
            return Err(invalid("the token repeats a header or claim name"));
        }
        self.accept(claims)
    }

    /// The checks that follow the signature's: token kind, binding, `iat`, the claims'
    /// types and the audience.
    fn accept(&self, claims: Map<String, Value>) -> Result<AuthInfo, AuthError> {
        let inner = &self.inner;
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

/// A compact JWS split at its two dots; anything but three segments is not one.
struct Segments<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// What the signature covers: `header.payload`.
    signed: &'a str,
}

impl<'a> Segments<'a> {
    fn split(token: &'a str) -> Option<Segments<'a>> {
        let (header, rest) = token.split_once('.')?;
        let (payload, signature) = rest.split_once('.')?;
        if signature.contains('.') {
            return None;
        }
        Some(Segments {
            header,
            payload,
            signature,
            signed: &token[..header.len() + 1 + payload.len()],
        })
    }
}

/// A segment's bytes: unpadded base64url, as RFC 7515 §2 has it and `jsonwebtoken` reads it.
fn base64_url(segment: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
}

fn verify_signature(
    jwt: &Segments<'_>,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<(), AuthError> {
    match jsonwebtoken::crypto::verify(jwt.signature, jwt.signed.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid(InvalidTokenKind::BadSignature, "invalid signature")),
        Err(err) => Err(refusal(&err)),
    }
}

/// The payload's claims, each name once ([`UniqueClaims`]).
fn read_claims(payload: &str) -> Result<Map<String, Value>, AuthError> {
    let malformed = || invalid(InvalidTokenKind::Malformed, "malformed or unverifiable JWT");
    let json = base64_url(payload).ok_or_else(malformed)?;
    match serde_json::from_slice::<UniqueClaims>(&json) {
        Ok(claims) => Ok(claims.0),
        Err(err) => {
            let message = err.to_string();
            if message.starts_with(REPEATED_CLAIM)
                || message.starts_with(crate::jsonrpc::REPEATED_MEMBER)
            {
                Err(invalid(
                    InvalidTokenKind::Malformed,
                    "the token repeats a header or claim name",
                ))
            } else {
                Err(malformed())
            }
        }
    }
}

/// What `jsonwebtoken::decode` checked of the registered claims with the `Validation` this
/// verifier used to give it (`exp`, `iss` and `aud` required, `nbf` checked, the issuer
/// pinned, `leeway` on both times), in its order and with its outcomes, read from the claims
/// already parsed rather than from the payload a second time. The audience is compared by
/// [`JwtVerifier::accept`], in canonical form.
fn registered_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    leeway: u64,
) -> Result<(), AuthError> {
    use InvalidTokenKind as Kind;
    let exp = numeric_date(claims.get("exp"));
    let nbf = numeric_date(claims.get("nbf"));
    let iss = strings(claims.get("iss"));
    let aud_present = matches!(strings(claims.get("aud")), Parsed::Yes(()));
    if !matches!(exp, Parsed::Yes(_)) || !matches!(iss, Parsed::Yes(())) || !aud_present {
        return Err(invalid(
            Kind::Malformed,
            "token lacks a required claim (exp, iss, aud)",
        ));
    }
    if matches!(nbf, Parsed::Failed) {
        return Err(invalid(Kind::Malformed, "malformed or unverifiable JWT"));
    }
    let now = now();
    if matches!(exp, Parsed::Yes(exp) if exp < now.saturating_sub(leeway)) {
        return Err(invalid(Kind::Expired, "token expired"));
    }
    if matches!(nbf, Parsed::Yes(nbf) if nbf > now.saturating_add(leeway)) {
        return Err(invalid(Kind::NotYetValid, "token not yet valid"));
    }
    // A string, or an array holding it (`jsonwebtoken` accepted either).
    let issued_here = match claims.get("iss") {
        Some(Value::String(iss)) => iss == issuer,
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(issuer)),
        _ => false,
    };
    if !issued_here {
        return Err(invalid(
            Kind::WrongIssuer,
            "token issuer is not the configured issuer",
        ));
    }
    Ok(())
}

/// A registered claim as `jsonwebtoken` read it: absent (or `null`), of the right type, or
/// present but unusable.
enum Parsed<T> {
    Absent,
    Yes(T),
    Failed,
}

/// A NumericDate: a non-negative integer, or a finite non-negative number rounded to one.
fn numeric_date(value: Option<&Value>) -> Parsed<u64> {
    match value {
        None | Some(Value::Null) => Parsed::Absent,
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => Parsed::Yes(n),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Parsed::Yes(f.round() as u64)
            }
            _ => Parsed::Failed,
        },
        Some(_) => Parsed::Failed,
    }
}

/// `iss` or `aud`: a string or an array of strings.
fn strings(value: Option<&Value>) -> Parsed<()> {
    match value {
        None | Some(Value::Null) => Parsed::Absent,
        Some(Value::String(_)) => Parsed::Yes(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Parsed::Yes(()),
        Some(_) => Parsed::Failed,
    }
}

/// A `jsonwebtoken` error as the refusal it stands for.
fn refusal(err: &jsonwebtoken::errors::Error) -> AuthError {
    use InvalidTokenKind as Kind;
    use jsonwebtoken::errors::ErrorKind;
    let (kind, why) = match err.kind() {
        ErrorKind::InvalidSignature => (Kind::BadSignature, "invalid signature"),
        ErrorKind::InvalidAlgorithm => (Kind::Malformed, "algorithm does not match the key"),
        _ => (Kind::Malformed, "malformed or unverifiable JWT"),
    };
    invalid(kind, why)
}
