//! The `typ` header of an access token (RFC 9068 §2.1, RFC 8725 §3.11).

/// Whether a JWT's `typ` header names an access token (RFC 9068 §2.1): `at+jwt` or
/// `application/at+jwt`, compared as media types are (RFC 7515 §4.1.9: case-insensitively, the
/// `application/` prefix optional). With `allow_untyped`, also no `typ` or the generic `JWT`;
/// every other explicit type (`dpop+jwt`, `logout+jwt`, `secevent+jwt`, ...) is refused.
pub(super) fn check_type<'a>(
    typ: Option<&'a str>,
    allow_untyped: bool,
) -> Result<(), &'static str> {
    // The subtype, compared without building the lowercased media type: a type with a `/`
    // must be `application/...`; one without is the subtype already.
    let subtype = |typ: &'a str| match typ.find('/') {
        None => Some(typ),
        Some(_) => typ
            .get(..APPLICATION.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(APPLICATION))
            .map(|_| &typ[APPLICATION.len()..]),
    };
    match typ.map(subtype) {
        Some(Some(sub)) if sub.eq_ignore_ascii_case("at+jwt") => Ok(()),
        Some(Some(sub)) if allow_untyped && sub.eq_ignore_ascii_case("jwt") => Ok(()),
        None if allow_untyped => Ok(()),
        None => Err("the token is not typed as an access token (`typ: at+jwt`)"),
        Some(_) => Err("the token's `typ` is not `at+jwt`"),
    }
}

const APPLICATION: &str = "application/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_compare_as_media_types() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert_eq!(check_type(Some(typ), false), Ok(()), "{typ}");
        }
        for typ in ["jwt", "JWT", "application/jwt"] {
            assert!(check_type(Some(typ), false).is_err(), "{typ}");
            assert_eq!(check_type(Some(typ), true), Ok(()), "{typ}");
        }
        for typ in [
            "dpop+jwt",
            "application/dpop+jwt",
            "text/at+jwt",
            "application/application/at+jwt",
            "at+jwt/x",
            "",
            "applicatio",
            "é/at+jwt",
        ] {
            assert!(check_type(Some(typ), true).is_err(), "{typ}");
        }
        assert!(check_type(None, false).is_err());
        assert_eq!(check_type(None, true), Ok(()));
    }
}
