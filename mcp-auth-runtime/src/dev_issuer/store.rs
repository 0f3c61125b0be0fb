//! Everything the issuer remembers, in memory and bounded: registered clients, pending consent
//! forms, authorization codes, refresh tokens and the `jti` of spent client assertions.
//!
//! Codes, refresh tokens, form tokens and client secrets are kept as SHA-256 digests only.
//! Each map has a cap; when it is full, expired entries go first, then the oldest. Clients
//! are the exception: a client in use is never pushed out by new registrations (see
//! [`Clients`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::keys::{Digest, digest, random_token};
use crate::auth::JwkSet;
use crate::mcp::ExpiringKeys;

/// Most registered clients remembered.
const MAX_CLIENTS: usize = 1_000;
/// Most consent forms awaiting an answer.
const MAX_CONSENTS: usize = 1_000;
/// Most authorization codes, used or not, remembered until they expire.
const MAX_CODES: usize = 1_000;
/// Most refresh tokens, rotated or not, remembered until they expire.
const MAX_REFRESH_TOKENS: usize = 10_000;
/// Most unexpired `private_key_jwt` assertions remembered (their `jti`). When full, further
/// assertions are refused rather than one forgotten: a forgotten `jti` is a replay allowed.
const MAX_ASSERTIONS: usize = 10_000;

/// How long a consent form may be answered.
const CONSENT_LIFETIME: Duration = Duration::from_secs(600);
/// How long an authorization code may be redeemed (OAuth 2.1 §4.1.2: short-lived).
pub(super) const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a refresh token may be used.
pub(super) const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long a client must have been idle before a registration may push it out: as long as a
/// refresh token lives, so that no client holding a live one is forgotten.
const CLIENT_IDLE: Duration = REFRESH_TOKEN_LIFETIME;

/// A client: registered through RFC 7591 dynamic registration, or configured with
/// [`DevClient`](super::DevClient).
#[derive(Clone)]
pub(super) struct Client {
    pub(super) id: String,
    /// How the client authenticates at the token endpoint.
    pub(super) auth: ClientAuth,
    pub(super) name: Option<String>,
    pub(super) redirect_uris: Vec<String>,
    pub(super) grant_types: Vec<String>,
    /// The `scope` sent at registration: for the authorization code grant, the default when
    /// a request names none (never an upper bound); for client credentials, the most a token
    /// may carry.
    pub(super) scope: Option<String>,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): its token requests must carry a proof.
    pub(super) dpop_bound: bool,
    /// The resources (as configured: the `aud` of their tokens) the client may exchange
    /// tokens for (RFC 8693); always empty for a dynamically registered client.
    pub(super) exchange_for: Vec<String>,
}

/// How a client authenticates at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
#[derive(Clone)]
pub(super) enum ClientAuth {
    /// A public client: its `client_id` alone.
    None,
    /// `client_secret_basic` or `client_secret_post`: the digest of the secret.
    Secret(Digest),
    /// `private_key_jwt`: assertions signed by one of these (public) keys.
    PrivateKeyJwt(Arc<JwkSet>),
}

impl Client {
    /// Whether the client authenticates with a credential: a secret or a key.
    pub(super) fn is_confidential(&self) -> bool {
        !matches!(self.auth, ClientAuth::None)
    }
}

/// Why a client assertion's `jti` was not recorded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotRecorded {
    /// Seen before: a replay.
    Replayed,
    /// The record is full of unexpired assertions.
    Full,
}

/// Why a client was not registered.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StoreFull;

/// An authorization request that passed validation, awaiting or holding the user's consent.
#[derive(Clone)]
pub(super) struct Authorization {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    /// Whether the request named `redirect_uri`; if it did, the token request must too
    /// (RFC 6749 §4.1.3).
    pub(super) redirect_uri_given: bool,
    pub(super) code_challenge: String,
    pub(super) scopes: Vec<String>,
    /// The resource, as configured (the `aud` of the tokens).
    pub(super) resource: String,
    pub(super) state: Option<String>,
    /// The `dpop_jkt` of the request (RFC 9449 §10): the thumbprint of the DPoP key the
    /// token request must prove, if the client named one.
    pub(super) dpop_jkt: Option<String>,
}

/// What a token says: who, through which client, for which resource, with which scopes.
#[derive(Clone)]
pub(super) struct Grant {
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) tenant: Option<String>,
    pub(super) scopes: Vec<String>,
    pub(super) resource: String,
    /// The `act` claim (RFC 8693 §4.1): the client acting for the subject, and whoever acted
    /// before it, in a token from an exchange; `None` otherwise.
    pub(super) act: Option<serde_json::Value>,
}

