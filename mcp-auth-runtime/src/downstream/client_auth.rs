//! How the exchanging client authenticates at the token endpoint: `client_secret_basic`,
//! `client_secret_post` (RFC 6749 §2.3.1) or `private_key_jwt` (RFC 7523 §2.2, OpenID Connect
//! Core §9), whose assertions are signed with `jsonwebtoken`, one fresh per request.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use url::form_urlencoded;

use super::{ExchangeConfigError, ExchangeError};

/// How long a `private_key_jwt` assertion is valid: 60 s, enough for one request; issuers
/// refuse long-lived assertions.
const ASSERTION_LIFETIME: u64 = 60;

/// `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the exchanging client authenticates at the token endpoint. `Debug` output never shows
/// the secret or the key.
#[non_exhaustive]
pub enum ClientCredentials {
    /// `client_secret_basic`: HTTP Basic authentication (RFC 6749 §2.3.1).
    SecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a JWT assertion signed with
    /// the client's private key, made fresh for each exchange.
    PrivateKeyJwt {
        /// The client id: the assertion's `iss` and `sub`.
        client_id: String,
        /// The signing key.
        key: EncodingKey,
        /// The signing algorithm (asymmetric).
        algorithm: Algorithm,
        /// The `kid` of the key, sent in the assertion's header when set.
        kid: Option<String>,
    },
}

impl ClientCredentials {
    /// `client_secret_basic` with this id and secret.
    pub fn secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials::SecretBasic {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `client_secret_post` with this id and secret.
    pub fn secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials::SecretPost {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `private_key_jwt` with a PEM private key (PKCS#8 EC P-256/P-384, RSA or Ed25519) for
    /// `algorithm`. The key is tried once here, so that a key that does not fit the
    /// algorithm (a P-384 key for `ES256`, say) fails now rather than at the first exchange.
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        pem: &[u8],
        algorithm: Algorithm,
    ) -> Result<Self, ExchangeConfigError> {
        use Algorithm::*;
        let key = match algorithm {
            HS256 | HS384 | HS512 => {
                return Err(ExchangeConfigError::SymmetricAlgorithm(algorithm));
            }
            ES256 | ES384 => EncodingKey::from_ec_pem(pem),
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => EncodingKey::from_rsa_pem(pem),
            EdDSA => EncodingKey::from_ed_pem(pem),
            other => {
                return Err(ExchangeConfigError::InvalidKey(format!(
                    "{other:?} is not supported"
                )));
            }
        }
        .map_err(|err| ExchangeConfigError::InvalidKey(err.to_string()))?;
        let credentials = ClientCredentials::PrivateKeyJwt {
            client_id: client_id.into(),
            key,
            algorithm,
            kid: None,
        };
        credentials
            .assertion("https://token-endpoint.invalid/")
            .map_err(|err| ExchangeConfigError::InvalidKey(err.to_string()))?;
        Ok(credentials)
    }

    /// Sets the `kid` sent with `private_key_jwt` assertions; no effect on the other methods.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        if let ClientCredentials::PrivateKeyJwt { kid: slot, .. } = &mut self {
            *slot = Some(kid.into());
        }
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::SecretBasic { client_id, .. }
            | ClientCredentials::SecretPost { client_id, .. }
            | ClientCredentials::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// The name of the method, as in `token_endpoint_auth_method` (RFC 7591 §2).
    pub fn method(&self) -> &'static str {
        match self {
            ClientCredentials::SecretBasic { .. } => "client_secret_basic",
            ClientCredentials::SecretPost { .. } => "client_secret_post",
            ClientCredentials::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }

    /// Authenticates a request to `endpoint`: adds the form parameters the method needs to
    /// `form`, and returns the `Authorization` header it needs, if any (marked sensitive).
    pub(super) fn authenticate(
        &self,
        endpoint: &str,
        form: &mut Vec<(&'static str, String)>,
    ) -> Result<Option<HeaderValue>, ExchangeError> {
        match self {
            ClientCredentials::SecretBasic { client_id, secret } => {
                // RFC 6749 §2.3.1: each part form-urlencoded before they are joined.
                let encode = |part: &str| {
                    form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", encode(client_id), encode(secret));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                let mut value = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
                    ExchangeError::Unavailable("unusable client credentials".into())
                })?;
                value.set_sensitive(true);
                Ok(Some(value))
            }
            ClientCredentials::SecretPost { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.clone()));
                Ok(None)
            }
            ClientCredentials::PrivateKeyJwt { client_id, .. } => {
                let assertion = self.assertion(endpoint)?;
                form.push(("client_id", client_id.clone()));
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION.to_owned()));
                form.push(("client_assertion", assertion));
                Ok(None)
            }
        }
    }

    /// A `private_key_jwt` assertion for `audience` (the token endpoint): `iss` and `sub` the
    /// client id, a single-use `jti`, valid for [`ASSERTION_LIFETIME`].
    fn assertion(&self, audience: &str) -> Result<String, ExchangeError> {
        let ClientCredentials::PrivateKeyJwt {
            client_id,
            key,
            algorithm,
            kid,
        } = self
        else {
            unreachable!("only private_key_jwt makes assertions");
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::random::token(16),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let mut header = Header::new(*algorithm);
        header.kid = kid.clone();
        // The error says which part failed, never the key.
        jsonwebtoken::encode(&header, &claims, key).map_err(|err| {
            ExchangeError::Unavailable(format!("the client assertion could not be signed: {err}"))
        })
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let credentials = ClientCredentials::secret_basic("billing mcp", "p@ss:word+1");
        let mut form = Vec::new();
        let header = credentials.authenticate("https://as.example/token", &mut form);
        let header = header.unwrap().unwrap();
        assert!(header.is_sensitive());
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"billing+mcp:p%40ss%3Aword%2B1");
        assert!(form.is_empty(), "nothing in the body");
    }

    #[test]
    fn post_credentials_go_in_the_body() {
        let credentials = ClientCredentials::secret_post("billing-mcp", "s3cret");
        let mut form = Vec::new();
        let header = credentials.authenticate("https://as.example/token", &mut form);
        assert!(header.unwrap().is_none());
        assert_eq!(
            form,
            [
                ("client_id", "billing-mcp".to_owned()),
                ("client_secret", "s3cret".to_owned())
            ]
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let credentials = ClientCredentials::secret_basic("billing-mcp", "s3cret-value");
        let shown = format!("{credentials:?}");
        assert!(shown.contains("client_secret_basic") && shown.contains("billing-mcp"));
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn symmetric_algorithms_and_unfit_keys_are_refused() {
        assert!(matches!(
            ClientCredentials::private_key_jwt("c", b"", Algorithm::HS256),
            Err(ExchangeConfigError::SymmetricAlgorithm(Algorithm::HS256))
        ));
        assert!(matches!(
            ClientCredentials::private_key_jwt("c", b"not a pem", Algorithm::ES256),
            Err(ExchangeConfigError::InvalidKey(_))
        ));
    }
}
