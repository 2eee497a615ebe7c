//! HTTP Basic authentication, compared in constant time; `/webhook` also takes `user=`/`pass=`.
//! Who a request is, scoped credentials included: [`Tenancy`](super::tenancy::Tenancy).
//!
//! Credentials are never logged: failures log only the path.

use base64::Engine;
use subtle::ConstantTimeEq;

use super::config::Credentials;

/// Credentials that requests are compared against, as a keyed digest computed once (not on
/// every request).
#[derive(Clone)]
pub(crate) struct Expected {
    /// The username, in clear (it is not a secret; scoped credentials may not reuse it).
    pub(crate) username: String,
    /// The key of [`pair_digest`]: random per process, shared with the scoped credentials'
    /// cache so that one digest of a request serves both checks.
    key: ring::hmac::Key,
    tag: [u8; 32],
}

impl Expected {
    /// `c`, digested under `key`.
    pub(crate) fn new(c: &Credentials, key: ring::hmac::Key) -> Self {
        let tag = pair_digest(&key, c.username.as_bytes(), c.password.expose().as_bytes());
        Self {
            username: c.username.clone(),
            key,
            tag,
        }
    }

    /// The keyed digest of a presented `user`/`pass` (see [`pair_digest`]).
    pub(crate) fn digest(&self, user: &[u8], pass: &[u8]) -> [u8; 32] {
        pair_digest(&self.key, user, pass)
    }

    /// True when `user`/`pass` are these credentials.
    pub(crate) fn matches(&self, user: &[u8], pass: &[u8]) -> bool {
        self.matches_digest(&self.digest(user, pass))
    }

    /// True when `digest` (from [`Expected::digest`]) is that of these credentials. Compared in
    /// constant time over fixed-size digests, so neither the username nor the password's
    /// length shows in the timing (comparing raw bytes returns early on a length mismatch).
    pub(crate) fn matches_digest(&self, digest: &[u8; 32]) -> bool {
        self.tag.ct_eq(digest).into()
    }
}

impl std::fmt::Debug for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expected")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA-256 under `key` of `user:pass`: one keyed hash per request, where two plain
/// digests (one per part) cost twice. No valid username holds a `:` (Basic auth splits on the
/// first), so the text names one pair; [`query_credentials`] refuses a `user=` with one. Up to
/// 55 bytes of `user:pass` take one SHA-256 block, so generated credentials stay within that.
pub(crate) fn pair_digest(key: &ring::hmac::Key, user: &[u8], pass: &[u8]) -> [u8; 32] {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(user);
    ctx.update(b":");
    ctx.update(pass);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Decodes `Authorization: Basic base64(user:pass)`.
pub(crate) fn basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// The token of `Authorization: Bearer TOKEN`.
pub(crate) fn bearer(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// `token=` of a query string.
pub(crate) fn query_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// `user=`/`pass=` of a query string.
pub(crate) fn query_credentials(query: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut user = None;
    let mut pass = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "user" => user = Some(v.into_owned().into_bytes()),
            "pass" => pass = Some(v.into_owned().into_bytes()),
            _ => {}
        }
    }
    // A username never holds `:`; refused here, `a:b` + `c` cannot pass for `a` + `b:c`.
    let user = user.filter(|u| !u.contains(&b':'))?;
    Some((user, pass?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_decoding_and_matching() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
        let creds = Expected::new(&Credentials::new("user", "pa:ss"), key);
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("user:pa:ss")
        );
        let (u, p) = basic(value.as_bytes()).unwrap();
        assert!(creds.matches(&u, &p));
        assert!(!creds.matches(b"user", b"pa:s"));
        assert!(!creds.matches(b"usex", b"pa:ss"));
        // Other lengths, shorter and longer, and empty parts.
        assert!(!creds.matches(b"user", b"pa:ssx"));
        assert!(!creds.matches(b"user", b""));
        assert!(!creds.matches(b"", b"pa:ss"));
        assert!(!creds.matches(b"users", b"pa:ss"));
        // The split between username and password counts.
        assert!(!creds.matches(b"use", b"rpa:ss"));
        assert_eq!(query_credentials("user=user:pa&pass=ss"), None);
        assert!(basic(b"Bearer abc").is_none());
        assert_eq!(bearer(b"Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer(b"bearer  x "), Some("x"));
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(query_token("a=1&token=t%2Bk"), Some("t+k".to_owned()));
        assert!(basic(b"Basic !!!").is_none());
        assert_eq!(
            query_credentials("topic=t&user=a%20b&pass=c"),
            Some((b"a b".to_vec(), b"c".to_vec()))
        );
    }
}
