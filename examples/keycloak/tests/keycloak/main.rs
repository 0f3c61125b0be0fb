//! The notes server against tokens shaped exactly as Keycloak issues them with
//! `realm-export.json`, over real HTTP on loopback: Keycloak itself cannot run here, so a
//! stand-in with Keycloak's URL layout and token shapes signs them ([`stand_in`]), and every
//! fact about the tokens (audience, scopes, type, tenant claim, users) is read from the realm
//! file ([`realm`]).

mod binary;
mod realm;
mod stand_in;

use std::net::SocketAddr;

use clap::Parser as _;
use keycloak_notes::{Cli, Server};
use mcp_auth_test_support::fixture::{self, within};
use mcp_auth_test_support::{Client, modern};
use serde_json::{Value, json};

use crate::realm::{PUBLIC_CLIENT, Realm, strings};
use crate::stand_in::Keycloak;

/// The realm's stand-in and a notes server configured for it with `flags` on top of
/// `--issuer`, listening on loopback.
async fn start(realm: &Realm, flags: &[&str]) -> (Keycloak, SocketAddr) {
    let keycloak = Keycloak::start(realm).await;
    let mut args = vec![
        "keycloak-notes",
        "--port",
        "0",
        "--issuer",
        &keycloak.issuer,
    ];
    args.extend(flags);
    let server = Server::bind(&Cli::try_parse_from(args).unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    (keycloak, addr)
}

/// The answer to a `tools/call`.
struct Answer {
    status: u16,
    /// `WWW-Authenticate`.
    challenge: Option<String>,
    /// The JSON-RPC response.
    body: Value,
}

/// A 2026-07-28 `tools/call` of `tool` with `arguments` and `token`.
async fn call(addr: SocketAddr, token: &str, tool: &str, arguments: Value) -> Answer {
    let response = modern::request(
        &fixture::http(),
        &format!("http://{addr}/mcp"),
        token,
        "application/json, text/event-stream",
        json!({}),
        1,
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    )
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    let challenge = mcp_auth_test_support::header(&response, "www-authenticate");
    let body = modern::response_of(response.text().await.unwrap());
    Answer {
        status,
        challenge,
        body,
    }
}

/// The value of the parameter `name` of a `WWW-Authenticate` challenge.
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let len = challenge[start..].find('"')?;
    Some(&challenge[start..start + len])
}

/// The protected-resource metadata URL of the resource `audience` (RFC 9728 §3.1).
fn metadata_url(audience: &str) -> String {
    let (origin, path) = audience.split_at(audience.find("://").unwrap() + 3);
    let (host, path) = path.split_at(path.find('/').unwrap());
    format!("{origin}{host}/.well-known/oauth-protected-resource{path}")
}

#[test]
fn the_realm_configures_what_the_server_expects() {
    let realm = Realm::load();
    let defaults = Cli::try_parse_from(["keycloak-notes"]).unwrap();
    // The server's defaults are the realm's issuer and the audience its mappers set.
    assert_eq!(
        defaults.issuer,
        format!("http://localhost:8080/realms/{}", realm.name())
    );
    assert_eq!(defaults.resource, realm.audience(PUBLIC_CLIENT));
    assert_eq!(defaults.tenant_claim, realm.tenant_claim(PUBLIC_CLIENT));

    // Every scope a tool requires is a client scope MCP clients may ask for, which shows in
    // the token's `scope` and names the server as audience.
    let default = realm.client_scopes(PUBLIC_CLIENT, "defaultClientScopes");
    let optional = realm.client_scopes(PUBLIC_CLIENT, "optionalClientScopes");
    for tool in keycloak_notes::tools() {
        for scope in tool.scopes() {
            assert!(
                default.contains(scope) || optional.contains(scope),
                "{scope}"
            );
            let client_scope = realm.scope(scope);
            assert_eq!(client_scope["attributes"]["include.in.token.scope"], "true");
            let mappers = client_scope["protocolMappers"].as_array().unwrap();
            assert!(
                mappers
                    .iter()
                    .any(|m| m["protocolMapper"] == "oidc-audience-mapper"
                        && m["config"]["included.custom.audience"] == defaults.resource)
            );
        }
    }

    // Declaring any client scope stops Keycloak from creating its built-in ones on import
    // (`RealmManager.importRealm`), and a client scope that does not exist is skipped with a
    // warning: every scope a client or the realm's defaults name is declared.
    let clients = realm.json["clients"].as_array().unwrap();
    let named = clients
        .iter()
        .flat_map(|c| [&c["defaultClientScopes"], &c["optionalClientScopes"]])
        .chain([
            &realm.json["defaultDefaultClientScopes"],
            &realm.json["defaultOptionalClientScopes"],
        ]);
    for name in named.flat_map(strings) {
        realm.scope(name);
    }

    // MCP clients: a public client, the authorization code flow with PKCE S256 only, loopback
    // redirect URIs, access tokens typed `at+jwt`.
    let client = realm.client(PUBLIC_CLIENT);
    assert_eq!(client["publicClient"], true);
    assert_eq!(client["standardFlowEnabled"], true);
    assert_eq!(client["implicitFlowEnabled"], false);
    assert_eq!(client["directAccessGrantsEnabled"], false);
    assert_eq!(client["attributes"]["pkce.code.challenge.method"], "S256");
    assert_eq!(realm.token_type(PUBLIC_CLIENT), "at+jwt");
    for uri in strings(&client["redirectUris"]) {
        assert!(
            uri.starts_with("http://localhost:") || uri.starts_with("http://127.0.0.1:"),
            "{uri}"
        );
    }

    // An imported user gets no default roles (`createUser` adds them only when asked), so
    // each names the realm's: without them no `account` audience or roles in the tokens.
    let default_roles = format!("default-roles-{}", realm.name());
    for user in realm.json["users"].as_array().unwrap() {
        assert!(strings(&user["realmRoles"]).contains(&default_roles.as_str()));
    }

    // A user cannot change their own tenant in the account console: only administrators
    // edit the attribute.
    let profile = realm.user_profile();
    let attributes = profile["attributes"].as_array().unwrap();
    let tenant = attributes.iter().find(|a| a["name"] == "tenant").unwrap();
    assert_eq!(tenant["permissions"]["edit"], json!(["admin"]));
}