/// An authorization code and what it was issued for.
pub(super) struct Code {
    pub(super) authorization: Authorization,
    pub(super) grant: Grant,
    /// The refresh tokens descended from this code, revoked if the code is presented twice.
    pub(super) family: String,
    used: bool,
}

struct Refresh {
    grant: Grant,
    family: String,
    /// The thumbprint of the DPoP key a refresh request must prove (RFC 9449 §5), for a
    /// public client's token issued with a proof.
    jkt: Option<String>,
    rotated: bool,
}

/// What a live refresh token grants, and the DPoP key it is bound to, if any.
pub(super) struct RefreshGrant {
    pub(super) grant: Grant,
    pub(super) jkt: Option<String>,
}

/// The result of presenting an authorization code.
pub(super) enum Redeemed {
    /// First presentation: the code is now used, whatever the caller does next.
    Fresh(Box<Code>),
    /// Unknown, expired, or already used (RFC 6749 §4.1.2: the tokens issued from it are
    /// revoked).
    Invalid,
}

/// The issuer's state.
#[derive(Default)]
pub(super) struct Store {
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    clients: Clients,
    consents: Bounded<Digest, Authorization>,
    codes: Bounded<Digest, Code>,
    refresh: Bounded<Digest, Refresh>,
    /// Digests of (client id, `jti`) of the assertions accepted, until they expire
    /// (milliseconds since the epoch).
    assertions: ExpiringKeys<Digest>,
}

impl Store {
    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a new client, or refuses when every slot holds a client in use.
    pub(super) fn register(&self, client: Client) -> Result<(), StoreFull> {
        self.maps()
            .clients
            .insert(client, Instant::now(), MAX_CLIENTS)
    }

    /// A registered client, without marking it used.
    pub(super) fn client(&self, id: &str) -> Option<Client> {
        self.maps().clients.get(id).cloned()
    }

    /// Marks a client used: it authenticated at the token endpoint, or named a registered
    /// redirect URI at the authorization endpoint.
    pub(super) fn client_used(&self, id: &str) {
        self.maps().clients.used(id, Instant::now());
    }

    /// Records the `jti` of a `private_key_jwt` assertion of `client_id` that expires at
    /// `expires_ms` (milliseconds since the epoch), or refuses it if it was seen before
    /// (RFC 7523 §3: the authorization server may refuse a replayed `jti`; this one always
    /// does). Entries are kept until the assertion expires, after which it is refused as
    /// expired anyway.
    pub(super) fn spend_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<(), NotRecorded> {
        // Length-prefixed client id, then the `jti`: distinct pairs never hash alike, and one
        // client's `jti` never spends another's.
        let key = digest(&format!("{}:{client_id}{jti}", client_id.len()));
        let mut maps = self.maps();
        let assertions = &mut maps.assertions;
        assertions.forget_expired(now_ms, |_| {});
        if assertions.contains(&key) {
            return Err(NotRecorded::Replayed);
        }
        if assertions.len() >= MAX_ASSERTIONS {
            return Err(NotRecorded::Full);
        }
        assertions.insert(key, expires_ms);
        Ok(())
    }

    /// Remembers an authorization awaiting consent; returns the one-time form token.
    pub(super) fn begin_consent(&self, authorization: Authorization) -> String {
        let token = random_token();
        self.maps().consents.insert(
            digest(&token),
            authorization,
            Some(CONSENT_LIFETIME),
            MAX_CONSENTS,
        );
        token
    }

    /// Takes the authorization behind a form token; a token answers one form only.
    pub(super) fn take_consent(&self, form_token: &str) -> Option<Authorization> {
        self.maps().consents.remove(&digest(form_token))
    }

    /// Issues a code for a consented authorization.
    pub(super) fn issue_code(&self, authorization: Authorization, grant: Grant) -> String {
        let code = random_token();
        let entry = Code {
            authorization,
            grant,
            family: random_token(),
            used: false,
        };
        self.maps()
            .codes
            .insert(digest(&code), entry, Some(CODE_LIFETIME), MAX_CODES);
        code
    }

    /// The `dpop_jkt` of a live, unused code, without presenting it: a request that cannot
    /// prove the key is refused before it spends the code (RFC 9449 §10).
    pub(super) fn code_jkt(&self, code: &str) -> Option<String> {
        let mut maps = self.maps();
        let entry = maps.codes.get_mut(&digest(code))?;
        (!entry.used).then(|| entry.authorization.dpop_jkt.clone())?
    }

    /// Presents a code. It is used from then on, even if the request fails later (a wrong
    /// verifier, a wrong client): a code is good for one attempt.
    pub(super) fn redeem_code(&self, code: &str) -> Redeemed {
        let mut maps = self.maps();
        let key = digest(code);
        let Some(entry) = maps.codes.get_mut(&key) else {
            return Redeemed::Invalid;
        };
        if entry.used {
            let family = entry.family.clone();
            maps.refresh.retain(|r| r.family != family);
            tracing::warn!(
                "an authorization code was presented twice: its refresh tokens are revoked"
            );
            return Redeemed::Invalid;
        }
        entry.used = true;
        Redeemed::Fresh(Box::new(Code {
            authorization: entry.authorization.clone(),
            grant: entry.grant.clone(),
            family: entry.family.clone(),
            used: true,
        }))
    }

