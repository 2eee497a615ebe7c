//! Topic management under `/v2/kafka` (Upstash Developer API shapes, spec §9; issue 15):
//! create, list, describe, update and delete topics, and a topic's stats. Only the server's
//! own credential may call these (like the rest of the management API).
//!
//! Choices where Upstash's documentation is silent, each tested:
//! - A topic's id is its name (Kafka names are URL-safe), so `GET /v2/kafka/topic/orders`
//!   describes `orders`; a re-created topic has the same id.
//! - Times are milliseconds, sizes bytes, `-1` unlimited, as on Upstash. Fields left out of
//!   a create take the backend's defaults (the embedded log's are Kafka's: 7 days, no size
//!   limit; the gateway leaves them to the cluster).
//! - An invalid value is 400 naming the field and its bounds; an existing topic is 400
//!   (the Developer API has no 409); an unknown topic id is 404 (on the data API an unknown
//!   topic stays 400, spec §11).
//! - Update changes `retention_time`, `retention_size` and `max_message_size` (and the
//!   `segment_*`/`delete_retention_ms` extensions); the partition count and the cleanup
//!   policy are fixed at creation, as on Upstash.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use upkafka_protocol::{
    CreateTopicRequest, StatPoint, TopicDetails, TopicStats, UNLIMITED, UpdateTopicRequest,
    validate_topic_name,
};

use super::admin::{check_cluster, json_object};
use super::backend::TopicInfo;
use super::error::{ApiError, BackendError};
use super::extract::{ApiPath, RawBody};
use super::log::settings::{
    CleanupPolicy, MIN_SEGMENT_BYTES, MIN_SEGMENT_MS, SettingsPatch, TopicSettings,
};
use super::route_table::{Access, Permit, Routes};
use super::state::AppState;
use super::tenancy::CLUSTER_ID;

/// Most partitions one topic may have (as `serve --topic` allows).
const MAX_PARTITIONS: i32 = 100_000;

/// `-1` → unlimited, `≥ min` → that value, anything else a 400 naming `field`.
fn limit(
    field: &str,
    v: Option<i64>,
    min: i64,
    unit: &str,
) -> Result<Option<Option<u64>>, ApiError> {
    match v {
        None => Ok(None),
        Some(UNLIMITED) => Ok(Some(None)),
        Some(n) if n >= min => Ok(Some(Some(n.unsigned_abs()))),
        Some(n) => Err(ApiError::bad_request(format!(
            "`{field}` is {n}: it must be -1 (unlimited) or at least {min} {unit}"
        ))),
    }
}

/// A value that has no "unlimited": `≥ min`, else a 400 naming `field`.
fn at_least(field: &str, v: Option<i64>, min: u64, unit: &str) -> Result<Option<u64>, ApiError> {
    match v {
        None => Ok(None),
        Some(n) if u64::try_from(n).is_ok_and(|n| n >= min) => Ok(Some(n.unsigned_abs())),
        Some(n) => Err(ApiError::bad_request(format!(
            "`{field}` is {n}: it must be at least {min} {unit}"
        ))),
    }
}

/// The settings an update (and a create) may name, checked.
fn patch_of(r: &UpdateTopicRequest) -> Result<SettingsPatch, ApiError> {
    Ok(SettingsPatch {
        retention_ms: limit("retention_time", r.retention_time, 0, "ms")?,
        retention_bytes: limit("retention_size", r.retention_size, 0, "bytes")?,
        max_message_bytes: limit("max_message_size", r.max_message_size, 1, "byte")?,
        cleanup_policy: None,
        segment_bytes: at_least("segment_bytes", r.segment_bytes, MIN_SEGMENT_BYTES, "bytes")?,
        segment_ms: at_least("segment_ms", r.segment_ms, MIN_SEGMENT_MS, "ms")?,
        delete_retention_ms: at_least("delete_retention_ms", r.delete_retention_ms, 0, "ms")?,
    })
}

