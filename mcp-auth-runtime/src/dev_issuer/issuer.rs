//! [`DevIssuer`], the running issuer: minting, scope and resource resolution, and the access
//! tokens it signs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use serde::Serialize;

use super::keys;
use super::store::{Client, Grant};
use super::{DevIssuerBuilder, DevIssuerError, Inner, MINT_CLIENT_ID, endpoints};
use crate::auth::claims::canonical_resource;

/// An embedded OAuth 2.1 authorization server for local development and tests: never for
/// production. See the [module docs](super).
///
/// Cloning is cheap and shares the key and the state.
#[derive(Clone)]
pub struct DevIssuer {
    pub(super) inner: Arc<Inner>,
}

/// What [`DevIssuer::mint`] puts in a token.
///
/// ```
/// # use mcp_auth_runtime::dev_issuer::MintRequest;
/// let request = MintRequest {
///     subject: "alice".into(),
///     tenant: Some("acme".into()),
///     scopes: vec!["invoices:read".into()],
///     ..MintRequest::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintRequest {
    /// `sub`: the user or service.
    pub subject: String,
    /// `tenant`, if any.
    pub tenant: Option<String>,
    /// `scope`: each must be one of the issuer's scopes.
    pub scopes: Vec<String>,
    /// `client_id`; default [`MINT_CLIENT_ID`].
    pub client_id: Option<String>,
    /// `aud`: one of the issuer's resources; default the first.
    pub resource: Option<String>,
    /// How long the token is valid; default the issuer's token lifetime. Zero mints a token
    /// that is already expired, for tests of expiry.
    pub lifetime: Option<Duration>,
    /// `cnf.jkt` (RFC 9449 §6.1): binds the token to the DPoP key with this RFC 7638 SHA-256
    /// thumbprint (base64url), so that a resource server accepts it only with proofs signed
    /// by that key. Default: a bearer token.
    pub dpop_jkt: Option<String>,
}

impl DevIssuer {
    /// Starts configuring an issuer whose identifier (`iss`) is `issuer_url`, e.g.
    /// `http://127.0.0.1:8080`. It must be `http` or `https` on a loopback host.
    pub fn builder(issuer_url: impl Into<String>) -> DevIssuerBuilder {
        DevIssuerBuilder::new(issuer_url.into())
    }

    /// The issuer identifier, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `kid` of the signing key: its RFC 7638 SHA-256 thumbprint.
    pub fn kid(&self) -> &str {
        self.inner.key.kid()
    }

    /// The private signing key as PKCS#8 DER, to save and pass to
    /// [`DevIssuerBuilder::signing_key_pkcs8`] on the next start. It is a secret: anyone who
    /// holds it can mint tokens this issuer's verifiers accept.
    pub fn key_pkcs8(&self) -> &[u8] {
        self.inner.key.pkcs8()
    }

    /// The public key set, for [`JwtVerifierBuilder::static_keys`](crate::auth::JwtVerifierBuilder::static_keys).
    pub fn jwks(&self) -> crate::auth::JwkSet {
        crate::auth::JwkSet::from_jsonwebtoken(self.inner.key.jwks())
    }

    /// Mints an access token directly, without any flow: for tests and scripts.
    ///
    /// The resource and the scopes must be ones the issuer was configured with.
    pub fn mint(&self, request: MintRequest) -> Result<String, DevIssuerError> {
        let inner = &self.inner;
        let resource = inner
            .resource(request.resource.as_deref())
            .ok_or_else(|| DevIssuerError::UnknownResource(request.resource.unwrap_or_default()))?
            .to_owned();
        if let Some(unknown) = request.scopes.iter().find(|s| !inner.grants(s)) {
            return Err(DevIssuerError::UnknownScope(unknown.clone()));
        }
        let grant = Grant {
            client_id: request.client_id.unwrap_or_else(|| MINT_CLIENT_ID.into()),
            subject: request.subject,
            tenant: request.tenant,
            scopes: inner.ordered(request.scopes.iter().map(String::as_str)),
            resource,
            act: None,
        };
        let lifetime = request.lifetime.unwrap_or(inner.token_lifetime);
        inner.access_token(&grant, lifetime, request.dpop_jkt.as_deref())
    }

    /// The issuer's endpoints as an axum router, to merge with the MCP server's router:
    /// `server.into_router().merge(issuer.router())`. Routes sit under the issuer URL's path.
    pub fn router(&self) -> Router {
        endpoints::router(self.inner.clone())
    }
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("DevIssuer")
            .field("issuer", &inner.issuer)
            .field("key", &inner.key)
            .field(
                "resources",
                &inner.resources.iter().map(|r| &r.uri).collect::<Vec<_>>(),
            )
            .field(
                "scopes",
                &inner.scopes.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            )
            .field("users", &inner.users)
            .field("auto_consent", &inner.auto_consent)
            .field("token_lifetime", &inner.token_lifetime)
            .field("cors_origins", &inner.cors_origins)
            .field("dpop", &inner.dpop.policy())
            .finish_non_exhaustive()
    }
}

