//! Webhook: the body becomes the value, custom headers become message headers, standard
//! headers (`WEBHOOK_EXCLUDED_HEADERS`) are left out.

use upkafka_client::ErrorKind;
use upkafka_protocol::{ProduceMetadata, WEBHOOK_EXCLUDED_HEADERS};

use crate::support::Env;

#[tokio::test]
async fn webhook_carries_custom_headers_and_drops_standard_ones() {
    let env = Env::start(&[("stripe", 1)]).await;
    let body = r#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let headers: Vec<(String, String)> = [
        ("Stripe-Signature", "t=16477,v1=abc"),
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
        ("Accept", "*/*"),
        ("Cache-Control", "no-cache"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let meta: ProduceMetadata = env.client.webhook("stripe", body, &headers).await.unwrap();
    assert_eq!(
        (meta.topic.as_str(), meta.partition, meta.offset),
        ("stripe", 0, 0)
    );
    let m = env.read_at(&meta).await;
    assert_eq!(m.value, body);
    assert_eq!(m.header("stripe-signature"), Some("t=16477,v1=abc"));
    assert_eq!(m.header("x-github-event"), Some("push"));
    for h in &m.headers {
        assert!(
            !WEBHOOK_EXCLUDED_HEADERS.contains(&h.key.as_str()),
            "standard header {h:?} was copied into the message"
        );
        assert_eq!(h.key, h.key.to_ascii_lowercase());
    }
    // Exactly the two custom headers: auth, host, user-agent, content-length and the rest
    // sent by the client never show up.
    assert_eq!(m.headers.len(), 2, "{:?}", m.headers);

    let err = env.client.webhook("nosuch", "x", &[]).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(400)));
    assert!(err.to_string().contains("nosuch"), "{err}");
}

#[tokio::test]
async fn webhook_header_values_beyond_ascii_round_trip() {
    // The client accepts any header value without control characters, UTF-8 included; the
    // server must not refuse what the client lets through.
    let env = Env::start(&[("hooks", 1)]).await;
    let headers = vec![("X-Customer".to_owned(), "Zoë Müller — café".to_owned())];
    let meta = env.client.webhook("hooks", "{}", &headers).await.unwrap();
    let m = env.read_at(&meta).await;
    assert_eq!(m.header("x-customer"), Some("Zoë Müller — café"));
}

#[tokio::test]
async fn webhook_refuses_headers_owned_by_the_http_layer() {
    // Sent through, `Content-Length: 3` stored "hel" (a silently truncated body) and a second
    // `Authorization` competed with the client's own credentials.
    let env = Env::start(&[("hooks", 1)]).await;
    for (name, value) in [
        ("Content-Length", "3"),
        ("transfer-encoding", "chunked"),
        ("Host", "evil.example"),
        ("Connection", "close"),
        ("Authorization", "Bearer x"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Upgrade", "h2c"),
    ] {
        let err = env
            .client
            .webhook(
                "hooks",
                "hello world",
                &[(name.to_owned(), value.to_owned())],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(env.read("hooks", 0, 0).await.is_empty());
    // Content-Type is the sender's to choose (it is just not copied into the message).
    let meta = env
        .client
        .webhook(
            "hooks",
            "hello world",
            &[("Content-Type".to_owned(), "text/plain".to_owned())],
        )
        .await
        .unwrap();
    let m = env.read_at(&meta).await;
    assert_eq!((m.value.as_str(), m.headers.len()), ("hello world", 0));
}
