//! `Mcp-Param-{Name}` headers (SEP-2243) checked against the `tools/call` body they mirror.
//!
//! A gateway may route, rate-limit or authorize on the header while the tool acts on the
//! body; any way to make the two differ would let a caller pass the gateway with one value
//! and act with another. So a `tools/call` is refused with `400` and `HeaderMismatch`
//! (`-32020`) when:
//!
//! - an `Mcp-Param-*` header names no parameter the tool declares (a stale or forged header
//!   some intermediary may have acted on), `_` counting as `-` as some proxies read it;
//! - a declared header comes more than once (intermediaries may read either one);
//! - the body has a member its schema does not list on the way to a mirrored parameter
//!   (serde may read it as the parameter under an `alias`, where this check does not look);
//! - its value is neither plain visible ASCII nor a valid `=?base64?…?=` of UTF-8 (bad
//!   padding, a character outside the alphabet, raw non-ASCII bytes);
//! - it is present while the body has no value (absent or `null`) for the parameter;
//! - on a 2026-07-28 request, it is missing while the body has a value (a handshake-era
//!   client does not mirror parameters, so only a header it sends is checked);
//! - its decoded value is not exactly the body's: strings byte for byte (no trimming, case
//!   folding or Unicode normalization), integers only in their canonical decimal form (`42`,
//!   not `042`, `+42` or `42.0`: a gateway comparing strings would see another value),
//!   booleans only as `true` or `false`; and a body value of another type than the
//!   declared one, or an integer outside ±(2^53 − 1), which clients cannot mirror
//!   faithfully, never matches.
//!
//! The Base64 form is accepted even for a value that needs none, as the specification
//! requires servers to decode it: intermediaries must decode it too before acting on it.

// The refusal is a whole response, built once per rejected request.
#![allow(clippy::result_large_err)]

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::era::decode_header_value;
use super::response::rpc_error;
use crate::jsonrpc::{Request as RpcRequest, code};
use crate::tool::Registry;
use crate::tool::headers::{HeaderParam, Kind};

/// The prefix of every mirrored parameter's header name, as [`HeaderMap`] keys are spelled.
const PREFIX: &str = "mcp-param-";

/// Largest integer a client can mirror exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Checks the `Mcp-Param-*` headers of `request`, a 2026-07-28 one if `modern`.
pub(super) fn check(
    tools: &Registry,
    headers: &HeaderMap,
    request: &RpcRequest,
    modern: bool,
) -> Result<(), Response> {
    if request.method != "tools/call" {
        return Ok(());
    }
    let params = request.params.as_ref();
    // An unknown tool is refused by the dispatcher, whatever its headers.
    let Some(tool) = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .and_then(|name| tools.get(name))
    else {
        return Ok(());
    };
    // Built only for a tool that mirrors parameters in headers.
    let arguments = match tool.header_params() {
        [] => None,
        _ => request.arguments_map(),
    };
    mismatch(tool.header_params(), headers, arguments.as_ref(), modern).map_err(|message| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            Some(request.id.clone()),
            code::HEADER_MISMATCH,
            format!("Header mismatch: {message}"),
        )
    })
}

/// Whether header `name` (lowercase, as [`HeaderMap`] keys are) starts with [`PREFIX`] once
/// every `_` is read as `-`: compared in place, as this runs for every header of every call.
fn mirrors_param(name: &str) -> bool {
    name.len() >= PREFIX.len()
        && name
            .bytes()
            .zip(PREFIX.bytes())
            .all(|(byte, prefix)| byte == prefix || (byte == b'_' && prefix == b'-'))
}

