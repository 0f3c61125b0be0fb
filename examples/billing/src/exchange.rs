//! The token exchange (RFC 8693) billing uses to call the payments API as its caller: with
//! the dev issuer's `billing-mcp` client, or with the client of `--exchange-client-id` at a
//! real authorization server.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use mcp_auth_runtime::downstream::{ClientCredentials, TokenExchange};

use crate::cli::{SecretAuth, ServeArgs};

/// The time allowed to fetch the issuer's metadata at start.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest metadata document read.
const MAX_METADATA: usize = 256 * 1024;

/// The exchange at the dev issuer of `origin`, as its client `billing-mcp`.
pub(crate) fn dev(origin: &str, secret: &str) -> anyhow::Result<TokenExchange> {
    let client = ClientCredentials::secret_basic(crate::dev::EXCHANGE_CLIENT_ID, secret);
    Ok(TokenExchange::builder(format!("{origin}/token"), client).build()?)
}

/// The exchange at a real authorization server, as the client of `--exchange-client-id`;
/// `None` without one (refunds then fail, and the log says why).
pub(crate) async fn external(args: &ServeArgs) -> anyhow::Result<Option<TokenExchange>> {
    let Some(client_id) = &args.exchange_client_id else {
        tracing::warn!(
            "no --exchange-client-id: refund_invoice cannot get payments tokens and fails"
        );
        return Ok(None);
    };
    let credentials = match (&args.exchange_client_key, &args.exchange_client_secret) {
        (Some(path), _) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --exchange-client-key {}", path.display()))?;
            let algorithm =
                jsonwebtoken::Algorithm::from_str(&args.exchange_key_alg).map_err(|_| {
                    anyhow::anyhow!(
                        "--exchange-key-alg {} is not a JWS algorithm",
                        args.exchange_key_alg
                    )
                })?;
            let credentials = ClientCredentials::private_key_jwt(client_id, &pem, algorithm)?;
            match &args.exchange_key_id {
                Some(kid) => credentials.with_kid(kid),
                None => credentials,
            }
        }
        (None, Some(secret)) => match args.exchange_client_auth {
            SecretAuth::Basic => ClientCredentials::secret_basic(client_id, secret),
            SecretAuth::Post => ClientCredentials::secret_post(client_id, secret),
        },
        (None, None) => anyhow::bail!(
            "--exchange-client-id needs --exchange-client-secret (or BILLING_EXCHANGE_CLIENT_SECRET) \
             or --exchange-client-key"
        ),
    };
    let endpoint = match &args.token_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => {
            let issuer = args
                .issuer
                .as_deref()
                .context("--token-endpoint is required without --issuer")?;
            token_endpoint(issuer).await?
        }
    };
    tracing::info!(
        token_endpoint = endpoint,
        client_id,
        "exchanging tokens for payments tokens"
    );
    Ok(Some(TokenExchange::builder(endpoint, credentials).build()?))
}

/// The `token_endpoint` of `issuer`'s metadata: RFC 8414 first, then OpenID Connect
/// discovery. The document must name `issuer` itself (RFC 8414 §3.3).
async fn token_endpoint(issuer: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(METADATA_TIMEOUT)
        .build()?;
    let mut last = None;
    for url in metadata_urls(issuer) {
        match fetch_json(&http, &url).await {
            Ok(document) => {
                anyhow::ensure!(
                    document.get("issuer").and_then(|v| v.as_str()) == Some(issuer),
                    "the metadata at {url} is not of the issuer {issuer}"
                );
                return document
                    .get("token_endpoint")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .with_context(|| format!("the metadata at {url} names no token_endpoint"));
            }
            Err(err) => last = Some(err.context(format!("cannot read {url}"))),
        }
    }
    Err(last
        .expect("two metadata URLs were tried")
        .context("cannot find the token endpoint: pass --token-endpoint"))
}

/// Where `issuer`'s metadata may be: `/.well-known/oauth-authorization-server` inserted before
/// the issuer's path (RFC 8414 §3.1), and `/.well-known/openid-configuration` after it.
fn metadata_urls(issuer: &str) -> [String; 2] {
    let issuer = issuer.trim_end_matches('/');
    let (origin, path) = match issuer.split_once("://") {
        Some((scheme, rest)) => match rest.find('/') {
            Some(at) => (format!("{scheme}://{}", &rest[..at]), &rest[at..]),
            None => (issuer.to_owned(), ""),
        },
        None => (issuer.to_owned(), ""),
    };
    [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{issuer}/.well-known/openid-configuration"),
    ]
}

async fn fetch_json(http: &reqwest::Client, url: &str) -> anyhow::Result<serde_json::Value> {
    let mut response = http.get(url).send().await?.error_for_status()?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        anyhow::ensure!(
            body.len() + chunk.len() <= MAX_METADATA,
            "the document is too large"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_urls_follow_rfc_8414_and_oidc_discovery() {
        assert_eq!(
            super::metadata_urls("https://auth.example.com"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            super::metadata_urls("https://auth.example.com/realms/acme/"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/realms/acme",
                "https://auth.example.com/realms/acme/.well-known/openid-configuration"
            ]
        );
    }
}
