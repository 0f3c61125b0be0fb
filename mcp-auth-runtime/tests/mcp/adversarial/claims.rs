//! Validly signed tokens whose claims must not be accepted: time, audience, issuer, scopes,
//! repeated names, and tokens that are not bearer access tokens.

use super::*;

#[tokio::test]
async fn time_claims_are_enforced() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    // (attack, claim, new value; `None` removes the claim)
    let cases: [(&str, &str, Option<Value>); 9] = [
        ("expired beyond the leeway", "exp", Some(at(-120).into())),
        ("nbf in the future", "nbf", Some(at(600).into())),
        ("iat in the future", "iat", Some(at(600).into())),
        ("exp a string", "exp", Some(at(300).to_string().into())),
        ("exp a float", "exp", Some((at(300) as f64 + 0.5).into())),
        ("exp negative", "exp", Some((-1).into())),
        ("exp beyond the clock", "exp", Some(u64::MAX.into())),
        ("iat a string", "iat", Some("now".into())),
        ("no exp", "exp", None),
    ];
    for (attack, claim, value) in cases {
        let token = fx.token_with(|c| match value {
            Some(value) => c[claim] = value,
            None => {
                c.as_object_mut().unwrap().remove(claim);
            }
        });
        fx.refused(attack, fx.void(&token), 401, bad).await;
    }
}

#[tokio::test]
async fn audience_variants_are_refused_and_a_hidden_one_is_found() {
    let fx = Fx::start().await;
    let port = fx.addr.port();
    let ours = fx.resource.clone();
    for aud in [
        json!(format!("http://127.0.0.1:{port}/mc")),
        json!(format!("http://127.0.0.1:{port}/mcp/extra")),
        json!(format!("http://127.0.0.1:{port}/mcpx")),
        json!(format!("https://127.0.0.1:{port}/mcp")),
        json!(format!("http://127.0.0.1:{}/mcp", port.wrapping_add(1))),
        json!("http://127.0.0.1/mcp"),
        json!(format!("http://127.0.0.1:{port}/MCP")),
        json!(format!("http://localhost:{port}/mcp")),
        json!(format!("http://attacker@127.0.0.1:{port}/mcp")),
        json!(format!("http://127.0.0.1:{port}/mcp?x=1")),
        json!(format!("http://127.0.0.1:{port}/mcp#f")),
        json!(format!("http://127.0.0.1:{port}/%6Dcp")),
        json!(format!("127.0.0.1:{port}/mcp")),
        json!(""),
        json!([]),
        json!(["junk", 5]),
        json!({ "aud": ours }),
    ] {
        fx.refuses_claim("aud", &aud).await;
    }
    // Positive controls: ours among junk, and ours in another spelling of the same URI.
    fx.accepted(
        "aud array with ours hidden among junk",
        fx.void(&fx.token_with(|c| c["aud"] = json!(["junk", "https://a.example", ours, ""]))),
    )
    .await;
    fx.accepted(
        "aud with upper-case scheme and a trailing slash",
        fx.void(&fx.token_with(|c| c["aud"] = json!(format!("HTTP://127.0.0.1:{port}/mcp/")))),
    )
    .await;
}

#[tokio::test]
async fn issuer_variants_are_refused() {
    let fx = Fx::start().await;
    let iss = fx.issuer.url.clone();
    let port = fx.issuer.addr.port();
    for variant in [
        json!(format!("{iss}/")),
        json!(format!("{iss}/realms/other")),
        json!(iss.to_uppercase()),
        json!(format!("http://localhost:{port}")),
        json!([iss]),
        json!(null),
    ] {
        fx.refuses_claim("iss", &variant).await;
    }
}

