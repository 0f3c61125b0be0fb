//! The HTTP side: metadata, key set, registration, authorization and token endpoints.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use url::Url;

use super::Inner;
use super::consent::{ConsentPage, error_page};
use super::keys::{basic_credentials, digest, is_pkce_value, random_token, s256_matches};
use super::store::{Authorization, Client, Grant, Redeemed};
use crate::auth::claims::is_loopback_host;

/// Largest request body read by the issuer.
const BODY_LIMIT: usize = 64 * 1024;

type Issuer = Arc<Inner>;

pub(super) fn router(issuer: Issuer) -> Router {
    let prefix = issuer.prefix.clone();
    // The metadata and the key set are public documents: browser-based clients (the MCP
    // Inspector) read them with `fetch` from their own origin. GET only, no credentials.
    let public = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .allow_headers(Any);
    let document = || get(metadata).layer(public.clone());
    let mut router = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{prefix}"),
            document(),
        )
        .route(
            &format!("/.well-known/openid-configuration{prefix}"),
            document(),
        )
        .route(&format!("{prefix}/jwks"), get(jwks).layer(public.clone()))
        .route(
            &format!("{prefix}/register"),
            credentials(post(register), &issuer),
        )
        // Never CORS here: the user agent navigates to this endpoint; a readable consent page
        // would leak its form token, a readable redirect its code.
        .route(&format!("{prefix}/authorize"), get(authorize).post(consent))
        .route(
            &format!("{prefix}/token"),
            credentials(post(token), &issuer),
        );
    if !prefix.is_empty() {
        router = router.route(
            &format!("{prefix}/.well-known/openid-configuration"),
            document(),
        );
    }
    router
        .route_layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route_layer(middleware::from_fn(loopback_only))
        .with_state(issuer)
}

/// Registration and the token endpoint hand out credentials. Browsers may call them from the
/// issuer's own origin and from the origins named with `cors_origin`, and get CORS headers
/// for the latter only. Any other `Origin` is refused before the handler runs: without a
/// preflight, a page can still send a simple request (a form, `text/plain`) and would
/// register clients or spend codes blind.
fn credentials(route: MethodRouter<Issuer>, issuer: &Issuer) -> MethodRouter<Issuer> {
    let route = route.layer(middleware::from_fn_with_state(
        issuer.clone(),
        known_origins_only,
    ));
    if issuer.cors_origins.is_empty() {
        return route;
    }
    let origins = issuer
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    route.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers(Any),
    )
}

/// Lets through requests without `Origin` (clients that are not browsers) and with exactly
/// one known origin.
async fn known_origins_only(
    State(issuer): State<Issuer>,
    request: Request,
    next: Next,
) -> Response {
    let mut origins = request.headers().get_all(header::ORIGIN).iter();
    let known = match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => issuer.known_origin(origin.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !known {
        tracing::warn!(
            path = %request.uri().path(),
            origin = ?request.headers().get(header::ORIGIN),
            "development issuer: a cross-origin request was refused; name a browser-based client's origin with `DevIssuerBuilder::cors_origin`"
        );
        return (
            StatusCode::FORBIDDEN,
            "the development issuer refuses cross-origin requests from origins not named with `DevIssuerBuilder::cors_origin`",
        )
            .into_response();
    }
    next.run(request).await
}

/// Answers only requests from a loopback peer addressed to a loopback host: the issuer stays
/// unreachable from other machines even if bound to all interfaces, and from web pages
/// through DNS rebinding. Without the peer address (a router served without
/// `into_make_service_with_connect_info`), nothing shows where a request comes from, so every
/// request is refused.
async fn loopback_only(request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        tracing::error!(
            "development issuer: requests carry no peer address, so every request is refused: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`"
        );
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the development issuer needs each connection's peer address: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`",
        )
            .into_response();
    };
    let peer_ok = peer.ip().to_canonical().is_loopback();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !peer_ok || !host.is_some_and(is_loopback_authority) {
        return (
            StatusCode::FORBIDDEN,
            "the development issuer answers loopback requests only",
        )
            .into_response();
    }
    next.run(request).await
}

fn is_loopback_authority(authority: &str) -> bool {
    !authority.contains(['@', '/', '\\', '?', '#'])
        && Url::parse(&format!("http://{authority}/")).is_ok_and(|url| is_loopback_host(url.host()))
}

async fn metadata(State(issuer): State<Issuer>) -> Response {
    json_bytes(StatusCode::OK, issuer.metadata.clone())
}

