//! [`DevIssuerBuilder`]: the issuer's configuration, checked and turned into a [`DevIssuer`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::client::DevClientAuth;
use super::endpoints::metadata_document;
use super::keys::{SigningKey, digest, is_client_key};
use super::store::{Client, ClientAuth, Store};
use super::{DEFAULT_TOKEN_LIFETIME, DevIssuer, DevIssuerError, Inner, Resource};
use super::{DevClient, EXCHANGE_GRANT};
use crate::auth::claims::{canonical_resource, is_loopback_host};
use crate::auth::{Dpop, DpopPolicy, is_scope_token};

/// Configures a [`DevIssuer`]. Created by [`DevIssuer::builder`].
///
/// | option | default |
/// | --- | --- |
/// | [`signing_key_pkcs8`](Self::signing_key_pkcs8) | a fresh ES256 key |
/// | [`resource`](Self::resource) | none; at least one is required |
/// | [`scopes`](Self::scopes) | none: tokens carry no scope |
/// | [`users`](Self::users) | `dev-user` in tenant `dev` |
/// | [`tenants`](Self::tenants) | the users' home tenants |
/// | [`auto_consent`](Self::auto_consent) | off: the consent page is shown |
/// | [`token_lifetime`](Self::token_lifetime) | [`DEFAULT_TOKEN_LIFETIME`], one hour |
/// | [`cors_origin`](Self::cors_origin) | none: no cross-origin calls to `/register` and `/token` |
/// | [`dpop`](Self::dpop) | [`DpopPolicy::Accept`]: DPoP-bound tokens for requests with a proof |
/// | [`client`](Self::client) | none: clients register dynamically |
#[must_use]
pub struct DevIssuerBuilder {
    issuer: String,
    key: Option<Vec<u8>>,
    resources: Vec<String>,
    scopes: Vec<String>,
    descriptions: Vec<(String, String)>,
    tenants: Vec<String>,
    users: Vec<(String, String)>,
    auto_consent: bool,
    token_lifetime: Duration,
    cors_origins: Vec<String>,
    dpop: DpopPolicy,
    clients: Vec<DevClient>,
}

impl DevIssuerBuilder {
    /// Starts a configuration for the issuer `issuer`: see [`DevIssuer::builder`].
    pub(super) fn new(issuer: String) -> DevIssuerBuilder {
        DevIssuerBuilder {
            issuer,
            key: None,
            resources: Vec::new(),
            scopes: Vec::new(),
            descriptions: Vec::new(),
            tenants: Vec::new(),
            users: Vec::new(),
            auto_consent: false,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            cors_origins: Vec::new(),
            dpop: DpopPolicy::Accept,
            clients: Vec::new(),
        }
    }

    /// Signs with this key, a PKCS#8 DER P-256 private key, e.g. one saved from
    /// [`DevIssuer::key_pkcs8`] so that tokens survive a restart. The `kid` is the key's
    /// RFC 7638 thumbprint, so it stays the same too.
    pub fn signing_key_pkcs8(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.key = Some(der.into());
        self
    }

    /// A resource this issuer mints tokens for: an MCP server's canonical URI, the `aud` of
    /// its tokens (RFC 8707). Call it once per resource; the first is the default for
    /// requests without a `resource` parameter. A request for any other resource is refused
    /// with `invalid_target`.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// Scopes this issuer may grant. In the code flow any registered client may request any
    /// of them; `client_credentials` grants at most the client's registered scope (see
    /// [Scope policy](super#scope-policy)).
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// What `scope` means, shown on the consent page. Without it, `invoices:read` reads
    /// "read access to invoices".
    pub fn scope_description(
        mut self,
        scope: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.descriptions.push((scope.into(), description.into()));
        self
    }

