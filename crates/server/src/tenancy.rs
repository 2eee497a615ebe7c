//! Scoped credentials: who a request is ([`Grant`]) and what it may do ([`authorize`]).
//!
//! A server has its own credential (`--username` and password; all-powerful, the only one that
//! may manage credentials) and any number of scoped credentials, each with a name, a username,
//! a password, a [`Permission`] and a topic scope (one topic or `*`). Scoped credentials come
//! from the configuration file ([`CredentialSpec`], read-only) or from the management API
//! (`POST /v2/kafka/credential`, kept in `DATA_DIR/credentials.json`, in memory without a data
//! directory).
//!
//! What a route needs is declared once, next to its [`Access`](super::route_table::Access), as
//! a [`Permit`](super::route_table::Permit) in the route table; the request pipeline calls
//! [`authorize`] — the one place permissions are checked — with the topics of the request: the
//! path's, the query's (`/webhook?topic=`) and the body's (every record of a produce, every
//! partition of a fetch, the topics of a consume, commit, committed or offsets), read with one
//! lenient probe ([`body_topics`]) for scoped credentials only. The server's own credential
//! skips all of it, so its requests cost what they did before.
//!
//! # Secrets
//!
//! Passwords are kept as Argon2id PHC strings (salted, modest parameters: 19 MiB, 2 passes),
//! never in clear. Verifying one costs milliseconds, so a verified `username:password` pair is
//! cached under its HMAC-SHA-256 digest with a key drawn at start ([`Tenancy`]; the same digest
//! is what the server's own credential is compared by, so a request computes it once): a request of a
//! known credential pays one HMAC, not a hash. Deleting a credential drops its cache entries
//! under the same lock, so it is refused (401) at once. `Debug` of every type here omits the
//! hashes; errors name the credential and the missing permission, never a secret.
//!
//! # `/topics`, `/offsets`, `/consumers` (spec §12 q. 14)
//!
//! Both permissions may call them; a scoped credential sees only the topics of its scope:
//! `/topics` lists those, `/offsets` answers only their partitions (and refuses to name
//! others), `/consumers` shows only their assignments and drops instances and groups left
//! with none.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use upkafka_protocol::{
    ANY_TOPIC, Credential, Password, Permission, RateLimits, Token, TokenRequest,
    validate_topic_name,
};

use super::auth;
use super::backend::clock::now_secs;
use super::config::{CredentialSpec, ServerConfig};
use super::error::ApiError;
use super::extract::{first_byte, parse_json_list};
use super::quota::Quota;
use super::route_table::Need;
use super::tokens::{Claims, TokenError, TokenKeys};

/// The id every scoped credential names as its `cluster_id`: a server is one cluster.
pub const CLUSTER_ID: &str = "upkafka";

/// Most verified `username:password` pairs kept; the cache starts over when full.
const CACHE_CAPACITY: usize = 4096;

/// Password verifications run at once (each takes 19 MiB and milliseconds of a core); more
/// wait, so a flood of wrong passwords cannot exhaust memory. Auth runs before a request takes
/// a request slot, so this is the bound.
const CONCURRENT_VERIFICATIONS: usize = 4;

/// A token's lifetime when the request does not ask for one (capped by the maximum).
const DEFAULT_TOKEN_TTL_SECS: u64 = 15 * 60;

/// The file of `DATA_DIR` that keeps the credentials created over the API.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Argon2id with modest parameters (OWASP's minimum: 19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    // These constants are valid: `Params::new` only fails outside Argon2's ranges.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| "the system random number generator failed".to_owned())?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes `password` for storage: an Argon2id PHC string with a random salt (what a
/// `[[credentials]]` entry of the configuration file takes as `password_hash`).
///
/// # Errors
/// When the system random number generator fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password failed: {e}"))
}

/// A hash no password matches in practice (of 32 random bytes, drawn once), with the same
/// parameters as real ones: what an unknown username is verified against.
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let secret = random_bytes::<32>().map(|b| hex(&b)).unwrap_or_default();
        hash_password(&secret).unwrap_or_default()
    })
}

fn verify_password(hash: &str, password: &[u8]) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| hasher().verify_password(password, &h).is_ok())
}