async fn jwks(State(issuer): State<Issuer>) -> Response {
    let mut response = json_bytes(StatusCode::OK, issuer.jwks.clone());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

/// An OAuth error response: RFC 6749 §5.2 for the token endpoint, RFC 7591 §3.2.2 for
/// registration.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<Cow<'static, str>>) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = json_value(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: `invalid_client` answers with a challenge for the scheme.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-auth-dev-issuer\""),
            );
        }
        response
    }
}

/// Query or form parameters. RFC 6749 §3.1: a parameter sent without a value counts as
/// omitted, and none may be sent twice.
struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters, or `Err` with the name of one sent twice.
    fn parse(input: &[u8]) -> Result<Params, String> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if params.iter().any(|(n, _)| *n == name) {
                return Err(name.into_owned());
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 7591 dynamic client registration

#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    scope: Option<String>,
}

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

async fn register(State(issuer): State<Issuer>, body: Bytes) -> Response {
    match registration(&issuer, &body) {
        Ok(body) => json_value(StatusCode::CREATED, &body),
        Err(err) => err.into_response(),
    }
}

fn registration(issuer: &Inner, body: &[u8]) -> Result<Value, OAuthError> {
    let metadata = |why: &'static str| OAuthError::new("invalid_client_metadata", why);
    let request: Registration = serde_json::from_slice(body)
        .map_err(|_| metadata("the body is not a JSON client metadata document"))?;
    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into()); // RFC 7591 §2
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(metadata(
            "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
        ));
    }
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(metadata(
            "grant_types may hold authorization_code, refresh_token and client_credentials only",
        ));
    }
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata("response_types may hold code only"));
    }
    let has = |grant: &str| grant_types.iter().any(|g| g == grant);
    if has("client_credentials") && method == "none" {
        return Err(metadata(
            "client_credentials needs a confidential client: token_endpoint_auth_method must not be none",
        ));
    }
    if has("authorization_code") && request.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    if request.redirect_uris.len() > 16 {
        return Err(metadata("too many redirect_uris"));
    }
    if request
        .redirect_uris
        .iter()
        .any(|uri| !is_loopback_redirect(uri))
    {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "the development issuer accepts loopback redirect URIs only: http://127.0.0.1, http://[::1] or http://localhost, any port, no fragment",
        ));
    }
    if request.client_name.as_ref().is_some_and(|n| n.len() > 200)
        || request.scope.as_ref().is_some_and(|s| s.len() > 2000)
    {
        return Err(metadata("client_name or scope is too long"));
    }

    let secret = (method != "none").then(random_token);
    let client = Client {
        id: random_token(),
        secret: secret.as_deref().map(digest),
        name: request.client_name.clone(),
        redirect_uris: request.redirect_uris.clone(),
        grant_types: grant_types.clone(),
        scope: request.scope.clone(),
    };
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let client_id = client.id.clone();
    issuer.store.register(client).map_err(|_| {
        tracing::warn!("development issuer: a registration was refused: every client slot holds a client in use");
        OAuthError::new(
            "temporarily_unavailable",
            "the development issuer holds as many clients as it can, all in use: restart it to start afresh",
        )
    })?;
    tracing::info!(
        client_id = %client_id,
        client_name = request.client_name.as_deref().unwrap_or(""),
        confidential = secret.is_some(),
        "development issuer: client registered"
    );
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": request.redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": method,
    });
    if let Some(secret) = secret {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    if let Some(name) = request.client_name {
        body["client_name"] = name.into();
    }
    if let Some(scope) = request.scope {
        body["scope"] = scope.into();
    }
    Ok(body)
}

/// A redirect URI the development issuer accepts: `http` on a loopback host, any port
/// (RFC 8252 §7.3), no fragment (RFC 6749 §3.1.2) and no credentials.
fn is_loopback_redirect(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| {
        url.scheme() == "http"
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && is_loopback_host(url.host())
    })
}

// ---------------------------------------------------------------------------------------------
// The authorization endpoint and the consent page

