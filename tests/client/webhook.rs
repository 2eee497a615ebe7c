//! `/webhook?topic=`: raw body, forwarded headers.

use upkafka_client::ErrorKind;
use upkafka_protocol::ProduceMetadata;
use wiremock::matchers::{any, body_bytes, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

const STRIPE_BODY: &[u8] = b"id=evt_1&type=charge.succeeded \xff not json";

#[tokio::test]
async fn webhook_posts_the_raw_body_with_headers_and_topic_query() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/webhook"))
        .and(query_param("topic", "stripe events/ü"))
        .and(authed())
        .and(body_bytes(STRIPE_BODY))
        // wiremock's `header` splits values at commas; `only_header` compares the raw value.
        .and(only_header("stripe-signature", "t=16477,v1=abc"))
        .and(header("x-trace", "1"))
        .and(only_header(
            "content-type",
            "application/x-www-form-urlencoded",
        ))
        .respond_with(reply(200, "webhook/metadata.json"))
        .expect(1)
        .mount(&server)
        .await;
    let headers = vec![
        ("Stripe-Signature".to_owned(), "t=16477,v1=abc".to_owned()),
        ("X-Trace".to_owned(), "1".to_owned()),
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let meta = client
        .webhook("stripe events/ü", STRIPE_BODY, &headers)
        .await
        .unwrap();
    assert_eq!(meta, typed::<ProduceMetadata>("webhook/metadata.json"));
}

#[tokio::test]
async fn webhook_does_not_label_a_raw_body_as_json() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/webhook"))
        .and(query_param("topic", "stripe"))
        .and(body_bytes(STRIPE_BODY))
        .and(no_header("content-type"))
        .respond_with(reply(200, "webhook/metadata.json"))
        .expect(1)
        .mount(&server)
        .await;
    client.webhook("stripe", STRIPE_BODY, &[]).await.unwrap();
}

#[tokio::test]
async fn webhook_refuses_unsendable_headers_without_sending() {
    let (server, client) = setup().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    for (name, value) in [("bad name", "v"), ("X-Ok", "line\nbreak")] {
        let err = client
            .webhook("stripe", "x", &[(name.to_owned(), value.to_owned())])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err}");
    }
}