/// A scoped credential as the server keeps it. `Debug` omits the hash.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Scoped {
    pub(crate) credential_id: String,
    pub(crate) credential_name: String,
    pub(crate) username: String,
    pub(crate) password_hash: String,
    pub(crate) topic: String,
    pub(crate) permissions: Permission,
    pub(crate) creation_time: i64,
    /// From the configuration file: not deletable over the API, not saved.
    #[serde(skip)]
    pub(crate) from_config: bool,
    /// A token's grant ([`crate::tokens`]), not a credential: it may not mint tokens.
    #[serde(skip)]
    pub(crate) token: bool,
    /// The rate limits it was given (the server's defaults fill the rest).
    #[serde(default)]
    pub(crate) limits: RateLimits,
    /// Its use of its effective limits (shared with its tokens).
    #[serde(skip)]
    pub(crate) quota: Arc<Quota>,
}

impl fmt::Debug for Scoped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("credential_id", &self.credential_id)
            .field("credential_name", &self.credential_name)
            .field("username", &self.username)
            .field("topic", &self.topic)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl Scoped {
    pub(crate) fn in_scope(&self, topic: &str) -> bool {
        self.topic == ANY_TOPIC || self.topic == topic
    }

    /// The public view (no password: it is only shown once, at creation).
    pub(crate) fn to_credential(&self) -> Credential {
        Credential {
            credential_id: self.credential_id.clone(),
            credential_name: self.credential_name.clone(),
            topic: self.topic.clone(),
            permissions: self.permissions,
            cluster_id: CLUSTER_ID.to_owned(),
            cluster_slug: CLUSTER_ID.to_owned(),
            username: self.username.clone(),
            creation_time: self.creation_time,
            password: None,
            state: "active".to_owned(),
            limits: self.limits,
        }
    }
}

/// Who a request is: the server's own credential, or a scoped one.
#[derive(Debug, Clone)]
pub(crate) enum Grant {
    /// The server's credential (or no auth at all): everything.
    Server,
    /// A scoped credential.
    Scoped(Arc<Scoped>),
}

impl Grant {
    /// True when this caller may see `topic` in `/topics`, `/offsets`, `/consumers`.
    pub(crate) fn sees(&self, topic: &str) -> bool {
        match self {
            Grant::Server => true,
            Grant::Scoped(s) => s.in_scope(topic),
        }
    }
}

/// Sees every topic when the pipeline put no scoped [`Grant`] on the request.
pub(crate) fn sees(grant: Option<&Grant>, topic: &str) -> bool {
    grant.is_none_or(|g| g.sees(topic))
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("forbidden: {message}"))
}

/// The one permission check: may `grant` call a route that needs `need` with these topics?
/// 403 naming the missing permission and topic otherwise.
pub(crate) fn authorize<'a>(
    grant: &Grant,
    need: Need,
    topics: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let Grant::Scoped(s) = grant else {
        return Ok(());
    };
    let name = &s.credential_name;
    let wanted = match need {
        Need::Authenticated => return Ok(()),
        Need::Server => {
            return Err(forbidden(format!(
                "credential `{name}` lacks the permission to call this endpoint: only the \
                 server's own credential may"
            )));
        }
        Need::Produce => Some(Permission::Produce),
        Need::Consume => Some(Permission::Consume),
        Need::Read => None,
    };
    let label = wanted.map_or("PRODUCE or CONSUME", Permission::as_str);
    if let Some(p) = wanted
        && !s.permissions.covers(p)
    {
        return Err(forbidden(format!(
            "credential `{name}` lacks {label} permission"
        )));
    }
    for topic in topics {
        if !s.in_scope(topic) {
            return Err(forbidden(format!(
                "credential `{name}` lacks {label} permission on topic `{topic}`"
            )));
        }
    }
    Ok(())
}

/// What a body names as topics, read leniently (every field optional, others ignored) from
/// one object or an array of them: `topic`, `topics` (consume) and
/// `topicPartitionOffsets[].topic` (fetch).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    topic_partition_offsets: Option<Vec<ProbeTopic>>,
}

#[derive(Debug, Deserialize)]
struct ProbeTopic {
    topic: String,
}

