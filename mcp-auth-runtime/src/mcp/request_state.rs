//! The `requestState` of 2026-07-28 round trips, sealed so that a client can carry it but not
//! forge it.
//!
//! A tool that asks for input ends its call with an `InputRequiredResult`; the client retries
//! the call with its answers (`inputResponses`) and the `requestState` it was given. The state
//! holds the answers of earlier rounds and the questions of the last one, and travels through
//! the client, so it is sealed with HMAC-SHA256 (RFC 2104) under a server key and bound to:
//!
//! - the caller (its principal key), the method (`tools/call`, `prompts/get`), the name of the
//!   tool or prompt and a canonical digest of the request's arguments, so that a confirmation
//!   given for one call cannot be replayed onto another invoice, another amount, another tool,
//!   a prompt of the same name or by another caller;
//! - the questions asked (their keys and a digest of each request), so that an answer counts
//!   only for the question it answers;
//! - an expiry, after which the state is refused.
//!
//! Each state also carries a random 128-bit nonce, so that it can be used once: the retry that
//! opens it spends the nonce (see `mcp::spent`), and a later request carrying the same
//! state, a replay of that retry or not, is refused.
//!
//! The binding is part of the MAC input only; the state itself carries the nonce, the
//! answers, the question digests and the expiry, all of them the client's own or harmless to
//! show.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

pub(crate) use crate::input::Answer;
use crate::input::Answers;

/// The shortest key accepted, in bytes: the output length of SHA-256 (RFC 2104 §3).
pub(crate) const MIN_KEY_LEN: usize = 32;

/// How long a sealed state is accepted by default: long enough for a person to read a form
/// and answer it, short enough that a confirmation does not linger.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Separates this MAC's inputs from any other use of the same key.
/// `v2` binds the method too: a state sealed by a server that did not is refused.
const CONTEXT: &[u8] = b"mcp-auth requestState v2\0";

/// The version prefix of a sealed state.
const VERSION: &str = "v1";

/// A state's random identity, spent by the retry that opens the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Nonce(pub(crate) [u8; 16]);

impl Nonce {
    fn random() -> Nonce {
        let mut nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random generator is available");
        Nonce(nonce)
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl Serialize for Nonce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map(Nonce)
            .map_err(|_| serde::de::Error::custom("a nonce is 16 bytes"))
    }
}

/// What a sealed state holds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct State {
    /// Unique to this state: what spending it records. Required, so that a state sealed
    /// before nonces existed (which could not be spent) is refused.
    #[serde(rename = "n")]
    pub(crate) nonce: Nonce,
    /// Expiry, in milliseconds since the Unix epoch.
    #[serde(rename = "exp")]
    pub(crate) expires_ms: u64,
    /// The answers of earlier rounds.
    #[serde(rename = "ans")]
    pub(crate) answers: Answers,
    /// The questions of the last round, by key: the only keys `inputResponses` may answer.
    #[serde(rename = "ask")]
    pub(crate) asked: BTreeMap<String, String>,
}

/// Who calls which tool (or gets which prompt) with which arguments: what a state is valid
/// for.
pub(crate) struct Binding<'a> {
    pub(crate) principal: &'a str,
    /// The request's method: `tools/call`, `prompts/get`.
    pub(crate) method: &'a str,
    /// The tool's or prompt's name.
    pub(crate) tool: &'a str,
    pub(crate) arguments: [u8; 32],
}

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not sealed by a key of this server, altered, or sealed for another call.
    Invalid,
    /// Sealed for this call, but too long ago.
    Expired,
}

