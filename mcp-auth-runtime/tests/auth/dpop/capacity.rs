//! The in-memory replay record's bounds (`Dpop::replay_capacity`, `replay_capacity_per_key`):
//! one client key beyond its share is refused alone (`401 invalid_dpop_proof`), a full record
//! refuses every new proof (`503`) rather than forget one, and what was recorded is still
//! refused as a replay.

use super::*;

#[tokio::test]
async fn a_key_beyond_its_share_and_a_full_record_are_refused() {
    for kind in KINDS {
        let config = Dpop::accept().replay_capacity(4).replay_capacity_per_key(2);
        let fx = Fx::start(kind, config).await;
        let (first, second, third) = (DpopKey::es256(), DpopKey::es256(), DpopKey::ed25519());
        let tokens: Vec<String> = [&first, &second, &third]
            .iter()
            .map(|key| fx.token("things:read", Some(key)))
            .collect();

        // The first key's share: two proofs; a third is refused, for that key alone.
        for _ in 0..2 {
            let answer = fx
                .send(dpop(fx.call("read_thing"), &first, &tokens[0]))
                .await;
            answer.assert_called("read");
        }
        let over = fx
            .send(dpop(fx.call("read_thing"), &first, &tokens[0]))
            .await;
        assert_eq!(over.status, 401, "{kind:?}: {over:?}");
        assert!(
            over.challenges[1].contains("error=\"invalid_dpop_proof\""),
            "{kind:?}: {over:?}"
        );

        // Another key still has its share, which fills the record.
        let request = dpop(fx.call("read_thing"), &second, &tokens[1]);
        let replay = request.try_clone().unwrap();
        fx.send(request).await.assert_called("read");
        fx.send(dpop(fx.call("read_thing"), &second, &tokens[1]))
            .await
            .assert_called("read");

        // Full: a third key is refused with 503, never served by forgetting a proof.
        let full = fx
            .send(dpop(fx.call("read_thing"), &third, &tokens[2]))
            .await;
        assert_eq!(full.status, 503, "{kind:?}: {full:?}");
        // And what is recorded is still a replay.
        let replayed = fx.send(replay).await;
        assert_eq!(replayed.status, 401, "{kind:?}: {replayed:?}");
    }
}
