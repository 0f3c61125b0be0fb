//! `htu` comparison: a proof's URI and the request's, each normalised (RFC 9449 §4.3 item 9).
//!
//! RFC 9449 compares them "after syntax-based and scheme-based normalization" (RFC 3986
//! §6.2.2, §6.2.3), ignoring query and fragment. [`normalize`] applies both to either side:
//! the `url` crate lowercases scheme and host, drops the scheme's default port, removes dot
//! segments and gives an empty path as `/`; then percent-encoded unreserved characters are
//! decoded and the hex digits of the others uppercased, which `url` leaves as they are.

use std::fmt::Write as _;

/// The normal form of an absolute `http` or `https` URI without its query and fragment, or
/// `None` for anything else (another scheme, no host, user information, whitespace or control
/// characters, a URI that does not parse).
///
/// ```text
/// HTTPS://Example.COM:443/a/./b/%7euser/%3a?x#y  ->  https://example.com/a/b/~user/%3A
/// ```
pub(crate) fn normalize(uri: &str) -> Option<String> {
    // `url` would trim or drop these silently (WHATWG URL); a proof naming them is refused.
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    let url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    // User information has no place in a request URI (RFC 9110 §4.2.4).
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str()?;
    let mut normal = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        write!(normal, ":{port}").ok()?;
    }
    normalize_percent_encoding(url.path(), &mut normal)?;
    Some(normal)
}

/// Whether a request's `path` is in the normal form [`normalize`] gives it, but for the case of
/// percent-encoded hex digits. The router dispatches a path as sent, while `htu` is compared
/// normalised: `/files/../admin`, `/files/%2E%2E/admin` or `/%61dmin` would take a proof for
/// `/admin` to another route. No conforming client sends such a path (RFC 3986 §5.2.4,
/// §6.2.2.2: dot segments are removed and unreserved characters decoded before a request).
pub(crate) fn is_normal_path(path: &str) -> bool {
    let uri = format!("http://h{path}");
    normalize(&uri).is_some_and(|normal| normal.eq_ignore_ascii_case(&uri))
}

/// Appends `path` to `out` with percent-encoded unreserved characters decoded and the hex
/// digits of the remaining triplets uppercased (RFC 3986 §6.2.2.1, §6.2.2.2).
fn normalize_percent_encoding(path: &str, out: &mut String) -> Option<()> {
    if path.is_empty() {
        out.push('/');
        return Some(());
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(char::from(bytes[i]));
            i += 1;
            continue;
        }
        let hex = path.get(i + 1..i + 3)?;
        let byte = u8::from_str_radix(hex, 16).ok()?;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            write!(out, "%{byte:02X}").ok()?;
        }
        i += 3;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_have_one_normal_form() {
        let normal = "https://example.com/mcp";
        for uri in [
            "https://example.com/mcp",
            "HTTPS://EXAMPLE.com/mcp",
            "https://Example.Com:443/mcp",
            "https://example.com/./mcp",
            "https://example.com/a/../mcp",
            "https://example.com/%6Dcp",
            "https://example.com/%6dcp",
            "https://example.com/mcp?",
            "https://example.com/mcp#",
            "https://example.com/mcp?a=1&b=2",
            "https://example.com/mcp#fragment",
            "https://example.com/mcp?query#fragment",
        ] {
            assert_eq!(normalize(uri).as_deref(), Some(normal), "{uri}");
        }
    }

    #[test]
    fn percent_encoding_is_normalized() {
        let cases = [
            ("https://example.com/%7euser", "https://example.com/~user"),
            ("https://example.com/%7Euser", "https://example.com/~user"),
            ("https://example.com/~user", "https://example.com/~user"),
            ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
            ("https://example.com/a%3ab", "https://example.com/a%3Ab"),
            (
                "https://example.com/caf%c3%a9",
                "https://example.com/caf%C3%A9",
            ),
            ("https://example.com/café", "https://example.com/caf%C3%A9"),
            ("https://example.com/a/%2e/b", "https://example.com/a/b"),
            ("https://example.com/a/%2E%2E/b", "https://example.com/b"),
        ];
        for (uri, normal) in cases {
            assert_eq!(normalize(uri).as_deref(), Some(normal), "{uri}");
        }
    }

    #[test]
    fn ports_and_empty_paths() {
        let cases = [
            ("http://example.com:80/", "http://example.com/"),
            ("http://example.com", "http://example.com/"),
            ("https://example.com", "https://example.com/"),
            (
                "https://example.com:8443/mcp",
                "https://example.com:8443/mcp",
            ),
            ("http://example.com:443/mcp", "http://example.com:443/mcp"),
            ("https://example.com:80/mcp", "https://example.com:80/mcp"),
            ("http://127.0.0.1:3000/mcp", "http://127.0.0.1:3000/mcp"),
            ("http://[::1]:3000/mcp", "http://[::1]:3000/mcp"),
        ];
        for (uri, normal) in cases {
            assert_eq!(normalize(uri).as_deref(), Some(normal), "{uri}");
        }
    }

    #[test]
    fn different_resources_stay_different() {
        let normal = normalize("https://example.com/mcp").unwrap();
        for uri in [
            "http://example.com/mcp",
            "https://example.org/mcp",
            "https://example.com/mcp/",
            "https://example.com/MCP",
            "https://example.com:8443/mcp",
            "https://example.com/mcp%2F",
            "https://example.com/other",
        ] {
            assert_ne!(normalize(uri).as_deref(), Some(&*normal), "{uri}");
        }
    }

    #[test]
    fn request_paths_must_be_normal() {
        for path in [
            "/",
            "/mcp",
            "/a/b",
            "/a%3ab",
            "/a%3Ab",
            "/caf%C3%A9",
            "//a",
            "/a/",
        ] {
            assert!(is_normal_path(path), "{path}");
        }
        for path in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2E/b",
            "/a/.%2e/b",
            "/..",
            "/%6Dcp",
            "/a\\b",
            "/caf\u{e9}",
            "/a b",
            "",
            "mcp",
        ] {
            assert!(!is_normal_path(path), "{path:?}");
        }
    }

    #[test]
    fn non_http_or_odd_uris_are_refused() {
        for uri in [
            "",
            "/mcp",
            "example.com/mcp",
            "ftp://example.com/mcp",
            "urn:example:mcp",
            "https://user@example.com/mcp",
            "https://user:pass@example.com/mcp",
            "https://:pass@example.com/mcp",
            " https://example.com/mcp",
            "https://example.com/mcp ",
            "https://example.com/m\tcp",
            "https://example.com/m\ncp",
            "https://",
        ] {
            assert_eq!(normalize(uri), None, "{uri:?}");
        }
    }
}
