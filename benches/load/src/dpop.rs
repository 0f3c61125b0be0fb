//! The client side of the DPoP figure: one P-256 key (ES256, what most clients use), the
//! RFC 7638 thumbprint its tokens name in `cnf.jkt`, and proofs signed ahead of the run, one
//! per request, each with its own `jti`. `wrk` cannot sign (its Lua has no crypto), so the
//! harness signs them before the measured run and `wrk` sends each one once; the server's
//! work per request is exactly a client's with a fresh proof each time.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// A client's DPoP key.
pub struct DpopKey {
    pair: EcdsaKeyPair,
    /// The protected header every proof shares (`typ`, `alg`, the public `jwk`), encoded.
    header: String,
    /// `cnf.jkt` for the tokens bound to this key.
    pub thumbprint: String,
}

impl DpopKey {
    pub fn es256() -> DpopKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        // The uncompressed point: 0x04, x, y.
        let point = pair.public_key().as_ref();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        );
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        let header = json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": { "kty": "EC", "crv": "P-256", "x": x, "y": y },
        });
        DpopKey {
            pair,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            thumbprint: URL_SAFE_NO_PAD.encode(digest.as_ref()),
        }
    }

    /// A proof for `POST url` with `token` (`ath`), numbered `n` in its `jti`.
    pub fn proof(&self, url: &str, token_ath: &str, run: &str, n: usize) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "jti": format!("{run}-{n}"),
            "htm": "POST",
            "htu": url,
            "iat": now,
            "ath": token_ath,
        });
        let signing_input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// `ath` for `token`: base64url of its SHA-256 (RFC 9449 §4.2).
pub fn ath(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Writes `count` fresh proofs for `POST url` with `token`, one a line, to `path`; signed on
/// every CPU (before the server under test starts, so that signing competes with nothing).
/// `run` makes the `jti`s unique across files.
pub fn write_proofs(
    key: &DpopKey,
    url: &str,
    token: &str,
    run: &str,
    count: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let ath = ath(token);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(workers);
    let parts: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let ath = &ath;
                scope.spawn(move || {
                    let mut out = String::with_capacity(chunk * 480);
                    for n in (w * chunk)..((w + 1) * chunk).min(count) {
                        out.push_str(&key.proof(url, ath, run, n));
                        out.push('\n');
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
    );
    for part in parts {
        file.write_all(part.as_bytes())?;
    }
    file.flush()?;
    Ok(())
}

/// A wrk script sending `body` with `token` in the DPoP scheme and the next unused proof of
/// `proofs` in each request (thread `i` of `threads` takes every `threads`-th line). A thread
/// that runs out counts it (`done` prints `proofs exhausted: N`) and resends its last proof,
/// which the server refuses: the harness then fails the run rather than report a figure
/// padded with refusals.
pub fn wrk_script(body: &str, token: &str, proofs: &Path, threads: u32) -> String {
    format!(
        r#"wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Authorization"] = "DPoP {token}"

local threads = {{}}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  proofs = {{}}
  local i = 0
  for line in io.lines("{path}") do
    if i % {threads} == id then proofs[#proofs + 1] = line end
    i = i + 1
  end
  nextProof = 1
  exhausted = 0
end
function request()
  local proof = proofs[nextProof]
  if proof == nil then
    exhausted = exhausted + 1
    proof = proofs[#proofs]
  end
  nextProof = nextProof + 1
  wrk.headers["DPoP"] = proof
  return wrk.format()
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("exhausted") end
  io.write(string.format("proofs exhausted: %d\n", n))
end
"#,
        path = proofs.display()
    )
}
