//! Base URLs, construction errors, `from_env`, and redaction of the password.

use std::sync::Mutex;

use upkafka_client::{Client, Config, ENV_PASSWORD, ENV_URL, ENV_USERNAME, ErrorKind};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::support::*;

/// Serialises the tests that touch the process environment.
static ENV: Mutex<()> = Mutex::new(());

#[tokio::test]
async fn a_trailing_slash_in_the_url_is_not_doubled() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .and(authed())
        .respond_with(reply(200, "metadata/topics.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&format!("{}/", server.uri()));
    assert_eq!(client.topics().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_path_prefix_in_the_url_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/kafka/topics"))
        .respond_with(reply(200, "metadata/topics.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/kafka/commit/{GROUP_ENC}/{INSTANCE_ENC}")))
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&format!("{}/kafka/", server.uri()));
    client.topics().await.unwrap();
    client.commit_consumed(GROUP, INSTANCE).await.unwrap();
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_construction() {
    let err = Client::new(Config::new("http://kafka.example.com", USER, PASS)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("kafka.example.com"), "{err}");
    assert!(!err.to_string().contains("sesame"), "{err}");
    // Allowed explicitly, and always for loopback.
    Client::new(Config::new("http://kafka.example.com", USER, PASS).allow_insecure_http(true))
        .unwrap();
    Client::new(Config::new("http://localhost:9", USER, PASS)).unwrap();
    for bad in [
        "",
        "not a url",
        "ftp://x",
        "https://u:p@x",
        "https://x/?q=1",
    ] {
        let err = Client::new(Config::new(bad, USER, PASS)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}: {err}");
    }
}

#[test]
// `set_var`/`remove_var` are unsafe since edition 2024; the workspace denies `unsafe` elsewhere.
#[allow(unsafe_code)]
fn from_env_names_the_missing_variables() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let vars = [ENV_URL, ENV_USERNAME, ENV_PASSWORD];
    let saved: Vec<_> = vars.iter().map(std::env::var_os).collect();
    let set = |url: Option<&str>, user: Option<&str>, pass: Option<&str>| {
        for (name, value) in vars.iter().zip([url, user, pass]) {
            // SAFETY: the only test touching these variables holds `ENV`, and no other test
            // reads them.
            unsafe {
                match value {
                    Some(v) => std::env::set_var(name, v),
                    None => std::env::remove_var(name),
                }
            }
        }
    };

    set(None, None, None);
    let err = Config::from_env().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    for name in vars {
        assert!(err.to_string().contains(name), "{name} not named in: {err}");
    }

    set(Some("https://x.example"), Some(USER), Some("  "));
    let err = Client::from_env().unwrap_err();
    assert!(err.to_string().contains(ENV_PASSWORD), "{err}");
    assert!(!err.to_string().contains(ENV_USERNAME), "{err}");

    set(Some("https://x.example/"), Some(USER), Some(PASS));
    let config = Config::from_env().unwrap();
    assert_eq!(config.url(), "https://x.example");
    assert_eq!(config.username(), USER);
    assert_eq!(config.password().expose(), PASS);
    Client::from_env().unwrap();

    for (name, value) in vars.iter().zip(saved) {
        // SAFETY: as above.
        unsafe {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

#[test]
fn debug_never_shows_the_password() {
    let config = config_for("http://127.0.0.1:1");
    let client = Client::new(config.clone()).unwrap();
    let token = AUTH.trim_start_matches("Basic ");
    for dbg in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{:?}", config.password()),
    ] {
        assert!(!dbg.contains("sesame"), "{dbg}");
        assert!(!dbg.contains(token), "{dbg}");
    }
    assert!(format!("{client:?}").contains(USER));
}

#[test]
fn debug_and_errors_hide_secrets_given_in_the_url() {
    // Client::new refuses such URLs, but the Config may be logged before that, and the refusal
    // itself must not quote the secret. `pass=` in a query is the webhook's credential form.
    for (url, secret) in [
        ("https://bob:url-secret@kafka.example", "url-secret"),
        ("https://kafka.example/?user=bob&pass=q-secret", "q-secret"),
        ("https://bob:url-secret@", "url-secret"),
    ] {
        let config = Config::new(url, USER, PASS);
        let dbg = format!("{config:?}");
        assert!(!dbg.contains(secret), "{dbg}");
        let err = Client::new(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        assert!(!err.to_string().contains(secret), "{err}");
    }
    let dbg = format!(
        "{:?}",
        Config::new("https://bob:pw@kafka.example", USER, PASS)
    );
    assert!(dbg.contains("kafka.example"), "{dbg}");
}

#[test]
fn a_username_with_a_colon_is_refused() {
    // Basic auth splits user from password at the first `:` (RFC 7617), so `a:b` / `c` would
    // reach the server as user `a` with password `b:c`.
    let err = Client::new(Config::new("https://kafka.example", "a:b", "c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains(':'), "{err}");
    // A colon in the password is fine (see `support::PASS`).
    Client::new(Config::new("https://kafka.example", USER, PASS)).unwrap();
}
