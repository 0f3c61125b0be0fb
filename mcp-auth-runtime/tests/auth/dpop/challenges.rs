//! What a client learns from the server: the `403` step-up challenge in the scheme it used
//! (MCP endpoint and `RequireScopes` on a route of the application's own), the algorithms of
//! the `DPoP` challenge, and the protected-resource metadata of each policy.

use axum::routing::get;
use mcp_auth_runtime::auth::Algorithm;

use super::*;

const STEP_UP: &str = "error=\"insufficient_scope\", scope=\"things:write\", error_description=\"the request requires higher privileges than provided by the access token\"";

#[tokio::test]
async fn a_step_up_challenge_comes_in_the_scheme_the_client_used() {
    for kind in KINDS {
        let fx = Fx::start(kind, Dpop::accept()).await;
        let key = DpopKey::es256();
        let bound = fx.token("things:read", Some(&key));
        let unbound = fx.token("things:read", None);
        let answer = fx.send(dpop(fx.call("write_thing"), &key, &bound)).await;
        answer.assert_refused(403, &[fx.challenge("DPoP", STEP_UP)]);
        let answer = fx.send(bearer(fx.call("write_thing"), &unbound)).await;
        answer.assert_refused(403, &[fx.challenge("Bearer", STEP_UP)]);
        // The same bound token in the same scheme, with the scope: through.
        let writer = fx.token("things:read things:write", Some(&key));
        fx.send(dpop(fx.call("write_thing"), &key, &writer))
            .await
            .assert_called("written");
    }
}

/// The scheme is the request's, not the token's: a bearer request between two DPoP ones
/// with tokens of one principal (whose verified identities the JWT cache shares) is
/// challenged in `Bearer`, and the DPoP ones in `DPoP`.
#[tokio::test]
async fn the_scheme_of_a_step_up_is_remembered_per_request() {
    let fx = Fx::start(Kind::Jwt, Dpop::accept()).await;
    let key = DpopKey::es256();
    let bound = fx.token("things:read", Some(&key));
    let unbound = fx.token("things:read", None);
    for _ in 0..2 {
        let answer = fx.send(dpop(fx.call("write_thing"), &key, &bound)).await;
        answer.assert_refused(403, &[fx.challenge("DPoP", STEP_UP)]);
        let answer = fx.send(bearer(fx.call("write_thing"), &unbound)).await;
        answer.assert_refused(403, &[fx.challenge("Bearer", STEP_UP)]);
    }
}

/// `bearer_auth()` and `require_scopes(..)` on a route of the application's own carry the
/// server's DPoP configuration: proofs for the resource's origin and the route's path, and
/// the step-up challenge in the scheme used.
#[tokio::test]
async fn routes_of_ones_own_take_proofs_and_step_up_in_the_scheme_used() {
    for kind in KINDS {
        let (listener, addr, resource) = bind_endpoint().await;
        let with_reports = |listener, server: McpServer| {
            let reports = axum::Router::new()
                .route("/reports", get(|| async { "the reports" }))
                .layer(server.require_scopes(["things:write"]))
                .layer(server.bearer_auth().unwrap());
            serve_on(listener, server.merge_into(reports).unwrap());
        };
        let fx = Fx::serve(
            kind,
            listener,
            addr,
            resource,
            |builder| builder.dpop(Dpop::accept()),
            with_reports,
        )
        .await;
        let key = DpopKey::es256();
        let reports = || {
            fx.http
                .get(format!("http://{addr}/reports"))
                .build()
                .unwrap()
        };
        let reader = fx.token("things:read", Some(&key));
        let answer = fx.send(dpop(reports(), &key, &reader)).await;
        answer.assert_refused(403, &[fx.challenge("DPoP", STEP_UP)]);
        let unbound = fx.token("things:read", None);
        let answer = fx.send(bearer(reports(), &unbound)).await;
        answer.assert_refused(403, &[fx.challenge("Bearer", STEP_UP)]);
        let writer = fx.token("things:write", Some(&key));
        let answer = fx.send(dpop(reports(), &key, &writer)).await;
        assert_eq!(answer.status, 200, "{kind:?}: {answer:?}");
        assert_eq!(answer.body, "the reports");
        // A proof for the MCP endpoint is not one for this route (`htu`), nor one for `POST`.
        let mut request = authorized(
            reports(),
            &format!("DPoP {writer}"),
            &[key.proof("GET", &fx.resource, Some(&writer))],
        );
        let answer = fx.send(request).await;
        assert_eq!(answer.status, 401, "{kind:?}: {answer:?}");
        request = authorized(
            reports(),
            &format!("DPoP {writer}"),
            &[key.proof("POST", &format!("http://{addr}/reports"), Some(&writer))],
        );
        let answer = fx.send(request).await;
        assert_eq!(answer.status, 401, "{kind:?}: {answer:?}");
        assert!(
            answer.challenges[1].contains("error=\"invalid_dpop_proof\""),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn metadata_says_whether_dpop_is_accepted_or_required_and_with_which_algorithms() {
    let algs: Vec<&str> = ALGS.split(' ').collect();
    for (dpop, required, supported) in [
        (Dpop::off(), None, None),
        (Dpop::accept(), None, Some(algs.clone())),
        (Dpop::require(), Some(true), Some(algs.clone())),
        (
            Dpop::require().algorithms([Algorithm::EdDSA, Algorithm::ES256]),
            Some(true),
            Some(vec!["EdDSA", "ES256"]),
        ),
    ] {
        let policy = dpop.policy();
        let fx = Fx::start(Kind::Jwt, dpop).await;
        let metadata = fx.metadata().await;
        assert_eq!(
            metadata.get("dpop_bound_access_tokens_required"),
            required.map(Value::from).as_ref(),
            "{policy:?}: {metadata}"
        );
        assert_eq!(
            metadata.get("dpop_signing_alg_values_supported"),
            supported.map(|algs| json!(algs)).as_ref(),
            "{policy:?}: {metadata}"
        );
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn the_dpop_challenge_names_the_configured_algorithms() {
    let fx = Fx::start(
        Kind::Jwt,
        Dpop::require().algorithms([Algorithm::EdDSA, Algorithm::ES256]),
    )
    .await;
    let answer = fx.send(fx.call("read_thing")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenges,
        [format!(
            "DPoP {}, algs=\"EdDSA ES256\", {SCOPES}",
            fx.realm()
        )]
    );
}
