//! The HTTP routes of spec §3: parsing, wire-shape validation, and calls into the [`Backend`].
//!
//! Conventions (spec §2.2 and our choices for §12):
//! - Every path also answers with a trailing `/`.
//! - The request `Content-Type` is ignored: bodies are read as raw bytes and parsed as JSON,
//!   so `curl -d` (form content type) and `text/plain` clients work.
//! - `[GET | POST]` endpoints take a JSON body on GET too; delete-consumer takes POST and DELETE.
//! - Object-or-array bodies are accepted wherever the spec allows either; body-based produce
//!   (`/produce`, `/produce/{topic}`) always answers an array, also for a single object (q. 4).
//! - `GET /produce/{topic}/{message}` percent-decodes the message segment; a `/` in the value
//!   must be sent as `%2F` (q. 3).
//! - `timeout` may be given as `?timeout=` on fetch, consume, committed and offsets, and in the
//!   body of fetch and consume; the query wins when both are given (q. 7). Timeouts are
//!   clamped to the configured maximum. `/committed` and `/offsets` never need to wait, so
//!   their timeout is accepted and otherwise ignored.
//! - A multi-partition fetch answers data of every named partition, within the response
//!   limits (q. 6: the single-topic behaviour of 2022 is not reproduced).
//! - A fetch from an offset below the partition's earliest offset (records deleted by
//!   retention) reads from the earliest offset, as a Kafka consumer reset to `earliest` does
//!   after `OFFSET_OUT_OF_RANGE`; each record carries its own offset, so the jump is visible.
//!   On a compacted topic offsets have gaps: the surviving records keep their offsets. A
//!   consumer group's position below the earliest offset follows `Kafka-Auto-Offset-Reset`
//!   (`earliest`, `latest`, or `none`: 400 naming the partition and the earliest offset).
//! - `Accept: text/event-stream` on `/fetch` and `/consume/…` answers an event stream of the
//!   same records instead of one batch ([`super::sse`]).
//! - Every produce route takes an `Idempotency-Key` header (issue 16; the rule is
//!   `backend::idempotency`): a malformed one is 400 naming the header, a key reused for
//!   another batch 422, a repeat whose first request is still being stored after 10 s 409.
//! - Every failure is `{"error", "status"}`: extractor rejections, 404 for unknown paths and
//!   405 for wrong methods are rewritten into that shape by the request pipeline
//!   ([`ApiService`](super::ApiService)).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use upkafka_protocol::{
    ConsumeRequest, FetchRequest, Header, Message, OffsetSpec, ProduceMetadata, ProduceRecord,
    SuccessBody, TopicPartition, TopicPartitionOffset, WEBHOOK_EXCLUDED_HEADERS, messages_to_vec,
    produce_metadata_to_vec,
};

use super::backend::{
    BoxFuture, ConsumeParams, ConsumerSettings, Fingerprint, IdempotencyKey, fingerprint_body,
    fingerprint_records,
};
use super::error::ApiError;
use super::extract::{
    ApiPath, ApiQuery, IdempotencyKeyHeader, PollWait, RawBody, first_byte, idempotency_key,
    parse_json, parse_json_list,
};
use super::route_table::{Access, Direct, DirectRequest, Need, Permit, Routes};
use super::sse;
use super::state::AppState;
use super::tenancy::{self, Grant};

#[derive(Debug, Deserialize)]
struct TimeoutQuery {
    timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WebhookQuery {
    topic: Option<String>,
}

/// Parses a body that may be one object or an array of them.
fn parse_many<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    match first_byte(body) {
        None => Err(ApiError::bad_request(
            "the request body is empty; expected JSON",
        )),
        Some(_) => parse_json_list(body),
    }
}

/// Parses an object body; an empty body gives `T::default()` when `allow_empty`.
fn parse_one<T: DeserializeOwned + Default>(body: &[u8], allow_empty: bool) -> Result<T, ApiError> {
    match first_byte(body) {
        None if allow_empty => Ok(T::default()),
        None => Err(ApiError::bad_request(
            "the request body is empty; expected JSON",
        )),
        Some(_) => parse_json(body),
    }
}

