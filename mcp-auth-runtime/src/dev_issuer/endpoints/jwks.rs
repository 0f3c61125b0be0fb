//! `GET /jwks`: the public signing key (RFC 7517), serialized once when the issuer is built.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use super::{Issuer, json_bytes};

pub(super) async fn jwks(State(issuer): State<Issuer>) -> Response {
    let mut response = json_bytes(StatusCode::OK, issuer.jwks.clone());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}
