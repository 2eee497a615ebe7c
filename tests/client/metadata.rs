//! `/topics`, `/consumers`, `/offsets/{timestamp}`.

use serde_json::json;
use upkafka_protocol::{
    GroupAssignments, OffsetSpec, TopicPartition, TopicPartitionOffset, Topics,
};
use wiremock::Mock;
use wiremock::matchers::{body_json, method, path};

use crate::support::*;

#[tokio::test]
async fn topics_gets_the_partition_counts() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .and(authed())
        .and(no_body())
        .respond_with(reply(200, "metadata/topics.json"))
        .expect(1)
        .mount(&server)
        .await;
    let topics: Topics = client.topics().await.unwrap();
    assert_eq!(topics.len(), 3);
    assert_eq!(topics["cities"], 12);
    assert_eq!(topics["words"], 137);
}

#[tokio::test]
async fn consumers_gets_groups_instances_and_assignments() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/consumers"))
        .and(authed())
        .respond_with(reply(200, "metadata/consumers.json"))
        .expect(1)
        .mount(&server)
        .await;
    let groups = client.consumers().await.unwrap();
    assert_eq!(
        groups,
        typed::<Vec<GroupAssignments>>("metadata/consumers.json")
    );
    assert_eq!(groups[0].name, "mygroup");
    assert_eq!(groups[0].instances[0].name, "instance-1");
    assert_eq!(groups[0].instances[0].topics[1].partitions, [10, 21, 32]);
}

#[tokio::test]
async fn offsets_posts_partitions_to_each_spec_path() {
    let (server, client) = setup().await;
    for at in ["earliest", "latest", "1642591892000", "-1"] {
        Mock::given(method("POST"))
            .and(path(format!("/offsets/{at}")))
            .and(authed())
            .and(body_json(json!([
                {"topic": "cities", "partition": 0},
                {"topic": "greetings", "partition": 0}
            ])))
            .respond_with(reply(200, "offsets/offsets.json"))
            .expect(1)
            .mount(&server)
            .await;
    }
    let parts = [
        TopicPartition::new("cities", 0),
        TopicPartition::new("greetings", 0),
    ];
    let want: Vec<TopicPartitionOffset> = typed("offsets/offsets.json");
    for spec in [
        OffsetSpec::Earliest,
        OffsetSpec::Latest,
        OffsetSpec::Timestamp(1642591892000),
        OffsetSpec::Timestamp(-1),
    ] {
        assert_eq!(client.offsets(spec, &parts).await.unwrap(), want, "{spec}");
    }
}