/// The topics a request body names. A body the probe cannot read is a 400 (the handler could
/// not read it either): never skipped, so no shape slips past the check.
pub(crate) fn body_topics(body: &[u8]) -> Result<Vec<String>, ApiError> {
    if first_byte(body).is_none() {
        return Ok(Vec::new());
    }
    let probes: Vec<Probe> = parse_json_list(body)?;
    let mut out = Vec::new();
    for p in probes {
        out.extend(p.topic);
        out.extend(p.topics.into_iter().flatten());
        out.extend(
            p.topic_partition_offsets
                .into_iter()
                .flatten()
                .map(|t| t.topic),
        );
    }
    Ok(out)
}

/// Hashes a cache key by its first eight bytes. The keys are HMAC digests under a key drawn
/// at start, so they are already uniform and unpredictable: hashing them again (SipHash) would
/// only cost time on every request.
#[derive(Clone, Default)]
struct DigestHash;

impl std::hash::BuildHasher for DigestHash {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// The hasher of [`DigestHash`].
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its bytes (the array's length is not written).
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Scoped>>,
    by_username: HashMap<String, String>,
    /// HMAC of `username:password` → the credential, for pairs verified before.
    verified: HashMap<[u8; 32], Arc<Scoped>, DigestHash>,
}

/// The credentials a server accepts, with the cache of verified passwords.
pub struct Tenancy {
    server: Option<auth::Expected>,
    inner: RwLock<Inner>,
    /// `DATA_DIR/credentials.json`; `None` keeps API-created credentials in memory.
    file: Option<PathBuf>,
    /// What `file` was when this process last read or wrote it (see [`Tenancy::refresh`]).
    seen: std::sync::Mutex<Option<FileStamp>>,
    /// Serializes writes of `file`.
    save: tokio::sync::Mutex<()>,
    /// When it was opened (epoch seconds): the cluster's creation time.
    started: i64,
    /// Bounds the password verifications in flight.
    verifying: tokio::sync::Semaphore,
    /// Signs and verifies short-lived tokens.
    tokens: TokenKeys,
    /// Limits of scoped credentials that set none of their own.
    default_limits: RateLimits,
}

impl fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenancy")
            .field("server", &self.server)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The stored form of `credentials.json`.
#[derive(Serialize, Deserialize)]
struct StoredFile {
    version: u32,
    credentials: Vec<Scoped>,
}

impl Tenancy {
    /// The server credential and scoped credentials of `config`, and those saved in its data
    /// directory.
    ///
    /// # Errors
    /// A sentence for the user: an unreadable or corrupt credentials file, a bad
    /// `[[credentials]]` entry, duplicate usernames.
    pub fn open(config: &ServerConfig) -> Result<Self, String> {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &random_bytes::<32>()?);
        let dir = config.state_dir.as_ref().or(config.data_dir.as_ref());
        let file = dir.map(|d| d.join(CREDENTIALS_FILE));
        let seen = std::sync::Mutex::new(file.as_deref().and_then(stamp));
        let this = Self {
            server: config
                .credentials
                .as_ref()
                .map(|c| auth::Expected::new(c, key)),
            inner: RwLock::new(Inner::default()),
            file,
            seen,
            save: tokio::sync::Mutex::new(()),
            started: now_secs(),
            verifying: tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS),
            tokens: TokenKeys::open(&config.tokens, dir.map(PathBuf::as_path))?,
            default_limits: config.rate_limits,
        };
        for spec in &config.scoped_credentials {
            this.insert(Scoped::from_spec(spec)?)?;
        }
        if let Some(path) = &this.file {
            for c in load(path)? {
                this.insert(c)?;
            }
        }
        Ok(this)
    }

    /// True when the API-created credentials live in a file other processes may share (a
    /// data or state directory), so [`Tenancy::refresh`] has something to look at.
    pub(crate) fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// The server's own credential (hashed for comparison); `None` when auth is off.
    pub(crate) fn server(&self) -> Option<&auth::Expected> {
        self.server.as_ref()
    }

    /// Only the server credential (what a server falls back to when its credentials file
    /// cannot be read: scoped credentials are refused rather than guessed).
    pub(crate) fn server_only(config: &ServerConfig) -> Self {
        let tokens = TokenKeys::open(
            &crate::tokens::TokenSettings {
                key_file: None,
                ..config.tokens.clone()
            },
            None,
        );
        Self {
            server: config.credentials.as_ref().map(|c| {
                // No scoped credentials are cached here, but the server's own credential is
                // compared under a key: a random one, or (the generator failed) a fixed one,
                // which only makes the digest unkeyed, not the comparison weaker.
                let key = random_bytes::<32>().unwrap_or([0; 32]);
                auth::Expected::new(c, ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key))
            }),
            inner: RwLock::new(Inner::default()),
            file: None,
            seen: std::sync::Mutex::new(None),
            save: tokio::sync::Mutex::new(()),
            started: now_secs(),
            verifying: tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS),
            tokens: tokens.unwrap_or_else(|_| TokenKeys::unusable(config.tokens.max_ttl)),
            default_limits: config.rate_limits,
        }
    }

    /// When the server opened its credentials (epoch seconds).
    pub(crate) fn started(&self) -> i64 {
        self.started
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, mut c: Scoped) -> Result<(), String> {
        c.quota = Arc::new(Quota::new(c.limits.or(self.default_limits)));
        if self
            .server
            .as_ref()
            .is_some_and(|s| s.username == c.username)
        {
            return Err(format!(
                "credential `{}` has the server's own username",
                c.credential_name
            ));
        }
        let mut inner = self.write();
        if inner.by_username.contains_key(&c.username) || inner.by_id.contains_key(&c.credential_id)
        {
            return Err(format!(
                "credential `{}`: another credential has the same username or id",
                c.credential_name
            ));
        }
        inner
            .by_username
            .insert(c.username.clone(), c.credential_id.clone());
        inner.by_id.insert(c.credential_id.clone(), Arc::new(c));
        Ok(())
    }

    /// Who the request is: from its Basic header, a Bearer token, (when `query_allowed`)
    /// `user=`/`pass=`, or (when `token_query`) `token=`. A 401 naming what is wrong (never
    /// quoting it) when none of them names a valid credential. Without server credentials (no
    /// auth) everyone is the server.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        query_allowed: bool,
        token_query: bool,
    ) -> Result<Grant, ApiError> {
        let Some(server) = &self.server else {
            return Ok(Grant::Server);
        };
        let header = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        if let Some(token) = header.and_then(auth::bearer) {
            return self.token_grant(token);
        }
        if let Some((u, p)) = header.and_then(auth::basic)
            && let Some(g) = self.resolve(server, &u, &p).await
        {
            return Ok(g);
        }
        let query = uri.query().unwrap_or("");
        if query_allowed && let Some((u, p)) = auth::query_credentials(query) {
            return self
                .resolve(server, &u, &p)
                .await
                .ok_or_else(ApiError::unauthorized);
        }
        if token_query && let Some(token) = auth::query_token(query) {
            return self.token_grant(&token);
        }
        Err(ApiError::unauthorized())
    }

    /// The grant of a token: its permission and topic, on behalf of the credential that
    /// minted it, which must still exist.
    fn token_grant(&self, token: &str) -> Result<Grant, ApiError> {
        let refuse = |e: TokenError| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string());
        let claims = self.tokens.verify(token, now_secs()).map_err(refuse)?;
        // A token counts against its credential's limits; the server's own has none.
        let quota = if claims.cid.is_empty() {
            Arc::default()
        } else {
            let inner = self.read();
            let minter = inner
                .by_id
                .get(&claims.cid)
                .ok_or_else(|| refuse(TokenError::Revoked))?;
            Arc::clone(&minter.quota)
        };
        Ok(Grant::Scoped(Arc::new(Scoped {
            credential_id: claims.cid,
            credential_name: format!("{} (token)", claims.name),
            username: String::new(),
            password_hash: String::new(),
            topic: claims.t,
            permissions: claims.p,
            creation_time: 0,
            from_config: false,
            token: true,
            limits: RateLimits::default(),
            quota,
        })))
    }

    /// Mints a token for `grant` (`None`: the server's own credential) that is at most as
    /// powerful: `permission` and `topic` default to the caller's, `ttl` to 15 minutes
    /// (capped by the configured maximum, which a longer ask is refused for).
    pub(crate) fn mint(
        &self,
        grant: Option<&Grant>,
        req: &TokenRequest,
    ) -> Result<Token, ApiError> {
        let max = self.tokens.max_ttl.as_secs().max(1);
        let ttl = req.expires_in.unwrap_or(DEFAULT_TOKEN_TTL_SECS.min(max));
        if ttl == 0 || ttl > max {
            return Err(ApiError::bad_request(format!(
                "expires_in must be between 1 and {max} seconds (the server's --token-max-ttl)"
            )));
        }
        let (cid, name, scope, has) = match grant {
            Some(Grant::Scoped(s)) if s.token => {
                return Err(forbidden(
                    "a token cannot mint tokens: use the credential that minted it".to_owned(),
                ));
            }
            Some(Grant::Scoped(s)) => (
                s.credential_id.clone(),
                s.credential_name.clone(),
                s.topic.clone(),
                s.permissions,
            ),
            _ => (
                String::new(),
                self.server
                    .as_ref()
                    .map_or_else(String::new, |c| c.username.clone()),
                ANY_TOPIC.to_owned(),
                Permission::All,
            ),
        };
        let permissions = req.permissions.unwrap_or(has);
        if !has.covers(permissions) {
            return Err(forbidden(format!(
                "credential `{name}` lacks {permissions} permission, so its tokens cannot have it"
            )));
        }
        let topic = req.topic.clone().unwrap_or_else(|| scope.clone());
        check_scope(&topic).map_err(ApiError::bad_request)?;
        if scope != ANY_TOPIC && topic != scope {
            return Err(forbidden(format!(
                "credential `{name}` lacks {permissions} permission on topic `{topic}`, so its \
                 tokens cannot have it"
            )));
        }
        let expires_at = now_secs().saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        let token = self
            .tokens
            .mint(Claims {
                kid: String::new(),
                cid,
                name: name.clone(),
                p: permissions,
                t: topic.clone(),
                exp: expires_at,
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tokens are unavailable: the server has no signing key",
                )
            })?;
        Ok(Token {
            token: Password::new(token),
            credential_name: name,
            permissions,
            topic,
            expires_at,
        })
    }

    async fn resolve(&self, server: &auth::Expected, user: &[u8], pass: &[u8]) -> Option<Grant> {
        // One keyed digest of the pair serves both checks: the server's own credential and
        // the cache of verified scoped ones (same key).
        let digest = server.digest(user, pass);
        if server.matches_digest(&digest) {
            return Some(Grant::Server);
        }
        let candidate = {
            let inner = self.read();
            if inner.by_id.is_empty() {
                return None;
            }
            if let Some(c) = inner.verified.get(&digest) {
                return Some(Grant::Scoped(Arc::clone(c)));
            }
            std::str::from_utf8(user)
                .ok()
                .and_then(|u| inner.by_username.get(u))
                .and_then(|id| inner.by_id.get(id))
                .map(Arc::clone)
        };
        // Boxed: only a first sight of a credential waits for its hash check, and that wait
        // would otherwise make every request's future larger (issue 19).
        Box::pin(self.verify(candidate, digest, pass)).await
    }

    /// The hash check of `pass` against `candidate` (none: an unknown username), cached under
    /// `digest` when it passes.
    async fn verify(
        &self,
        candidate: Option<Arc<Scoped>>,
        digest: [u8; 32],
        pass: &[u8],
    ) -> Option<Grant> {
        // An unknown username is checked against a stand-in hash, so that its 401 takes as
        // long as a wrong password's: the timing does not tell which usernames exist.
        let hash = candidate.as_ref().map(|c| c.password_hash.clone());
        // Never closed; if it were, the request is refused rather than verified unbounded.
        let _slot = self.verifying.acquire().await.ok()?;
        let pass = pass.to_vec();
        let ok = tokio::task::spawn_blocking(move || {
            let hash: &str = match &hash {
                Some(h) => h,
                None => stand_in_hash(),
            };
            verify_password(hash, &pass)
        })
        .await
        .unwrap_or(false);
        let candidate = candidate?;
        if !ok {
            return None;
        }
        let mut inner = self.write();
        // Deleted while it was being verified: refused, and not cached.
        let current = inner.by_id.get(&candidate.credential_id)?;
        if !Arc::ptr_eq(current, &candidate) {
            return None;
        }
        if inner.verified.len() >= CACHE_CAPACITY {
            inner.verified.clear();
        }
        inner.verified.insert(digest, Arc::clone(&candidate));
        Some(Grant::Scoped(candidate))
    }

    /// Every scoped credential, oldest first.
    pub(crate) fn list(&self) -> Vec<Credential> {
        let mut all: Vec<Credential> = self
            .read()
            .by_id
            .values()
            .map(|c| c.to_credential())
            .collect();
        all.sort_by(|a, b| {
            (a.creation_time, &a.credential_id).cmp(&(b.creation_time, &b.credential_id))
        });
        all
    }

    /// Creates a credential with a generated username and password; the answer is the only
    /// place the password is ever shown.
    pub(crate) async fn create(
        &self,
        name: &str,
        topic: &str,
        permissions: Permission,
        limits: RateLimits,
    ) -> Result<Credential, ApiError> {
        check_name(name).map_err(ApiError::bad_request)?;
        check_scope(topic).map_err(ApiError::bad_request)?;
        super::quota::check_limits(&limits).map_err(ApiError::bad_request)?;
        let internal = |e: String| {
            tracing::error!(error = %e, "creating a credential failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        };
        let id = hex(&random_bytes::<12>().map_err(internal)?);
        // 8 random bytes tell credentials apart (a clash is refused); the password's 24 carry
        // the secret. `cred-` + 16 + `:` + 32 = 54 bytes: one SHA-256 block per request
        // (`auth::pair_digest`).
        let username = format!("cred-{}", hex(&random_bytes::<8>().map_err(internal)?));
        let password = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(random_bytes::<24>().map_err(internal)?);
        let pw = password.clone();
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(internal)?;
        let scoped = Scoped {
            credential_id: id,
            credential_name: name.to_owned(),
            username,
            password_hash,
            topic: topic.to_owned(),
            permissions,
            creation_time: now_secs(),
            from_config: false,
            token: false,
            limits,
            quota: Arc::default(),
        };
        let mut out = scoped.to_credential();
        let _guard = self.save.lock().await;
        // Other servers on the state directory: theirs first, then ours, under their lock.
        let _shared = self.lock_shared().await.map_err(internal)?;
        self.reload().await.map_err(internal)?;
        self.insert(scoped).map_err(internal)?;
        if let Err(e) = self.persist().await {
            // Not durable: take it back rather than hand out a credential a restart forgets.
            self.remove(&out.credential_id);
            return Err(internal(e));
        }
        out.password = Some(Password::new(password));
        Ok(out)
    }

    fn remove(&self, id: &str) -> Option<Arc<Scoped>> {
        let mut inner = self.write();
        let c = inner.by_id.remove(id)?;
        inner.by_username.remove(&c.username);
        inner.verified.retain(|_, c| c.credential_id != id);
        Some(c)
    }

    /// Deletes an API-created credential; its next request is refused.
    pub(crate) async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let _guard = self.save.lock().await;
        let unavailable = |e: String| {
            tracing::error!(error = %e, "reading the shared credentials failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "credential `{id}` could not be deleted: the credentials file cannot be read"
                ),
            )
        };
        let _shared = self.lock_shared().await.map_err(unavailable)?;
        self.reload().await.map_err(unavailable)?;
        let from_config = self.read().by_id.get(id).map(|c| c.from_config);
        match from_config {
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no credential with id `{id}`"),
            )),
            Some(true) => Err(ApiError::bad_request(format!(
                "credential `{id}` is defined in the server's configuration file; remove it there"
            ))),
            Some(false) => {
                let removed = self.remove(id);
                if let Err(e) = self.persist().await {
                    // Not durable: a restart would bring it back, so it stays, and says so.
                    tracing::error!(error = %e, "saving the credentials failed");
                    if let Some(c) = removed {
                        let _ = self.insert(Scoped::clone(&c));
                    }
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "credential `{id}` could not be deleted: the credentials file \
                             cannot be written; it is still active"
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Writes the API-created credentials to the data directory (atomically: a temporary
    /// file, fsynced, renamed over the old one). Callers hold `save`.
    async fn persist(&self) -> Result<(), String> {
        let Some(path) = self.file.clone() else {
            return Ok(());
        };
        let mut credentials: Vec<Scoped> = self
            .read()
            .by_id
            .values()
            .filter(|c| !c.from_config)
            .map(|c| Scoped::clone(c))
            .collect();
        credentials.sort_by(|a, b| a.credential_id.cmp(&b.credential_id));
        let bytes = serde_json::to_vec_pretty(&StoredFile {
            version: 1,
            credentials,
        })
        .map_err(|e| e.to_string())?;
        let written = tokio::task::spawn_blocking(move || {
            write_atomically(&path, &bytes).map(|()| stamp(&path))
        })
        .await
        .map_err(|e| e.to_string())??;
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = written;
        Ok(())
    }

    /// Takes in what another process sharing the state directory changed in the credentials
    /// file: credentials it created are accepted, credentials it deleted are refused from now
    /// on (their cached verifications dropped). `true` when the file had changed. A server
    /// calls it every [`REFRESH_INTERVAL`] (see `AppState`), so a deletion on one gateway is
    /// refused by every gateway sharing the directory within that time.
    ///
    /// # Errors
    /// The file cannot be read or is not a credentials file (what was loaded stays).
    pub(crate) async fn refresh(&self) -> Result<bool, String> {
        // No write of ours in between: what is read is what some process last wrote.
        let _guard = self.save.lock().await;
        self.reload().await
    }

    /// [`Tenancy::refresh`] for a caller that holds `save`.
    async fn reload(&self) -> Result<bool, String> {
        let Some(path) = self.file.clone() else {
            return Ok(false);
        };
        let (now, stored) = tokio::task::spawn_blocking(move || {
            let now = stamp(&path);
            // A removed file holds no credentials.
            let stored = if now.is_none() {
                Ok(Vec::new())
            } else {
                load(&path)
            };
            (now, stored)
        })
        .await
        .map_err(|e| e.to_string())?;
        if now == *self.seen.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(false);
        }
        let stored = stored?;
        let ids: std::collections::HashSet<&str> =
            stored.iter().map(|c| c.credential_id.as_str()).collect();
        let gone: Vec<String> = self
            .read()
            .by_id
            .values()
            .filter(|c| !c.from_config && !ids.contains(c.credential_id.as_str()))
            .map(|c| c.credential_id.clone())
            .collect();
        for id in &gone {
            self.remove(id);
        }
        let mut added = 0usize;
        for c in stored {
            // Credentials never change once made: one known by id is the same.
            if self.read().by_id.contains_key(&c.credential_id) {
                continue;
            }
            let name = c.credential_name.clone();
            match self.insert(c) {
                Ok(()) => added += 1,
                Err(e) => {
                    tracing::warn!(credential = %name, error = %e, "not taken from the shared credentials file")
                }
            }
        }
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
        tracing::info!(
            added,
            removed = gone.len(),
            "credentials file changed; taken in"
        );
        Ok(true)
    }
}

/// The file whose lock serializes the writers of the credentials file, across processes.
const LOCK_FILE: &str = "credentials.lock";

impl Tenancy {
    /// Locks the state directory against other processes' writes of the credentials file
    /// (an exclusive advisory lock, released when the returned file is dropped); `None`
    /// without a file. A create or delete holds it from re-reading the file to writing it, so
    /// no server writes a view that misses another's change.
    async fn lock_shared(&self) -> Result<Option<std::fs::File>, String> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let path = file.with_file_name(LOCK_FILE);
        tokio::task::spawn_blocking(move || {
            let fail = |e: std::io::Error| format!("cannot lock {}: {e}", path.display());
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(fail)?;
            lock.lock().map_err(fail)?;
            Ok(Some(lock))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// How often a server looks for changes other processes made to the credentials file.
pub const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// What identifies one version of a file: written atomically (a new file renamed over the
/// old), every version is a new inode; size and modification time cover other systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        inode,
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

impl Scoped {
    fn from_spec(spec: &CredentialSpec) -> Result<Self, String> {
        check_name(&spec.name)?;
        check_scope(&spec.topic).map_err(|e| format!("credential `{}`: {e}", spec.name))?;
        super::quota::check_limits(&spec.limits)
            .map_err(|e| format!("credential `{}`: {e}", spec.name))?;
        if spec.username.is_empty() || spec.username.contains(':') {
            return Err(format!(
                "credential `{}`: the username must be non-empty and without `:`",
                spec.name
            ));
        }
        if PasswordHash::new(&spec.password_hash).is_err() {
            return Err(format!(
                "credential `{}`: password_hash is not a PHC string (make one with \
                 `upkafka admin credentials hash`)",
                spec.name
            ));
        }
        Ok(Self {
            credential_id: format!("config-{}", spec.name),
            credential_name: spec.name.clone(),
            username: spec.username.clone(),
            password_hash: spec.password_hash.clone(),
            topic: spec.topic.clone(),
            permissions: spec.permission,
            creation_time: 0,
            from_config: true,
            token: false,
            limits: spec.limits,
            quota: Arc::default(),
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(
            "credential_name must be 1 to 128 characters, without control characters".to_owned(),
        );
    }
    Ok(())
}

fn check_scope(topic: &str) -> Result<(), String> {
    if topic == ANY_TOPIC {
        return Ok(());
    }
    validate_topic_name(topic).map_err(|e| format!("topic: {e} (or `*` for every topic)"))
}

fn load(path: &Path) -> Result<Vec<Scoped>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: StoredFile = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a credentials file: {e}", path.display()))?;
    if file.version != 1 {
        return Err(format!(
            "{}: unknown version {} (this upkafka reads version 1)",
            path.display(),
            file.version
        ));
    }
    Ok(file.credentials)
}

/// Writes `bytes` to `path` atomically (a temporary file of mode 0600, fsynced, renamed over
/// the old one).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // Hashes only, but still nobody else's business.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(fail)?;
        // `mode` applies only to a new file; a leftover one keeps its own.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(fail)?;
        f.write_all(bytes).map_err(fail)?;
        f.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    // The rename itself is durable once the directory is synced (not possible everywhere).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(topic: &str, permissions: Permission) -> Grant {
        Grant::Scoped(Arc::new(Scoped {
            credential_id: "id".into(),
            credential_name: "app".into(),
            username: "u".into(),
            password_hash: "$argon2id$secret-hash".into(),
            topic: topic.into(),
            permissions,
            creation_time: 0,
            from_config: false,
            token: false,
            limits: RateLimits::default(),
            quota: Arc::default(),
        }))
    }

    #[test]
    fn authorize_checks_permission_then_every_topic() {
        let p = scoped("a", Permission::Produce);
        assert!(authorize(&p, Need::Produce, ["a", "a"]).is_ok());
        let e = authorize(&p, Need::Produce, ["a", "b"]).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(
            e.message.contains("PRODUCE") && e.message.contains("`b`"),
            "{e:?}"
        );
        let e = authorize(&p, Need::Consume, ["a"]).unwrap_err();
        assert!(e.message.contains("CONSUME"), "{e:?}");
        assert!(authorize(&p, Need::Read, ["a"]).is_ok());
        assert!(authorize(&p, Need::Server, []).is_err());
        assert!(authorize(&scoped("*", Permission::All), Need::Consume, ["x"]).is_ok());
        assert!(authorize(&Grant::Server, Need::Server, ["x"]).is_ok());
        assert!(!format!("{p:?}").contains("secret-hash"));
    }

    #[test]
    fn body_topics_reads_every_shape() {
        let t = |s: &str| body_topics(s.as_bytes()).unwrap();
        assert_eq!(
            t(r#"[{"topic":"a","value":"x"},{"value":"y"},{"topic":"b"}]"#),
            ["a", "b"]
        );
        assert_eq!(
            t(
                r#"{"topic":"a","partition":0,"offset":1,"topicPartitionOffsets":[{"topic":"c","partition":0,"offset":0}]}"#
            ),
            ["a", "c"]
        );
        assert_eq!(t(r#"{"topics":["x","y"]}"#), ["x", "y"]);
        assert!(t("  ").is_empty());
        assert!(body_topics(br#"{"topic":5}"#).is_err());
    }

    #[test]
    fn hashes_are_salted_and_verify() {
        // A password with a space, which no field of the PHC string (base64 salt and hash,
        // `$`-separated) can hold: `!a.contains("pw$")` failed whenever the random salt
        // happened to end in "pw" (about one run in 4,096).
        let pw = "pass word";
        let a = hash_password(pw).unwrap();
        let b = hash_password(pw).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$") && !a.contains(pw), "{a}");
        assert!(verify_password(&a, pw.as_bytes()));
        assert!(!verify_password(&a, b"pass Word"));
    }
}