    /// Issues a refresh token for `grant`, in the family of its code, bound to the DPoP key
    /// with thumbprint `jkt` if given.
    pub(super) fn issue_refresh(
        &self,
        grant: Grant,
        family: String,
        jkt: Option<String>,
    ) -> String {
        let token = random_token();
        let entry = Refresh {
            grant,
            family,
            jkt,
            rotated: false,
        };
        self.maps().refresh.insert(
            digest(&token),
            entry,
            Some(REFRESH_TOKEN_LIFETIME),
            MAX_REFRESH_TOKENS,
        );
        token
    }

    /// The grant of a live, unspent refresh token of `client_id` and its DPoP binding,
    /// without spending it.
    pub(super) fn refresh_grant(&self, token: &str, client_id: &str) -> Option<RefreshGrant> {
        let mut maps = self.maps();
        let entry = usable_refresh(&mut maps, token, client_id)?;
        Some(RefreshGrant {
            grant: entry.grant.clone(),
            jkt: entry.jkt.clone(),
        })
    }

    /// Rotates a refresh token of `client_id`: the old one is spent, a new one with the same
    /// grant is issued, bound to the DPoP key with thumbprint `jkt` if given.
    pub(super) fn rotate_refresh(
        &self,
        token: &str,
        client_id: &str,
        jkt: Option<String>,
    ) -> Option<(Grant, String)> {
        let mut maps = self.maps();
        let entry = usable_refresh(&mut maps, token, client_id)?;
        entry.rotated = true;
        let grant = entry.grant.clone();
        let family = entry.family.clone();
        drop(maps);
        let new = self.issue_refresh(grant.clone(), family, jkt);
        Some((grant, new))
    }
}

/// A live, unspent refresh token of `client_id`. A spent token presented again revokes its
/// whole family (OAuth 2.1 §4.3.1: refresh token reuse detection).
fn usable_refresh<'a>(maps: &'a mut Maps, token: &str, client_id: &str) -> Option<&'a mut Refresh> {
    let key = digest(token);
    let entry = maps.refresh.get_mut(&key)?;
    if entry.rotated {
        let family = entry.family.clone();
        maps.refresh.retain(|r| r.family != family);
        tracing::warn!("a spent refresh token was presented again: its family is revoked");
        return None;
    }
    if entry.grant.client_id != client_id {
        return None;
    }
    maps.refresh.get_mut(&key)
}

/// The registered clients, at most a cap of them.
///
/// When the cap is reached, a registration pushes out a client nobody has used yet (the
/// oldest first), else the client idle longest if it has been idle for [`CLIENT_IDLE`], and
/// otherwise is refused: a flood of registrations never takes a client that holds a live
/// refresh token, has a code in flight, or keeps getting client credentials tokens.
#[derive(Default)]
struct Clients {
    entries: HashMap<String, Registered>,
}

struct Registered {
    client: Client,
    registered: Instant,
    /// When the client last authenticated or started an authorization; `None` until then.
    used: Option<Instant>,
}

impl Clients {
    fn insert(&mut self, client: Client, now: Instant, cap: usize) -> Result<(), StoreFull> {
        if self.entries.len() >= cap {
            let never_used = self
                .entries
                .iter()
                .filter(|(_, c)| c.used.is_none())
                .min_by_key(|(_, c)| c.registered);
            let idle = || {
                self.entries
                    .iter()
                    .filter_map(|(id, c)| Some((id, c.used?)))
                    .filter(|(_, used)| now.saturating_duration_since(*used) >= CLIENT_IDLE)
                    .min_by_key(|(_, used)| *used)
            };
            let evicted = match never_used {
                Some((id, _)) => id.clone(),
                None => idle().ok_or(StoreFull)?.0.clone(),
            };
            self.entries.remove(&evicted);
        }
        self.entries.insert(
            client.id.clone(),
            Registered {
                client,
                registered: now,
                used: None,
            },
        );
        Ok(())
    }

    fn get(&self, id: &str) -> Option<&Client> {
        self.entries.get(id).map(|c| &c.client)
    }

    fn used(&mut self, id: &str, now: Instant) {
        if let Some(client) = self.entries.get_mut(id) {
            client.used = Some(now);
        }
    }
}

/// A map with a cap and per-entry expiry.
struct Bounded<K, V> {
    entries: HashMap<K, Entry<V>>,
}

