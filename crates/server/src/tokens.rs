//! Short-lived tokens: what a browser page or an edge function holds instead of a password.
//!
//! A credential mints a token (`POST /v2/kafka/token`) that is at most as powerful as itself:
//! a permission it has, a topic of its scope, an expiry within
//! [`TokenSettings::max_ttl`]. The token travels as `Authorization: Bearer TOKEN` or, on the
//! routes that only read (fetch, consume, committed, `/topics`, `/offsets`, `/consumers`: what
//! an `EventSource` calls, and it cannot set headers), as the query parameter `token=`.
//!
//! # Format and verification
//!
//! `upk1.PAYLOAD.SIGNATURE`: `PAYLOAD` is the base64url JSON of [`Claims`] (permission, topic,
//! expiry, the minting credential's id and name, the signing key's id), `SIGNATURE` the
//! base64url HMAC-SHA-256 of `upk1.PAYLOAD` under a signing key. Verifying takes one HMAC and
//! a clock read; no token is stored anywhere. The one lookup is of the minting credential: a
//! token dies with the credential that minted it (deleted → 401 at once), as a narrower form
//! of it should.
//!
//! # Keys
//!
//! From `--token-key-file` (one key per line, at least 32 characters; the first signs, all
//! verify: to rotate, put a new key first, and drop the old one once the tokens it signed have
//! expired, at most `max_ttl` later), else `DATA_DIR/token-keys` (made on first start, mode
//! 0600, so tokens outlive a restart and every server sharing the data directory accepts
//! them), else a random key in memory (tokens die with the process). Keys never appear in
//! logs, errors or `Debug`; neither do tokens (the access log records no query string).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use upkafka_protocol::Permission;

/// The prefix of every token (and of the signed text): the format's version.
const PREFIX: &str = "upk1.";

/// The file of `DATA_DIR` that keeps the signing key when no key file is configured.
pub const TOKEN_KEYS_FILE: &str = "token-keys";

/// Shortest key accepted from a key file, in characters.
const MIN_KEY_CHARS: usize = 32;

/// How tokens are signed and how long they may live.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// A file of signing keys, one per line (the first signs); `None`: `DATA_DIR/token-keys`,
    /// or a key in memory without a data directory.
    pub key_file: Option<std::path::PathBuf>,
    /// Longest lifetime a token may be given (default 1 hour).
    pub max_ttl: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            key_file: None,
            max_ttl: Duration::from_secs(3600),
        }
    }
}

impl fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSettings")
            .field("key_file", &self.key_file)
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// What a token says. Short field names: it travels in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// Id of the signing key.
    pub(crate) kid: String,
    /// Id of the minting credential; empty for the server's own.
    pub(crate) cid: String,
    /// Name of the minting credential (for 403 messages).
    pub(crate) name: String,
    /// What the token may do.
    pub(crate) p: Permission,
    /// One topic, or `*`.
    pub(crate) t: String,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) exp: i64,
}

/// Why a token was refused (each a 401; the text never quotes the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// Not of this format, or its signature does not verify under any key.
    #[error("unauthorized: the token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("unauthorized: the token has expired; mint a new one")]
    Expired,
    /// The credential that minted it was deleted.
    #[error("unauthorized: the credential that minted this token no longer exists")]
    Revoked,
}

struct Key {
    id: String,
    hmac: ring::hmac::Key,
}

/// The signing keys.
pub(crate) struct TokenKeys {
    /// The first signs; all verify.
    keys: Vec<Key>,
    pub(crate) max_ttl: Duration,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("keys", &self.keys.len())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

impl TokenKeys {
    /// The keys `settings` name, or those of `data_dir`, or one in memory.
    ///
    /// # Errors
    /// An unreadable key file, one without a key, a key shorter than 32 characters, or a
    /// data directory where the key file cannot be made.
    pub(crate) fn open(settings: &TokenSettings, data_dir: Option<&Path>) -> Result<Self, String> {
        let secrets: Vec<Vec<u8>> = if let Some(path) = &settings.key_file {
            read_keys(path)?
        } else if let Some(dir) = data_dir {
            let path = dir.join(TOKEN_KEYS_FILE);
            if !path.exists() {
                make_key_file(&path)?;
            }
            read_keys(&path)?
        } else {
            vec![super::tenancy::random_bytes::<32>()?.to_vec()]
        };
        Ok(Self::from_secrets(&secrets, settings.max_ttl))
    }

    fn from_secrets(secrets: &[Vec<u8>], max_ttl: Duration) -> Self {
        let keys = secrets
            .iter()
            .map(|s| {
                let digest = ring::digest::digest(&ring::digest::SHA256, s);
                Key {
                    id: URL_SAFE_NO_PAD.encode(&digest.as_ref()[..6]),
                    hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s),
                }
            })
            .collect();
        Self { keys, max_ttl }
    }

    /// No key at all (the system's random number generator failed): every token is refused
    /// and none can be minted.
    pub(crate) fn unusable(max_ttl: Duration) -> Self {
        Self {
            keys: Vec::new(),
            max_ttl,
        }
    }