async fn authorize(State(issuer): State<Issuer>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(name) => {
            return html(
                StatusCode::BAD_REQUEST,
                error_page(
                    "Invalid request",
                    &format!("The parameter `{name}` is repeated."),
                ),
                None,
            );
        }
    };
    // RFC 6749 §4.1.2.1: until the client and its redirect URI are known good, errors are
    // shown here, never redirected.
    let (client, redirect_uri) = match client_and_redirect(&issuer, &params) {
        Ok(found) => found,
        Err(message) => {
            return html(
                StatusCode::BAD_REQUEST,
                error_page("Invalid authorization request", message),
                None,
            );
        }
    };
    let state = params.get("state");
    let fail = |error: &str, description: &str| {
        redirect(
            StatusCode::FOUND,
            &redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", state),
                ("iss", Some(&issuer.issuer)),
            ],
        )
    };
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => return fail("unsupported_response_type", "response_type must be code"),
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return fail(
            "unauthorized_client",
            "the client is not registered for the authorization_code grant",
        );
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "code_challenge is required (PKCE with S256)",
        );
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if !is_pkce_value(challenge) {
        return fail("invalid_request", "code_challenge is malformed");
    }
    let Some(resource) = issuer.resource(params.get("resource")) else {
        return fail(
            "invalid_target",
            "the resource is not one this issuer mints tokens for",
        );
    };
    let scopes = match issuer.requested_scopes(params.get("scope"), client.scope.as_deref()) {
        Ok(scopes) => scopes,
        Err(unknown) => {
            return fail(
                "invalid_scope",
                &format!("scope `{unknown}` is not one this issuer grants"),
            );
        }
    };
    let authorization = Authorization {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_given: params.get("redirect_uri").is_some(),
        code_challenge: challenge.to_owned(),
        scopes,
        resource: resource.to_owned(),
        state: state.map(str::to_owned),
    };
    if issuer.auto_consent {
        let (subject, tenant) = issuer.default_user().clone();
        return approve(&issuer, authorization, subject, tenant, StatusCode::FOUND);
    }

    let form_token = issuer.store.begin_consent(authorization.clone());
    let action = format!("{}/authorize", issuer.prefix);
    let page = ConsentPage {
        issuer: &issuer.issuer,
        action: &action,
        form_token: &form_token,
        client: client.name.as_deref().unwrap_or(&client.id),
        resource: &authorization.resource,
        redirect_uri: &authorization.redirect_uri,
        scopes: authorization
            .scopes
            .iter()
            .map(|s| (s.as_str(), issuer.scope_description(s)))
            .collect(),
        users: &issuer.users,
        tenants: &issuer.tenants,
        selected_tenant: &issuer.default_user().1,
    };
    html(StatusCode::OK, page.render(), Some(&redirect_uri))
}

/// The registered client and the redirect URI to answer on, or why there is none.
fn client_and_redirect(issuer: &Inner, params: &Params) -> Result<(Client, String), &'static str> {
    let client_id = params
        .get("client_id")
        .ok_or("The request names no client_id.")?;
    let client = issuer.store.client(client_id).ok_or(
        "The client is not registered with this issuer (it restarts empty: register again).",
    )?;
    let redirect_uri = match (params.get("redirect_uri"), client.redirect_uris.as_slice()) {
        (Some(uri), registered) if registered.iter().any(|r| r == uri) => uri.to_owned(),
        (Some(_), _) => return Err("The redirect_uri is not one the client registered."),
        // OAuth 2.1 §4.1.1: optional when the client registered exactly one.
        (None, [only]) => only.clone(),
        (None, _) => return Err("The request names no redirect_uri."),
    };
    issuer.store.client_used(&client.id);
    Ok((client, redirect_uri))
}

/// The consent form's answer.
async fn consent(State(issuer): State<Issuer>, body: Bytes) -> Response {
    let stale = || {
        html(
            StatusCode::BAD_REQUEST,
            error_page(
                "This consent form has expired",
                "Each consent form can be answered once, within ten minutes.",
            ),
            None,
        )
    };
    let Ok(params) = Params::parse(&body) else {
        return stale();
    };
    let Some(authorization) = params
        .get("form_token")
        .and_then(|token| issuer.store.take_consent(token))
    else {
        return stale();
    };
    match params.get("decision") {
        Some("allow") => {
            let subject = params
                .get("subject")
                .filter(|s| issuer.users.iter().any(|(u, _)| u == s));
            let tenant = params
                .get("tenant")
                .filter(|t| issuer.tenants.iter().any(|k| k == t));
            let (Some(subject), Some(tenant)) = (subject, tenant) else {
                return html(
                    StatusCode::BAD_REQUEST,
                    error_page(
                        "Unknown user or tenant",
                        "Pick a user and a tenant from the lists.",
                    ),
                    None,
                );
            };
            approve(
                &issuer,
                authorization,
                subject.to_owned(),
                tenant.to_owned(),
                StatusCode::SEE_OTHER,
            )
        }
        Some("deny") => redirect(
            StatusCode::SEE_OTHER,
            &authorization.redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some("the user denied the request")),
                ("state", authorization.state.as_deref()),
                ("iss", Some(&issuer.issuer)),
            ],
        ),
        _ => stale(),
    }
}

