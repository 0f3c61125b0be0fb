//! Both protocol eras with a DPoP-bound token and a fresh proof on every request: the
//! 2025-11-25 handshake (`initialize`, the session's requests, its `GET` stream and its
//! `DELETE`, each proof naming its own method) and 2026-07-28 requests to a stateless server.

use mcp_auth_runtime::auth::DpopPolicy;

use super::*;

/// A 2025-11-25 client holding a DPoP-bound token: every request gets a fresh proof.
struct Handshake<'a> {
    fx: &'a Fx,
    key: DpopKey,
    token: String,
    session: Option<String>,
}

impl Handshake<'_> {
    /// `method` on the MCP endpoint with the session headers once a session is open.
    fn request(&self, method: reqwest::Method, accept: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .fx
            .http
            .request(method, &self.fx.resource)
            .header("accept", accept);
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request
    }

    /// A JSON-RPC message `body`, with a proof for `POST`.
    async fn post(&self, body: Value) -> (Answer, Option<String>) {
        let request = self
            .request(reqwest::Method::POST, "application/json")
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
            .unwrap();
        let response = self
            .fx
            .http
            .execute(dpop(request, &self.key, &self.token))
            .await
            .unwrap();
        let session = mcp_auth_test_support::header(&response, "mcp-session-id");
        (Answer::of(response).await, session)
    }

    async fn call(&self, tool: &str) -> Answer {
        let body = json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": tool, "arguments": {} }
        });
        self.post(body).await.0
    }
}

async fn handshake(policy: DpopPolicy) {
    for kind in KINDS {
        let fx = Fx::start(kind, Dpop::new(policy)).await;
        let key = DpopKey::es256();
        let token = fx.token("things:read", Some(&key));
        let mut client = Handshake {
            fx: &fx,
            key,
            token,
            session: None,
        };
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "dpop-test", "version": "0" }
            }
        });
        let (answer, session) = client.post(initialize).await;
        assert_eq!(answer.status, 200, "{kind:?}: {answer:?}");
        client.session = Some(session.expect("a session id"));
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        assert_eq!(client.post(initialized).await.0.status, 202, "{kind:?}");
        client.call("read_thing").await.assert_called("read");
        let step_up = client.call("write_thing").await;
        assert_eq!(step_up.status, 403, "{kind:?}: {step_up:?}");
        assert_eq!(step_up.challenges.len(), 1, "{step_up:?}");
        assert!(step_up.challenges[0].starts_with("DPoP "), "{step_up:?}");
        assert!(
            step_up.challenges[0].contains("scope=\"things:write\""),
            "{step_up:?}"
        );

        // The session's stream: `GET`, with a proof for `GET`.
        let get = client
            .request(reqwest::Method::GET, "text/event-stream")
            .build()
            .unwrap();
        let mut for_post = authorized(
            client
                .request(reqwest::Method::GET, "text/event-stream")
                .build()
                .unwrap(),
            &format!("DPoP {}", client.token),
            &[client.key.proof("POST", &fx.resource, Some(&client.token))],
        );
        let stream = fx
            .http
            .execute(dpop(get, &client.key, &client.token))
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "{kind:?}");
        assert_eq!(
            mcp_auth_test_support::header(&stream, "content-type").as_deref(),
            Some("text/event-stream")
        );
        drop(stream);
        // A proof for another method than the request's is refused (`htm`).
        let answer = fx.send(for_post).await;
        assert_eq!(answer.status, 401, "{kind:?}: {answer:?}");
        assert!(
            answer
                .challenges
                .iter()
                .any(|c| c.contains("error=\"invalid_dpop_proof\"")),
            "{answer:?}"
        );

        // Ending the session: `DELETE`, with a proof for `DELETE`.
        for_post = authorized(
            client
                .request(reqwest::Method::DELETE, "application/json")
                .build()
                .unwrap(),
            &format!("DPoP {}", client.token),
            &[client.key.proof("POST", &fx.resource, Some(&client.token))],
        );
        assert_eq!(
            fx.send(for_post).await.status,
            401,
            "{kind:?}: DELETE with a POST proof"
        );
        let delete = client
            .request(reqwest::Method::DELETE, "application/json")
            .build()
            .unwrap();
        let answer = fx.send(dpop(delete, &client.key, &client.token)).await;
        assert_eq!(answer.status, 204, "{kind:?}: {answer:?}");
        assert_eq!(client.call("read_thing").await.status, 404, "{kind:?}");
    }
}

#[tokio::test]
async fn a_handshake_session_runs_on_proofs_when_dpop_is_accepted() {
    handshake(DpopPolicy::Accept).await;
}

#[tokio::test]
async fn a_handshake_session_runs_on_proofs_when_dpop_is_required() {
    handshake(DpopPolicy::Require).await;
}

/// 2026-07-28 requests to a stateless server, with every `Accept` a client may send: each
/// with its own proof; a proof is good for one request only.
#[tokio::test]
async fn stateless_requests_run_on_proofs() {
    for kind in KINDS {
        let fx = Fx::start_with(kind, |builder| {
            builder.dpop(Dpop::require()).stateless(true)
        })
        .await;
        let key = DpopKey::es256();
        let token = fx.token("things:read", Some(&key));
        for accept in mcp_auth_test_support::modern::ACCEPTS {
            let mut request = fx.call("read_thing");
            request
                .headers_mut()
                .insert("accept", accept.parse().unwrap());
            let answer = fx.send(dpop(request, &key, &token)).await;
            assert_eq!(answer.status, 200, "{kind:?}, {accept}: {answer:?}");
        }
        let proof = key.proof("POST", &fx.resource, Some(&token));
        let once = authorized(
            fx.call("read_thing"),
            &format!("DPoP {token}"),
            std::slice::from_ref(&proof),
        );
        fx.send(once).await.assert_called("read");
        let again = authorized(fx.call("read_thing"), &format!("DPoP {token}"), &[proof]);
        let answer = fx.send(again).await;
        assert_eq!(answer.status, 401, "{kind:?}: a replayed proof: {answer:?}");
    }
}
