//! Every fixture deserialises into its protocol type and serialises back to the same JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use upkafka_protocol::{
    ErrorBody, FetchRequest, GroupAssignments, Message, ProduceMetadata, ProduceRecord,
    SuccessBody, TopicPartitionOffset, Topics,
};

use crate::support::{fixture, fixtures_dir};

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> Result<(), String> {
    let original = fixture(name);
    let typed: T = serde_json::from_value(original.clone()).map_err(|e| format!("{name}: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("{name}: {e}"))?;
    if back != original {
        return Err(format!("{name}: {original} came back as {back}"));
    }
    Ok(())
}

/// Which protocol type each fixture holds.
fn check(name: &str) -> Result<(), String> {
    match name {
        "produce/metadata.json" | "webhook/metadata.json" => round_trip::<ProduceMetadata>(name),
        "produce/metadata_one.json" | "produce/metadata_many.json" => {
            round_trip::<Vec<ProduceMetadata>>(name)
        }
        "produce/request_one.json" | "produce/request_value.json" => {
            round_trip::<ProduceRecord>(name)
        }
        "produce/request_to.json" | "produce/request_many.json" => {
            round_trip::<Vec<ProduceRecord>>(name)
        }
        "fetch/request_one.json" | "fetch/request_many.json" => round_trip::<FetchRequest>(name),
        "commit/request_one.json" => round_trip::<TopicPartitionOffset>(name),
        "commit/request_many.json" | "committed/offsets.json" | "offsets/offsets.json" => {
            round_trip::<Vec<TopicPartitionOffset>>(name)
        }
        "commit/success.json" => round_trip::<SuccessBody>(name),
        "metadata/topics.json" => round_trip::<Topics>(name),
        "metadata/consumers.json" => round_trip::<Vec<GroupAssignments>>(name),
        n if n.starts_with("errors/") => round_trip::<ErrorBody>(name),
        n if n.starts_with("fetch/messages") || n.starts_with("consume/") => {
            round_trip::<Vec<Message>>(name)
        }
        _ => Err(format!(
            "{name}: no protocol type is known for this fixture"
        )),
    }
}

#[test]
fn every_fixture_round_trips_through_its_protocol_type() {
    let root = fixtures_dir();
    let mut names = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            // Only JSON bodies are wire fixtures (tls/ holds the server's test certificate).
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let rel = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            names.push(rel);
        }
    }
    names.sort();
    assert!(names.len() >= 25, "{names:?}");
    let failures: Vec<String> = names.iter().filter_map(|n| check(n).err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_documented_message_shape_decodes_as_documented() {
    let msgs: Vec<Message> = serde_json::from_value(fixture("fetch/messages_stripe.json")).unwrap();
    assert_eq!(
        msgs[0].header("Stripe-Signature").map(|v| &v[..8]),
        Some("t=16477,")
    );
    let v: Value = msgs[0].value_json().unwrap();
    assert_eq!(v["type"], "charge.succeeded");
}
