//! Produce: `produce`, `produce_json`, `produce_many`, `produce_many_to`, `produce_in_url`.

use serde::{Deserialize, Serialize};
use upkafka_client::ErrorKind;
use upkafka_protocol::{Header, ProduceRecord};

use crate::support::{Env, values};

#[tokio::test]
async fn produce_stores_value_key_headers_partition_and_timestamp() {
    let env = Env::start(&[("green", 3)]).await;
    let record = ProduceRecord::new("Istanbul")
        .key("city")
        .partition(2)
        .timestamp(1_637_745_834_756)
        .header("expire", "1637745834756")
        .header("expire", "again");
    let meta = env.client.produce("green", record).await.unwrap();
    assert_eq!(
        (meta.topic.as_str(), meta.partition, meta.offset),
        ("green", 2, 0)
    );
    assert_eq!(meta.timestamp, 1_637_745_834_756);
    let m = env.read_at(&meta).await;
    assert_eq!(m.value, "Istanbul");
    assert_eq!(m.key, "city");
    assert_eq!(m.timestamp, 1_637_745_834_756);
    assert_eq!(
        m.headers,
        vec![
            Header::new("expire", "1637745834756"),
            Header::new("expire", "again")
        ]
    );

    // No key, no headers: `""` and `[]`, never absent; the server stamps the time.
    let before = now_ms();
    let meta = env
        .client
        .produce("green", ProduceRecord::new("plain").partition(2))
        .await
        .unwrap();
    assert_eq!(meta.offset, 1);
    assert!(meta.timestamp >= before, "{} < {before}", meta.timestamp);
    let m = env.read_at(&meta).await;
    assert_eq!((m.key.as_str(), m.headers.len()), ("", 0));
}

#[tokio::test]
async fn produce_replaces_a_topic_set_on_the_record() {
    let env = Env::start(&[("green", 1), ("blue", 1)]).await;
    let meta = env
        .client
        .produce("green", ProduceRecord::new("x").topic("blue"))
        .await
        .unwrap();
    assert_eq!(meta.topic, "green");
    assert!(env.read("blue", 0, 0).await.is_empty());
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Reading {
    device: u32,
    measure: String,
    value: f64,
}

#[tokio::test]
async fn produce_json_round_trips_through_value_json() {
    let env = Env::start(&[("sensor", 1)]).await;
    let reading = Reading {
        device: 7,
        measure: "pressure".into(),
        value: 1013.25,
    };
    let meta = env.client.produce_json("sensor", &reading).await.unwrap();
    let m = env.read_at(&meta).await;
    assert_eq!(m.value_json::<Reading>().unwrap(), reading);
    // The same text kafka-js's JSON.stringify gives.
    assert_eq!(
        m.value,
        r#"{"device":7,"measure":"pressure","value":1013.25}"#
    );
}

#[tokio::test]
async fn produce_many_answers_in_request_order_across_topics() {
    let env = Env::start(&[("green", 2), ("blue", 2)]).await;
    let metas = env
        .client
        .produce_many(&[
            ProduceRecord::new("a").topic("green").partition(0),
            ProduceRecord::new("b").topic("blue").partition(1).key("k"),
            ProduceRecord::new("c").topic("green").partition(0),
            ProduceRecord::new("d").topic("blue").partition(1),
        ])
        .await
        .unwrap();
    let shape: Vec<_> = metas
        .iter()
        .map(|m| (m.topic.as_str(), m.partition, m.offset))
        .collect();
    assert_eq!(
        shape,
        [
            ("green", 0, 0),
            ("blue", 1, 0),
            ("green", 0, 1),
            ("blue", 1, 1)
        ]
    );
    assert_eq!(values(&env.read("green", 0, 0).await), ["a", "c"]);
    let blue = env.read("blue", 1, 0).await;
    assert_eq!(values(&blue), ["b", "d"]);
    assert_eq!(blue[0].key, "k");

    // Nothing to send: no request, no error.
    assert!(env.client.produce_many(&[]).await.unwrap().is_empty());
    // A record without a topic is refused before anything is sent.
    let err = env
        .client
        .produce_many(&[
            ProduceRecord::new("x").topic("green"),
            ProduceRecord::new("y"),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(env.read("green", 0, 2).await.len(), 0);
}

#[tokio::test]
async fn produce_to_sends_a_batch_to_one_topic_and_strips_record_topics() {
    let env = Env::start(&[("green", 1), ("blue", 1)]).await;
    let metas = env
        .client
        .produce_many_to(
            "green",
            &[
                ProduceRecord::new("one"),
                ProduceRecord::new("two").topic("blue").header("h", "v"),
                ProduceRecord::new("three").key("k3"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(metas.len(), 3);
    assert!(metas.iter().all(|m| m.topic == "green"));
    assert_eq!(
        metas.iter().map(|m| m.offset).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let msgs = env.read("green", 0, 0).await;
    assert_eq!(values(&msgs), ["one", "two", "three"]);
    assert_eq!(msgs[1].header("h"), Some("v"));
    assert_eq!(msgs[2].key, "k3");
    assert!(env.read("blue", 0, 0).await.is_empty());
}

#[tokio::test]
async fn produce_in_url_round_trips_awkward_values_and_keys() {
    let env = Env::start(&[("green", 1)]).await;
    let cases = [
        ("hello", None),
        ("hello world", Some("a key")),
        ("ünïcödé ☃ 日本", Some("ключ")),
        ("a/b/c", Some("x/y")),
        ("100% sure?&#=+", Some("k&=?#+")),
        ("   leading and trailing   ", None),
    ];
    for (value, key) in cases {
        let meta = env
            .client
            .produce_in_url("green", value, key)
            .await
            .unwrap();
        assert_eq!(meta.topic, "green");
        let m = env.read_at(&meta).await;
        assert_eq!(m.value, value, "value of {value:?}");
        assert_eq!(m.key, key.unwrap_or(""), "key of {value:?}");
    }
    // A dot segment would be removed from the URL on the way: refused, not mangled.
    let err = env
        .client
        .produce_in_url("green", "..", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn produce_in_url_bounds_the_value_and_never_echoes_it() {
    let env = Env::start(&[("green", 1)]).await;
    // 10 000 × "ü" is 60 000 bytes percent-encoded (`%C3%BC`): still fits, and round-trips.
    let long = "ü".repeat(10_000);
    let meta = env
        .client
        .produce_in_url("green", &long, None)
        .await
        .unwrap();
    assert_eq!(env.read_at(&meta).await.value, long);
    // Too long for a URL: refused before sending, with a short message naming produce().
    let too_long = "ü".repeat(11_000);
    let err = env
        .client
        .produce_in_url("green", &too_long, Some("k"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let shown = err.to_string();
    assert!(
        shown.len() < 300 && shown.contains("use produce"),
        "{shown}"
    );
    // A server error does not quote the value either (it is in the path).
    let secret = "card-4111-1111-1111-1111";
    let err = env
        .client
        .produce_in_url("nosuchtopic", secret, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("GET /produce/nosuchtopic/…"), "{shown}");
}
