//! Integers a `serde_json::Value` cannot hold exactly.
//!
//! A tool reads its arguments from the JSON the client wrote, so a `u128` or `i128` parameter
//! gets every digit. Everything else that reads arguments (the `requestState` digest, the
//! audit trail, `on_call`, the `Mcp-Param-*` checks, a task's stored call) reads them as
//! `serde_json` values, where an integer beyond the 64-bit range is a rounded `f64`: two
//! neighbouring integers would be one call to those checks and two to the tool, and a
//! confirmation given for one would count for the other. Such integers are refused instead.

/// Whether `json` (well-formed, as `serde_json` checked it) holds, at any depth, an integer
/// literal outside `i64::MIN..=u64::MAX`. A number with a fraction or an exponent is a float
/// to every reader alike and is not one.
///
/// One pass over the text: called only when the parse met a number it had to read as a float
/// beyond the 64-bit range, which rules nothing out but is rare.
pub(crate) fn holds_wide_integer(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                // Skip the string; an escape's next byte is never its end.
                i += 1;
                while let Some(&byte) = bytes.get(i) {
                    i += if byte == b'\\' { 2 } else { 1 };
                    if byte == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                let number = &json[start..i];
                let integer = !number.contains(['.', 'e', 'E']);
                if integer && number.parse::<i64>().is_err() && number.parse::<u64>().is_err() {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::holds_wide_integer;

    #[test]
    fn integers_beyond_64_bits_are_found_at_any_depth() {
        for json in [
            "18446744073709551616",
            "-9223372036854775809",
            r#"{"a":18446744073709551616}"#,
            r#"{"a":[1,{"b":[-9223372036854775809]}]}"#,
            r#"{"s":"\"","n": 123456789012345678901234567890 }"#,
            r#"[1e300, 18446744073709551616]"#,
        ] {
            assert!(holds_wide_integer(json), "{json}");
        }
    }

    #[test]
    fn sixty_four_bit_integers_floats_and_strings_are_not() {
        for json in [
            "18446744073709551615",
            "-9223372036854775808",
            "0",
            "-0",
            "1e30",
            "1.8446744073709551616e19",
            "18446744073709551616.0",
            r#""18446744073709551616""#,
            r#"{"18446744073709551616":"\\\"18446744073709551616"}"#,
            r#"{"a":[true,false,null,{"b":-1.5E+300}]}"#,
        ] {
            assert!(!holds_wide_integer(json), "{json}");
        }
    }
}