/// What differs between `headers` and the body's `arguments` for `declared`, if anything.
fn mismatch(
    declared: &[HeaderParam],
    headers: &HeaderMap,
    arguments: Option<&Map<String, Value>>,
    modern: bool,
) -> Result<(), String> {
    for name in headers.keys() {
        // `Mcp_Param_Region` too: proxies that read `_` as `-` would take it for
        // `Mcp-Param-Region`.
        if mirrors_param(name.as_str()) && !declared.iter().any(|p| p.header == *name) {
            return Err(format!(
                "the tool declares no {} header",
                shown(name.as_str())
            ));
        }
    }
    for param in declared {
        // serde may take the value under a name the schema does not list (`alias`), where
        // the check below would not look for it: a tool whose parameters travel in headers
        // takes no member its schema does not list, on the way to each of them.
        if let Some(member) = param.unlisted_member(arguments) {
            return Err(format!(
                "`{}` is no parameter of the tool, which mirrors parameters in headers",
                shown(&member)
            ));
        }
        let mut values = headers.get_all(&param.header).iter();
        let header = values.next();
        if values.next().is_some() {
            return Err(format!("more than one {} header", param.display));
        }
        let body = param.value_in(arguments);
        let (header, body) = match (header, body) {
            (None, None) => continue,
            (None, Some(_)) if !modern => continue,
            (None, Some(_)) => {
                return Err(format!(
                    "the {} header is missing while the body has `{}`",
                    param.display,
                    param.path.join(".")
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "the {} header is present while the body has no `{}`",
                    param.display,
                    param.path.join(".")
                ));
            }
            (Some(header), Some(body)) => (header, body),
        };
        let Some(decoded) = decode_header_value(header.as_bytes()) else {
            return Err(format!(
                "the {} header is malformed: neither plain visible ASCII nor valid `=?base64?...?=` of UTF-8",
                param.display
            ));
        };
        if !matches(param.kind, &decoded, body) {
            return Err(format!(
                "{} header value '{}' does not match body value '{}'",
                param.display,
                shown(&decoded),
                shown(&body_text(body)),
            ));
        }
    }
    Ok(())
}

/// Whether header value `decoded` stands for `body`, a parameter of type `kind`, in the one
/// form a client writes it.
fn matches(kind: Kind, decoded: &str, body: &Value) -> bool {
    match (kind, body) {
        (Kind::String, Value::String(body)) => decoded == body,
        (Kind::Integer, Value::Number(number)) => number
            .as_i64()
            .filter(|n| n.abs() <= MAX_SAFE_INTEGER)
            .is_some_and(|n| decoded == n.to_string()),
        (Kind::Boolean, Value::Bool(body)) => decoded == if *body { "true" } else { "false" },
        _ => false,
    }
}

