//! [`JwtVerifier`]: JWT access tokens (RFC 9068) checked against the issuer's keys.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::cache::{TokenCache, Verified};
use super::claims::{
    ClaimMapping, ScopeClaim, audience_matches, canonical_resource, is_secure_url, now,
};
use super::jwks::{JwksCache, JwksSource, Key, KeySet};
use super::{AuthError, AuthInfo, Readiness, TokenVerifier};

/// The asymmetric algorithms accepted by default (RFC 8725 §3.1: an explicit allow-list).
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How many verified tokens a [`JwtVerifier`] remembers by default; see
/// [`cache_capacity`](JwtVerifierBuilder::cache_capacity).
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Why a [`JwtVerifierBuilder`] refused its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The issuer is not an absolute `https` URL (or `http` on loopback).
    #[error("issuer `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureIssuer(String),
    /// The JWKS URL is not an absolute `https` URL (or `http` on loopback).
    #[error("JWKS URL `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureJwksUrl(String),
    /// The resource is not an absolute URI without fragment.
    #[error(
        "resource `{0}` must be an absolute URI without fragment, e.g. https://mcp.example.com/mcp"
    )]
    InvalidResource(String),
    /// The algorithm allow-list is empty, or holds an HMAC algorithm without a shared secret.
    #[error("{0}")]
    Algorithms(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The HMAC secret is shorter than the 32 bytes HS256 needs (RFC 7518 §3.2).
    #[error(
        "the HMAC secret is {0} bytes long; it must hold at least 32 random bytes (RFC 7518 §3.2)"
    )]
    WeakHmacSecret(usize),
}

