//! Talking to the authorization server: which URLs may be fetched, and response bodies read
//! under a size bound while they stream.
//!
//! # URLs
//!
//! A URL is fetched only if it is absolute, `https` (or `http` on a loopback host: `localhost`,
//! 127.0.0.0/8, `::1`), without userinfo and without fragment. The same rules hold for a URL
//! configured by the application and for one read from the issuer's metadata (`jwks_uri`,
//! RFC 8414 §2), which is checked before anything is fetched from it. A discovered URL may
//! use plain `http` only when the issuer itself is a plain-`http` loopback issuer (a
//! development setup): the metadata of an `https` issuer cannot downgrade key fetches to
//! plain `http`, not even to loopback.
//!
//! A discovered URL may name another origin than the issuer's: RFC 8414 and OpenID Connect
//! Discovery allow it, and real issuers use it (Google's keys live on `www.googleapis.com`,
//! Microsoft Entra ID v1 issuers on `sts.windows.net` publish keys on
//! `login.microsoftonline.com`, Auth0 custom domains). The metadata is fetched over `https`
//! from the issuer's own origin and names the configured issuer exactly (RFC 8414 §3.3), so
//! whoever can change where it points could as well publish keys at the issuer's origin.
//!
//! Redirects are never followed: a `3xx` answer is a failed fetch. A redirect would lead a
//! fetch to a URL that none of the checks above has seen (and, for introspection, resend the
//! token with `307`/`308`); issuers publish their final URLs.
//!
//! # Bodies
//!
//! A body is read chunk by chunk and abandoned as soon as it passes its bound, so that a
//! chunked body without `Content-Length` (or one that lies about it) is never held whole;
//! a `Content-Length` over the bound is refused before any of the body is read.

use std::time::Duration;

use url::Url;

use super::claims::{is_loopback_host, is_secure_url};

/// Why a URL may not be fetched, or `Ok` with the parsed URL.
pub(crate) fn check_url(url: &str) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "not an absolute URL")?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback_host(parsed.host()) => {}
        "http" => return Err("plain http is allowed on loopback hosts only"),
        _ => return Err("not an https URL"),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("URLs with userinfo are refused");
    }
    if parsed.fragment().is_some() {
        return Err("URLs with a fragment are refused");
    }
    // What the parser repairs or drops (an empty `@`, backslashes, whitespace) is refused too.
    if !is_secure_url(url) {
        return Err("not an RFC 3986 URL, or one with userinfo");
    }
    Ok(parsed)
}

/// [`check_url`] for a URL read from the metadata of `issuer`: plain `http` also needs a
/// plain-`http` (so loopback) issuer.
pub(crate) fn check_discovered_url(url: &str, issuer: &str) -> Result<Url, &'static str> {
    let parsed = check_url(url)?;
    if parsed.scheme() == "http" && !issuer.starts_with("http:") {
        return Err("an https issuer's metadata cannot point to plain http");
    }
    Ok(parsed)
}

/// `url` for a log line: without userinfo, should it carry some.
pub(crate) fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            format!("{parsed} (userinfo removed)")
        }
        _ => url.to_owned(),
    }
}

/// The HTTP client for requests to the authorization server: each bounded by `timeout`,
/// connecting included, and no redirect followed (see the module docs: a redirect could lead
/// a key fetch anywhere, or carry an introspected token to another host, as `307` and `308`
/// resend the body).
pub(crate) fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is longer than the bound (by its `Content-Length`, or by what arrived so far).
    TooLarge,
    /// The connection failed or timed out while reading it.
    Http(reqwest::Error),
}

/// Reads `response`'s body, at most `max` bytes: the body is refused as soon as it passes the
/// bound, without reading the rest.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Http)? {
        if body.len() + chunk.len() > max {
            // Dropping `response` closes the connection instead of draining the rest.
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetched_urls_are_https_or_loopback_http_without_userinfo_or_fragment() {
        for good in [
            "https://auth.example.com/jwks",
            "https://keys.example.net:8443/certs?v=2",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9000/jwks",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://auth.example.com/jwks",
            "http://0.0.0.0:8080/jwks",
            "http://10.0.0.1/jwks",
            "https://user:pw@auth.example.com/jwks",
            "https://user@auth.example.com/jwks",
            "https://:pw@auth.example.com/jwks",
            "http://user@127.0.0.1/jwks",
            "https://@auth.example.com/jwks",
            "https://auth.example.com\\@evil.example/jwks",
            "https://auth.example.com/jwks#keys",
            "https://auth.example.com/jwks#",
            "ftp://auth.example.com/jwks",
            "file:///etc/passwd",
            "/jwks",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_https_issuer_cannot_point_to_plain_http() {
        let https = "https://auth.example.com";
        assert!(check_discovered_url("https://keys.example.net/jwks", https).is_ok());
        assert!(check_discovered_url("http://127.0.0.1:8080/jwks", https).is_err());
        assert!(check_discovered_url("http://localhost/jwks", https).is_err());
        let dev = "http://127.0.0.1:9000";
        assert!(check_discovered_url("http://127.0.0.1:9000/jwks", dev).is_ok());
        assert!(check_discovered_url("http://localhost:9001/jwks", dev).is_ok());
        assert!(check_discovered_url("http://auth.example.com/jwks", dev).is_err());
    }

    #[test]
    fn shown_urls_lose_their_userinfo() {
        assert_eq!(
            shown("https://u:secret@a.example/jwks"),
            "https://a.example/jwks (userinfo removed)"
        );
        assert_eq!(shown("https://a.example/jwks"), "https://a.example/jwks");
    }
}
