//! `GET /authorize`, the authorization request, and `POST /authorize`, the consent form's
//! answer: both end in a redirect to the client, or in a page.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use url::Url;

use super::proof::is_thumbprint;
use super::{Issuer, Params};
use crate::auth::DpopPolicy;
use crate::dev_issuer::Inner;
use crate::dev_issuer::consent::{ConsentPage, error_page};
use crate::dev_issuer::keys::is_pkce_value;
use crate::dev_issuer::store::{Authorization, Client, Grant};

pub(super) async fn authorize(State(issuer): State<Issuer>, RawQuery(query): RawQuery) -> Response {
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
    // RFC 9449 §10: the code is bound to the key the client names; ignored, as any unknown
    // parameter, when the issuer does not do DPoP.
    let dpop_jkt = match params.get("dpop_jkt") {
        Some(_) if issuer.dpop.policy() == DpopPolicy::Off => None,
        Some(jkt) if !is_thumbprint(jkt) => {
            return fail(
                "invalid_request",
                "dpop_jkt is not a JWK SHA-256 thumbprint (43 base64url characters)",
            );
        }
        jkt => jkt.map(str::to_owned),
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
        dpop_jkt,
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
pub(super) async fn consent(State(issuer): State<Issuer>, body: Bytes) -> Response {
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
        act: None,
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
