//! Each policy's answer to each way of presenting a token, for JWTs and introspected tokens:
//! `Off` is the bearer-only server it always was, `Accept` takes bound tokens with their proof
//! and bearer tokens as such, `Require` takes bound tokens only.

use mcp_auth_runtime::auth::{AuthError, AuthInfo, DpopPolicy, TokenVerifier};

use super::*;

/// What a row expects.
#[derive(Debug)]
enum Expect {
    /// The tool ran.
    Called,
    /// This status, with exactly these challenges.
    Refused(u16, Vec<String>),
}

const BOUND_AS_BEARER: &str =
    "the access token is DPoP-bound: send it with the DPoP scheme and a proof";
const NOT_BOUND: &str = "the access token is not DPoP-bound";
const BAD_PROOF: &str = "the DPoP proof is missing, malformed or invalid for this request";
const INVALID: &str = "the access token is invalid or expired";
const PROOF_WITH_BEARER: &str = "a DPoP proof came with the Bearer scheme: send a DPoP-bound token with the DPoP scheme, a bearer token without a proof";
const DPOP_ONLY: &str = "this resource accepts DPoP-bound access tokens only: send the token with the DPoP scheme and a proof (RFC 9449)";

/// Every way of presenting a token to `fx`, with what `policy` answers.
fn rows(fx: &Fx, policy: DpopPolicy) -> Vec<(&'static str, reqwest::Request, Expect)> {
    use Expect::{Called, Refused};
    let key = DpopKey::es256();
    let unbound = fx.token("things:read", None);
    let bound = fx.token("things:read", Some(&key));
    let mtls = fx.token_with(
        "things:read",
        json!({ "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
    );
    let other_audience = fx.token_with(
        "things:read",
        json!({ "aud": "https://other.example.com/mcp" }),
    );
    let call = || fx.call("read_thing");
    let proof_for = |token: &str| key.proof("POST", &fx.resource, Some(token));
    let scheme = |name: &str, params: &str| fx.challenge(name, params);
    // The challenges of a refusal reported in `to`'s challenge, the other one plain.
    let refused = |status: u16, to: &str, problem: &str| -> Expect {
        let challenges = match policy {
            DpopPolicy::Off => vec![scheme("Bearer", problem)],
            DpopPolicy::Require => vec![scheme("DPoP", problem)],
            _ if to == "Bearer" => vec![scheme("Bearer", problem), scheme("DPoP", "")],
            _ if to == "DPoP" => vec![scheme("Bearer", ""), scheme("DPoP", problem)],
            _ => vec![scheme("Bearer", problem), scheme("DPoP", problem)],
        };
        Refused(status, challenges)
    };
    let no_token = || match policy {
        DpopPolicy::Off => Refused(401, vec![scheme("Bearer", SCOPES)]),
        DpopPolicy::Require => Refused(401, vec![scheme("DPoP", SCOPES)]),
        _ => Refused(401, vec![scheme("Bearer", SCOPES), scheme("DPoP", SCOPES)]),
    };
    let off = policy == DpopPolicy::Off;
    let require = policy == DpopPolicy::Require;
    let invalid = problem("invalid_token", INVALID);
    let dpop_only = || refused(401, "DPoP", &problem("invalid_token", DPOP_ONLY));
    // With DPoP off, the scheme is not understood: the request carries no token.
    let dpop_row = |expect: Expect| if off { no_token() } else { expect };
    vec![
        ("no token", call(), no_token()),
        (
            "bearer, unbound",
            bearer(call(), &unbound),
            if require { dpop_only() } else { Called },
        ),
        (
            "bearer, bound",
            bearer(call(), &bound),
            match policy {
                DpopPolicy::Off => refused(401, "Bearer", &invalid),
                DpopPolicy::Require => dpop_only(),
                _ => refused(401, "Bearer", &problem("invalid_token", BOUND_AS_BEARER)),
            },
        ),
        (
            "bearer, unbound, with a DPoP proof",
            authorized(call(), &format!("Bearer {unbound}"), &[proof_for(&unbound)]),
            match policy {
                DpopPolicy::Off => Called,
                DpopPolicy::Require => dpop_only(),
                _ => refused(400, "both", &problem("invalid_request", PROOF_WITH_BEARER)),
            },
        ),
        (
            "bearer, bound by mutual TLS (cnf x5t#S256)",
            bearer(call(), &mtls),
            if require {
                dpop_only()
            } else {
                refused(401, "Bearer", &invalid)
            },
        ),
        (
            "DPoP, bound, honest proof",
            dpop(call(), &key, &bound),
            dpop_row(Called),
        ),
        (
            "dpop (lower case), bound, honest proof",
            authorized(call(), &format!("dpop {bound}"), &[proof_for(&bound)]),
            dpop_row(Called),
        ),
        (
            "DPoP, unbound, honest proof",
            dpop(call(), &key, &unbound),
            dpop_row(refused(401, "DPoP", &problem("invalid_token", NOT_BOUND))),
        ),
        (
            "DPoP, bound by mutual TLS, honest proof",
            dpop(call(), &key, &mtls),
            dpop_row(refused(401, "DPoP", &invalid)),
        ),
        (
            "DPoP, bound, no proof",
            authorized(call(), &format!("DPoP {bound}"), &[]),
            dpop_row(refused(
                401,
                "DPoP",
                &problem("invalid_dpop_proof", BAD_PROOF),
            )),
        ),
        (
            "DPoP, bound, two honest proofs",
            authorized(
                call(),
                &format!("DPoP {bound}"),
                &[proof_for(&bound), proof_for(&bound)],
            ),
            dpop_row(refused(
                401,
                "DPoP",
                &problem("invalid_dpop_proof", BAD_PROOF),
            )),
        ),
        (
            "DPoP, bound, an oversized proof",
            authorized(
                call(),
                &format!("DPoP {bound}"),
                &[format!("{}.e30.x", "a".repeat(9000))],
            ),
            dpop_row(refused(
                401,
                "DPoP",
                &problem("invalid_dpop_proof", BAD_PROOF),
            )),
        ),
        (
            "DPoP, bound, proof by another key",
            dpop(call(), &DpopKey::es256(), &bound),
            dpop_row(refused(
                401,
                "DPoP",
                &problem("invalid_token", "invalid DPoP key binding"),
            )),
        ),
        (
            "DPoP, a token for another resource",
            dpop(call(), &key, &other_audience),
            dpop_row(refused(401, "DPoP", &invalid)),
        ),
    ]
}

async fn check(policy: DpopPolicy) {
    for kind in KINDS {
        let fx = Fx::start(kind, Dpop::new(policy)).await;
        for (what, request, expect) in rows(&fx, policy) {
            let answer = fx.send(request).await;
            let why = format!("{kind:?}, {policy:?}, {what}");
            match expect {
                Expect::Called => {
                    assert_eq!(answer.status, 200, "{why}: {answer:?}");
                    assert_eq!(answer.body["result"]["content"][0]["text"], "read", "{why}");
                }
                Expect::Refused(status, challenges) => {
                    assert_eq!(answer.status, status, "{why}: {answer:?}");
                    assert_eq!(answer.challenges, challenges, "{why}");
                    assert_eq!(answer.cache_control.as_deref(), Some("no-store"), "{why}");
                }
            }
        }
    }
}

#[tokio::test]
async fn off_is_the_bearer_only_server_it_was() {
    check(DpopPolicy::Off).await;
}

#[tokio::test]
async fn accept_takes_bound_tokens_with_their_proof_and_bearer_tokens_as_such() {
    check(DpopPolicy::Accept).await;
}

#[tokio::test]
async fn require_takes_bound_tokens_with_their_proof_only() {
    check(DpopPolicy::Require).await;
}

/// A verifier of its own that passes a token's claims on, `cnf` included, without saying
/// which key binds it: it knows nothing of DPoP.
struct Unaware;

impl TokenVerifier for Unaware {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let mut claims = serde_json::Map::new();
        if token == "bound" {
            claims.insert("cnf".into(), DpopKey::es256().cnf());
        }
        Ok(AuthInfo::new("user-1")
            .with_scopes(["things:read"])
            .with_claims(claims))
    }
}

/// An identity with a `cnf` its verifier did not turn into a thumbprint is bound to
/// something the layer cannot check: refused in either scheme, whatever the policy, and
/// before any proof is looked at.
#[tokio::test]
async fn a_custom_verifiers_cnf_without_a_thumbprint_is_refused() {
    for policy in [DpopPolicy::Off, DpopPolicy::Accept, DpopPolicy::Require] {
        let (listener, addr, resource) = bind_endpoint().await;
        let server = McpServer::builder("dpop", "1.0.0")
            .tools(tools![read_thing])
            .resource(resource.clone())
            .verifier(Unaware)
            .dpop(Dpop::new(policy))
            .build()
            .unwrap();
        serve_on(listener, server.into_router());
        let http = reqwest::Client::new();
        let key = DpopKey::es256();
        let call = |authorization: String, proof: Option<String>| {
            let mut request = http
                .post(&resource)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header("mcp-protocol-version", "2026-07-28")
                .header("authorization", authorization);
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            request.body("{}").send()
        };
        let bearer = call("Bearer bound".into(), None).await.unwrap();
        assert_eq!(bearer.status(), 401, "{policy:?}, bearer");
        let proof = key.proof("POST", &resource, Some("bound"));
        let dpop = call("DPoP bound".into(), Some(proof)).await.unwrap();
        assert_eq!(dpop.status(), 401, "{policy:?}, DPoP");
        let challenges: Vec<_> = dpop.headers().get_all("www-authenticate").iter().collect();
        // With DPoP off the scheme is not understood: no token came.
        let refused_token = challenges
            .iter()
            .any(|c| c.to_str().unwrap().contains("error=\"invalid_token\""));
        assert_eq!(
            refused_token,
            policy != DpopPolicy::Off,
            "{policy:?}: {challenges:?} at {addr}"
        );
        // The same identity without `cnf` is a bearer token's.
        let plain = call("Bearer plain".into(), None).await.unwrap();
        let expected = if policy == DpopPolicy::Require {
            401
        } else {
            400
        };
        // `{}` is no JSON-RPC message: the request got past authentication.
        assert_eq!(plain.status(), expected, "{policy:?}, plain bearer");
    }
}

/// A JWT whose `cnf` repeats `jkt` names one key to a parser that keeps the first member
/// (a gateway checking proofs) and another to `serde_json`, which keeps the last: refused as
/// the repeated top-level claims are, whichever key signs the proof.
#[tokio::test]
async fn a_jwt_whose_cnf_repeats_jkt_is_refused() {
    let fx = Fx::start(Kind::Jwt, Dpop::require()).await;
    let (first, last) = (DpopKey::es256(), DpopKey::es256());
    let claims = claims(&fx.issuer.url, &fx.resource, "things:read").to_string();
    let payload = format!(
        r#"{},"cnf":{{"jkt":"{}","jkt":"{}"}}}}"#,
        claims.strip_suffix('}').unwrap(),
        first.thumbprint(),
        last.thumbprint()
    );
    let header = serde_json::to_string(&fx.signer.header()).unwrap();
    let token = fx.signer.sign_raw(&header, &payload);
    for key in [&first, &last] {
        let answer = fx.send(dpop(fx.call("read_thing"), key, &token)).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(
            answer.challenges,
            [fx.challenge("DPoP", &problem("invalid_token", INVALID))],
            "{answer:?}"
        );
    }
    // The same claims with one `jkt` are served: only the repetition is refused.
    let mut single: Value = serde_json::from_str(&claims).unwrap();
    single["cnf"] = last.cnf();
    let token = fx.signer.sign(&single);
    fx.send(dpop(fx.call("read_thing"), &last, &token))
        .await
        .assert_called("read");
}
