//! Header and claim names that appear once each (RFC 7515 §4, RFC 7519 §4).

use std::fmt;

use serde_json::{Map, Value};

/// Whether `token` has three segments and its header names every member once; the payload's
/// names are checked as the claims are read ([`UniqueClaims`]).
///
/// RFC 7515 §4 and RFC 7519 §4 let a parser keep the last of repeated names, as `serde_json`
/// does, but other parsers keep the first: a token whose `scope` or `aud` reads differently to
/// the issuer, a gateway and this server is refused rather than interpreted.
pub(super) fn header_names_are_distinct(token: &str) -> bool {
    use base64::Engine;
    // Three segments: two dots, counted in a loop the compiler vectorizes.
    let Some((header, rest)) = token.split_once('.') else {
        return false;
    };
    if rest.bytes().filter(|b| *b == b'.').count() != 1 {
        return false;
    }
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&json);
    serde::Deserializer::deserialize_map(&mut deserializer, DistinctNames).is_ok()
}

/// A JWT payload whose members are named once each, read in the one pass that builds the
/// claims (see [`header_names_are_distinct`] for why).
pub(super) struct UniqueClaims(pub(super) Map<String, Value>);

/// The error a repeated claim name raises while the claims are read.
pub(super) const REPEATED_CLAIM: &str = "repeated claim name";

impl<'de> serde::Deserialize<'de> for UniqueClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;

        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueClaims;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with distinct member names")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueClaims, A::Error> {
                let mut claims = Map::new();
                while let Some(name) = map.next_key::<String>()? {
                    // `cnf` names the key that binds the token: a `jkt` repeated inside it
                    // would name one key to this server and another to a gateway.
                    let value = if name == "cnf" {
                        map.next_value_seed(crate::jsonrpc::UniqueKeys)?
                    } else {
                        map.next_value::<Value>()?
                    };
                    if claims.insert(name, value).is_some() {
                        return Err(serde::de::Error::custom(REPEATED_CLAIM));
                    }
                }
                Ok(UniqueClaims(claims))
            }
        }

        deserializer.deserialize_map(Members)
    }
}

/// Visits a JSON object, failing on its first repeated member name; values are skipped.
struct DistinctNames;

impl<'de> serde::de::Visitor<'de> for DistinctNames {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with distinct member names")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Sorted, a repeated name sits next to itself: no hashing for the dozen names a token
        // holds, and still O(n log n) for many.
        let mut names = Vec::with_capacity(16);
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            names.push(name);
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(serde::de::Error::custom("repeated member name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(header), b64(payload))
    }

    #[test]
    fn repeated_header_or_claim_names_are_detected() {
        let header = r#"{"alg":"ES256","kid":"k"}"#;
        let claims = |payload: &str| serde_json::from_str::<UniqueClaims>(payload).map(|c| c.0);
        assert!(header_names_are_distinct(&token(header, "{}")));
        let nested = claims(r#"{"aud":"a","scope":"x","nested":{"k":1,"k":2}}"#).unwrap();
        assert_eq!(nested["nested"]["k"], 2, "only the top level is checked");
        for repeated in [
            r#"{"aud":"a","aud":"b"}"#,
            r#"{"scope":"x","sub":"s","scope":"y"}"#,
            r#"{"scope":"x","sc\u006fpe":"y"}"#,
        ] {
            let err = claims(repeated).unwrap_err();
            assert!(
                err.to_string().starts_with(REPEATED_CLAIM),
                "{repeated}: {err}"
            );
        }
        assert!(!header_names_are_distinct(&token(
            r#"{"alg":"ES256","kid":"k","kid":"j"}"#,
            "{}"
        )));
        assert!(!header_names_are_distinct("no-dots"));
        assert!(!header_names_are_distinct("!!!.b.c"));
        assert!(!header_names_are_distinct(&format!(
            "{}.x",
            token(header, "{}")
        )));
        assert!(!header_names_are_distinct(&token("[1]", "{}")));
        assert!(claims("[1]").is_err());
    }
}
