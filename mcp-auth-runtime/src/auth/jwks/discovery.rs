//! Finding the issuer's key set URL in its metadata (RFC 8414, OpenID Connect Discovery), and
//! reading JSON documents from the issuer under a size bound.

use serde::Deserialize;
use url::Url;

use crate::auth::fetch::{self, BodyError};

/// Largest key set or metadata document read from an issuer.
pub(super) const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct AuthorizationServerMetadata {
    issuer: String,
    jwks_uri: Option<String>,
}

/// The metadata URLs to try for `issuer`, in the order the MCP authorization specification
/// gives: RFC 8414 with the issuer's path inserted, OpenID Connect Discovery with the path
/// inserted, then OpenID Connect Discovery with the path appended.
fn metadata_urls(issuer: &str) -> Result<Vec<String>, String> {
    let url = Url::parse(issuer).map_err(|e| format!("invalid issuer URL: {e}"))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// Finds the issuer's `jwks_uri`. The metadata's `issuer` must be the configured issuer
/// exactly (RFC 8414 §3.3), or a compromised or confused document could substitute keys; the
/// `jwks_uri` must pass the rules of a configured URL (see [`fetch`](crate::auth::fetch)).
pub(super) async fn discover_jwks_uri(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<String, String> {
    let mut errors = Vec::new();
    for url in metadata_urls(issuer)? {
        match get_json::<AuthorizationServerMetadata>(http, &url).await {
            Ok(metadata) if metadata.issuer != issuer => {
                return Err(format!(
                    "the metadata at {url} names issuer {:?}, not the configured {issuer:?}",
                    metadata.issuer
                ));
            }
            Ok(metadata) => {
                let jwks_uri = metadata
                    .jwks_uri
                    .ok_or_else(|| format!("the metadata at {url} has no jwks_uri"))?;
                let parsed = fetch::check_discovered_url(&jwks_uri, issuer).map_err(|why| {
                    format!(
                        "the metadata at {url} advertises jwks_uri {}, which is not fetched: {why}",
                        fetch::shown(&jwks_uri)
                    )
                })?;
                let same_origin =
                    Url::parse(issuer).is_ok_and(|issuer| issuer.origin() == parsed.origin());
                tracing::info!(%jwks_uri, same_origin, "discovered the issuer's key set URL");
                return Ok(jwks_uri);
            }
            Err(err) => errors.push(err),
        }
    }
    Err(format!("issuer metadata not found: {}", errors.join("; ")))
}

/// Fetches a JSON document of at most [`MAX_DOCUMENT_BYTES`], read under that bound as it
/// streams. Redirects are not followed (the client's policy); a `3xx` is a failure.
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(format!(
            "GET {url}: HTTP {status}: redirects are not followed, configure or publish the \
             final URL"
        ));
    }
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let body = match fetch::read_capped(response, MAX_DOCUMENT_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(format!(
                "GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        Err(BodyError::Http(e)) => return Err(format!("GET {url}: {e}")),
    };
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: invalid JSON document: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_the_mcp_discovery_order() {
        assert_eq!(
            metadata_urls("https://auth.example.com").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("http://localhost:8080/realms/master").unwrap(),
            [
                "http://localhost:8080/.well-known/oauth-authorization-server/realms/master",
                "http://localhost:8080/.well-known/openid-configuration/realms/master",
                "http://localhost:8080/realms/master/.well-known/openid-configuration"
            ]
        );
    }
}
