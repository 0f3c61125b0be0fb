//! The per-request JWT check of the hand-written servers (the axum ceiling and rmcp with a
//! middleware): `jsonwebtoken` with the issuer's keys, fetched once at start-up; the
//! signature, `iss`, `aud`, `exp` and `nbf` are checked, and the scope the tool needs.

use std::collections::HashMap;

use http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The claims the servers read (`sub` and `client_id` too, as a server that logs who calls
/// would).
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub struct Claims {
    pub sub: String,
    pub client_id: Option<String>,
    #[serde(default)]
    pub scope: String,
    pub tenant: Option<String>,
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// The keys of the issuer, by `kid`, and the validation every token must pass.
pub struct Checker {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    validation: HashMap<Algorithm, Validation>,
}

impl Checker {
    /// Fetches the issuer's JWKS once.
    pub async fn fetch(jwks_url: &str, issuer: &str, audience: &str) -> anyhow::Result<Checker> {
        let set: JwkSet = reqwest::get(jwks_url).await?.json().await?;
        let mut keys = HashMap::new();
        let mut validation = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
                continue;
            };
            let alg: Algorithm = alg.to_string().parse()?;
            keys.insert(kid.clone(), (alg, DecodingKey::from_jwk(jwk)?));
            validation.entry(alg).or_insert_with(|| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.validate_nbf = true;
                v
            });
        }
        Ok(Checker { keys, validation })
    }

    /// The verified claims of the request's bearer token.
    pub fn check(&self, headers: &HeaderMap) -> Option<Claims> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?;
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (alg, key) = self.keys.get(header.kid.as_deref()?)?;
        if *alg != header.alg {
            return None;
        }
        jsonwebtoken::decode::<Claims>(token, key, self.validation.get(alg)?)
            .ok()
            .map(|data| data.claims)
    }
}
