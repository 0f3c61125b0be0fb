//! What a tool asks the client for in the middle of a call, and the answers gathered so far:
//! shared by the tool's side ([`ToolError`](crate::ToolError), the peer) and the protocol's
//! (the 2026-07-28 `requestState`), and the canonical digests that bind them.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub(crate) use crate::ask::Question;

/// The requests for input of one round, which the 2026-07-28 era returns in an
/// `InputRequiredResult`.
#[derive(Debug, Clone)]
pub struct InputRequest {
    /// Asked now, in the order the tool asked them; never empty.
    pub(crate) questions: Vec<Question>,
    /// The answers gathered so far, carried to the retry in `requestState`.
    pub(crate) answered: Answers,
}

/// One answer of an earlier round, with the digest of the question it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    #[serde(rename = "q")]
    pub(crate) question: String,
    #[serde(rename = "a")]
    pub(crate) value: Value,
}

/// The answers gathered so far, by question key (`user_name`, `elicitation-0`, ...).
pub(crate) type Answers = BTreeMap<String, Answer>;

/// The SHA-256 digest of a call's arguments in canonical form: members sorted by name at every
/// depth, no insignificant whitespace. No arguments and `{}` are the same call.
pub(crate) fn arguments_digest(arguments: Option<&Map<String, Value>>) -> [u8; 32] {
    let mut out = Vec::with_capacity(128);
    canonical_object(arguments.into_iter().flatten(), &mut out);
    Sha256::digest(&out).into()
}

/// The digest of a request for input, as a state names the question an answer belongs to.
pub(crate) fn question_digest(method: &str, params: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    canonical(&Value::from(method), &mut out);
    out.push(b'\n');
    canonical(params, &mut out);
    URL_SAFE_NO_PAD.encode(Sha256::digest(&out))
}

/// `value` as JSON with every object's members sorted by name, whatever order the map keeps.
fn canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => canonical_object(map.iter(), out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("JSON scalars serialize"),
    }
}

fn canonical_object<'a>(members: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    let mut members: Vec<_> = members.collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name).expect("strings serialize");
        out.push(b':');
        canonical(value, out);
    }
    out.push(b'}');
}
