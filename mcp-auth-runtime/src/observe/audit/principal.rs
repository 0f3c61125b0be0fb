//! [`Principal::of`]: the audit trail's view of a verified caller.

use serde_json::Value;

use super::Principal;
use crate::auth::AuthInfo;

impl Principal {
    /// The principal of a verified caller: its subject, client, tenant and issuer; the id of
    /// its API key (the `api_key_id` claim of an identity without issuer, as
    /// [`ApiKeys`](crate::auth::ApiKeys) makes them: a token always has an issuer); and the
    /// client acting for the subject (`act.sub`, RFC 8693 §4.1).
    ///
    /// ```
    /// use mcp_auth_runtime::auth::AuthInfo;
    /// use mcp_auth_runtime::observe::audit::Principal;
    ///
    /// let principal = Principal::of(&AuthInfo::new("alice"));
    /// assert_eq!(principal.subject.as_deref(), Some("alice"));
    /// assert_eq!(principal.api_key_id, None);
    /// ```
    pub fn of(auth: &AuthInfo) -> Principal {
        let claims = auth.claims();
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let api_key_id = match auth.issuer() {
            Some(_) => None,
            None => text(claims.get("api_key_id")),
        };
        Principal {
            subject: auth.subject().map(str::to_owned),
            client_id: auth.client_id().map(str::to_owned),
            tenant: auth.tenant().map(str::to_owned),
            issuer: auth.issuer().map(str::to_owned),
            api_key_id,
            acting_client: text(claims.get("act").and_then(|act| act.get("sub"))),
        }
    }
}
