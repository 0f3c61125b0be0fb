//! The client side of the DPoP figure: P-256 keys (ES256, what most clients use), the
//! RFC 7638 thumbprint each key's token names in `cnf.jkt`, and proofs signed ahead of the
//! run, one per request, each with its own `jti`. `wrk` cannot sign (its Lua has no crypto),
//! so the harness signs them before the measured run and `wrk` sends each one once; the
//! server's work per request is exactly a client's with a fresh proof each time.
//!
//! The proofs are spread over several keys because the server remembers at most
//! [`SERVER_PROOFS_PER_KEY`] unexpired proofs of one key (and [`SERVER_PROOFS`] in all): one
//! key at full speed would be refused after that many requests.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// The in-memory replay record's bounds this harness keeps below (`Dpop::replay_capacity`,
/// default 1,000,000, and a tenth per client key; these are the bounds of the first figures,
/// kept so that runs stay comparable): unexpired proofs remembered at once, in all and per
/// client key. A run must stay below them, or the server refuses further proofs.
pub const SERVER_PROOFS: usize = 100_000;
pub const SERVER_PROOFS_PER_KEY: usize = SERVER_PROOFS / 10;

/// How many proofs of one key a run sends at most: below the per-key limit, with room for the
/// correctness check's.
const PROOFS_PER_KEY: usize = SERVER_PROOFS_PER_KEY - 1_000;

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

/// The clients of the DPoP figure: keys, and for each a token bound to it (`cnf.jkt`).
pub struct Clients {
    pub keys: Vec<DpopKey>,
    pub tokens: Vec<String>,
}

impl Clients {
    /// Enough keys for `proofs` proofs in one run; `token` signs a token for a thumbprint.
    pub fn new(proofs: usize, token: impl Fn(&str) -> String) -> Clients {
        let keys: Vec<DpopKey> = (0..proofs.div_ceil(PROOFS_PER_KEY).max(1))
            .map(|_| DpopKey::es256())
            .collect();
        let tokens = keys.iter().map(|k| token(&k.thumbprint)).collect();
        Clients { keys, tokens }
    }
}

/// Writes `count` fresh proofs for `POST url`, one a line as `KEY PROOF` (the index of the key
/// and of its token in `clients`, keys taking turns), to `path`; signed on every CPU (before
/// the server under test starts, so that signing competes with nothing). `run` makes the
/// `jti`s unique across files.
pub fn write_proofs(
    clients: &Clients,
    url: &str,
    run: &str,
    count: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let aths: Vec<String> = clients.tokens.iter().map(|t| ath(t)).collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(workers);
    let parts: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let aths = &aths;
                scope.spawn(move || {
                    let mut out = String::with_capacity(chunk * 480);
                    for n in (w * chunk)..((w + 1) * chunk).min(count) {
                        let k = n % clients.keys.len();
                        out.push_str(&format!("{k} "));
                        out.push_str(&clients.keys[k].proof(url, &aths[k], run, n));
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

/// A wrk script sending `body` with the next unused proof of `proofs` in each request and
/// its key's token in the DPoP scheme (thread `i` of `threads` takes every `threads`-th
/// line). A thread that runs out counts it (`done` prints `proofs exhausted: N`) and resends
/// its last proof, which the server refuses: the harness then fails the run rather than
/// report a figure padded with refusals.
pub fn wrk_script(body: &str, tokens: &[String], proofs: &Path, threads: u32) -> String {
    let tokens: String = tokens
        .iter()
        .map(|t| format!("  \"DPoP {t}\",\n"))
        .collect();
    let post = crate::harness::wrk_post(body);
    format!(
        r#"{post}local authorizations = {{
{tokens}}}

local threads = {{}}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  proofs = {{}}
  keys = {{}}
  local i = 0
  for line in io.lines("{path}") do
    if i % {threads} == id then
      local space = line:find(" ", 1, true)
      keys[#keys + 1] = tonumber(line:sub(1, space - 1)) + 1
      proofs[#proofs + 1] = line:sub(space + 1)
    end
    i = i + 1
  end
  nextProof = 1
  exhausted = 0
end
function request()
  local n = nextProof
  if proofs[n] == nil then
    exhausted = exhausted + 1
    n = #proofs
  end
  nextProof = nextProof + 1
  wrk.headers["Authorization"] = authorizations[keys[n]]
  wrk.headers["DPoP"] = proofs[n]
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