/// The least length of an [`hmac_secret`](JwtVerifierBuilder::hmac_secret): RFC 7518 §3.2
/// requires a key at least as long as the hash.
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// Validates JWT access tokens: signature with the issuer's keys, `iss`, `aud`, `exp`, `nbf`,
/// `iat`, and the algorithm against an allow-list.
///
/// - **Keys** come from the issuer's metadata (RFC 8414 `/.well-known/oauth-authorization-server`,
///   then OpenID Connect Discovery, path-aware for issuers such as Keycloak's
///   `/realms/master`), an explicit JWKS URL, or a static key set. Remote keys are cached; a
///   token with an unknown `kid` triggers at most one refetch per
///   [`refetch_interval`](JwtVerifierBuilder::refetch_interval), shared by concurrent
///   requests, so rotated keys are picked up without a restart and a flood of random `kid`s
///   cannot hammer the issuer. If the keys cannot be fetched the verifier fails closed.
///   A discovered `jwks_uri` gets the rules of a configured URL (`https`, or `http` on a
///   loopback host and then only for a loopback issuer; no userinfo; no fragment), or
///   nothing is fetched from it. It may lie on another origin than the issuer (Google,
///   Microsoft Entra ID v1 and Auth0 custom domains publish keys elsewhere): the metadata
///   naming it comes from the issuer's origin and names the issuer exactly (RFC 8414 §3.3).
///   Redirects are never followed. Metadata and key sets larger than 256 KiB are refused,
///   and reading stops at that bound, whether or not the response has a `Content-Length`.
/// - **Algorithms**: [`DEFAULT_ALGORITHMS`] (asymmetric only). `none` never validates; HMAC
///   algorithms only with an explicit [`hmac_secret`](JwtVerifierBuilder::hmac_secret), and
///   never with a key from a key set. A JWK that names its `alg` verifies that one only.
/// - **Type** (RFC 9068 §4, RFC 8725 §3.11): the header's `typ` must be `at+jwt` (or
///   `application/at+jwt`; compared as a media type, case-insensitively). ID tokens, logout
///   tokens, DPoP proofs, security event tokens and untyped JWTs signed by the same issuer are
///   refused, however right their claims. Issuers that do not type their access tokens (`typ`
///   absent or `JWT`) need the explicit
///   [`allow_untyped_tokens`](JwtVerifierBuilder::allow_untyped_tokens); every other
///   explicit type stays refused, and so do tokens that look like ID tokens (see there).
///   Whatever the type, a token carrying `nonce`, `at_hash`, `c_hash` or `s_hash` (claims of
///   OpenID Connect ID tokens only) is refused.
/// - **Bearer only**: a token with a `cnf` claim is bound to a key (DPoP, RFC 9449; mutual
///   TLS, RFC 8705) and is refused: accepting it as a bearer token would undo the binding.
/// - **Principal**: a token must name a subject (`sub`) or a client (`client_id`, `azp`).
/// - **Claims**: `iss` equals the issuer exactly; `aud` (a string or an array) contains the
///   resource, compared in canonical form; `exp` is required; `nbf` and `iat` must not lie in
///   the future; all with a leeway (default 60 s). Tokens with `crit` header parameters are
///   refused, since none are understood here (RFC 7515 §4.1.11); `jku`, `x5u` and `jwk`
///   headers are ignored: keys come from the configuration only.
/// - **Verified-token cache** (on by default, [`cache_capacity`](JwtVerifierBuilder::cache_capacity)):
///   a token that passed every check is remembered, by SHA-256 of the token, with its
///   [`AuthInfo`], so that the next request with the same token skips the signature check
///   (tens of microseconds for RS256) and the parsing. It weakens no check: a remembered token
///   is served only while `now < exp` (stricter than the leeway a cold check allows), only
///   while `nbf` and `iat` still lie in the past, and only under the key set it was verified
///   with, while that set is fresh: a refetched key set (rotation, a key removed) or one past
///   its [`max_key_age`](JwtVerifierBuilder::max_key_age) sends the token through every check
///   again. Failures are never remembered. The cache is bounded (an approximate LRU).
///
/// ```no_run
/// use mcp_auth_runtime::auth::{JwtVerifier, ScopeClaim};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = JwtVerifier::builder(
///     "https://auth.example.com/realms/billing",   // the issuer, exactly as in `iss`
///     "https://billing.example.com/mcp",           // this server: the audience
/// )
/// .scope_claim(ScopeClaim::Scope)
/// .tenant_claim("tenant")
/// .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    resource: String,
    /// Whether `resource` is its own canonical form, so that an audience equal to it needs no
    /// parsing to match.
    resource_is_canonical: bool,
    algorithms: Vec<Algorithm>,
    /// The claim validation of each allowed algorithm, built once.
    validations: Vec<(Algorithm, Validation)>,
    cache: Option<TokenCache>,
    leeway: u64,
    mapping: ClaimMapping,
    keys: Keys,
    hmac: Option<DecodingKey>,
    /// Whether tokens with `typ` absent or `JWT` are accepted too.
    allow_untyped: bool,
}

enum Keys {
    Remote(JwksCache),
    Static(KeySet),
}

