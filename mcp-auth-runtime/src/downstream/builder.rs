//! [`TokenExchangeBuilder`]: a [`TokenExchange`]'s configuration, checked by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::cache::Cache;
use super::{ClientCredentials, ExchangeConfigError, ExchangeGrant, Inner, TokenExchange};
use crate::auth::fetch;

/// The default number of exchanged tokens kept: 10,000.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// A cached exchanged token is used until this long before it expires, by default: 30 s.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30);

/// The default time allowed for one exchange: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures a [`TokenExchange`]: see [`TokenExchange::builder`].
#[must_use]
pub struct TokenExchangeBuilder {
    endpoint: String,
    client: ClientCredentials,
    grant: ExchangeGrant,
    capacity: usize,
    refresh_before: Duration,
    timeout: Duration,
}

impl TokenExchangeBuilder {
    pub(super) fn new(endpoint: String, client: ClientCredentials) -> Self {
        TokenExchangeBuilder {
            endpoint,
            client,
            grant: ExchangeGrant::default(),
            capacity: DEFAULT_CACHE_CAPACITY,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Which grant the exchange uses: [`ExchangeGrant::TokenExchange`] (the default) or
    /// Microsoft Entra's on-behalf-of flow.
    pub fn grant(mut self, grant: ExchangeGrant) -> Self {
        self.grant = grant;
        self
    }

    /// How many exchanged tokens are kept ([`DEFAULT_CACHE_CAPACITY`]); `0` turns the cache
    /// off (every call exchanges).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long before its expiry a cached token is no longer handed out
    /// ([`DEFAULT_REFRESH_BEFORE`]), so that it does not expire on its way downstream.
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// The time allowed for one exchange ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the configuration: the token endpoint must be an absolute `https` URL (`http`
    /// only on a loopback host), without userinfo or fragment.
    pub fn build(self) -> Result<TokenExchange, ExchangeConfigError> {
        fetch::check_url(&self.endpoint)
            .map_err(|_| ExchangeConfigError::InvalidEndpoint(fetch::shown(&self.endpoint)))?;
        let http = fetch::client(self.timeout)
            .map_err(|err| ExchangeConfigError::Http(err.to_string()))?;
        Ok(TokenExchange {
            inner: Arc::new(Inner {
                endpoint: self.endpoint,
                client: self.client,
                grant: self.grant,
                http,
                cache: Cache::new(self.capacity, self.refresh_before),
                capacity: self.capacity,
                timeout: self.timeout,
                flights: Default::default(),
            }),
        })
    }
}

impl fmt::Debug for TokenExchangeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangeBuilder")
            .field("endpoint", &fetch::shown(&self.endpoint))
            .field("client", &self.client)
            .field("grant", &self.grant)
            .field("cache_capacity", &self.capacity)
            .field("refresh_before", &self.refresh_before)
            .field("timeout", &self.timeout)
            .finish()
    }
}