/// Stores a batch, under its idempotency key and the request's fingerprint when it has a key;
/// records without a topic go to `topic`.
async fn store(
    s: &AppState,
    key: Option<(IdempotencyKey, Fingerprint)>,
    topic: Option<String>,
    records: Vec<ProduceRecord>,
) -> Result<Vec<ProduceMetadata>, ApiError> {
    Ok(match (key, topic) {
        (Some((key, fingerprint)), topic) => {
            s.backend
                .produce_idempotent(key, fingerprint, topic, records)
                .await?
                .metadata
        }
        // The records without a topic go to the path's; no copy of the name per record.
        (None, Some(topic)) => s.backend.produce_to(topic, records).await?,
        (None, None) => s.backend.produce(records).await?,
    })
}

/// Stores the one record of a route whose record is not a JSON body (the path's message, a
/// webhook), under `key` with that record's fingerprint; the answer is its one metadata
/// object.
async fn store_one(
    s: &AppState,
    key: Option<IdempotencyKey>,
    record: ProduceRecord,
) -> Result<Response, ApiError> {
    let records = vec![record];
    let key = key.map(|k| (k, fingerprint_records(None, &records)));
    let one = store(s, key, None, records)
        .await?
        .pop()
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"))?;
    Ok(Json(one).into_response())
}

/// `GET /produce/{topic}/{message}?key=` → one `ProduceMetadata` object.
async fn produce_path(
    State(s): State<AppState>,
    ApiPath((topic, message)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<KeyQuery>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
) -> Result<Response, ApiError> {
    let mut record = ProduceRecord::new(message).topic(topic);
    record.key = q.key;
    store_one(&s, key, record).await
}

/// `[GET|POST] /produce/{topic}` → `ProduceMetadata[]`. A record naming another topic than
/// the path is refused. Served by the pipeline itself ([`Direct`]).
fn produce_topic<'a>(
    s: &'a AppState,
    req: DirectRequest<'a>,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    Box::pin(async move {
        let topic = req.param("topic")?.into_owned();
        let key = idempotency_key(req.headers)?;
        let body = req.body;
        let records: Vec<ProduceRecord> = parse_many(&body)?;
        for (i, r) in records.iter().enumerate() {
            if let Some(t) = r.topic.as_ref().filter(|t| **t != topic) {
                return Err(ApiError::bad_request(format!(
                    "record {i} names topic `{t}` but the path names `{topic}`"
                )));
            }
        }
        let key = key.map(|k| (k, fingerprint_body(Some(&topic), &body)));
        Ok(produced(&store(s, key, Some(topic), records).await?))
    })
}

/// `[GET|POST] /produce` → `ProduceMetadata[]`; every record needs `topic`. Served by the
/// pipeline itself ([`Direct`]).
fn produce<'a>(
    s: &'a AppState,
    req: DirectRequest<'a>,
) -> BoxFuture<'a, Result<Response, ApiError>> {
    Box::pin(async move {
        let key = idempotency_key(req.headers)?;
        let body = req.body;
        let records: Vec<ProduceRecord> = parse_many(&body)?;
        if let Some(i) = records.iter().position(|r| r.topic.is_none()) {
            return Err(ApiError::bad_request(format!(
                "record {i}: missing field `topic`"
            )));
        }
        let key = key.map(|k| (k, fingerprint_body(None, &body)));
        Ok(produced(&store(s, key, None, records).await?))
    })
}

/// The methods of the body produces (a `GET` with a body too, spec §2.2).
const PRODUCE_METHODS: &[Method] = &[Method::GET, Method::POST];

/// The `ProduceMetadata[]` answer of a body produce: the same bytes and `Content-Type` as
/// `Json(metadata)`, by the protocol's direct encoder.
fn produced(metadata: &[ProduceMetadata]) -> Response {
    json_bytes(produce_metadata_to_vec(metadata))
}

/// `body` (JSON) as a 200 answer, built directly rather than through `IntoResponse` for a
/// header tuple (which goes through the generic header-pair conversion on every answer).
fn json_bytes(body: Vec<u8>) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The `Message[]` answer of a fetch or consume: the same bytes and `Content-Type` as
/// `Json(msgs)`, written by the protocol's direct encoder into one buffer sized up front.
fn messages(msgs: &[Message]) -> Response {
    json_bytes(messages_to_vec(msgs))
}