/// Issues a code for a consented authorization and sends the user agent back with it.
fn approve(
    issuer: &Inner,
    authorization: Authorization,
    subject: String,
    tenant: String,
    status: StatusCode,
) -> Response {
    let grant = Grant {
        client_id: authorization.client_id.clone(),
        subject,
        tenant: Some(tenant),
        scopes: authorization.scopes.clone(),
        resource: authorization.resource.clone(),
    };
    let redirect_uri = authorization.redirect_uri.clone();
    let state = authorization.state.clone();
    let code = issuer.store.issue_code(authorization, grant);
    redirect(
        status,
        &redirect_uri,
        &[
            ("code", Some(&code)),
            ("state", state.as_deref()),
            ("iss", Some(&issuer.issuer)),
        ],
    )
}

/// A redirect to a registered redirect URI with `params` added to its query.
fn redirect(status: StatusCode, redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        // Registered URIs were parsed at registration; fail closed all the same.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An HTML page that cannot be framed, cached, or load anything. `redirect_uri`'s origin is
/// allowed as a form target: browsers apply `form-action` to the redirect after a POST.
fn html(status: StatusCode, page: String, redirect_uri: Option<&str>) -> Response {
    let mut form_action = "'self'".to_owned();
    if let Some(origin) = redirect_uri
        .and_then(|uri| Url::parse(uri).ok())
        .map(|url| url.origin().ascii_serialization())
    {
        form_action.push(' ');
        form_action.push_str(&origin);
    }
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = Response::new(Body::from(page));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The token endpoint

async fn token(State(issuer): State<Issuer>, headers: HeaderMap, body: Bytes) -> Response {
    match token_response(&issuer, &headers, &body) {
        Ok(body) => json_value(StatusCode::OK, &body),
        Err(err) => err.into_response(),
    }
}

fn token_response(issuer: &Inner, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::parse(body).map_err(|name| {
        OAuthError::new(
            "invalid_request",
            format!("the parameter `{name}` is repeated"),
        )
    })?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
    let client = authenticate(issuer, headers, &params)?;
    let granted = match grant_type {
        "authorization_code" => code_grant(issuer, &client, &params),
        "refresh_token" => refresh_grant(issuer, &client, &params),
        "client_credentials" => client_credentials_grant(issuer, &client, &params),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )),
    }?;
    // In use only once a grant succeeded: a public client authenticates by its id alone, so
    // a bad request naming it must not pin it in the store (registrations never evict a client
    // in use).
    issuer.store.client_used(&client.id);
    Ok(granted)
}

/// RFC 6749 §2.3: `client_secret_basic`, `client_secret_post`, or a public client's bare
/// `client_id`. One method per request.
fn authenticate(
    issuer: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let failed = || OAuthError::new("invalid_client", "client authentication failed");
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(basic_credentials)
                .ok_or_else(failed)?,
        ),
    };
    let (id, secret) = match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method per request",
            ));
        }
        (Some((id, secret)), body_id, None) => {
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "client_id differs from the Authorization header",
                ));
            }
            let secret = (!secret.is_empty()).then_some(secret);
            (id, secret)
        }
        (None, Some(id), secret) => (id.to_owned(), secret.map(str::to_owned)),
        (None, None, _) => {
            return Err(OAuthError::new(
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    let client = issuer.store.client(&id).ok_or_else(failed)?;
    // Digests of 256-bit random secrets: comparing them leaks nothing about the secret.
    match (&client.secret, secret) {
        (Some(expected), Some(given)) if digest(&given) == *expected => {}
        (None, None) => {}
        _ => return Err(failed()),
    }
    Ok(client)
}

fn code_grant(issuer: &Inner, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
    let Redeemed::Fresh(entry) = issuer.store.redeem_code(code) else {
        return Err(OAuthError::new(
            "invalid_grant",
            "the code is invalid, expired or already used",
        ));
    };
    let authorization = &entry.authorization;
    if authorization.client_id != client.id {
        return Err(OAuthError::new(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == authorization.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::new(
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            ));
        }
        None if authorization.redirect_uri_given => {
            return Err(OAuthError::new(
                "invalid_request",
                "redirect_uri is required: the authorization request named one",
            ));
        }
        None => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::new("invalid_request", "code_verifier is required (PKCE)"))?;
    if !is_pkce_value(verifier) || !s256_matches(verifier, &authorization.code_challenge) {
        return Err(OAuthError::new(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    if let Some(resource) = params.get("resource")
        && issuer.resource(Some(resource)) != Some(authorization.resource.as_str())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "the resource differs from the authorization request",
        ));
    }
    let refresh = issuer
        .store
        .issue_refresh(entry.grant.clone(), entry.family.clone());
    issued(issuer, "authorization_code", &entry.grant, Some(refresh))
}

fn refresh_grant(issuer: &Inner, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
    let invalid = || {
        OAuthError::new(
            "invalid_grant",
            "the refresh token is invalid, expired or already used",
        )
    };
    // Check the request before spending the token: a refused request leaves it usable.
    let grant = issuer
        .store
        .refresh_grant(token, &client.id)
        .ok_or_else(invalid)?;
    // RFC 6749 §6: the scope may be narrowed, never widened beyond the grant.
    let scopes = match params.get("scope") {
        None => grant.scopes.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(extra) = requested
                .iter()
                .find(|s| !grant.scopes.iter().any(|g| g == *s))
            {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope `{extra}` exceeds the grant: authorize again to widen it"),
                ));
            }
            issuer.ordered(requested)
        }
    };
    if let Some(resource) = params.get("resource")
        && issuer.resource(Some(resource)) != Some(grant.resource.as_str())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "the resource differs from the grant",
        ));
    }
    let (grant, refresh) = issuer
        .store
        .rotate_refresh(token, &client.id)
        .ok_or_else(invalid)?;
    let narrowed = Grant { scopes, ..grant };
    issued(issuer, "refresh_token", &narrowed, Some(refresh))
}