#[tokio::test]
async fn smuggled_scopes_grant_nothing() {
    let fx = Fx::start().await;
    // Claims of the wrong type make the token invalid.
    for scope in [
        json!(["invoices:write"]),
        json!(7),
        json!({ "invoices:write": true }),
        json!(true),
    ] {
        fx.refuses_claim("scope", &scope).await;
    }
    // Strings that only look like the scope grant nothing: 403 with the step-up challenge.
    for scope in [
        "invoices:read\tinvoices:write",
        "invoices:read\ninvoices:write",
        "invoices:read,invoices:write",
        "invoices\u{ff1a}write",
        "\u{0456}nvoices:write",
        "invoices:writ\u{0435}",
        "INVOICES:WRITE",
        "invoices:write\u{0}",
        "\"invoices:write\"",
        "invoices:*",
        "invoices",
    ] {
        fx.refused(
            &format!("scope {scope:?}"),
            fx.void(&fx.token_with(|c| c["scope"] = format!("invoices:read {scope}").into())),
            403,
            Challenge::InsufficientScope("invoices:write"),
        )
        .await;
    }
    // `scp` is not read when the server reads `scope` (and the other way round).
    fx.refused(
        "scp array beside a narrower scope",
        fx.void(&fx.token_with(|c| {
            c["scope"] = "invoices:read".into();
            c["scp"] = json!(["invoices:write"]);
        })),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
    // Extra spaces are tolerated for what the token does grant, and grant nothing else.
    let spaced = fx.token_with(|c| c["scope"] = "  invoices:read   ".into());
    fx.accepted(
        "extra spaces around a granted scope",
        fx.call("lookup_invoice", &spaced),
    )
    .await;
    fx.refused(
        "extra spaces",
        fx.void(&spaced),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
}

#[tokio::test]
async fn repeated_claim_and_header_names_refuse_the_token() {
    let fx = Fx::start().await;
    let (iss, aud) = (fx.issuer.url.clone(), fx.resource.clone());
    let (exp, iat) = (at(300), at(0));
    let header = r#"{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}"#;
    let base = format!(r#""iss":"{iss}","sub":"mallory","exp":{exp},"iat":{iat}"#);
    for (attack, header, payload) in [
        (
            "two aud, ours last",
            header.to_owned(),
            format!(r#"{{{base},"scope":"{ALL}","aud":"https://other.example","aud":"{aud}"}}"#),
        ),
        (
            "two aud, ours first",
            header.to_owned(),
            format!(r#"{{{base},"scope":"{ALL}","aud":"{aud}","aud":"https://other.example"}}"#),
        ),
        (
            "two scope, the wider last",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"invoices:read","scope":"invoices:write"}}"#),
        ),
        (
            "two scope, one spelled with an escape",
            header.to_owned(),
            format!(
                r#"{{{base},"aud":"{aud}","scope":"invoices:read","sc\u006fpe":"invoices:write"}}"#
            ),
        ),
        (
            "two sub",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}","sub":"admin"}}"#),
        ),
        (
            "two client_id",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}","client_id":"a","client_id":"b"}}"#),
        ),
        (
            "two kid in the header",
            r#"{"alg":"ES256","kid":"ec-1","kid":"rsa-1","typ":"at+jwt"}"#.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#),
        ),
        (
            "two typ in the header",
            r#"{"alg":"ES256","kid":"ec-1","typ":"at+jwt","typ":"JWT"}"#.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#),
        ),
    ] {
        fx.refused(
            attack,
            fx.void(&fx.ec.sign_raw(&header, &payload)),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // The same raw signing path accepts the same token without the repetition.
    let payload = format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#);
    fx.accepted(
        "the raw token without repeated names",
        fx.void(&fx.ec.sign_raw(header, &payload)),
    )
    .await;
}

/// Tokens the issuer really signed for this resource, with every scope, that are not bearer
/// access tokens: other JWT types, ID tokens, key-bound tokens, tokens naming nobody, and
/// audiences a browser-style parser would repair into this resource. Each is sent to the
/// destructive tool with each `Accept` a client may send; each gets `401 invalid_token`.
#[tokio::test]
async fn signed_tokens_that_are_not_bearer_access_tokens_run_nothing() {
    let fx = Fx::start().await;
    let typed = |typ: Option<&str>| {
        let mut header = fx.ec.header();
        header.typ = typ.map(str::to_owned);
        fx.ec.sign_with(header, &fx.claims(ALL))
    };
    let host = fx
        .resource
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    let mut attacks: Vec<(String, String)> = [
        None,
        Some("JWT"),
        Some("dpop+jwt"),
        Some("logout+jwt"),
        Some("secevent+jwt"),
        Some("id_token+jwt"),
    ]
    .into_iter()
    .map(|typ| (format!("typ {typ:?}"), typed(typ)))
    .collect();
    for (what, change) in [
        ("nonce (an ID token)", json!({ "nonce": "n" })),
        ("at_hash (an ID token)", json!({ "at_hash": "h" })),
        ("cnf.jkt (DPoP-bound)", json!({ "cnf": { "jkt": "x" } })),
        (
            "cnf x5t#S256 (mTLS-bound)",
            json!({ "cnf": { "x5t#S256": "x" } }),
        ),
        (
            "neither sub nor client",
            json!({ "sub": null, "client_id": null }),
        ),
        (
            "empty sub and client",
            json!({ "sub": "", "client_id": "" }),
        ),
        (
            "aud with userinfo",
            json!({ "aud": format!("http://u@{host}/mcp") }),
        ),
        (
            "aud with an empty userinfo",
            json!({ "aud": format!("http://@{host}/mcp") }),
        ),
        (
            "aud with a backslash",
            json!({ "aud": format!("http://{host}\\mcp") }),
        ),
        (
            "aud with a leading space",
            json!({ "aud": format!(" http://{host}/mcp") }),
        ),
    ] {
        let token = fx.token_with(|claims| patch(claims, &change));
        attacks.push((what.to_owned(), token));
    }
    for (what, token) in &attacks {
        for accept in [
            "application/json, text/event-stream",
            "application/json",
            "text/event-stream",
        ] {
            fx.refused(
                &format!("{what}, Accept {accept}"),
                fx.http
                    .post(fx.url())
                    .header("content-type", "application/json")
                    .header("accept", accept)
                    .bearer_auth(token)
                    .body(call_body("void_invoice", "INV-1")),
                401,
                Challenge::InvalidToken,
            )
            .await;
        }
    }
    // The positive control: the same issuer's access token.
    fx.accepted("typ at+jwt", fx.void(&typed(Some("at+jwt"))))
        .await;
}