/// `[GET|POST] /fetch` → `Message[]`.
async fn fetch(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TimeoutQuery>,
    headers: HeaderMap,
    wait: PollWait,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: FetchRequest = parse_one(&body, false)?;
    let entries = req.entries().map_err(ApiError::bad_request)?;
    if entries.is_empty() {
        return Err(ApiError::bad_request(
            "fetch names no partition: send topic/partition/offset or topicPartitionOffsets",
        ));
    }
    if sse::wants_events(&headers) {
        return sse::fetch(&s, entries, &headers).await;
    }
    let timeout = wait.timeout(&s, q.timeout, req.timeout);
    Ok(messages(&s.backend.fetch(entries, timeout).await?))
}

/// The `Kafka-*` settings of a consume, parsed (see [`ConsumerSettings`] for when they apply).
fn consumer_settings(headers: &HeaderMap) -> ConsumerSettings {
    ConsumerSettings::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

/// `GET /consume/{group}/{instance}/{topic}?timeout=` → `Message[]`.
async fn consume_topic(
    State(s): State<AppState>,
    ApiPath((group, instance, topic)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<TimeoutQuery>,
    headers: HeaderMap,
    wait: PollWait,
) -> Result<Response, ApiError> {
    let params = ConsumeParams {
        group,
        instance,
        topics: vec![topic],
        timeout: wait.timeout(&s, q.timeout, None),
        settings: consumer_settings(&headers),
    };
    if sse::wants_events(&headers) {
        return sse::consume(&s, params, &headers).await;
    }
    Ok(messages(&s.backend.consume(params).await?))
}

/// `[GET|POST] /consume/{group}/{instance}` with `{topic}` or `{topics}` → `Message[]`.
async fn consume(
    State(s): State<AppState>,
    ApiPath((group, instance)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<TimeoutQuery>,
    headers: HeaderMap,
    wait: PollWait,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: ConsumeRequest = parse_one(&body, true)?;
    let params = ConsumeParams {
        group,
        instance,
        topics: req.topic_list(),
        timeout: wait.timeout(&s, q.timeout, req.timeout),
        settings: consumer_settings(&headers),
    };
    if sse::wants_events(&headers) {
        return sse::consume(&s, params, &headers).await;
    }
    Ok(messages(&s.backend.consume(params).await?))
}

/// For a scoped caller, 403 unless every topic the instance is assigned is in its scope. An
/// implicit commit and a delete (which auto-commits) act on all of the instance's topics, which
/// neither request names: the pipeline cannot check them from the request alone. Free for the
/// server's credential; one assignment lookup (`/committed` without partitions) otherwise.
async fn authorize_instance(
    s: &AppState,
    grant: Option<&Grant>,
    group: &str,
    instance: &str,
) -> Result<(), ApiError> {
    let Some(grant) = grant.filter(|g| matches!(g, Grant::Scoped(_))) else {
        return Ok(());
    };
    let assigned = s
        .backend
        .committed(group.to_owned(), instance.to_owned(), Vec::new())
        .await?;
    tenancy::authorize(
        grant,
        Need::Consume,
        assigned.iter().map(|o| o.topic.as_str()),
    )
}

/// `[GET|POST] /commit/{group}/{instance}`: explicit offsets, or none / `[]` for "last consumed".
async fn commit(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
    ApiPath((group, instance)): ApiPath<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let offsets = match first_byte(&body) {
        None => None,
        Some(_) => Some(parse_many::<TopicPartitionOffset>(&body)?),
    };
    // Explicit offsets name their topics, which the pipeline has checked.
    if offsets.as_ref().is_none_or(Vec::is_empty) {
        authorize_instance(&s, grant.as_ref().map(|g| &g.0), &group, &instance).await?;
    }
    s.backend.commit(group, instance, offsets).await?;
    Ok(Json(SuccessBody::ok()).into_response())
}

/// `[GET|POST] /committed/{group}/{instance}` → `TopicPartitionOffset[]` (`-1` = none).
/// An empty body asks for the instance's assigned partitions.
async fn committed(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
    ApiPath((group, instance)): ApiPath<(String, String)>,
    ApiQuery(_q): ApiQuery<TimeoutQuery>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let partitions = match first_byte(&body) {
        None => Vec::new(),
        Some(_) => parse_many::<TopicPartition>(&body)?,
    };
    let mut answer = s.backend.committed(group, instance, partitions).await?;
    // Without a body the answer is the instance's assignment: only the caller's topics.
    let grant = grant.as_ref().map(|g| &g.0);
    answer.retain(|o| tenancy::sees(grant, &o.topic));
    Ok(Json(answer).into_response())
}

/// `[POST|DELETE] /delete-consumer/{group}/{instance}`.
async fn delete_consumer(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
    ApiPath((group, instance)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    authorize_instance(&s, grant.as_ref().map(|g| &g.0), &group, &instance).await?;
    s.backend.delete_consumer(group, instance).await?;
    Ok(Json(SuccessBody::ok()).into_response())
}

/// `GET /topics` → `{topic: partitions}`; a scoped credential sees the topics of its scope.
async fn topics(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
) -> Result<Response, ApiError> {
    let mut all = s.backend.topics().await?;
    let grant = grant.as_ref().map(|g| &g.0);
    all.retain(|t, _| tenancy::sees(grant, t));
    Ok(Json(all).into_response())
}

/// `GET /consumers` → `GroupAssignments[]`; a scoped credential sees only the assignments of
/// its topics (instances and groups left with none are left out).
async fn consumers(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
) -> Result<Response, ApiError> {
    let mut groups = s.backend.consumers().await?;
    if let Some(Extension(grant)) = &grant {
        for g in &mut groups {
            for i in &mut g.instances {
                i.topics.retain(|t| grant.sees(&t.topic));
            }
            g.instances.retain(|i| !i.topics.is_empty());
        }
        groups.retain(|g| !g.instances.is_empty());
    }
    Ok(Json(groups).into_response())
}

/// `[GET|POST] /offsets/{timestamp|earliest|latest}` → `TopicPartitionOffset[]`.
async fn offsets(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
    ApiPath(spec): ApiPath<String>,
    ApiQuery(_q): ApiQuery<TimeoutQuery>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let spec: OffsetSpec = spec.parse().map_err(ApiError::bad_request)?;
    let partitions = match first_byte(&body) {
        None => Vec::new(),
        Some(_) => parse_many::<TopicPartition>(&body)?,
    };
    // No partition asked, none answered, on every backend (found by the schema fuzzing: the
    // gateway's Kafka lookup by time failed on an empty list with a 500).
    if partitions.is_empty() {
        return Ok(Json(Vec::<upkafka_protocol::TopicPartitionOffset>::new()).into_response());
    }
    let mut answer = s.backend.offsets(spec, partitions).await?;
    let grant = grant.as_ref().map(|g| &g.0);
    answer.retain(|o| tenancy::sees(grant, &o.topic));
    Ok(Json(answer).into_response())
}

/// `[GET|POST] /webhook?topic=`: the raw body becomes the value (must be UTF-8), every header
/// not in [`WEBHOOK_EXCLUDED_HEADERS`] becomes a message header (lower-case name, UTF-8
/// value), and the
/// answer is one `ProduceMetadata` object (our choices for spec §12 q. 15).
async fn webhook(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<WebhookQuery>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let topic = q
        .topic
        .ok_or_else(|| ApiError::bad_request("webhook needs the query parameter `topic`"))?;
    let value = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("webhook body is not UTF-8 text"))?;
    let mut record = ProduceRecord::new(value).topic(topic);
    for (name, v) in &headers {
        if WEBHOOK_EXCLUDED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // UTF-8, not only visible ASCII: the client sends any value without control
        // characters, and a message header is a string (a webhook sender's `Zoë` must arrive).
        let v = std::str::from_utf8(v.as_bytes()).map_err(|_| {
            ApiError::bad_request(format!("header `{name}` has a value that is not UTF-8"))
        })?;
        record.headers.push(Header::new(name.as_str(), v));
    }
    store_one(&s, key, record).await
}

/// The OpenAPI 3.1 description of the data API (every route of [`api`], the event streams
/// included), served at `GET /openapi.json` for code generators and API explorers.
pub(crate) const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /openapi.json`: [`OPENAPI`].
async fn openapi() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

/// Adds every endpoint of the data API (spec §3) to `r`. Each needs the API's credentials;
/// `/webhook` also takes them as `user=`/`pass=` query parameters, for senders that cannot set
/// a header. Each declares what a scoped credential needs ([`Permit`]) and where the
/// request's topics are.
pub(crate) fn api(r: Routes) -> Routes {
    use Access::Credentials as C;
    let producing = Permit::new(Need::Produce);
    let consuming = Permit::new(Need::Consume);
    let reading = Permit::new(Need::Read).reads();
    r.both(
        "/produce/{topic}/{message}",
        C,
        producing.path("topic"),
        get(produce_path),
    )
    .both(
        "/produce/{topic}",
        C,
        // The path's topic is the only one: a record naming another is refused (400) before
        // anything is written, so the scope check needs no look into the body.
        producing.path("topic"),
        Direct::new(PRODUCE_METHODS, "GET,POST", produce_topic),
    )
    .both(
        "/produce",
        C,
        producing.body(),
        Direct::new(PRODUCE_METHODS, "GET,POST", produce),
    )
    .both(
        "/fetch",
        C,
        consuming.body().reads().waits(),
        get(fetch).post(fetch),
    )
    .both(
        "/consume/{group}/{instance}/{topic}",
        C,
        consuming.path("topic").reads().waits(),
        get(consume_topic),
    )
    .both(
        "/consume/{group}/{instance}",
        C,
        consuming.body().reads().waits(),
        get(consume).post(consume),
    )
    .both(
        "/commit/{group}/{instance}",
        C,
        consuming.body(),
        get(commit).post(commit),
    )
    .both(
        "/committed/{group}/{instance}",
        C,
        consuming.body().reads(),
        get(committed).post(committed),
    )
    .both(
        "/delete-consumer/{group}/{instance}",
        C,
        consuming,
        post(delete_consumer).delete(delete_consumer),
    )
    .both("/topics", C, reading, get(topics))
    .both("/consumers", C, reading, get(consumers))
    .both(
        "/offsets/{timestamp}",
        C,
        reading.body(),
        get(offsets).post(offsets),
    )
    .both(
        "/webhook",
        Access::CredentialsOrQuery,
        producing.query("topic"),
        get(webhook).post(webhook),
    )
    .route("/openapi.json", C, reading, get(openapi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use upkafka_protocol::IDEMPOTENCY_KEY;

    /// The OpenAPI document names only routes the server serves (data and management API),
    /// each method with an operation id and a 200.
    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let (_, table) = super::super::admin::routes(api(Routes::new())).into_parts();
        for (path, item) in paths {
            let label = table.lookup(path).label;
            assert_eq!(label.as_str(), path, "{path} is documented but not served");
            for method in item.as_object().expect("path item").keys() {
                let op = &item[method];
                assert!(op["operationId"].is_string(), "{method} {path}");
                assert!(op["responses"]["200"].is_object(), "{method} {path}");
            }
        }
        // 13 endpoints of spec §3 (the document itself is not listed in itself), the 6 of
        // the management API for credentials and the cluster, and the 5 of its topics.
        assert_eq!(paths.len(), 24);
        // Every produce takes the Idempotency-Key header and documents its 409 and 422.
        for produce in [
            "/produce",
            "/produce/{topic}",
            "/produce/{topic}/{message}",
            "/webhook",
        ] {
            for (method, op) in paths[produce].as_object().expect("path item") {
                let params = op["parameters"].as_array().expect("parameters");
                assert!(
                    params
                        .iter()
                        .any(|p| p["$ref"] == "#/components/parameters/IdempotencyKey"),
                    "{method} {produce} takes Idempotency-Key"
                );
                for status in ["400", "409", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {produce} documents {status}"
                    );
                }
            }
        }
        let header = &doc["components"]["parameters"]["IdempotencyKey"];
        assert_eq!(
            (&header["name"], &header["in"]),
            (
                &serde_json::json!(IDEMPOTENCY_KEY),
                &serde_json::json!("header")
            )
        );
        for streamed in [
            "/fetch",
            "/consume/{group}/{instance}",
            "/consume/{group}/{instance}/{topic}",
        ] {
            let item = paths[streamed].as_object().expect("path item");
            for op in item.values() {
                assert!(
                    op["responses"]["200"]["content"]["text/event-stream"].is_object(),
                    "{streamed} documents its event stream"
                );
            }
        }
    }
}