impl JwtVerifier {
    /// Starts configuring a verifier for tokens of `issuer` minted for `resource` (this
    /// server's canonical URI, the expected audience).
    pub fn builder(issuer: impl Into<String>, resource: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuer: issuer.into(),
            resource: resource.into(),
            source: None,
            static_keys: None,
            hmac_secret: None,
            algorithms: None,
            leeway: Duration::from_secs(60),
            mapping: ClaimMapping::default(),
            refetch_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            allow_untyped: false,
        }
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Fetches the issuer's keys now (discovering them if needed), so that a misconfigured or
    /// unreachable issuer shows at start-up rather than on the first request. Returns the
    /// number of usable keys.
    pub async fn warm_up(&self) -> Result<usize, AuthError> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.warm_up().await.map_err(AuthError::Unavailable),
            Keys::Static(keys) => Ok(keys.len()),
        }
    }

    /// Whether tokens can be checked now: see [`TokenVerifier::ready`].
    pub async fn readiness(&self) -> Readiness {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.readiness().await,
            Keys::Static(_) => Readiness::Ready,
        }
    }

    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<Key>, AuthError> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.key(kid, alg).await,
            Keys::Static(keys) => keys.find(kid, alg).ok_or_else(|| {
                AuthError::InvalidToken(
                    "no configured key matches the token's `kid` and `alg`".into(),
                )
            }),
        }
    }

    /// The generation of the key set results are verified under; `None` while it must be
    /// refreshed before a remembered result may be served.
    fn key_generation(&self) -> Option<u64> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.generation(),
            Keys::Static(_) => Some(0),
        }
    }

    /// What must still hold when `auth`, verified under key set `generation`, is served
    /// again; `None` if its time claims cannot be read back (it is then not remembered).
    fn limits(&self, auth: &Arc<AuthInfo>, generation: u64) -> Option<Verified> {
        let secs = |claim: &str| match auth.claims().get(claim) {
            None => Some(0),
            Some(value) => value.as_u64(),
        };
        let expires = auth
            .expires_at()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let earliest = secs("nbf")?
            .max(secs("iat")?)
            .saturating_sub(self.inner.leeway);
        Some(Verified {
            auth: auth.clone(),
            expires,
            earliest,
            generation,
        })
    }

    /// Every check, without the cache.
    async fn verify_uncached(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let inner = &self.inner;
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed JWT"))?;
        if !inner.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not allowed"));
        }
        if header.crit.is_some() {
            return Err(invalid("`crit` header parameters are not supported"));
        }
        // Before any key is looked up: a token of another type costs no key-set fetch.
        check_type(header.typ.as_deref(), inner.allow_untyped).map_err(invalid)?;
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
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        // The claims' names were checked while they were read (`UniqueClaims`).
        if !header_names_are_distinct(token) {
            return Err(invalid("the token repeats a header or claim name"));
        }
        if let Some(marker) = ID_TOKEN_CLAIMS.iter().find(|c| claims.contains_key(**c)) {
            tracing::debug!(claim = marker, "token carries an ID-token claim");
            return Err(invalid("the token is an ID token, not an access token"));
        }
        if inner.allow_untyped && looks_like_id_token(&claims, &inner.mapping.scope) {
            return Err(invalid("the token is an ID token, not an access token"));
        }
        if claims.contains_key("cnf") {
            return Err(invalid(
                "token is sender-constrained (`cnf`), and proof of possession is not supported",
            ));
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_u64()
                .ok_or_else(|| invalid("claim `iat` is not a NumericDate"))?;
            if iat > now() + inner.leeway {
                return Err(invalid("token issued in the future"));
            }
        }
        let auth = inner.mapping.auth_info(claims)?;
        // An audience spelled exactly as the canonical resource matches without parsing.
        let exact = inner.resource_is_canonical && auth.audience().contains(&inner.resource);
        if !exact && !audience_matches(auth.audience(), &inner.resource) {
            return Err(invalid("token audience is not this resource"));
        }
        Ok(auth)
    }
}

/// Claims that only OpenID Connect ID tokens carry (OIDC Core §2, §3.1.3.6, §3.3.2.11; FAPI's
/// `s_hash`): they bind an ID token to a nonce, an access token, a code or a state.
const ID_TOKEN_CLAIMS: &[&str] = &["nonce", "at_hash", "c_hash", "s_hash"];

/// Whether a JWT's `typ` header names an access token (RFC 9068 §2.1): `at+jwt` or
/// `application/at+jwt`, compared as media types are (RFC 7515 §4.1.9: case-insensitively, the
/// `application/` prefix optional). With `allow_untyped`, also no `typ` or the generic `JWT`;
/// every other explicit type (`dpop+jwt`, `logout+jwt`, `secevent+jwt`, ...) is refused.
fn check_type(typ: Option<&str>, allow_untyped: bool) -> Result<(), &'static str> {
    let media_type = |typ: &str| {
        let typ = typ.to_ascii_lowercase();
        if typ.contains('/') {
            typ
        } else {
            format!("application/{typ}")
        }
    };
    match typ.map(media_type).as_deref() {
        Some("application/at+jwt") => Ok(()),
        Some("application/jwt") | None if allow_untyped => Ok(()),
        None => Err("the token is not typed as an access token (`typ: at+jwt`)"),
        Some(_) => Err("the token's `typ` is not `at+jwt`"),
    }
}

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