    /// A token for `claims` (its `kid` is set here), signed with the first key; `None`
    /// without keys ([`TokenKeys::unusable`]).
    pub(crate) fn mint(&self, mut claims: Claims) -> Option<String> {
        let key = self.keys.first()?;
        claims.kid = key.id.clone();
        // Serializing plain strings and numbers cannot fail.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let mut token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        let tag = ring::hmac::sign(&key.hmac, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        Some(token)
    }

    /// The claims of `token` if a key signed it and it has not expired at `now` (seconds
    /// since the epoch).
    pub(crate) fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let payload = signed.strip_prefix(PREFIX).ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == claims.kid)
            .ok_or(TokenError::Invalid)?;
        // Constant time, by ring.
        ring::hmac::verify(&key.hmac, signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Makes `path` with a new random key, unless another process does first: the key is
/// written whole to a file of its own, then linked to `path`, which fails if `path` exists,
/// so servers starting together on one directory all end up with the same (first) key.
fn make_key_file(path: &Path) -> Result<(), String> {
    let key = URL_SAFE_NO_PAD.encode(super::tenancy::random_bytes::<32>()?);
    let mine = path.with_extension(format!("{}.new", std::process::id()));
    super::tenancy::write_atomically(&mine, format!("{key}\n").as_bytes())?;
    let linked = std::fs::hard_link(&mine, path);
    let _ = std::fs::remove_file(&mine);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "cannot make the token key file {}: {e}",
            path.display()
        )),
    }
}

fn read_keys(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token key file {}: {e}", path.display()))?;
    let keys: Vec<Vec<u8>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().to_vec())
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "the token key file {} holds no key (one per line)",
            path.display()
        ));
    }
    if let Some(n) = keys.iter().position(|k| k.len() < MIN_KEY_CHARS) {
        return Err(format!(
            "key {} of the token key file {} is shorter than {MIN_KEY_CHARS} characters",
            n + 1,
            path.display()
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            kid: String::new(),
            cid: "c1".into(),
            name: "app".into(),
            p: Permission::Consume,
            t: "a".into(),
            exp,
        }
    }

    fn keys(secrets: &[&str]) -> TokenKeys {
        let secrets: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
        TokenKeys::from_secrets(&secrets, Duration::from_secs(60))
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_not_when_altered() {
        let k = keys(&["k".repeat(32).as_str()]);
        let token = k.mint(claims(100)).unwrap();
        assert!(token.starts_with(PREFIX));
        let got = k.verify(&token, 99).expect("valid");
        assert_eq!(
            (got.t.as_str(), got.p, got.exp),
            ("a", Permission::Consume, 100)
        );
        assert_eq!(k.verify(&token, 100), Err(TokenError::Expired));
        // A payload changed to another topic keeps the old signature: refused.
        let (_, sig) = token.rsplit_once('.').unwrap();
        let mut other = claims(100);
        other.t = "b".into();
        other.kid = got.kid.clone();
        let forged = format!(
            "{PREFIX}{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap())
        );
        assert_eq!(k.verify(&forged, 0), Err(TokenError::Invalid));
        for bad in [
            "",
            "upk1.",
            "upk1.x.y",
            "Basic abc",
            &token[..token.len() - 2],
        ] {
            assert_eq!(k.verify(bad, 0), Err(TokenError::Invalid), "{bad}");
        }
        // Another server's key does not verify it.
        assert_eq!(
            keys(&["z".repeat(32).as_str()]).verify(&token, 0),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn rotation_signs_with_the_first_key_and_still_verifies_the_old() {
        let (old, new) = ("o".repeat(32), "n".repeat(32));
        let before = keys(&[old.as_str()]).mint(claims(100)).unwrap();
        let rotated = keys(&[new.as_str(), old.as_str()]);
        assert!(rotated.verify(&before, 0).is_ok());
        let after = rotated.mint(claims(100)).unwrap();
        assert!(keys(&[new.as_str()]).verify(&after, 0).is_ok());
        assert_eq!(
            keys(&[new.as_str()]).verify(&before, 0),
            Err(TokenError::Invalid),
            "a dropped key no longer verifies"
        );
        assert!(!format!("{rotated:?}").contains(&new));
    }

    #[test]
    fn key_files_are_checked_and_a_data_dir_keeps_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "short\n").unwrap();
        let settings = TokenSettings {
            key_file: Some(file.clone()),
            ..TokenSettings::default()
        };
        let e = TokenKeys::open(&settings, None).unwrap_err();
        assert!(
            e.contains("shorter than 32") && !e.contains("short\n"),
            "{e}"
        );
        std::fs::write(&file, "# comment\n\n").unwrap();
        assert!(
            TokenKeys::open(&settings, None)
                .unwrap_err()
                .contains("no key")
        );
        let a = TokenKeys::open(&TokenSettings::default(), Some(dir.path())).unwrap();
        let b = TokenKeys::open(&TokenSettings::default(), Some(dir.path())).unwrap();
        assert!(b.verify(&a.mint(claims(i64::MAX)).unwrap(), 0).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(TOKEN_KEYS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