/// The keys that seal and open states: the first seals, every one opens (rotation).
pub(crate) struct Sealer {
    keys: Vec<hmac::Key>,
    lifetime: Duration,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys.
        f.debug_struct("Sealer")
            .field("keys", &self.keys.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl Sealer {
    /// Seals with `current`, and opens states sealed with it or with any of `previous`.
    /// Callers check the keys' lengths (see [`MIN_KEY_LEN`]).
    pub(crate) fn new(current: &[u8], previous: &[Vec<u8>], lifetime: Duration) -> Sealer {
        let keys = std::iter::once(current)
            .chain(previous.iter().map(Vec::as_slice))
            .map(|key| hmac::Key::new(hmac::HMAC_SHA256, key))
            .collect();
        Sealer { keys, lifetime }
    }

    /// A sealer with a random key of this process only, and `previous` keys.
    pub(crate) fn random(previous: &[Vec<u8>], lifetime: Duration) -> Sealer {
        let mut key = [0u8; MIN_KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).expect("the system random generator is available");
        Sealer::new(&key, previous, lifetime)
    }

    /// A new state for `binding`: `answers` so far and the questions `asked` now, valid for
    /// the sealer's lifetime from now.
    pub(crate) fn seal(
        &self,
        binding: &Binding<'_>,
        answers: Answers,
        asked: BTreeMap<String, String>,
    ) -> String {
        let state = State {
            nonce: Nonce::random(),
            expires_ms: now_ms().saturating_add(self.lifetime.as_millis() as u64),
            answers,
            asked,
        };
        let payload = serde_json::to_vec(&state).expect("a state serializes");
        let tag = hmac::sign(&self.keys[0], &mac_input(binding, &payload));
        format!(
            "{VERSION}.{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The state `sealed` holds, if a key of this server sealed it for `binding` and it has
    /// not expired at `now` (ms since the epoch). Whether it was used before is for the
    /// caller to check, by spending its nonce at the same `now`: a state opened just before
    /// its expiry and spent with a later clock reading could find its earlier spending
    /// already forgotten as expired.
    pub(crate) fn open(
        &self,
        binding: &Binding<'_>,
        sealed: &str,
        now: u64,
    ) -> Result<State, Refused> {
        let mut parts = sealed.split('.');
        let (Some(VERSION), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Invalid);
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Refused::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refused::Invalid)?;
        let input = mac_input(binding, &payload);
        // `hmac::verify` compares in constant time.
        if !self
            .keys
            .iter()
            .any(|key| hmac::verify(key, &input, &tag).is_ok())
        {
            return Err(Refused::Invalid);
        }
        let state: State = serde_json::from_slice(&payload).map_err(|_| Refused::Invalid)?;
        if now > state.expires_ms {
            return Err(Refused::Expired);
        }
        Ok(state)
    }
}

/// The MAC input: the context, then each part of the binding length-prefixed (so that no two
/// bindings share an encoding), then the state.
fn mac_input(binding: &Binding<'_>, payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(CONTEXT.len() + 96 + payload.len());
    input.extend_from_slice(CONTEXT);
    for part in [
        binding.principal.as_bytes(),
        binding.method.as_bytes(),
        binding.tool.as_bytes(),
    ] {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part);
    }
    input.extend_from_slice(&binding.arguments);
    input.extend_from_slice(payload);
    input
}

/// The wall clock, in milliseconds since the Unix epoch: the unit of a state's expiry.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::arguments_digest;
    use serde_json::Value;
    use serde_json::json;

    fn binding(arguments: &Value) -> Binding<'static> {
        Binding {
            principal: "p",
            method: "tools/call",
            tool: "t",
            arguments: arguments_digest(arguments.as_object()),
        }
    }

    #[test]
    fn argument_digests_ignore_member_order_only() {
        let a = json!({ "x": 1, "y": { "b": [1, 2], "a": "s" } });
        let b = serde_json::from_str::<Value>(r#"{"y":{"a":"s","b":[1,2]},"x":1}"#).unwrap();
        assert_eq!(binding(&a).arguments, binding(&b).arguments);
        assert_eq!(arguments_digest(None), binding(&json!({})).arguments);
        for other in [
            json!({ "x": 2, "y": { "b": [1, 2], "a": "s" } }),
            json!({ "x": 1, "y": { "b": [2, 1], "a": "s" } }),
            json!({ "x": "1", "y": { "b": [1, 2], "a": "s" } }),
            json!({ "x": 1 }),
        ] {
            assert_ne!(binding(&a).arguments, binding(&other).arguments, "{other}");
        }
    }

    #[test]
    fn a_state_opens_for_its_binding_only() {
        let sealer = Sealer::new(&[7; 32], &[], DEFAULT_LIFETIME);
        let asked = BTreeMap::from([("elicitation-0".to_owned(), "q".to_owned())]);
        let args = json!({ "n": 1 });
        let sealed = sealer.seal(&binding(&args), Answers::new(), asked.clone());
        assert_eq!(
            sealer
                .open(&binding(&args), &sealed, now_ms())
                .unwrap()
                .asked,
            asked
        );
        let other = |principal, method, tool| Binding {
            principal,
            method,
            tool,
            ..binding(&args)
        };
        for foreign in [
            other("p2", "tools/call", "t"),
            other("p", "tools/call", "t2"),
            // A prompt of the tool's name.
            other("p", "prompts/get", "t"),
            // Length prefixes: moving a byte from one part to the next changes the input.
            other("p", "tools/callt", ""),
            other("ptools/call", "", "t"),
            binding(&json!({ "n": 2 })),
        ] {
            assert_eq!(
                sealer.open(&foreign, &sealed, now_ms()).err(),
                Some(Refused::Invalid)
            );
        }
        // Each state sealed, even for the same call and questions, has a nonce of its own.
        let again = sealer.seal(&binding(&args), Answers::new(), asked.clone());
        let nonce = |sealed: &str| {
            sealer
                .open(&binding(&args), sealed, now_ms())
                .unwrap()
                .nonce
        };
        assert_ne!(nonce(&sealed), nonce(&again));
        let another_key = Sealer::new(&[8; 32], &[], DEFAULT_LIFETIME);
        assert!(
            another_key
                .open(&binding(&args), &sealed, now_ms())
                .is_err()
        );
        let rotated = Sealer::new(&[8; 32], &[vec![7; 32]], DEFAULT_LIFETIME);
        assert!(rotated.open(&binding(&args), &sealed, now_ms()).is_ok());
    }

    #[test]
    fn a_state_sealed_without_a_nonce_is_refused() {
        // Sealed correctly, as a server before nonces did: it could never be spent.
        let sealer = Sealer::new(&[7; 32], &[], DEFAULT_LIFETIME);
        let args = json!({});
        let payload = json!({ "exp": now_ms() + 60_000, "ans": {}, "ask": {} }).to_string();
        let tag = hmac::sign(
            &sealer.keys[0],
            &mac_input(&binding(&args), payload.as_bytes()),
        );
        let sealed = format!(
            "{VERSION}.{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
        assert_eq!(
            sealer.open(&binding(&args), &sealed, now_ms()).err(),
            Some(Refused::Invalid)
        );
    }
}