    /// Tenants offered on the consent page, besides the users' home tenants.
    pub fn tenants<I, T>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tenants.extend(tenants.into_iter().map(Into::into));
        self
    }

    /// Users offered on the consent page, as `(subject, home tenant)`. The first one is
    /// preselected, and approved by [`auto_consent`](Self::auto_consent).
    pub fn users<I, S, T>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = (S, T)>,
        S: Into<String>,
        T: Into<String>,
    {
        self.users
            .extend(users.into_iter().map(|(s, t)| (s.into(), t.into())));
        self
    }

    /// Approves every valid authorization request at once, as the first user in their home
    /// tenant, without showing the consent page: for headless runs and tests.
    pub fn auto_consent(mut self, auto_consent: bool) -> Self {
        self.auto_consent = auto_consent;
        self
    }

    /// How long access tokens are valid.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Lets a browser-based client served from `origin` register and redeem codes with
    /// `fetch`: `/register` and `/token` answer its requests, with CORS headers naming that
    /// origin. Call it once per origin, e.g. `.cors_origin("http://localhost:6274")` for the
    /// MCP Inspector. Any page served from a named origin can then obtain tokens from this
    /// issuer: name only origins whose pages you trust. `*` and `null` are refused.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// How the token endpoint treats DPoP proofs (RFC 9449 §5); see
    /// [DPoP-bound tokens](super#dpop-bound-tokens).
    ///
    /// - [`DpopPolicy::Accept`], the default: a token request with a valid proof gets a token
    ///   bound to the proof's key (`cnf.jkt`, `token_type: DPoP`); one without gets a bearer
    ///   token.
    /// - [`DpopPolicy::Require`]: a token request without a proof is refused with
    ///   `invalid_dpop_proof`, so that clients learn at the issuer, not at the resource
    ///   server, that bearer tokens are of no use.
    /// - [`DpopPolicy::Off`]: as an issuer without DPoP support, the `DPoP` header is
    ///   ignored and every token is a bearer token; the metadata lists no proof algorithm.
    ///
    /// Match the resource server's [`McpServerBuilder::dpop`](crate::McpServerBuilder::dpop).
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.dpop = policy;
        self
    }

    /// Registers `client` from the start (confidential clients of resource servers; others
    /// register dynamically), with what it may do: see [`DevClient`].
    ///
    /// [`build`](Self::build) refuses a client with an empty or repeated id, a secret shorter
    /// than 32 characters, a key set with no key or with a symmetric key, a scope the issuer
    /// does not grant, or an exchange target that is not one of its resources.
    pub fn client(mut self, client: DevClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Validates the configuration and prepares the key and the metadata.
    pub fn build(self) -> Result<DevIssuer, DevIssuerError> {
        let url = issuer_url(&self.issuer)?;
        let prefix = url.path().trim_end_matches('/').to_owned();
        let origin = url.origin().ascii_serialization();
        let cors_origins = cors_origins(self.cors_origins)?;
        let resources = resources(self.resources)?;
        let scopes = scopes(self.scopes, &self.descriptions)?;
        let clients = clients(self.clients, &resources, &scopes)?;
        let users = users(self.users, &self.tenants);
        let tenants = tenants(&users, &self.tenants);
        if users.iter().any(|(s, _)| s.is_empty()) || tenants.iter().any(String::is_empty) {
            return Err(DevIssuerError::EmptyName);
        }
        if self.token_lifetime.as_secs() == 0 {
            return Err(DevIssuerError::InvalidLifetime);
        }
        let key = match self.key {
            Some(der) => SigningKey::from_pkcs8(der)?,
            None => SigningKey::generate()?,
        };
        // Its own configuration, and so its own replay record: proofs sent to this issuer are
        // never checked against the resource server's record, nor fill it.
        let dpop = Dpop::new(self.dpop);
        let dpop_algorithms = match self.dpop {
            DpopPolicy::Off => &[][..],
            _ => dpop.accepted_algorithms(),
        };
        let metadata = metadata_document(&self.issuer, &scopes, dpop_algorithms, &clients);
        let token_endpoint = format!("{}/token", self.issuer.trim_end_matches('/'));
        let jwks = Bytes::from(serde_json::to_vec(&key.jwks()).expect("a JWK set serializes"));

        crate::server::visible_warning!(
            "development issuer at {}: for local development and tests only, never in production",
            self.issuer
        );
        Ok(DevIssuer {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                prefix,
                origin,
                cors_origins,
                token_endpoint,
                dpop,
                key,
                metadata,
                jwks,
                resources,
                scopes,
                token_lifetime: self.token_lifetime,
                users,
                tenants,
                auto_consent: self.auto_consent,
                clients,
                store: Store::default(),
            }),
        })
    }
}

impl fmt::Debug for DevIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuerBuilder")
            .field("issuer", &self.issuer)
            .field("signing_key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("resources", &self.resources)
            .field("scopes", &self.scopes)
            .field("tenants", &self.tenants)
            .field("users", &self.users)
            .field("auto_consent", &self.auto_consent)
            .field("token_lifetime", &self.token_lifetime)
            .field("cors_origins", &self.cors_origins)
            .field("dpop", &self.dpop)
            .field("clients", &self.clients)
            .finish()
    }
}

