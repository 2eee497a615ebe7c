//! Error mapping through the client: auth, unknown topic or partition, too large.

use upkafka_client::ErrorKind;
use upkafka_protocol::{OffsetSpec, ProduceRecord, TopicPartition};
use upkafka_server::Limits;

use crate::support::{Env, PASS, USER, client_as};

#[tokio::test]
async fn wrong_password_is_unauthorized_and_never_echoed() {
    let env = Env::start(&[("green", 1)]).await;
    let wrong_pass = "hunter2-not-the-password";
    for client in [
        client_as(&env.server.url, USER, wrong_pass),
        client_as(&env.server.url, "someone-else", PASS),
    ] {
        let err = client.topics().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert_eq!(err.status(), Some(401));
        assert!(err.is_auth());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong_pass), "{shown}");
        assert!(!shown.contains(PASS), "{shown}");
        let err = client
            .produce("green", ProduceRecord::new("x"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
    }
    // Nothing was written by the refused produce.
    assert!(env.read("green", 0, 0).await.is_empty());
}

#[tokio::test]
async fn unknown_topic_and_partition_are_400_with_the_servers_message() {
    let env = Env::start(&[("green", 2)]).await;
    let err = env
        .client
        .produce("nosuchtopic", ProduceRecord::new("x"))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(400)));
    match &err {
        upkafka_client::Error::Api {
            message, endpoint, ..
        } => {
            assert_eq!(message, "unknown topic `nosuchtopic`");
            assert_eq!(endpoint, "POST /produce");
        }
        other => panic!("expected Api, got {other:?}"),
    }
    let err = env
        .client
        .produce("green", ProduceRecord::new("x").partition(5))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("has no partition 5"), "{err}");
    let err = env
        .client
        .offsets(
            OffsetSpec::Earliest,
            &[TopicPartition::new("nosuchtopic", 0)],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("nosuchtopic"), "{err}");
    let err = env
        .client
        .produce_in_url("nosuchtopic", "x", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn too_large_records_are_400_and_too_large_bodies_413() {
    let limits = Limits {
        max_message_bytes: 1_000,
        max_body_bytes: 8_000,
        ..Limits::default()
    };
    let env = Env::with_limits(&[("green", 1)], limits).await;
    let big = "x".repeat(1_500);
    let err = env
        .client
        .produce("green", ProduceRecord::new(big.clone()))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(400)));
    assert!(
        err.to_string().contains("the maximum message size is 1000"),
        "{err}"
    );
    // The whole batch is refused when one record is too large: nothing is written.
    let err = env
        .client
        .produce_many(&[
            ProduceRecord::new("small").topic("green"),
            ProduceRecord::new(big).topic("green"),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("record 1"), "{err}");
    assert!(env.read("green", 0, 0).await.is_empty());
    // A body over the request limit: 413, whatever it holds.
    let records: Vec<_> = (0..20)
        .map(|_| ProduceRecord::new("y".repeat(900)))
        .collect();
    let err = env
        .client
        .produce_many_to("green", &records)
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(413)));
    assert!(err.to_string().contains("too large"), "{err}");
    assert!(env.read("green", 0, 0).await.is_empty());
}

#[tokio::test]
async fn utf8_credentials_and_a_base_url_with_a_trailing_slash_work() {
    let (user, pass) = ("jürgen", "pässwörd-☃");
    let env = Env::with_config(crate::support::ServerConfig {
        credentials: Some(upkafka_server::Credentials::new(user, pass)),
        ..crate::support::config(&[("green", 1)])
    })
    .await;
    let client = client_as(&format!("{}/", env.server.url), user, pass);
    let topics = client.topics().await.unwrap();
    assert_eq!(topics.get("green"), Some(&1));
    let meta = client
        .produce("green", ProduceRecord::new("x"))
        .await
        .unwrap();
    assert_eq!(meta.offset, 0);
}