/// RFC 9068 §2.2 claims, and RFC 8693 §4.1 `act`.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    /// RFC 8693 §4.1: the actor of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

/// The `cnf` claim of a DPoP-bound token (RFC 9449 §6.1, RFC 7800).
#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

impl Inner {
    /// The configured resource a request names (compared in canonical form), or the default.
    pub(super) fn resource(&self, requested: Option<&str>) -> Option<&str> {
        match requested {
            None => self.resources.first().map(|r| r.uri.as_str()),
            Some(uri) => {
                let canonical = canonical_resource(uri)?;
                self.resources
                    .iter()
                    .find(|r| r.canonical == canonical)
                    .map(|r| r.uri.as_str())
            }
        }
    }

    /// The scopes of a request: those named, each one the issuer grants, or, when none is
    /// named, `default` (a client's registered scope, limited to known scopes) or else every
    /// scope. `Err` names the first unknown scope.
    pub(super) fn requested_scopes(
        &self,
        requested: Option<&str>,
        default: Option<&str>,
    ) -> Result<Vec<String>, String> {
        match requested {
            Some(requested) => split_scopes(requested, |s| self.grants(s))
                .map(|requested| self.ordered(requested))
                .map_err(str::to_owned),
            None => match default {
                Some(default) => Ok(self.ordered(default.split(' '))),
                None => Ok(self.scopes.iter().map(|(s, _)| s.clone()).collect()),
            },
        }
    }

    /// The client `id`: one configured with [`DevIssuerBuilder::client`], else a registered
    /// one.
    pub(super) fn client(&self, id: &str) -> Option<Client> {
        match self.clients.iter().find(|c| c.id == id) {
            Some(configured) => Some(configured.clone()),
            None => self.store.client(id),
        }
    }

    /// Whether `scope` is one the issuer grants.
    pub(super) fn grants(&self, scope: &str) -> bool {
        self.scopes.iter().any(|(known, _)| known == scope)
    }

    /// The known scopes among `scopes`, in configuration order, without duplicates.
    pub(super) fn ordered<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let scopes: Vec<&str> = scopes.into_iter().collect();
        self.scopes
            .iter()
            .filter(|(known, _)| scopes.contains(&known.as_str()))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Whether a browser may call the credential endpoints from `origin`, an `Origin` header:
    /// the issuer's own origin, or one named with `cors_origin`.
    pub(super) fn known_origin(&self, origin: &[u8]) -> bool {
        origin == self.origin.as_bytes() || self.cors_origins.iter().any(|o| o.as_bytes() == origin)
    }

    pub(super) fn scope_description(&self, scope: &str) -> &str {
        self.scopes
            .iter()
            .find(|(s, _)| s == scope)
            .map_or("", |(_, d)| d)
    }

    /// The identity `auto_consent` approves, and client credentials get the tenant of.
    pub(super) fn default_user(&self) -> &(String, String) {
        &self.users[0]
    }

    /// A signed access token for `grant`, bound to the DPoP key with thumbprint `jkt` if
    /// given.
    pub(super) fn access_token(
        &self,
        grant: &Grant,
        lifetime: Duration,
        jkt: Option<&str>,
    ) -> Result<String, DevIssuerError> {
        let iat = unix_time();
        let claims = AccessTokenClaims {
            iss: &self.issuer,
            aud: &grant.resource,
            sub: &grant.subject,
            client_id: &grant.client_id,
            scope: grant.scopes.join(" "),
            tenant: grant.tenant.as_deref(),
            iat,
            exp: iat.saturating_add(lifetime.as_secs()),
            jti: keys::random_string(16),
            cnf: jkt.map(|jkt| Confirmation { jkt }),
            act: grant.act.as_ref(),
        };
        self.key.sign(&claims)
    }
}

/// The scopes of a `scope` parameter (RFC 6749 §3.3: separated by spaces), or `Err` with the
/// first one `allowed` refuses.
pub(super) fn split_scopes(scope: &str, allowed: impl Fn(&str) -> bool) -> Result<Vec<&str>, &str> {
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    match scopes.iter().find(|s| !allowed(s)) {
        Some(refused) => Err(*refused),
        None => Ok(scopes),
    }
}

/// Seconds since the Unix epoch: `iat` and `client_id_issued_at`.
pub(super) fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