/// The claim validation `jsonwebtoken` does for tokens signed with `alg`.
fn validation(alg: Algorithm, issuer: &str, leeway: u64) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = leeway;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    // `aud` is compared in canonical form (RFC 8707) by `accept`, which `jsonwebtoken`'s exact
    // string comparison cannot do; the check itself is never skipped.
    validation.validate_aud = false;
    validation
}

impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    async fn ready(&self) -> Readiness {
        self.readiness().await
    }

    fn resource(&self) -> Option<&str> {
        Some(&self.inner.resource)
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        let Some(cache) = &self.inner.cache else {
            return self.verify_uncached(token).await.map(Arc::new);
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Read before the key lookup: a key set stored meanwhile has a later generation, so
        // the result is remembered under the older one and checked again on its next use.
        let generation = self.key_generation();
        if let Some(auth) = cache.get(&digest, now(), generation) {
            return Ok(auth);
        }
        let auth = Arc::new(self.verify_uncached(token).await?);
        if let Some(verified) = generation.and_then(|generation| self.limits(&auth, generation)) {
            cache.insert(digest, verified);
        }
        Ok(auth)
    }
}

/// Whether `token` has three segments and its header names every member once; the payload's
/// names are checked as the claims are read ([`UniqueClaims`]).
///
/// RFC 7515 §4 and RFC 7519 §4 let a parser keep the last of repeated names, as `serde_json`
/// does, but other parsers keep the first: a token whose `scope` or `aud` reads differently to
/// the issuer, a gateway and this server is refused rather than interpreted.
fn header_names_are_distinct(token: &str) -> bool {
    use base64::Engine;
    // Three segments: two dots, counted in a loop the compiler vectorizes.
    let Some((header, rest)) = token.split_once('.') else {
        return false;
    };
    if rest.bytes().filter(|b| *b == b'.').count() != 1 {
        return false;
    }
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&json);
    serde::Deserializer::deserialize_map(&mut deserializer, DistinctNames).is_ok()
}

/// A JWT payload whose members are named once each, read in the one pass that builds the
/// claims (see [`header_names_are_distinct`] for why).
struct UniqueClaims(Map<String, Value>);

/// The error a repeated claim name raises while the claims are read.
const REPEATED_CLAIM: &str = "repeated claim name";

impl<'de> serde::Deserialize<'de> for UniqueClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;

        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueClaims;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with distinct member names")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueClaims, A::Error> {
                let mut claims = Map::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<Value>()?;
                    if claims.insert(name, value).is_some() {
                        return Err(serde::de::Error::custom(REPEATED_CLAIM));
                    }
                }
                Ok(UniqueClaims(claims))
            }
        }

        deserializer.deserialize_map(Members)
    }
}

/// Visits a JSON object, failing on its first repeated member name; values are skipped.
struct DistinctNames;

impl<'de> serde::de::Visitor<'de> for DistinctNames {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with distinct member names")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Sorted, a repeated name sits next to itself: no hashing for the dozen names a token
        // holds, and still O(n log n) for many.
        let mut names = Vec::with_capacity(16);
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            names.push(name);
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(serde::de::Error::custom("repeated member name"));
        }
        Ok(())
    }
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
            let why = match err.kind() {
                ErrorKind::Json(json) if json.to_string().starts_with(REPEATED_CLAIM) => {
                    "the token repeats a header or claim name"
                }
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not yet valid",
                ErrorKind::InvalidIssuer => "token issuer is not the configured issuer",
                ErrorKind::InvalidSignature => "invalid signature",
                ErrorKind::MissingRequiredClaim(_) => {
                    "token lacks a required claim (exp, iss, aud)"
                }
                ErrorKind::InvalidAlgorithm => "algorithm does not match the key",
                _ => "malformed or unverifiable JWT",
            };
            AuthError::InvalidToken(why.to_owned())
        })
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("JwtVerifier")
            .field("issuer", &inner.issuer)
            .field("resource", &inner.resource)
            .field("algorithms", &inner.algorithms)
            .field("leeway", &inner.leeway)
            .field("mapping", &inner.mapping)
            .field("hmac_secret", &inner.hmac.as_ref().map(|_| "<redacted>"))
            .field("allow_untyped_tokens", &inner.allow_untyped)
            .finish_non_exhaustive()
    }
}

