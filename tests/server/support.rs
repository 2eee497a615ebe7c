//! `Api`: requests through `router(state).oneshot(..)`, answers as `(status, JSON)`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;
use upkafka_server::{
    AppState, Backend, Credentials, EmbeddedBackend, ServerConfig, TopicSpec, embedded_options,
    router,
};

#[derive(Clone)]
pub struct Api {
    router: Router,
    auth: Option<String>,
    /// The broker behind a gateway backend (`crate::BACKEND == Gateway`), kept alive here.
    _broker: Option<Arc<crate::common::TansuBroker>>,
}

pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// The backend `crate::BACKEND` names for `config`, and the broker behind it if any.
async fn open_backend(
    config: &ServerConfig,
) -> (Arc<dyn Backend>, Option<Arc<crate::common::TansuBroker>>) {
    match crate::BACKEND {
        crate::common::Backend::Embedded => {
            let backend = EmbeddedBackend::open(embedded_options(config))
                .await
                .expect("opening the backend");
            (Arc::new(backend), None)
        }
        crate::common::Backend::Gateway => open_gateway(config).await,
    }
}

#[cfg(feature = "kafka")]
async fn open_gateway(
    config: &ServerConfig,
) -> (Arc<dyn Backend>, Option<Arc<crate::common::TansuBroker>>) {
    use upkafka_server::kafka::KafkaBackend;
    let broker = Arc::new(crate::common::TansuBroker::start());
    let options = broker.options(config);
    let backend = KafkaBackend::connect(options)
        .await
        .expect("connecting the gateway backend");
    (Arc::new(backend), Some(broker))
}

#[cfg(not(feature = "kafka"))]
async fn open_gateway(
    _config: &ServerConfig,
) -> (Arc<dyn Backend>, Option<Arc<crate::common::TansuBroker>>) {
    panic!("the gateway suite needs the `kafka` feature")
}

pub fn config(topics: &[(&str, i32)]) -> ServerConfig {
    ServerConfig {
        topics: topics.iter().map(|(n, p)| TopicSpec::new(*n, *p)).collect(),
        housekeeping_interval: Duration::from_millis(20),
        ..ServerConfig::default()
    }
}

impl Api {
    pub async fn new(config: ServerConfig) -> Self {
        let auth = config
            .credentials
            .as_ref()
            .map(|c: &Credentials| basic(&c.username, c.password.expose()));
        let (backend, broker) = open_backend(&config).await;
        let state = AppState::new(backend, &config);
        Self {
            router: router(state),
            auth,
            _broker: broker,
        }
    }

    /// The same server, sending `user`/`pass` (a scoped credential) instead.
    /// The same server, as the bearer of `token`.
    pub fn as_bearer(&self, token: &str) -> Self {
        Self {
            auth: Some(format!("Bearer {token}")),
            ..self.clone()
        }
    }

    /// The same server, without credentials (for `?token=` and `?user=` requests).
    pub fn anonymous(&self) -> Self {
        Self {
            auth: None,
            ..self.clone()
        }
    }

    pub fn as_user(&self, user: &str, pass: &str) -> Self {
        Self {
            auth: Some(basic(user, pass)),
            ..self.clone()
        }
    }

    pub async fn topics(topics: &[(&str, i32)]) -> Self {
        Self::new(config(topics)).await
    }

    /// Sends a request; `body` is sent as-is (use "" for none). Returns status and JSON body
    /// (panics when the body is not JSON: every answer must be).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Body::from(body.to_owned()))
            .expect("building the request");
        self.raw(req).await
    }

    /// The whole answer to `req`, headers included, as the request carries them (no
    /// credentials added).
    pub async fn response(&self, req: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(req).await.expect("infallible")
    }

    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.response(req).await;
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("reading the body");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&bytes),
                method = "request",
                path = "?"
            )
        });
        assert_eq!(
            ct.as_deref(),
            Some("application/json"),
            "content type of {value}"
        );
        (status, value)
    }

    /// GET `path` with this client's credentials; the body as text (for `/metrics`).
    pub async fn text(&self, path: &str) -> (StatusCode, String) {
        let mut req = Request::builder().uri(path);
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        let req = req.body(Body::empty()).expect("building the request");
        let resp = self.response(req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("reading the body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send("GET", path, "", &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send("POST", path, &body.to_string(), &[]).await
    }

    /// POST that must succeed; returns the JSON.
    pub async fn ok(&self, path: &str, body: &Value) -> Value {
        let (s, v) = self.post(path, body).await;
        assert_eq!(s, StatusCode::OK, "POST {path} {body}: {v}");
        v
    }

    pub async fn consume(
        &self,
        group: &str,
        instance: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Vec<Value> {
        let (s, v) = self
            .send(
                "POST",
                &format!("/consume/{group}/{instance}"),
                &body.to_string(),
                headers,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "consume {group}/{instance}: {v}");
        v.as_array().cloned().expect("consume answers an array")
    }
}

/// Asserts an error answer: the status and a `{error, status}` body with the same status.
pub fn assert_error(got: &(StatusCode, Value), status: u16, contains: &str) {
    let (s, v) = got;
    assert_eq!(s.as_u16(), status, "status of {v}");
    assert_eq!(v["status"], status, "body status of {v}");
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text in {v}"));
    assert!(
        msg.to_lowercase().contains(&contains.to_lowercase()),
        "error {msg:?} should mention {contains:?}"
    );
    assert_eq!(
        v.as_object().map(|o| o.len()),
        Some(2),
        "only error and status: {v}"
    );
}

pub fn values(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn offsets(msgs: &[Value]) -> Vec<i64> {
    msgs.iter()
        .map(|m| m["offset"].as_i64().unwrap_or(-99))
        .collect()
}