/// A create request, checked: name, partitions and settings.
fn create_of(r: &CreateTopicRequest) -> Result<(i32, SettingsPatch), ApiError> {
    if let Some(id) = &r.cluster_id {
        check_cluster(id)?;
    }
    validate_topic_name(&r.name).map_err(|e| ApiError::bad_request(format!("`name`: {e}")))?;
    let partitions = r.partitions.unwrap_or(1);
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return Err(ApiError::bad_request(format!(
            "`partitions` is {partitions}: it must be between 1 and {MAX_PARTITIONS}"
        )));
    }
    let mut patch = patch_of(&UpdateTopicRequest {
        retention_time: r.retention_time,
        retention_size: r.retention_size,
        max_message_size: r.max_message_size,
        segment_bytes: r.segment_bytes,
        segment_ms: r.segment_ms,
        delete_retention_ms: r.delete_retention_ms,
    })?;
    patch.cleanup_policy = r
        .cleanup_policy
        .as_deref()
        .map(str::parse::<CleanupPolicy>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("`cleanup_policy`: {e}")))?;
    Ok((partitions, patch))
}

fn wire_limit(v: Option<u64>) -> i64 {
    v.map_or(UNLIMITED, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The Developer API's Topic object of `t`.
fn details(s: &AppState, t: &TopicInfo) -> TopicDetails {
    let TopicSettings {
        retention_ms,
        retention_bytes,
        max_message_bytes,
        cleanup_policy,
        segment_bytes,
        segment_ms,
        delete_retention_ms,
    } = t.settings;
    let server_max = i64::try_from(s.limits.max_message_bytes).unwrap_or(i64::MAX);
    TopicDetails {
        topic_id: t.name.clone(),
        topic_name: t.name.clone(),
        cluster_id: CLUSTER_ID.to_owned(),
        region: "local".to_owned(),
        creation_time: t.created_ms / 1000,
        state: "active".to_owned(),
        partitions: t.partitions,
        multizone: false,
        tcp_endpoint: String::new(),
        rest_endpoint: String::new(),
        username: s
            .tenancy
            .server()
            .map(|c| c.username.clone())
            .unwrap_or_default(),
        cleanup_policy: cleanup_policy.as_str().to_owned(),
        retention_size: wire_limit(retention_bytes),
        retention_time: wire_limit(retention_ms),
        max_message_size: max_message_bytes.map_or(server_max, |m| {
            i64::try_from(m).unwrap_or(i64::MAX).min(server_max)
        }),
        segment_bytes: wire_limit(Some(segment_bytes)),
        segment_ms: wire_limit(Some(segment_ms)),
        delete_retention_ms: wire_limit(Some(delete_retention_ms)),
    }
}

/// On the management API an unknown topic id is "not found" (404).
fn by_id(e: BackendError) -> ApiError {
    match e {
        BackendError::UnknownTopic(name) => {
            ApiError::new(StatusCode::NOT_FOUND, format!("no topic with id `{name}`"))
        }
        e => e.into(),
    }
}

/// `POST /v2/kafka/topic` → the Topic.
async fn create_topic(
    State(s): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: CreateTopicRequest = json_object(&body)?;
    let (partitions, patch) = create_of(&req)?;
    let info = s
        .backend
        .create_topic(req.name.clone(), partitions, patch)
        .await?;
    tracing::info!(topic = %info.name, partitions, "topic created");
    Ok(Json(details(&s, &info)).into_response())
}

/// `GET /v2/kafka/topics/{cluster_id}` → Topic[].
async fn list_topics(
    State(s): State<AppState>,
    ApiPath(cluster): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_cluster(&cluster)?;
    let all = s.backend.describe_topics(None).await?;
    let out: Vec<TopicDetails> = all.iter().map(|t| details(&s, t)).collect();
    Ok(Json(out).into_response())
}

async fn describe_one(s: &AppState, id: String) -> Result<TopicInfo, ApiError> {
    let mut found = s
        .backend
        .describe_topics(Some(id.clone()))
        .await
        .map_err(by_id)?;
    found
        .pop()
        .ok_or_else(|| by_id(BackendError::UnknownTopic(id)))
}

/// `GET /v2/kafka/topic/{id}` → the Topic, 404 for an unknown id.
async fn get_topic(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let info = describe_one(&s, id).await?;
    Ok(Json(details(&s, &info)).into_response())
}

/// `POST /v2/kafka/update-topic/{id}` `{retention_time?, retention_size?,
/// max_message_size?}` → the Topic as it is now.
async fn update_topic(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: UpdateTopicRequest = json_object(&body)?;
    let patch = patch_of(&req)?;
    let info = s.backend.alter_topic(id, patch).await.map_err(by_id)?;
    tracing::info!(topic = %info.name, "topic updated");
    Ok(Json(details(&s, &info)).into_response())
}

/// `DELETE /v2/kafka/topic/{id}` → `"OK"`: its records and committed offsets are gone.
async fn delete_topic(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    s.backend.delete_topic(id.clone()).await.map_err(by_id)?;
    tracing::info!(topic = %id, "topic deleted");
    Ok(Json("OK").into_response())
}

/// `GET /v2/kafka/stats/topic/{id}` → per-second throughput over the history the server
/// keeps (the console's), and the bytes the topic takes now.
async fn topic_stats(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let info = describe_one(&s, id).await?;
    let seconds = s.metrics.topic_history(&info.name);
    let ms = |t: u64| i64::try_from(t.saturating_mul(1000)).unwrap_or(i64::MAX);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let series = |f: &dyn Fn(&crate::history::Second) -> u64| -> Vec<StatPoint> {
        seconds
            .iter()
            .map(|sec| StatPoint {
                x: ms(sec.t),
                y: count(f(sec)),
            })
            .collect()
    };
    let now = crate::backend::clock::now_ms();
    let stats = TopicStats {
        throughput: series(&|sec| sec.produced + sec.consumed),
        produce_throughput: series(&|sec| sec.produced),
        consume_throughput: series(&|sec| sec.consumed),
        diskusage: info
            .bytes
            .map(|b| StatPoint {
                x: now,
                y: count(b),
            })
            .into_iter()
            .collect(),
        total_monthly_produce: count(seconds.iter().map(|sec| sec.produced).sum()),
        total_monthly_consume: count(seconds.iter().map(|sec| sec.consumed).sum()),
    };
    Ok(Json(stats).into_response())
}

/// Adds the topic management routes to `r`.
pub(crate) fn routes(r: Routes) -> Routes {
    use Access::Credentials as C;
    let s = Permit::SERVER;
    r.both("/v2/kafka/topic", C, s, post(create_topic))
        .both("/v2/kafka/topics/{cluster_id}", C, s, get(list_topics))
        .both(
            "/v2/kafka/topic/{id}",
            C,
            s,
            get(get_topic).delete(delete_topic),
        )
        .both("/v2/kafka/update-topic/{id}", C, s, post(update_topic))
        .both("/v2/kafka/stats/topic/{id}", C, s, get(topic_stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_bounds_name_their_field() {
        let bad = |r: UpdateTopicRequest| patch_of(&r).unwrap_err().message;
        let e = bad(UpdateTopicRequest {
            retention_time: Some(-5),
            ..Default::default()
        });
        assert!(e.contains("`retention_time` is -5"), "{e}");
        let e = bad(UpdateTopicRequest {
            max_message_size: Some(0),
            ..Default::default()
        });
        assert!(e.contains("`max_message_size`"), "{e}");
        let e = bad(UpdateTopicRequest {
            segment_ms: Some(-1),
            ..Default::default()
        });
        assert!(e.contains("`segment_ms` is -1"), "{e}");
        let ok = patch_of(&UpdateTopicRequest {
            retention_time: Some(-1),
            retention_size: Some(8 << 20),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.retention_ms, Some(None));
        assert_eq!(ok.retention_bytes, Some(Some(8 << 20)));
        assert_eq!(ok.segment_bytes, None);
    }

    #[test]
    fn a_create_names_the_bad_field() {
        let req = |f: &dyn Fn(&mut CreateTopicRequest)| {
            let mut r = CreateTopicRequest {
                name: "t".into(),
                ..Default::default()
            };
            f(&mut r);
            create_of(&r)
        };
        let e = req(&|r| r.partitions = Some(-1)).unwrap_err().message;
        assert!(e.contains("`partitions` is -1"), "{e}");
        let e = req(&|r| r.name = "a/b".into()).unwrap_err().message;
        assert!(e.starts_with("`name`:"), "{e}");
        let e = req(&|r| r.cleanup_policy = Some("forever".into()))
            .unwrap_err()
            .message;
        assert!(
            e.contains("`cleanup_policy`") && e.contains("forever"),
            "{e}"
        );
        let e = req(&|r| r.cluster_id = Some("other".into())).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let (partitions, patch) = req(&|r| r.cleanup_policy = Some("compact".into())).unwrap();
        assert_eq!(partitions, 1);
        assert_eq!(patch.cleanup_policy, Some(CleanupPolicy::Compact));
    }
}
