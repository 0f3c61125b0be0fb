//! The `typ` header of an access token (RFC 9068 §2.1, RFC 8725 §3.11).

/// Whether a JWT's `typ` header names an access token (RFC 9068 §2.1): `at+jwt` or
/// `application/at+jwt`, compared as media types are (RFC 7515 §4.1.9: case-insensitively, the
/// `application/` prefix optional). With `allow_untyped`, also no `typ` or the generic `JWT`;
/// every other explicit type (`dpop+jwt`, `logout+jwt`, `secevent+jwt`, ...) is refused.
pub(super) fn check_type(typ: Option<&str>, allow_untyped: bool) -> Result<(), &'static str> {
    let media_type = |typ: &str| {
        let typ = typ.to_ascii_lowercase();
        if typ.contains('/') {
            typ
        } else {
            format!("application/{typ}")
        }
    };
    match typ.map(media_type).as_deref() {
        Some("application/at+jwt") => Ok(()),
        Some("application/jwt") | None if allow_untyped => Ok(()),
        None => Err("the token is not typed as an access token (`typ: at+jwt`)"),
        Some(_) => Err("the token's `typ` is not `at+jwt`"),
    }
}