fn client_credentials_grant(
    issuer: &Inner,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if client.secret.is_none() || !client.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(OAuthError::new(
            "unauthorized_client",
            "client_credentials needs a confidential client registered for that grant",
        ));
    }
    let resource = issuer.resource(params.get("resource")).ok_or_else(|| {
        OAuthError::new(
            "invalid_target",
            "the resource is not one this issuer mints tokens for",
        )
    })?;
    // RFC 6749 §3.3: the registered scope bounds what a machine client gets, and is the default
    // when it names none. No user consents here, so nothing beyond it is granted, and a
    // request for more is refused rather than silently narrowed.
    let registered = issuer.ordered(client.scope.as_deref().unwrap_or_default().split(' '));
    let scopes = match params.get("scope") {
        None => registered,
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(extra) = requested
                .iter()
                .find(|s| !registered.iter().any(|r| r == *s))
            {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!(
                        "scope `{extra}` is not in the scope the client registered, which bounds client_credentials"
                    ),
                ));
            }
            issuer.ordered(requested)
        }
    };
    let grant = Grant {
        client_id: client.id.clone(),
        subject: client.id.clone(),
        tenant: Some(issuer.default_user().1.clone()),
        scopes,
        resource: resource.to_owned(),
    };
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    issued(issuer, "client_credentials", &grant, None)
}

/// The RFC 6749 §5.1 success response.
fn issued(
    issuer: &Inner,
    grant_type: &str,
    grant: &Grant,
    refresh_token: Option<String>,
) -> Result<Value, OAuthError> {
    let lifetime = issuer.token_lifetime;
    let access_token = issuer
        .access_token(grant, lifetime)
        .map_err(|_| OAuthError::new("server_error", "the token could not be signed"))?;
    tracing::info!(
        grant_type,
        client_id = %grant.client_id,
        subject = %grant.subject,
        scope = %grant.scopes.join(" "),
        "development issuer: access token issued"
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "scope": grant.scopes.join(" "),
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    Ok(body)
}

fn json_value(status: StatusCode, body: &Value) -> Response {
    let mut response = json_bytes(
        status,
        Bytes::from(serde_json::to_vec(body).expect("JSON serializes")),
    );
    // RFC 6749 §5.1: token and error responses are never cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirect_uris_are_accepted() {
        for ok in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:33418/callback?x=1",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
        ] {
            assert!(is_loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://example.com/cb",
            "http://example.com/cb",
            "http://localhost.example.com/cb",
            "http://127.0.0.1.nip.io/cb",
            "http://192.168.0.2/cb",
            "http://127.0.0.1/cb#frag",
            "http://user@127.0.0.1/cb",
            "https://127.0.0.1/cb",
            "com.example.app:/cb",
            "/cb",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn only_loopback_authorities_pass_the_host_check() {
        for ok in ["127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:9"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "evil.example@127.0.0.1",
            "127.0.0.1.nip.io",
            "10.0.0.1:80",
            "127.0.0.1/x",
            "",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(Params::parse(b"a=1&b=2&a=3").err().as_deref(), Some("a"));
        let params = Params::parse(b"a=&b=x%20y").unwrap();
        assert_eq!(params.get("a"), None, "an empty value counts as omitted");
        assert_eq!(params.get("b"), Some("x y"));
    }
}
