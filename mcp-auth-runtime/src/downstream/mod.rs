#![doc = include_str!("../../docs/downstream.md")]

mod builder;
mod cache;
mod client_auth;
mod error;
mod flight;
mod request;
mod response;
mod token;

pub use builder::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_REFRESH_BEFORE, DEFAULT_TIMEOUT, TokenExchangeBuilder,
};
pub use client_auth::ClientCredentials;
pub use error::{ExchangeConfigError, ExchangeError};
pub(crate) use token::SubjectToken;
pub use token::{Downstream, DownstreamToken};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, header};

use crate::auth::fetch::{self, BodyError};
use cache::{Cache, CacheKey};
use flight::Flights;
use response::Issued;

/// The largest token endpoint answer read: 64 KiB. A token response is a few KiB at most.
const MAX_RESPONSE: usize = 64 * 1024;

/// Exchanges inbound access tokens for tokens of downstream APIs at the authorization server's
/// token endpoint (RFC 8693), as one confidential client.
///
/// Clones share the cache, the exchanges in flight and the HTTP connection pool. `Debug`
/// output shows the configuration, never a secret or a token.
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    client: ClientCredentials,
    grant: ExchangeGrant,
    http: reqwest::Client,
    cache: Cache,
    capacity: usize,
    timeout: Duration,
    flights: Flights,
}

impl TokenExchange {
    /// Starts a configuration for exchanges at `token_endpoint` (an `https` URL, or `http` on
    /// a loopback host), authenticating as `client`.
    pub fn builder(
        token_endpoint: impl Into<String>,
        client: ClientCredentials,
    ) -> TokenExchangeBuilder {
        TokenExchangeBuilder::new(token_endpoint.into(), client)
    }

    /// Exchanges `subject` (an inbound access token) for a token of `downstream`, or returns
    /// the cached one. Crate-private: tools reach it through
    /// [`ToolContext::downstream_token`](crate::ToolContext::downstream_token), so that no
    /// application code ever holds the inbound token.
    pub(crate) async fn exchange(
        &self,
        subject: &SubjectToken,
        downstream: &Downstream,
    ) -> Result<DownstreamToken, ExchangeError> {
        let key = CacheKey::of(subject, downstream);
        if let Some(token) = self.inner.cache.get(&key) {
            return Ok(token);
        }
        self.fly(key, subject, downstream).await
    }

    /// One request to the token endpoint, under the timeout, its outcome logged (never a
    /// token, a secret or an assertion).
    async fn request(
        &self,
        subject: &SubjectToken,
        downstream: &Downstream,
    ) -> Result<Issued, ExchangeError> {
        let inner = &*self.inner;
        let target = downstream.target.as_str();
        let outcome = tokio::time::timeout(inner.timeout, self.send(subject, downstream))
            .await
            .unwrap_or_else(|_| {
                Err(ExchangeError::Unavailable(format!(
                    "no answer within {:?}",
                    inner.timeout
                )))
            });
        match &outcome {
            Ok(issued) => tracing::debug!(
                downstream = target,
                expires_in = issued.lifetime.map(|l| l.as_secs()),
                "token exchanged"
            ),
            Err(ExchangeError::Refused { error, description }) => {
                // Scrubbed of the subject token when read (`response::refusal`).
                tracing::info!(downstream = target, %error, ?description, "token exchange refused");
            }
            Err(err) => {
                tracing::warn!(downstream = target, error = %err, "token exchange failed; failing closed")
            }
        }
        outcome
    }

    async fn send(
        &self,
        subject: &SubjectToken,
        downstream: &Downstream,
    ) -> Result<Issued, ExchangeError> {
        let inner = &*self.inner;
        let mut form = request::form(inner.grant, &subject.token, downstream);
        let authorization = inner.client.authenticate(&inner.endpoint, &mut form)?;
        let mut request = inner
            .http
            .post(&inner.endpoint)
            .header(header::ACCEPT, "application/json")
            .form(&form);
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        // reqwest's errors name the URL and the failure, never the body.
        let response = request
            .send()
            .await
            .map_err(|err| ExchangeError::Unavailable(err.without_url().to_string()))?;
        let status = response.status();
        let body = fetch::read_capped(response, MAX_RESPONSE)
            .await
            .map_err(|err| match err {
                BodyError::TooLarge => ExchangeError::Unavailable(format!(
                    "the token endpoint's answer is over {MAX_RESPONSE} bytes"
                )),
                BodyError::Http(err) => ExchangeError::Unavailable(err.without_url().to_string()),
            })?;
        match status {
            StatusCode::OK => {
                let scopes = downstream.sorted_scopes();
                response::token(&body, inner.grant, &scopes)
            }
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => {
                Err(response::refusal(&body, &subject.token).unwrap_or_else(|| {
                    ExchangeError::Unavailable(format!(
                        "the token endpoint answered {status} without an OAuth error"
                    ))
                }))
            }
            status => Err(ExchangeError::Unavailable(format!(
                "the token endpoint answered {status}"
            ))),
        }
    }
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("TokenExchange")
            .field("endpoint", &fetch::shown(&inner.endpoint))
            .field("client", &inner.client)
            .field("grant", &inner.grant)
            .field("cache_capacity", &inner.capacity)
            .finish_non_exhaustive()
    }
}

/// The grant a [`TokenExchange`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExchangeGrant {
    /// RFC 8693 token exchange: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
    /// the inbound token as `subject_token` of type `access_token`, the downstream as
    /// `resource` or `audience`.
    #[default]
    TokenExchange,
    /// Microsoft Entra ID's on-behalf-of flow: the JWT-bearer grant
    /// (`urn:ietf:params:oauth:grant-type:jwt-bearer`) with the inbound token as `assertion`
    /// and `requested_token_use=on_behalf_of`. Entra names the downstream API inside the
    /// scopes (`api://payments/Refunds.Write`); with no scopes asked for, the request asks for
    /// `<resource or audience>/.default`.
    EntraOnBehalfOf,
}