/// Configures a [`JwtVerifier`]. Created by [`JwtVerifier::builder`].
///
/// | option | default |
/// | --- | --- |
/// | keys | discovered from the issuer's metadata |
/// | [`algorithms`](Self::algorithms) | [`DEFAULT_ALGORITHMS`] |
/// | [`leeway`](Self::leeway) | 60 s |
/// | [`scope_claim`](Self::scope_claim) | `scope` |
/// | [`tenant_claim`](Self::tenant_claim) | none |
/// | [`refetch_interval`](Self::refetch_interval) | 30 s |
/// | [`max_key_age`](Self::max_key_age) | 1 h |
/// | [`timeout`](Self::timeout) | 5 s |
/// | [`cache_capacity`](Self::cache_capacity) | [`DEFAULT_CACHE_CAPACITY`] (1024 tokens) |
/// | [`allow_untyped_tokens`](Self::allow_untyped_tokens) | off: `typ` must be `at+jwt` |
#[must_use]
pub struct JwtVerifierBuilder {
    issuer: String,
    resource: String,
    source: Option<JwksSource>,
    static_keys: Option<JwkSet>,
    hmac_secret: Option<Vec<u8>>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    mapping: ClaimMapping,
    refetch_interval: Duration,
    max_age: Duration,
    timeout: Duration,
    cache_capacity: usize,
    allow_untyped: bool,
}

impl JwtVerifierBuilder {
    /// Also accepts access tokens that are not explicitly typed: `typ` absent, or the generic
    /// `JWT`. Off by default, as RFC 8725 §3.11 and RFC 9068 §4 advise: with it, an ID token
    /// (or any other JWT) the issuer signed for this audience cannot be told from an access
    /// token by its type. Turn it on only for an issuer that cannot type its access tokens
    /// `at+jwt`; the README's "Use a real issuer" says which do. Even then, every other
    /// explicit `typ` is refused, and so is a token that looks like an ID token: one carrying
    /// `nonce`, `at_hash`, `c_hash` or `s_hash`, one with `auth_time` but no scope claim, or one
    /// whose `typ` claim (Keycloak) is not `Bearer`.
    pub fn allow_untyped_tokens(mut self, allow: bool) -> Self {
        self.allow_untyped = allow;
        self
    }