fn body_text(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` escaped and cut short, for an error message that echoes what the caller sent.
fn shown(text: &str) -> String {
    const MAX: usize = 100;
    let mut escaped: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().nth(MAX).is_some() {
        escaped.push_str("...");
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::headers::scan;
    use serde_json::json;

    fn declared() -> Vec<HeaderParam> {
        scan(&mut json!({ "type": "object", "properties": {
            "region": { "type": "string", "x-mcp-header": "Region" },
            "count": { "type": "integer", "x-mcp-header": "Count" },
            "dry": { "type": "boolean", "x-mcp-header": "Dry" },
        } }))
        .unwrap()
    }

    /// Header name and raw value pairs, in order.
    type Headers<'a> = Vec<(&'a str, &'a [u8])>;

    fn check(headers: &[(&str, &[u8])], arguments: Value, modern: bool) -> Result<(), String> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        mismatch(&declared(), &map, arguments.as_object(), modern)
    }

    #[test]
    fn values_in_their_one_form_match() {
        for (headers, arguments) in [
            (vec![], json!({})),
            (vec![], json!({ "region": null })),
            (
                vec![("Mcp-Param-Region", &b"us-west1"[..])],
                json!({ "region": "us-west1" }),
            ),
            (
                vec![("mcp-param-REGION", &b"us-west1"[..])],
                json!({ "region": "us-west1" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"=?base64?SGVsbG8=?="[..])],
                json!({ "region": "Hello" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"SGVsbG8="[..])],
                json!({ "region": "SGVsbG8=" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"=?base64?SGVsbG8="[..])],
                json!({ "region": "=?base64?SGVsbG8=" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"=?BASE64?SGVsbG8=?="[..])],
                json!({ "region": "=?BASE64?SGVsbG8=?=" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"=?base64?5pel5pys6Kqe?="[..])],
                json!({ "region": "日本語" }),
            ),
            (
                vec![("Mcp-Param-Region", &b"=?base64?IHVzLXdlc3QxIA==?="[..])],
                json!({ "region": " us-west1 " }),
            ),
            (
                vec![("Mcp-Param-Region", &b"us west 1"[..])],
                json!({ "region": "us west 1" }),
            ),
            (
                vec![("Mcp-Param-Count", &b"42"[..])],
                json!({ "count": 42 }),
            ),
            (
                vec![("Mcp-Param-Count", &b"-7"[..])],
                json!({ "count": -7 }),
            ),
            (
                vec![("Mcp-Param-Count", &b"9007199254740991"[..])],
                json!({ "count": 9_007_199_254_740_991_i64 }),
            ),
            (
                vec![("Mcp-Param-Dry", &b"false"[..])],
                json!({ "dry": false }),
            ),
        ] {
            assert_eq!(
                check(&headers, arguments.clone(), true),
                Ok(()),
                "{arguments}"
            );
        }
    }

    #[test]
    fn every_way_of_differing_is_refused() {
        let region = |v: &'static [u8]| vec![("Mcp-Param-Region", v)];
        let cases: Vec<(Headers<'_>, Value, &str)> = vec![
            (
                region(b"eu-west1"),
                json!({ "region": "us-west1" }),
                "another value",
            ),
            (
                region(b"US-WEST1"),
                json!({ "region": "us-west1" }),
                "another case",
            ),
            (
                region(b"=?base64?SGVsbG8?="),
                json!({ "region": "Hello" }),
                "Base64 without padding",
            ),
            (
                region(b"=?base64?SGVs!!!bG8=?="),
                json!({ "region": "Hello" }),
                "Base64 alphabet",
            ),
            (
                region(b"=?base64?/w==?="),
                json!({ "region": "\u{ff}" }),
                "Base64 of no UTF-8",
            ),
            (
                region("us-west1".as_bytes()),
                json!({ "region": "us\u{2010}west1" }),
                "Unicode look-alike",
            ),
            (
                region("caf\u{e9}".as_bytes()),
                json!({ "region": "caf\u{e9}" }),
                "raw non-ASCII",
            ),
            // "é" decomposed (e + U+0301) against the body's composed "é".
            (
                region(b"=?base64?Y2FmZcyB?="),
                json!({ "region": "caf\u{e9}" }),
                "another normalization",
            ),
            (region(b"us-west1"), json!({}), "header without body value"),
            (
                region(b"us-west1"),
                json!({ "region": null }),
                "header with a null body value",
            ),
            (
                vec![],
                json!({ "region": "us-west1" }),
                "body value without header",
            ),
            (
                vec![
                    ("Mcp-Param-Region", b"us-west1"),
                    ("mcp-param-region", b"us-west1"),
                ],
                json!({ "region": "us-west1" }),
                "the header twice, even agreeing",
            ),
            (
                vec![("Mcp-Param-Region", b"us-west1"), ("Mcp-Param-Zone", b"a")],
                json!({ "region": "us-west1" }),
                "a header the tool does not declare",
            ),
            (
                vec![("Mcp-Param-", b"x")],
                json!({}),
                "a header of no parameter",
            ),
            (
                vec![
                    ("Mcp-Param-Region", b"us-west1"),
                    ("mcp_param_region", b"eu-west1"),
                ],
                json!({ "region": "us-west1" }),
                "a look-alike some proxies read as the header",
            ),
            (
                region(b"42"),
                json!({ "region": 42 }),
                "a number for a string",
            ),
            (
                vec![("Mcp-Param-Count", b"042")],
                json!({ "count": 42 }),
                "leading zero",
            ),
            (
                vec![("Mcp-Param-Count", b"+42")],
                json!({ "count": 42 }),
                "plus sign",
            ),
            (
                vec![("Mcp-Param-Count", b"42.0")],
                json!({ "count": 42 }),
                "decimal point",
            ),
            (
                vec![("Mcp-Param-Count", b"4.2e1")],
                json!({ "count": 42 }),
                "exponent",
            ),
            (
                vec![("Mcp-Param-Count", b"42")],
                json!({ "count": 42.0 }),
                "float body",
            ),
            (
                vec![("Mcp-Param-Count", b"42")],
                json!({ "count": "42" }),
                "string body",
            ),
            (
                vec![("Mcp-Param-Count", b"9007199254740993")],
                json!({ "count": 9_007_199_254_740_993_i64 }),
                "beyond the safe range",
            ),
            (
                vec![("Mcp-Param-Dry", b"True")],
                json!({ "dry": true }),
                "boolean case",
            ),
            (
                vec![("Mcp-Param-Dry", b"1")],
                json!({ "dry": true }),
                "boolean as 1",
            ),
            (
                vec![("Mcp-Param-Dry", b"true")],
                json!({ "dry": "true" }),
                "string body for a boolean",
            ),
        ];
        for (headers, arguments, why) in cases {
            assert!(check(&headers, arguments, true).is_err(), "{why}");
        }
    }

    #[test]
    fn a_member_the_schema_does_not_list_is_refused_on_the_way_to_a_header() {
        // serde would read `zone` as `region` (an `alias`): the header check looks only at
        // `region`, so an unlisted member must not pass.
        let error = check(&[], json!({ "zone": "eu-west1" }), true).unwrap_err();
        assert!(error.contains("`zone` is no parameter"), "{error}");
        let nested = scan(&mut json!({ "type": "object", "properties": {
            "target": { "type": "object", "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
            } },
            "query": { "type": "string" },
        } }))
        .unwrap();
        let arguments = json!({ "query": "q", "target": { "zone": "eu" } });
        let error = mismatch(&nested, &HeaderMap::new(), arguments.as_object(), true).unwrap_err();
        assert!(error.contains("`target.zone` is no parameter"), "{error}");
        let arguments = json!({ "query": "q", "target": { "region": "eu" }, "more": 1 });
        let mut headers = HeaderMap::new();
        headers.insert("mcp-param-region", "eu".parse().unwrap());
        let error = mismatch(&nested, &headers, arguments.as_object(), true).unwrap_err();
        assert!(error.contains("`more` is no parameter"), "{error}");
        let arguments = json!({ "query": "q", "target": { "region": "eu" } });
        assert_eq!(
            mismatch(&nested, &headers, arguments.as_object(), true),
            Ok(())
        );
    }

    #[test]
    fn a_handshake_era_request_checks_the_headers_it_sends() {
        assert_eq!(check(&[], json!({ "region": "us-west1" }), false), Ok(()));
        assert!(
            check(
                &[("Mcp-Param-Region", b"eu")],
                json!({ "region": "us" }),
                false
            )
            .is_err()
        );
        assert!(
            check(
                &[("Mcp-Param-Zone", b"eu")],
                json!({ "region": "us" }),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn messages_escape_and_shorten_what_they_echo() {
        let long = "x".repeat(500);
        let err = check(
            &[("Mcp-Param-Region", b"=?base64?bGluZTEKbGluZTI=?=")],
            json!({ "region": long }),
            true,
        )
        .unwrap_err();
        assert!(err.contains("line1\\nline2"), "{err}");
        assert!(err.len() < 300, "{err}");
    }
}