/// The issuer URL, parsed: an absolute `http(s)` URL on a loopback host, without query,
/// fragment or credentials.
fn issuer_url(issuer: &str) -> Result<Url, DevIssuerError> {
    let url = Url::parse(issuer)
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && !u.cannot_be_a_base()
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        })
        .ok_or_else(|| DevIssuerError::InvalidIssuer(issuer.to_owned()))?;
    if !is_loopback_host(url.host()) {
        return Err(DevIssuerError::NotLoopback(issuer.to_owned()));
    }
    Ok(url)
}

/// The origins named with `cors_origin`, serialized as browsers send them, without repeats.
fn cors_origins(given: Vec<String>) -> Result<Vec<String>, DevIssuerError> {
    let mut origins: Vec<String> = Vec::new();
    for given in given {
        let origin =
            web_origin(&given).ok_or_else(|| DevIssuerError::InvalidCorsOrigin(given.clone()))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// The configured resources, the first of each canonical form; at least one.
fn resources(given: Vec<String>) -> Result<Vec<Resource>, DevIssuerError> {
    let mut resources: Vec<Resource> = Vec::new();
    for uri in given {
        let canonical =
            canonical_resource(&uri).ok_or_else(|| DevIssuerError::InvalidResource(uri.clone()))?;
        if !resources.iter().any(|r| r.canonical == canonical) {
            resources.push(Resource { uri, canonical });
        }
    }
    if resources.is_empty() {
        return Err(DevIssuerError::NoResource);
    }
    Ok(resources)
}

/// The configured clients, checked, as the token endpoint sees them.
fn clients(
    given: Vec<DevClient>,
    resources: &[Resource],
    scopes: &[(String, String)],
) -> Result<Vec<Client>, DevIssuerError> {
    let mut clients: Vec<Client> = Vec::new();
    for client in given {
        let invalid = |reason: &str| DevIssuerError::InvalidClient {
            client: client.id.clone(),
            reason: reason.to_owned(),
        };
        if client.id.is_empty() {
            return Err(invalid("the client id is empty"));
        }
        if clients.iter().any(|c| c.id == client.id) {
            return Err(invalid("the client id is configured twice"));
        }
        let auth = match &client.auth {
            // A secret anyone could guess would let them act as the client and exchange
            // tokens: held to the length of the secrets dynamic registration hands out.
            DevClientAuth::Secret(secret) if secret.chars().count() < 32 => {
                return Err(invalid("the secret is shorter than 32 characters"));
            }
            DevClientAuth::Secret(secret) => ClientAuth::Secret(digest(secret)),
            DevClientAuth::PrivateKeyJwt(jwks) => {
                let keys = &jwks.as_jsonwebtoken().keys;
                if keys.is_empty() {
                    return Err(invalid("the key set holds no key"));
                }
                // A symmetric key would turn the "public" key set into a shared secret that
                // anyone reading the configuration could sign assertions with.
                if !keys.iter().all(is_client_key) {
                    return Err(invalid(
                        "every key must be a public EC, RSA or Ed25519 signing key; symmetric keys are refused",
                    ));
                }
                ClientAuth::PrivateKeyJwt(Arc::new(jwks.clone()))
            }
        };
        if let Some(scope) = &client.scope
            && let Some(unknown) = scope
                .split(' ')
                .find(|s| !s.is_empty() && !scopes.iter().any(|(known, _)| known == s))
        {
            return Err(invalid(&format!(
                "scope `{unknown}` is not one the issuer grants"
            )));
        }
        let mut exchange_for: Vec<String> = Vec::new();
        for target in &client.exchange_for {
            let resource = canonical_resource(target)
                .and_then(|canonical| resources.iter().find(|r| r.canonical == canonical))
                .ok_or_else(|| {
                    invalid(&format!(
                        "`may_exchange_for({target})` names no resource of the issuer: add it with `.resource(..)`"
                    ))
                })?;
            if !exchange_for.contains(&resource.uri) {
                exchange_for.push(resource.uri.clone());
            }
        }
        let mut grant_types = Vec::new();
        if client.scope.is_some() {
            grant_types.push("client_credentials".to_owned());
        }
        if !exchange_for.is_empty() {
            grant_types.push(EXCHANGE_GRANT.to_owned());
        }
        clients.push(Client {
            id: client.id.clone(),
            auth,
            name: None,
            redirect_uris: Vec::new(),
            grant_types,
            scope: client.scope.clone(),
            dpop_bound: false,
            exchange_for,
        });
    }
    Ok(clients)
}

/// Each grantable scope, once, with what it means: the last description given for it, or a
/// default one.
fn scopes(
    given: Vec<String>,
    descriptions: &[(String, String)],
) -> Result<Vec<(String, String)>, DevIssuerError> {
    let mut scopes: Vec<(String, String)> = Vec::new();
    for scope in given {
        if !is_scope_token(&scope) {
            return Err(DevIssuerError::InvalidScope(scope));
        }
        if !scopes.iter().any(|(s, _)| *s == scope) {
            let description = descriptions
                .iter()
                .rev()
                .find(|(s, _)| *s == scope)
                .map_or_else(|| describe(&scope), |(_, d)| d.clone());
            scopes.push((scope, description));
        }
    }
    Ok(scopes)
}

/// The configured users, or `dev-user` in the first tenant (else `dev`) when there is none.
fn users(mut users: Vec<(String, String)>, tenants: &[String]) -> Vec<(String, String)> {
    if users.is_empty() {
        let tenant = tenants.first().map_or("dev", String::as_str);
        users.push(("dev-user".into(), tenant.into()));
    }
    users
}

/// Every tenant offered: the users' home tenants, then the others, without repeats.
fn tenants(users: &[(String, String)], others: &[String]) -> Vec<String> {
    let mut tenants: Vec<String> = Vec::new();
    for tenant in users.iter().map(|(_, t)| t).chain(others) {
        if !tenants.contains(tenant) {
            tenants.push(tenant.clone());
        }
    }
    tenants
}

/// `given` as browsers serialize an origin in `Origin` (RFC 6454 §6.2), if it is an `http(s)`
/// origin: no credentials, path, query or fragment.
fn web_origin(given: &str) -> Option<String> {
    let url = Url::parse(given).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    bare.then(|| url.origin().ascii_serialization())
}

/// What a scope means when nobody said: `invoices:read` is "read access to invoices".
fn describe(scope: &str) -> String {
    match scope.split_once(':') {
        Some((resource, action)) if !resource.is_empty() && !action.is_empty() => {
            format!("{action} access to {resource}")
        }
        _ => format!("the `{scope}` permission"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_get_a_default_description() {
        assert_eq!(describe("invoices:read"), "read access to invoices");
        assert_eq!(describe("admin"), "the `admin` permission");
    }

    #[test]
    fn cors_origins_are_web_origins_only() {
        for (given, serialized) in [
            ("http://localhost:6274", "http://localhost:6274"),
            ("http://localhost:6274/", "http://localhost:6274"),
            ("HTTP://LocalHost:6274", "http://localhost:6274"),
            ("https://inspector.example:443", "https://inspector.example"),
            ("http://[::1]:80", "http://[::1]"),
        ] {
            assert_eq!(web_origin(given).as_deref(), Some(serialized), "{given}");
        }
        for bad in [
            "*",
            "null",
            "",
            "localhost:6274",
            "http://localhost:6274/inspector",
            "http://localhost:6274/?",
            "http://localhost:6274/#x",
            "http://u:p@localhost:6274",
            "file:///tmp/page.html",
            "ws://localhost:6274",
        ] {
            assert_eq!(web_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_loopback_issuers_build() {
        let build = |url: &str| {
            DevIssuer::builder(url)
                .resource("http://127.0.0.1/mcp")
                .build()
        };
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1/dev/",
            "https://LOCALHOST",
            "http://[::1]:9",
        ] {
            assert!(build(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://0.0.0.0:8080",
            "http://192.168.1.10",
            "http://localhost.example.com",
            "http://[::]:80",
        ] {
            assert!(
                matches!(build(bad), Err(DevIssuerError::NotLoopback(_))),
                "{bad}"
            );
        }
        for bad in [
            "ftp://127.0.0.1",
            "http://127.0.0.1/?a=b",
            "http://u:p@127.0.0.1",
            "127.0.0.1:80",
        ] {
            assert!(
                matches!(build(bad), Err(DevIssuerError::InvalidIssuer(_))),
                "{bad}"
            );
        }
    }
}