struct Entry<V> {
    value: V,
    created: Instant,
    expires: Option<Instant>,
}

impl<V> Entry<V> {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    fn insert(&mut self, key: K, value: V, lifetime: Option<Duration>, cap: usize) {
        let now = Instant::now();
        if self.entries.len() >= cap {
            self.entries.retain(|_, e| e.live(now));
        }
        if self.entries.len() >= cap
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key,
            Entry {
                value,
                created: now,
                expires: lifetime.map(|l| now + l),
            },
        );
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let now = Instant::now();
        self.entries
            .get_mut(key)
            .filter(|e| e.live(now))
            .map(|e| &mut e.value)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let now = Instant::now();
        self.entries
            .remove(key)
            .filter(|e| e.live(now))
            .map(|e| e.value)
    }

    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, e| keep(&e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_maps_evict_expired_then_oldest() {
        let mut map = Bounded::default();
        map.insert(1, "a", Some(Duration::ZERO), 2);
        map.insert(2, "b", None, 2);
        map.insert(3, "c", None, 2);
        assert_eq!(map.get_mut(&1), None);
        assert_eq!(map.get_mut(&2), Some(&mut "b"));
        map.insert(4, "d", None, 2);
        assert_eq!(
            map.get_mut(&2),
            None,
            "the oldest goes when nothing expired"
        );
        assert_eq!(map.entries.len(), 2);
    }

    fn client(id: &str) -> Client {
        Client {
            id: id.into(),
            auth: ClientAuth::None,
            name: None,
            redirect_uris: vec![],
            grant_types: vec![],
            scope: None,
            dpop_bound: false,
            exchange_for: vec![],
        }
    }

    #[test]
    fn registrations_push_out_unused_then_long_idle_clients_never_ones_in_use() {
        let start = Instant::now();
        let mut clients = Clients::default();
        for (n, id) in ["used", "unused-old", "unused-new"].into_iter().enumerate() {
            let at = start + Duration::from_secs(n as u64);
            clients.insert(client(id), at, 3).unwrap();
        }
        clients.used("used", start + Duration::from_secs(10));

        // Full: the clients nobody used go first, the oldest of them first.
        let now = start + Duration::from_secs(20);
        clients.insert(client("a"), now, 3).unwrap();
        assert!(clients.get("unused-old").is_none());
        clients.insert(client("b"), now, 3).unwrap();
        assert!(clients.get("unused-new").is_none());
        assert!(clients.get("used").is_some());
        clients.used("a", now);
        clients.used("b", now);

        // Every client was used recently: the registration is refused, nothing is lost.
        assert_eq!(clients.insert(client("c"), now, 3), Err(StoreFull));
        assert_eq!(clients.entries.len(), 3);
        assert!(clients.get("c").is_none());

        // Once the longest-idle client has been idle for `CLIENT_IDLE`, it makes room.
        let later = start + Duration::from_secs(10) + CLIENT_IDLE;
        assert_eq!(
            clients.insert(client("c"), later - Duration::from_secs(1), 3),
            Err(StoreFull)
        );
        clients.insert(client("c"), later, 3).unwrap();
        assert!(clients.get("used").is_none());
        assert!(["a", "b", "c"].iter().all(|id| clients.get(id).is_some()));
    }

    fn grant() -> Grant {
        Grant {
            client_id: "c".into(),
            subject: "s".into(),
            tenant: None,
            scopes: vec![],
            resource: "http://127.0.0.1/mcp".into(),
            act: None,
        }
    }

    fn authorization() -> Authorization {
        Authorization {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            redirect_uri_given: true,
            code_challenge: "x".into(),
            scopes: vec![],
            resource: "http://127.0.0.1/mcp".into(),
            state: None,
            dpop_jkt: None,
        }
    }

    #[test]
    fn a_code_presented_twice_revokes_its_refresh_tokens() {
        let store = Store::default();
        let code = store.issue_code(authorization(), grant());
        let Redeemed::Fresh(entry) = store.redeem_code(&code) else {
            panic!("fresh code refused");
        };
        let refresh = store.issue_refresh(entry.grant, entry.family, None);
        assert!(matches!(store.redeem_code(&code), Redeemed::Invalid));
        assert!(store.rotate_refresh(&refresh, "c", None).is_none());
    }

    #[test]
    fn a_spent_refresh_token_revokes_its_family() {
        let store = Store::default();
        let first = store.issue_refresh(grant(), "f".into(), None);
        assert!(store.rotate_refresh(&first, "other", None).is_none());
        let (_, second) = store.rotate_refresh(&first, "c", None).unwrap();
        assert!(store.rotate_refresh(&first, "c", None).is_none());
        assert!(
            store.rotate_refresh(&second, "c", None).is_none(),
            "the family is revoked"
        );
    }
}
