//! The HTTP exchange with the introspection endpoint (RFC 7662 §2.1): the request, the
//! client authentication, and the response read under a size bound.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value};

use super::{ClientAuth, IntrospectionVerifier};
use crate::auth::AuthError;
use crate::auth::fetch::{self, BodyError};

/// Largest introspection response read. Real responses are a few hundred bytes; the bound
/// keeps a misbehaving endpoint from filling memory, and is enforced while the body streams.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

impl IntrospectionVerifier {
    /// Asks the endpoint about `token`; returns the response's members, or why there is none.
    pub(super) async fn introspect(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let inner = &*self.inner;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = inner
            .http
            .post(inner.endpoint.clone())
            .header(http::header::ACCEPT, "application/json");
        match &inner.credentials {
            Some(c) if c.method == ClientAuth::Post => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", &c.secret));
            }
            Some(c) => {
                // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding, so
                // a `:` in either survives the round trip.
                request =
                    request.basic_auth(form_encode(&c.client_id), Some(form_encode(&c.secret)));
            }
            None => {}
        }
        // The bearer layer logs the reason; only misconfigurations get their own log line.
        let unavailable = AuthError::Unavailable;
        let response = (request.form(&form).send().await)
            .map_err(|err| http_failure(err, "introspection request", inner.timeout))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            tracing::error!(
                endpoint = %inner.endpoint,
                %status,
                client_id = inner.credentials.as_ref().map(|c| c.client_id.as_str()),
                "the introspection endpoint refused this resource server's client credentials: \
                 check the client id, secret and authentication method (`ClientAuth`)"
            );
            return Err(AuthError::Unavailable(format!(
                "introspection endpoint refused the client credentials ({status})"
            )));
        }
        if !status.is_success() {
            return Err(unavailable(format!(
                "introspection endpoint answered {status}"
            )));
        }
        let body = match fetch::read_capped(response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return Err(unavailable("introspection response too large".into()));
            }
            Err(BodyError::Http(err)) => {
                return Err(http_failure(
                    err,
                    "reading the introspection response",
                    inner.timeout,
                ));
            }
        };
        match serde_json::from_slice(&body) {
            Ok(Value::Object(members)) => Ok(members),
            Ok(_) => Err(unavailable(
                "introspection response is not a JSON object".into(),
            )),
            Err(err) => Err(unavailable(format!(
                "introspection response is not JSON: {err}"
            ))),
        }
    }
}

/// Why a request to the endpoint failed, with the causes (connection refused, DNS, TLS) that
/// `reqwest`'s own message leaves out. The request body, and so the token, is never part of it.
fn http_failure(err: reqwest::Error, what: &str, timeout: Duration) -> AuthError {
    if err.is_timeout() {
        return AuthError::Unavailable(format!("{what} timed out after {timeout:?}"));
    }
    let err = err.without_url();
    let mut reason = format!("{what} failed: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    AuthError::Unavailable(reason)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("a:b c/é"), "a%3Ab+c%2F%C3%A9");
    }
}