    /// Fetches keys from this JWKS URL instead of discovering it.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(JwksSource::Url(url.into()));
        self
    }

    /// Verifies with these keys only; nothing is fetched.
    pub fn static_keys(mut self, keys: JwkSet) -> Self {
        self.static_keys = Some(keys);
        self
    }

    /// Also accepts HS256/384/512 tokens signed with this shared secret. Off by default: a
    /// shared secret lets anyone who holds it mint tokens. It must be at least
    /// [`MIN_HMAC_SECRET_LEN`] (32) bytes; [`build`](Self::build) refuses a shorter one.
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// The accepted algorithms, replacing [`DEFAULT_ALGORITHMS`].
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Where the token carries its scopes.
    pub fn scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.mapping.scope = claim;
        self
    }

    /// The claim naming the caller's tenant, for [`AuthInfo::tenant`].
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.tenant = Some(claim.into());
        self
    }

    /// The least time between two fetches of the key set, whatever triggers them.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How long fetched keys are used before they are fetched again.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The bound on each request to the issuer (metadata and key set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many verified tokens to remember (default [`DEFAULT_CACHE_CAPACITY`]); `0` turns
    /// the cache off, so that every request is checked from scratch. See
    /// [`JwtVerifier`] for why remembering weakens no check.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<JwtVerifier, JwtConfigError> {
        crate::auth::install_crypto_provider();
        if !is_secure_url(&self.issuer) {
            return Err(JwtConfigError::InsecureIssuer(super::fetch::shown(
                &self.issuer,
            )));
        }
        let resource = canonical_resource(&self.resource)
            .ok_or_else(|| JwtConfigError::InvalidResource(self.resource.clone()))?;
        let algorithms = self.algorithms.unwrap_or_else(|| {
            let mut algorithms = DEFAULT_ALGORITHMS.to_vec();
            if self.hmac_secret.is_some() {
                algorithms.extend([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
            }
            algorithms
        });
        if algorithms.is_empty() {
            return Err(JwtConfigError::Algorithms(
                "the algorithm allow-list is empty".into(),
            ));
        }
        if let Some(secret) = &self.hmac_secret
            && secret.len() < MIN_HMAC_SECRET_LEN
        {
            return Err(JwtConfigError::WeakHmacSecret(secret.len()));
        }
        if algorithms.iter().any(|a| is_hmac(*a)) && self.hmac_secret.is_none() {
            return Err(JwtConfigError::Algorithms(
                "HMAC algorithms need an explicit `hmac_secret`".into(),
            ));
        }
        let mut seen = HashSet::new();
        let algorithms: Vec<Algorithm> =
            algorithms.into_iter().filter(|a| seen.insert(*a)).collect();
        let keys = match self.static_keys {
            Some(set) => Keys::Static(KeySet::from_jwks(&set)),
            None => {
                let source = self.source.unwrap_or_else(|| JwksSource::Discover {
                    issuer: self.issuer.clone(),
                });
                if let JwksSource::Url(url) = &source
                    && !is_secure_url(url)
                {
                    // Shown without userinfo: errors end up in logs.
                    return Err(JwtConfigError::InsecureJwksUrl(super::fetch::shown(url)));
                }
                let http = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout)
                    // Redirects could lead a key fetch anywhere; issuers publish direct URLs.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| JwtConfigError::Http(e.to_string()))?;
                Keys::Remote(JwksCache::new(
                    source,
                    http,
                    self.refetch_interval,
                    self.max_age,
                ))
            }
        };
        let validations = algorithms
            .iter()
            .map(|alg| (*alg, validation(*alg, &self.issuer, self.leeway.as_secs())))
            .collect();
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                resource_is_canonical: canonical_resource(&resource).as_deref()
                    == Some(resource.as_str()),
                resource,
                algorithms,
                validations,
                cache: TokenCache::new(self.cache_capacity),
                leeway: self.leeway.as_secs(),
                mapping: self.mapping,
                keys,
                hmac: self.hmac_secret.map(|s| DecodingKey::from_secret(&s)),
                allow_untyped: self.allow_untyped,
            }),
        })
    }
}

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(header), b64(payload))
    }

    #[test]
    fn repeated_header_or_claim_names_are_detected() {
        let header = r#"{"alg":"ES256","kid":"k"}"#;
        let claims = |payload: &str| serde_json::from_str::<UniqueClaims>(payload).map(|c| c.0);
        assert!(header_names_are_distinct(&token(header, "{}")));
        let nested = claims(r#"{"aud":"a","scope":"x","nested":{"k":1,"k":2}}"#).unwrap();
        assert_eq!(nested["nested"]["k"], 2, "only the top level is checked");
        for repeated in [
            r#"{"aud":"a","aud":"b"}"#,
            r#"{"scope":"x","sub":"s","scope":"y"}"#,
            r#"{"scope":"x","sc\u006fpe":"y"}"#,
        ] {
            let err = claims(repeated).unwrap_err();
            assert!(
                err.to_string().starts_with(REPEATED_CLAIM),
                "{repeated}: {err}"
            );
        }
        assert!(!header_names_are_distinct(&token(
            r#"{"alg":"ES256","kid":"k","kid":"j"}"#,
            "{}"
        )));
        assert!(!header_names_are_distinct("no-dots"));
        assert!(!header_names_are_distinct("!!!.b.c"));
        assert!(!header_names_are_distinct(&format!(
            "{}.x",
            token(header, "{}")
        )));
        assert!(!header_names_are_distinct(&token("[1]", "{}")));
        assert!(claims("[1]").is_err());
    }
}
