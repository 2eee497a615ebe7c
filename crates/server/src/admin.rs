//! The management API (Upstash Developer API shapes, spec §9) under `/v2/kafka`: scoped
//! credentials, and the server presented as one cluster. Only the server's own credential may
//! call it ([`Permit::SERVER`]), except `POST /v2/kafka/token`, which every credential may call
//! to mint a narrower, short-lived token of itself.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};

use upkafka_protocol::{Cluster, CreateCredentialRequest, TokenRequest};

use super::error::ApiError;
use super::extract::{ApiPath, RawBody, first_byte, parse_json};
use super::route_table::{Access, Need, Permit, Routes};
use super::state::AppState;
use super::tenancy::{CLUSTER_ID, Grant};

/// `POST /v2/kafka/credential` `{credential_name, cluster_id, topic, permissions}` → the
/// Credential, with its password (the only time it is shown).
async fn create_credential(
    State(s): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: CreateCredentialRequest = json_object(&body)?;
    check_cluster(&req.cluster_id)?;
    let created = s
        .tenancy
        .create(
            &req.credential_name,
            &req.topic,
            req.permissions,
            req.limits,
        )
        .await?;
    tracing::info!(
        credential = %created.credential_name,
        id = %created.credential_id,
        topic = %created.topic,
        permissions = %created.permissions,
        "credential created"
    );
    Ok(Json(created).into_response())
}

/// `POST /v2/kafka/token` `{permissions?, topic?, expires_in?}` → a Token at most as powerful
/// as the caller (any credential, not a token; see `crate::tokens`).
async fn mint_token(
    State(s): State<AppState>,
    grant: Option<Extension<Grant>>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let req: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        json_object(&body)?
    };
    let token = s.tenancy.mint(grant.as_deref(), &req)?;
    tracing::info!(
        credential = %token.credential_name,
        topic = %token.topic,
        permissions = %token.permissions,
        expires_at = token.expires_at,
        "token minted"
    );
    Ok(Json(token).into_response())
}

/// A management request body: a JSON object. serde would also read a struct from an array
/// of its fields in order (`[null, null]`), which no client means: refused.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if first_byte(body) != Some(b'{') {
        return Err(ApiError::bad_request(
            "invalid JSON body: expected an object `{...}`",
        ));
    }
    parse_json(body)
}

/// `GET /v2/kafka/credentials` → Credential[] (without passwords).
async fn list_credentials(State(s): State<AppState>) -> Response {
    Json(s.tenancy.list()).into_response()
}

/// `DELETE /v2/kafka/credential/{id}` → `"OK"`; the credential is refused from then on.
async fn delete_credential(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    s.tenancy.delete(&id).await?;
    tracing::info!(id = %id, "credential deleted");
    Ok(Json("OK").into_response())
}

/// Refuses a cluster id other than this server's own (404).
pub(crate) fn check_cluster(id: &str) -> Result<(), ApiError> {
    if id == CLUSTER_ID {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no cluster with id `{id}`: this server is the one cluster `{CLUSTER_ID}`"),
    ))
}

fn cluster(s: &AppState) -> Cluster {
    Cluster {
        cluster_id: CLUSTER_ID.to_owned(),
        name: CLUSTER_ID.to_owned(),
        region: "local".to_owned(),
        kind: "paid".to_owned(),
        multizone: false,
        tcp_endpoint: String::new(),
        rest_endpoint: String::new(),
        state: "active".to_owned(),
        username: s
            .tenancy
            .server()
            .map(|c| c.username.clone())
            .unwrap_or_default(),
        max_message_size: i64::try_from(s.limits.max_message_bytes).unwrap_or(i64::MAX),
        creation_time: s.tenancy.started(),
    }
}

/// `GET /v2/kafka/clusters` → the one cluster this server is (its password is never shown).
async fn clusters(State(s): State<AppState>) -> Response {
    Json(vec![cluster(&s)]).into_response()
}

/// `GET /v2/kafka/cluster/{id}` → Cluster, 404 for another id.
async fn cluster_by_id(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_cluster(&id)?;
    Ok(Json(cluster(&s)).into_response())
}

/// Adds the management routes to `r` (those of topics from [`super::admin_topics`]).
pub(crate) fn routes(r: Routes) -> Routes {
    use Access::Credentials as C;
    let s = Permit::SERVER;
    let r = r
        .both("/v2/kafka/credential", C, s, post(create_credential))
        .both("/v2/kafka/credentials", C, s, get(list_credentials))
        .both("/v2/kafka/credential/{id}", C, s, delete(delete_credential))
        .both(
            "/v2/kafka/token",
            C,
            Permit::new(Need::Authenticated),
            post(mint_token),
        )
        .both("/v2/kafka/clusters", C, s, get(clusters))
        .both("/v2/kafka/cluster/{id}", C, s, get(cluster_by_id));
    super::admin_topics::routes(r)
}
