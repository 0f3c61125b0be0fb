//! Who may talk to it: loopback peers and hosts only, and browsers by CORS only where it is
//! safe or opted in.

use super::*;

#[tokio::test]
async fn requests_for_a_non_loopback_host_are_refused() {
    let fx = Fixture::start(|b| b).await;
    for (host, status) in [("evil.example", 403), ("localhost", 200)] {
        let response = fx
            .http
            .get(fx.url("/.well-known/oauth-authorization-server"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{host}");
    }
}

/// The documents every client may read: the two metadata documents and the keys.
const PUBLIC_DOCUMENTS: [&str; 3] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/jwks",
];

/// Metadata and keys are public documents: browser-based clients read them from any origin.
#[tokio::test]
async fn public_documents_stay_readable_from_any_origin() {
    let fx = Fixture::start(|b| b).await;
    let from_elsewhere = async |request: reqwest::RequestBuilder| {
        let request = request.header("origin", "https://evil.example");
        request.send().await.unwrap()
    };
    for path in PUBLIC_DOCUMENTS {
        let preflight = fx
            .http
            .request(reqwest::Method::OPTIONS, fx.url(path))
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "mcp-protocol-version");
        let response = from_elsewhere(preflight).await;
        assert!(response.status().is_success(), "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{path}"
        );
        let response = from_elsewhere(fx.http.get(fx.url(path))).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{path}"
        );
        assert!(header(&response, "access-control-allow-credentials").is_none());
    }
}

