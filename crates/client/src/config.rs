//! Client configuration: where the server is, who we are, and how patiently we ask.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use super::error::{Error, Result};
use super::retry::RetryPolicy;
pub use upkafka_protocol::Password;

/// Variable holding the REST endpoint URL.
pub const ENV_URL: &str = "UPSTASH_KAFKA_REST_URL";
/// Variable holding the Basic-auth username.
pub const ENV_USERNAME: &str = "UPSTASH_KAFKA_REST_USERNAME";
/// Variable holding the Basic-auth password.
pub const ENV_PASSWORD: &str = "UPSTASH_KAFKA_REST_PASSWORD";

/// Everything a [`Client`](super::Client) needs. Setters consume and return `Self`; each
/// documents its default.
///
/// ```
/// use std::time::Duration;
/// use upkafka_client::{Config, RetryPolicy};
/// let config = Config::new("https://example-rest-kafka.upstash.io/", "user", "secret")
///     .timeout(Duration::from_secs(5))
///     .retry(RetryPolicy::none());
/// assert_eq!(config.url(), "https://example-rest-kafka.upstash.io");
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct Config {
    url: String,
    username: String,
    password: Password,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) allow_insecure_http: bool,
    pub(crate) ca_certs_pem: Vec<Vec<u8>>,
}

impl Config {
    /// A configuration for the endpoint `url` (a trailing `/` is fine) with Basic credentials,
    /// and the defaults each setter documents.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// let config = Config::new("https://example-rest-kafka.upstash.io/", "user", "secret");
    /// assert_eq!(config.url(), "https://example-rest-kafka.upstash.io");
    /// ```
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        let url: String = url.into();
        Self {
            url: url.trim().trim_end_matches('/').to_owned(),
            username: username.into(),
            password: password.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            ca_certs_pem: Vec::new(),
        }
    }

    /// Reads `UPSTASH_KAFKA_REST_URL`, `UPSTASH_KAFKA_REST_USERNAME` and
    /// `UPSTASH_KAFKA_REST_PASSWORD`.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, Config};
    /// let config = Config::from_env()?.timeout(std::time::Duration::from_secs(5));
    /// let client = Client::new(config)?;
    /// # Ok::<(), upkafka_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming every variable that is missing or empty.
    pub fn from_env() -> Result<Self> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (get(ENV_URL), get(ENV_USERNAME), get(ENV_PASSWORD)) {
            (Some(url), Some(username), Some(password)) => {
                Ok(Self::new(url, username, Password::new(password)))
            }
            (url, username, password) => {
                let missing: Vec<&str> = [
                    (ENV_URL, url.is_none()),
                    (ENV_USERNAME, username.is_none()),
                    (ENV_PASSWORD, password.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, missing)| missing.then_some(name))
                .collect();
                Err(Error::Config(format!(
                    "{} {} not set",
                    missing.join(", "),
                    if missing.len() == 1 { "is" } else { "are" }
                )))
            }
        }
    }

    /// Time allowed for one attempt, on top of any server-side wait (consume/fetch `timeout`).
    /// Default 30 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// let config = Config::new("https://h.example", "u", "p").timeout(Duration::from_secs(5));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to open a connection. Default 10 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// let config = Config::new("https://h.example", "u", "p").connect_timeout(Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Which failures are retried and how long to back off. Default [`RetryPolicy::default`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// let config = Config::new("https://h.example", "u", "p").retry(RetryPolicy::none());
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Allows `http://` to a host that is not loopback. Default `false`: Basic auth over plain
    /// HTTP sends the password across the network in clear text.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// // A server on a private network without TLS, knowingly.
    /// let config = Config::new("http://kafka.internal:8080", "u", "p").allow_insecure_http(true);
    /// ```
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Trusts the CA certificate(s) in this PEM text in addition to the system roots, e.g. for a
    /// server with a self-signed certificate. Default: system roots only.
    ///
    /// ```no_run
    /// # use upkafka_client::Config;
    /// let pem = std::fs::read("ca.pem")?;
    /// let config = Config::new("https://localhost:8443", "u", "p").add_ca_cert_pem(pem);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certs_pem.push(pem.into());
        self
    }

    /// The endpoint URL without a trailing `/`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// assert_eq!(Config::new("https://h.example/", "u", "p").url(), "https://h.example");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The Basic-auth username.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// assert_eq!(Config::new("https://h.example", "alice", "p").username(), "alice");
    /// ```
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The Basic-auth password, as a [`Password`] whose `Debug` hides it (and that has no
    /// `Display`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Config, RetryPolicy};
    /// let config = Config::new("https://h.example", "u", "secret");
    /// assert_eq!(config.password().expose(), "secret");
    /// assert!(!format!("{:?}", config.password()).contains("secret"));
    /// ```
    pub fn password(&self) -> &Password {
        &self.password
    }

    /// Checks the URL and the transport-security rule, returning the parsed URL.
    pub(crate) fn validate(&self) -> Result<Url> {
        if self.url.is_empty() {
            return Err(Error::Config(format!(
                "the REST URL is empty (set {ENV_URL})"
            )));
        }
        let url = Url::parse(&self.url).map_err(|e| {
            Error::Config(format!(
                "the REST URL `{}` is not valid: {e}",
                self.shown_url()
            ))
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config(
                "the REST URL must not carry credentials; give the username and password separately"
                    .to_owned(),
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                if !self.allow_insecure_http && !is_loopback(&url) {
                    return Err(Error::Config(format!(
                        "refusing plain http:// to {}: Basic auth would cross the network in \
                         clear text; use https:// or allow insecure http explicitly",
                        url.host_str().unwrap_or("?")
                    )));
                }
            }
            other => {
                return Err(Error::Config(format!(
                    "the REST URL must start with https:// (or http:// for a local server), not {other}://"
                )));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(format!(
                "the REST URL `{}` must not have a query or fragment",
                self.shown_url()
            )));
        }
        Ok(url)
    }
}

impl Config {
    /// The URL for messages and `Debug`: any password in it and the query (which could carry
    /// `pass=`) are replaced by `<redacted>`.
    fn shown_url(&self) -> String {
        match Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("<redacted>"));
                }
                if url.query().is_some() {
                    url.set_query(Some("<redacted>"));
                }
                url.to_string().trim_end_matches('/').to_owned()
            }
            Err(_) if self.url.contains('@') || self.url.contains('?') => "<redacted>".to_owned(),
            Err(_) => self.url.clone(),
        }
    }
}

/// True when the URL's host is `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.shown_url())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("ca_certs", &self.ca_certs_pem.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_dropped_and_password_hidden() {
        let c = Config::new("https://h.example/", "u", "hunter2");
        assert_eq!(c.url(), "https://h.example");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "https://kafka.example",
        ] {
            assert!(Config::new(ok, "u", "p").validate().is_ok(), "{ok}");
        }
        let err = Config::new("http://kafka.example", "u", "p")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("clear text"), "{err}");
        assert!(
            Config::new("http://kafka.example", "u", "p")
                .allow_insecure_http(true)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn bad_urls_are_named() {
        for bad in [
            "",
            "kafka.example",
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=1",
        ] {
            let err = Config::new(bad, "u", "p").validate().unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err}");
            assert!(!err.to_string().contains(":p@"), "{err}");
        }
    }
}