#[tokio::test]
async fn a_keycloak_access_token_calls_the_tools_its_scopes_allow() {
    within(async {
        let realm = Realm::load();
        let (keycloak, addr) = start(&realm, &[]).await;
        let alice = realm.user("alice");
        let typ = realm.token_type(PUBLIC_CLIENT);
        let token = |user, extra: &[&str]| {
            let scope = realm.scope_claim(PUBLIC_CLIENT, extra);
            let claims = keycloak.access_claims(&realm, PUBLIC_CLIENT, user, &scope);
            keycloak.sign(typ, &claims)
        };

        // What MCP clients read first: Keycloak as the authorization server, the audience as
        // the resource, and the realm's default scopes among the tools' as the ones to ask for.
        let url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
        let metadata = mcp_auth_test_support::get_json(&fixture::http(), url).await;
        assert_eq!(metadata["authorization_servers"], json!([keycloak.issuer]));
        assert_eq!(metadata["resource"], realm.audience(PUBLIC_CLIENT));
        let default = realm.client_scopes(PUBLIC_CLIENT, "defaultClientScopes");
        let tools = keycloak_notes::tools();
        let tool_scopes = tools.iter().flat_map(|t| t.scopes()).copied();
        let first: Vec<&str> = tool_scopes.filter(|s| default.contains(s)).collect();
        assert_eq!(metadata["scopes_supported"], json!(first));

        let read = token(&alice, &[]);
        assert_eq!(
            realm.scope_claim(PUBLIC_CLIENT, &[]),
            "openid profile email notes:read"
        );
        let answer = call(addr, &read, "list_notes", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.body["result"]["structuredContent"],
            json!({ "notes": [] })
        );
        assert!(
            keycloak.certs_hits() > 0,
            "keys come from Keycloak's certs URL"
        );

        // `notes:write` is an optional scope: without it, the step-up challenge names it and
        // sends the client to the metadata of the audience the realm sets.
        let answer = call(addr, &read, "add_note", json!({ "text": "hello" })).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        let challenge = answer.challenge.unwrap();
        assert_eq!(param(&challenge, "error"), Some("insufficient_scope"));
        assert_eq!(param(&challenge, "scope"), Some("notes:write"));
        assert_eq!(
            param(&challenge, "resource_metadata"),
            Some(metadata_url(&realm.audience(PUBLIC_CLIENT)).as_str())
        );

        // A token asked for with `notes:write` adds a note, to alice's tenant.
        let write = token(&alice, &["notes:write"]);
        let answer = call(addr, &write, "add_note", json!({ "text": "hello" })).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let note = json!({ "id": 1, "text": "hello", "author": alice.username });
        assert_eq!(answer.body["result"]["structuredContent"], note);
        let answer = call(addr, &read, "list_notes", json!({})).await;
        assert_eq!(
            answer.body["result"]["structuredContent"]["notes"],
            json!([note])
        );
        // The same token in a 2025-11-25 session, as most MCP clients still speak.
        let (status, _, body) = Client::new(addr, Some(&read))
            .call("list_notes", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["structuredContent"]["notes"], json!([note]));

        // Bob's tenant claim names another tenant, whose notes are his own.
        let bob = token(&realm.user("bob"), &[]);
        let answer = call(addr, &bob, "list_notes", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.body["result"]["structuredContent"],
            json!({ "notes": [] })
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_without_the_audience_mappers_audience_is_401() {
    within(async {
        let realm = Realm::load();
        let (keycloak, addr) = start(&realm, &[]).await;
        let scope = realm.scope_claim(PUBLIC_CLIENT, &[]);
        let mut claims =
            keycloak.access_claims(&realm, PUBLIC_CLIENT, &realm.user("alice"), &scope);
        // What a client without the scope's audience mapper gets: `account` alone, which
        // Keycloak writes as a string.
        claims["aud"] = "account".into();
        let token = keycloak.sign(realm.token_type(PUBLIC_CLIENT), &claims);
        let answer = call(addr, &token, "list_notes", json!({})).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(
            param(&answer.challenge.unwrap(), "error"),
            Some("invalid_token")
        );
    })
    .await;
}

#[tokio::test]
async fn jwt_typed_tokens_need_allow_untyped_tokens() {
    within(async {
        let realm = Realm::load();
        let alice = realm.user("alice");
        let scope = realm.scope_claim(PUBLIC_CLIENT, &[]);
        // Keycloak before 26.2, or a client without the switch: `typ: JWT`.
        for (flags, status) in [(&[][..], 401), (&["--allow-untyped-tokens"][..], 200)] {
            let (keycloak, addr) = start(&realm, flags).await;
            let claims = keycloak.access_claims(&realm, PUBLIC_CLIENT, &alice, &scope);
            let token = keycloak.sign("JWT", &claims);
            let answer = call(addr, &token, "list_notes", json!({})).await;
            assert_eq!(answer.status, status, "{flags:?}: {}", answer.body);
        }
    })
    .await;
}

#[tokio::test]
async fn keycloak_id_tokens_are_refused_even_with_allow_untyped_tokens() {
    within(async {
        let realm = Realm::load();
        let (keycloak, addr) = start(&realm, &["--allow-untyped-tokens"]).await;
        let alice = realm.user("alice");
        let scope = realm.scope_claim(PUBLIC_CLIENT, &[]);
        let access = keycloak.access_claims(&realm, PUBLIC_CLIENT, &alice, &scope);
        let answer = call(
            addr,
            &keycloak.sign("JWT", &access),
            "list_notes",
            json!({}),
        )
        .await;
        assert_eq!(
            answer.status, 200,
            "the access token of the same sign-in passes"
        );

        let issued = keycloak.id_claims(&realm, PUBLIC_CLIENT, &alice);
        let mut without_hashes = issued.clone();
        for claim in ["nonce", "at_hash"] {
            without_hashes.as_object_mut().unwrap().remove(claim);
        }
        for (case, claims) in [
            ("as issued", issued),
            ("without nonce and at_hash", without_hashes),
        ] {
            // Keycloak types its ID tokens `JWT` in the header, whatever the client's switch.
            let token = keycloak.sign("JWT", &claims);
            let answer = call(addr, &token, "list_notes", json!({})).await;
            assert_eq!(answer.status, 401, "{case}: {}", answer.body);
            let challenge = answer.challenge.unwrap();
            assert_eq!(param(&challenge, "error"), Some("invalid_token"), "{case}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_token_without_a_tenant_gets_no_notes() {
    within(async {
        let realm = Realm::load();
        let (keycloak, addr) = start(&realm, &[]).await;
        let scope = realm.scope_claim(PUBLIC_CLIENT, &["notes:write"]);
        let mut claims =
            keycloak.access_claims(&realm, PUBLIC_CLIENT, &realm.user("alice"), &scope);
        // A user whose `tenant` attribute an administrator never set: no claim at all.
        claims
            .as_object_mut()
            .unwrap()
            .remove(&realm.tenant_claim(PUBLIC_CLIENT));
        let token = keycloak.sign(realm.token_type(PUBLIC_CLIENT), &claims);
        for (tool, arguments) in [
            ("list_notes", json!({})),
            ("add_note", json!({ "text": "hello" })),
        ] {
            let answer = call(addr, &token, tool, arguments).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let result = &answer.body["result"];
            assert_eq!(result["isError"], true, "{tool}: {result}");
            assert!(result.to_string().contains("names no tenant"), "{result}");
        }
    })
    .await;
}
