//! The form of an exchange request: RFC 8693 §2.1, or Microsoft Entra ID's on-behalf-of
//! request (the JWT-bearer grant of RFC 7523 §2.1 with `requested_token_use=on_behalf_of`).

use super::token::Target;
use super::{Downstream, ExchangeGrant};

/// `grant_type` of RFC 8693.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `grant_type` of RFC 7523 §2.1, which Entra's on-behalf-of flow uses.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The token type asked for and presented (RFC 8693 §3).
pub(super) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The grant's parameters for exchanging `subject` for a token of `downstream`; the client's
/// authentication is added by [`ClientCredentials`](super::ClientCredentials).
pub(super) fn form(
    grant: ExchangeGrant,
    subject: &str,
    downstream: &Downstream,
) -> Vec<(&'static str, String)> {
    let scopes = downstream.sorted_scopes();
    match grant {
        ExchangeGrant::TokenExchange => {
            let mut form = vec![
                ("grant_type", TOKEN_EXCHANGE.to_owned()),
                ("subject_token", subject.to_owned()),
                ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
                ("requested_token_type", ACCESS_TOKEN_TYPE.to_owned()),
            ];
            form.push(match &downstream.target {
                Target::Resource(uri) => ("resource", uri.clone()),
                Target::Audience(name) => ("audience", name.clone()),
            });
            if !scopes.is_empty() {
                form.push(("scope", scopes.join(" ")));
            }
            form
        }
        ExchangeGrant::EntraOnBehalfOf => {
            // Entra's v2 endpoint names the API inside its scopes (`api://payments/.default`,
            // `https://graph.microsoft.com/User.Read`) and refuses a `resource` parameter
            // (AADSTS901002): without scopes the API's `.default` scope is asked for.
            let scope = if scopes.is_empty() {
                format!(
                    "{}/.default",
                    downstream.target.as_str().trim_end_matches('/')
                )
            } else {
                scopes.join(" ")
            };
            vec![
                ("grant_type", JWT_BEARER.to_owned()),
                ("assertion", subject.to_owned()),
                ("requested_token_use", "on_behalf_of".to_owned()),
                ("scope", scope),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'f>(form: &'f [(&'static str, String)], name: &str) -> Option<&'f str> {
        let mut values = form.iter().filter(|(key, _)| *key == name);
        let found = values.next().map(|(_, value)| value.as_str());
        assert!(values.next().is_none(), "`{name}` sent twice");
        found
    }

    #[test]
    fn a_token_exchange_names_the_subject_token_its_type_the_target_and_sorted_scopes() {
        let downstream = Downstream::resource("https://payments.example/api").scopes([
            "payments:write",
            "payments:read",
            "payments:write",
        ]);
        let sent = form(ExchangeGrant::TokenExchange, "inbound", &downstream);
        assert_eq!(value(&sent, "grant_type"), Some(TOKEN_EXCHANGE));
        assert_eq!(value(&sent, "subject_token"), Some("inbound"));
        assert_eq!(value(&sent, "subject_token_type"), Some(ACCESS_TOKEN_TYPE));
        assert_eq!(
            value(&sent, "requested_token_type"),
            Some(ACCESS_TOKEN_TYPE)
        );
        assert_eq!(
            value(&sent, "resource"),
            Some("https://payments.example/api")
        );
        assert_eq!(value(&sent, "audience"), None);
        assert_eq!(value(&sent, "scope"), Some("payments:read payments:write"));
        assert_eq!(value(&sent, "actor_token"), None);

        let sent = form(
            ExchangeGrant::TokenExchange,
            "inbound",
            &Downstream::audience("payments"),
        );
        assert_eq!(value(&sent, "audience"), Some("payments"));
        assert_eq!(value(&sent, "resource"), None);
        assert_eq!(value(&sent, "scope"), None, "left to the server");
    }

    #[test]
    fn an_on_behalf_of_request_sends_the_assertion_and_the_api_in_its_scopes() {
        let downstream = Downstream::resource("api://payments/");
        let sent = form(ExchangeGrant::EntraOnBehalfOf, "inbound", &downstream);
        assert_eq!(value(&sent, "grant_type"), Some(JWT_BEARER));
        assert_eq!(value(&sent, "assertion"), Some("inbound"));
        assert_eq!(value(&sent, "requested_token_use"), Some("on_behalf_of"));
        assert_eq!(value(&sent, "scope"), Some("api://payments/.default"));
        assert_eq!(value(&sent, "resource"), None);
        assert_eq!(value(&sent, "subject_token"), None);

        let downstream = downstream.scopes(["api://payments/Refunds.Write"]);
        let sent = form(ExchangeGrant::EntraOnBehalfOf, "inbound", &downstream);
        assert_eq!(value(&sent, "scope"), Some("api://payments/Refunds.Write"));
    }
}