/// A web page the developer visits can neither read nor cause a token, a code or a client:
/// preflights get no CORS headers, and the requests a page may send without one (simple
/// requests, `no-cors`) are refused before they do anything.
#[tokio::test]
async fn credential_endpoints_give_foreign_origins_nothing() {
    let fx = Fixture::auto_consent().await;
    let consent = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(Some("invoices:read")).await;
    let public = fx.public_client(None).await;
    let consent_client = consent.public_client(None).await;
    let (_, challenge) = pkce();
    let client_credentials = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=invoices%3Aread"
    );
    let registration = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    let same_origin_elsewhere = fx.origin.replace("127.0.0.1", "localhost");
    let origins = [
        "https://evil.example",
        "http://evil.example",
        // Sandboxed frames and `file:` pages send `null`.
        "null",
        // Another page on this machine is a foreign origin too, as is the Inspector's unless
        // it is named with `cors_origin`.
        "http://localhost:6274",
        "http://127.0.0.1:1",
        same_origin_elsewhere.as_str(),
    ];
    for origin in origins {
        // Preflights, as a browser sends them before a request that is not simple.
        for (path, method, headers) in [
            ("/token", "POST", "content-type"),
            ("/token", "POST", "authorization"),
            ("/register", "POST", "content-type"),
            ("/authorize", "GET", "content-type"),
            ("/authorize", "POST", "content-type"),
        ] {
            let response = fx
                .http
                .request(reqwest::Method::OPTIONS, fx.url(path))
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", headers)
                .send()
                .await
                .unwrap();
            let what = format!("preflight {method} {path} ({headers})");
            unreadable_from(&response, origin, &what);
            assert!(!response.status().is_success(), "{what} from {origin}");
        }

        // The requests themselves: simple ones (form, text/plain), which a page may send
        // blind, and the others a failed preflight would have stopped.
        for (path, content_type, body) in [
            (
                "/token",
                "application/x-www-form-urlencoded",
                &client_credentials,
            ),
            ("/token", "text/plain", &client_credentials),
            (
                "/token",
                "multipart/form-data; boundary=x",
                &client_credentials,
            ),
            ("/token", "application/json", &client_credentials),
            ("/register", "application/json", &registration),
            ("/register", "text/plain", &registration),
            (
                "/register",
                "application/x-www-form-urlencoded",
                &registration,
            ),
        ] {
            let response = fx
                .http
                .post(fx.url(path))
                .header("origin", origin)
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let what = format!("POST {path} as {content_type}");
            unreadable_from(&response, origin, &what);
            assert_eq!(response.status(), 403, "{what} from {origin}");
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("access_token") && !body.contains("client_id"),
                "{what} from {origin}: {body}"
            );
        }
        let response = fx
            .http
            .post(fx.url("/token"))
            .header("origin", origin)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        unreadable_from(&response, origin, "POST /token with client_secret_basic");
        assert_eq!(response.status(), 403, "client_secret_basic from {origin}");

        // The authorization endpoint is navigated to, never fetched: its redirect (with the
        // code, under auto-consent) and its consent page (with the form token) carry no CORS.
        let navigate = async |request: reqwest::RequestBuilder| {
            request.header("origin", origin).send().await.unwrap()
        };
        let response = navigate(fx.authorize_request(&public, &challenge, &[])).await;
        assert_eq!(response.status(), 302);
        unreadable_from(&response, origin, "GET /authorize (auto-consent)");
        let response = navigate(consent.authorize_request(&consent_client, &challenge, &[])).await;
        assert_eq!(response.status(), 200);
        unreadable_from(&response, origin, "GET /authorize (consent page)");
        let page = response.text().await.unwrap();
        let response = consent
            .http
            .post(consent.url("/authorize"))
            .header("origin", origin)
            .form(&[
                ("form_token", form_token(&page).as_str()),
                ("decision", "allow"),
                ("subject", "alice"),
                ("tenant", "acme"),
            ])
            .send()
            .await
            .unwrap();
        unreadable_from(&response, origin, "POST /authorize");
    }

    // Two `Origin` headers, one of them foreign, are refused as well.
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", fx.origin.as_str())
        .header("origin", "https://evil.example")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Positive controls: clients that are not browsers send no `Origin`, and the issuer's own
    // origin is not foreign.
    for origin in [None, Some(fx.origin.as_str())] {
        let mut request = fx.http.post(fx.url("/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ]);
        let mut register = fx
            .http
            .post(fx.url("/register"))
            .header("content-type", "application/json")
            .body(registration.clone());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
            register = register.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{origin:?}");
        assert!(header(&response, "access-control-allow-origin").is_none());
        assert_eq!(register.send().await.unwrap().status(), 201, "{origin:?}");
    }
}

/// Without the connection's peer address the loopback check cannot be made: every endpoint
/// refuses, saying how to serve the router, rather than answering anyone.
#[tokio::test]
async fn without_peer_addresses_the_issuer_refuses_every_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let issuer = DevIssuer::builder(&origin)
        .resource(format!("{origin}/mcp"))
        .scopes(SCOPES)
        .auto_consent(true)
        .build()
        .unwrap();
    let router = issuer.router();
    // No `into_make_service_with_connect_info`: requests carry no `ConnectInfo`.
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let http = http_client();
    let registration = json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let requests = [
        http.get(format!("{origin}/.well-known/oauth-authorization-server")),
        http.get(format!("{origin}/.well-known/openid-configuration")),
        http.get(format!("{origin}/jwks")),
        http.post(format!("{origin}/register")).json(&registration),
        http.post(format!("{origin}/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ]),
        http.get(format!(
            "{origin}/authorize?response_type=code&client_id=x&code_challenge_method=S256"
        )),
        http.post(format!("{origin}/authorize"))
            .form(&[("form_token", "x"), ("decision", "allow")]),
        http.request(reqwest::Method::OPTIONS, format!("{origin}/token"))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST"),
    ];
    for request in requests {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url().path());
        let response = http.execute(request).await.unwrap();
        assert_eq!(response.status(), 500, "{what}");
        assert!(header(&response, "access-control-allow-origin").is_none());
        let body = response.text().await.unwrap();
        assert!(
            body.contains("into_make_service_with_connect_info"),
            "{what}: {body}"
        );
    }
}

/// `cors_origin` is the explicit opt-in for browser-based clients such as the MCP Inspector:
/// the named origins, and only they, get CORS on `/register` and `/token`, echoed exactly
/// (never `*`, never with credentials); `/authorize` stays without CORS.
#[tokio::test]
async fn named_origins_get_cors_on_the_credential_endpoints_and_others_do_not() {
    let inspector = "http://localhost:6274";
    let fx = Fixture::start(|b| {
        b.auto_consent(true)
            .cors_origin(inspector)
            .cors_origin("HTTP://127.0.0.1:6274/")
    })
    .await;
    let preflight = |path: &str, origin: &str, method: &str| {
        fx.http
            .request(reqwest::Method::OPTIONS, fx.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in ["/token", "/register"] {
        for origin in [inspector, "http://127.0.0.1:6274"] {
            let response = preflight(path, origin, "POST").await.unwrap();
            assert!(response.status().is_success(), "{path} from {origin}");
            assert_eq!(
                header(&response, "access-control-allow-origin").as_deref(),
                Some(origin),
                "{path}"
            );
            assert!(header(&response, "access-control-allow-credentials").is_none());
            let methods = header(&response, "access-control-allow-methods").unwrap();
            assert!(methods.contains("POST"), "{methods}");
        }
        for origin in ["https://evil.example", "http://localhost:6275", "null"] {
            let response = preflight(path, origin, "POST").await.unwrap();
            unreadable_from(&response, origin, &format!("preflight {path}"));
        }
    }
    for method in ["GET", "POST"] {
        let response = preflight("/authorize", inspector, method).await.unwrap();
        unreadable_from(&response, inspector, "preflight /authorize");
    }

    // The Inspector's flow: register and redeem with `fetch`, authorize by navigation.
    let response = fx
        .http
        .post(fx.url("/register"))
        .header("origin", inspector)
        .json(&json!({
            "client_name": "MCP Inspector",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(inspector)
    );
    let client: Value = response.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let code = fx.code(client_id, &challenge, &[]).await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id),
    ];
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", "https://evil.example")
        .form(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    unreadable_from(&response, "https://evil.example", "POST /token");
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", inspector)
        .form(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the refused request spent nothing");
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(inspector)
    );
    let tokens: Value = response.json().await.unwrap();
    fx.verifier()
        .verify(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
}
