//! Consumer-instance caps (issue 20) on the backend `crate::BACKEND` names (the gateway suite
//! runs this module too): over a cap a consume is 429 naming the cap, its value and its flag;
//! existing instances keep working; once an instance is deleted, creation works again.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::support::{Api, assert_error, config};

async fn consume(api: &Api, group: &str, instance: &str) -> (StatusCode, Value) {
    api.send(
        "POST",
        &format!("/consume/{group}/{instance}"),
        &json!({"topic": "t", "timeout": 0}).to_string(),
        &[],
    )
    .await
}

/// Group name → instance names, from `/consumers`.
async fn consumers(api: &Api) -> Vec<(String, Vec<String>)> {
    let (s, v) = api.get("/consumers").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_owned();
    v.as_array()
        .expect("a list of groups")
        .iter()
        .map(|g| {
            let instances = g["instances"].as_array().expect("instances");
            (name(g), instances.iter().map(name).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_over_a_cap_get_429_naming_it_and_creation_resumes_after_a_delete() {
    let mut cfg = config(&[("t", 1)]);
    cfg.limits.max_instances_per_group = 2;
    cfg.limits.max_consumer_instances = 3;
    let api = Api::new(cfg).await;
    for instance in ["a", "b"] {
        let (s, v) = consume(&api, "g", instance).await;
        assert_eq!(s, StatusCode::OK, "g/{instance}: {v}");
    }
    let over = consume(&api, "g", "c").await;
    assert_error(&over, 429, "max_instances_per_group = 2");
    assert_error(&over, 429, "--max-instances-per-group");
    assert_error(&over, 429, "`g`");
    // The instances that exist keep consuming.
    let (s, v) = consume(&api, "g", "a").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = consume(&api, "h", "a").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let over = consume(&api, "i", "a").await;
    assert_error(&over, 429, "max_consumer_instances = 3");
    assert_error(&over, 429, "--max-consumer-instances");
    let (s, v) = api.send("DELETE", "/delete-consumer/g/a", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = consume(&api, "i", "a").await;
    assert_eq!(
        s,
        StatusCode::OK,
        "once one is deleted, one may be created: {v}"
    );
    assert_eq!(
        consumers(&api).await,
        [
            ("g".to_owned(), vec!["b".to_owned()]),
            ("h".to_owned(), vec!["a".to_owned()]),
            ("i".to_owned(), vec!["a".to_owned()]),
        ],
        "the refused consumes created nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_keep_max_series_per_family_and_count_what_they_left_out() {
    let mut cfg = config(&[("t", 1)]);
    cfg.limits.max_metric_series = 2;
    let api = Api::new(cfg).await;
    for group in ["g1", "g2", "g3"] {
        let (s, v) = consume(&api, group, "a").await;
        assert_eq!(s, StatusCode::OK, "{group}: {v}");
    }
    let req = Request::get("/metrics")
        .body(Body::empty())
        .expect("a request");
    let resp = api.response(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("the exposition");
    let text = String::from_utf8_lossy(&bytes);
    let series = |family: &str| {
        text.lines()
            .filter(|l| l.strip_prefix(family).is_some_and(|r| r.starts_with('{')))
            .count()
    };
    assert_eq!(series("upkafka_consumer_instances"), 2, "{text}");
    assert_eq!(
        series("upkafka_consumer_group_committed_offset"),
        2,
        "{text}"
    );
    for line in [
        r#"upkafka_metrics_series_dropped{family="upkafka_consumer_instances"} 1"#,
        r#"upkafka_metrics_series_dropped{family="upkafka_consumer_group_committed_offset"} 1"#,
        r#"upkafka_metrics_series_dropped{family="upkafka_partition_latest_offset"} 0"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
