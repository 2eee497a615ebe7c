//! CORS (`ServerConfig::cors_origins`, `serve --cors-origin`): preflights of every route
//! answered without credentials, refused origins hearing no CORS headers, real answers
//! (errors too) carrying `Access-Control-Allow-Origin` for allowed origins only, and nothing
//! of it when CORS is off. Raw HTTP through the router; a real browser is `tests/cors_browser.rs`.
//! Embedded only: the policy sits in the request pipeline, before any backend.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use upkafka_server::{CorsOrigin, Credentials, ServerConfig};

use super::support::{Api, basic, config};

const USER: &str = "admin";
const PASS: &str = "server-secret-pw";
const APP: &str = "https://app.example";

/// One concrete path per pattern of the route table (`crates/server/src/route_table.rs`,
/// declared in `routes.rs`, `admin.rs`, `console.rs`), each also with a trailing `/` where
/// the route has both forms, and a path no route matches.
const PATHS: &[&str] = &[
    "/produce/t/hello",
    "/produce/t/hello/",
    "/produce/t",
    "/produce/t/",
    "/produce",
    "/produce/",
    "/fetch",
    "/fetch/",
    "/consume/g/i/t",
    "/consume/g/i/t/",
    "/consume/g/i",
    "/consume/g/i/",
    "/commit/g/i",
    "/commit/g/i/",
    "/committed/g/i",
    "/committed/g/i/",
    "/delete-consumer/g/i",
    "/delete-consumer/g/i/",
    "/topics",
    "/topics/",
    "/consumers",
    "/consumers/",
    "/offsets/latest",
    "/offsets/latest/",
    "/webhook?topic=t",
    "/webhook/?topic=t",
    "/openapi.json",
    "/v2/kafka/credential",
    "/v2/kafka/credential/",
    "/v2/kafka/credentials",
    "/v2/kafka/credentials/",
    "/v2/kafka/credential/some-id",
    "/v2/kafka/credential/some-id/",
    "/v2/kafka/token",
    "/v2/kafka/token/",
    "/v2/kafka/clusters",
    "/v2/kafka/clusters/",
    "/v2/kafka/cluster/upkafka",
    "/v2/kafka/cluster/upkafka/",
    "/ui",
    "/ui/",
    "/ui/app.js",
    "/ui/app.css",
    "/ui/api/stats",
    "/ui/api/classify",
    "/metrics",
    "/no/such/route",
];

fn cors_config(origins: &[&str]) -> ServerConfig {
    ServerConfig {
        credentials: Some(Credentials::new(USER, PASS)),
        cors_origins: origins
            .iter()
            .map(|o| o.parse::<CorsOrigin>().expect("a valid origin"))
            .collect(),
        ..config(&[("t", 1), ("u", 1)])
    }
}

/// An `OPTIONS` preflight as a browser sends it: `Origin`, the method and headers the real
/// request will use, and no credentials.
fn preflight(path: &str, origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri(path)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,kafka-auto-offset-reset",
        )
        .body(Body::empty())
        .expect("request")
}

/// A real request from `origin` (none when `None`) with `auth` (none when `None`).
fn request(
    method: &str,
    path: &str,
    body: &str,
    origin: Option<&str>,
    auth: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.body(Body::from(body.to_owned())).expect("request")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().expect("a text header"))
}

/// The comma-separated tokens of `name`, lower-cased.
fn tokens(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("a text header").split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The CORS headers of an answer, to show that a refused one has none.
fn cors_headers(h: &HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

async fn status_and_json(resp: Response) -> (StatusCode, HeaderMap, Value) {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("reading the body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)))
    };
    (parts.status, parts.headers, value)
}

#[tokio::test]
async fn preflights_of_every_route_are_answered_without_credentials() {
    let api = Api::new(cors_config(&[APP, "http://127.0.0.1:5173"])).await;
    for path in PATHS {
        let (status, h, body) = status_and_json(api.response(preflight(path, APP)).await).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
        assert_eq!(body, Value::Null, "{path}: a preflight answer has no body");
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some(APP),
            "{path}"
        );
        assert!(tokens(&h, "vary").contains(&"origin".to_owned()), "{path}");
        let methods = tokens(&h, "access-control-allow-methods");
        for m in ["get", "post", "delete"] {
            assert!(
                methods.contains(&m.to_owned()),
                "{path}: {m} in {methods:?}"
            );
        }
        let allowed = tokens(&h, "access-control-allow-headers");
        for name in [
            "authorization",
            "content-type",
            "kafka-enable-auto-commit",
            "kafka-auto-commit-interval",
            "kafka-auto-offset-reset",
            "kafka-session-timeout-ms",
            "last-event-id",
            "idempotency-key",
        ] {
            assert!(
                allowed.contains(&name.to_owned()),
                "{path}: {name} in {allowed:?}"
            );
        }
        let max_age: u64 = header(&h, "access-control-max-age")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{path}: a numeric Max-Age"));
        assert!((600..=86_400).contains(&max_age), "{path}: {max_age}");
        // No credential header is claimed: the API's is a header the page sets itself.
        assert_eq!(header(&h, "access-control-allow-credentials"), None);
    }
}

#[tokio::test]
async fn a_preflight_from_an_origin_not_listed_is_refused_without_cors_headers() {
    let api = Api::new(cors_config(&[APP])).await;
    // Another host, and the listed host with another scheme or port: origins match exactly.
    for origin in [
        "https://evil.example",
        "http://app.example",
        "https://app.example:8443",
        "https://sub.app.example",
        "null",
    ] {
        for path in ["/produce/t", "/fetch", "/no/such/route"] {
            let (status, h, body) =
                status_and_json(api.response(preflight(path, origin)).await).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin} {path}: {body}");
            assert_eq!(cors_headers(&h), Vec::<String>::new(), "{origin} {path}");
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not allowed")),
                "{body}"
            );
            assert!(tokens(&h, "vary").contains(&"origin".to_owned()));
        }
    }
}

#[tokio::test]
async fn real_answers_errors_included_carry_the_origin_for_allowed_origins_only() {
    let api = Api::new(ServerConfig {
        limits: upkafka_server::Limits {
            max_body_bytes: 1024,
            ..upkafka_server::Limits::default()
        },
        ..cors_config(&[APP])
    })
    .await;
    // A credential that may produce to `t` only, made with the server's own.
    let created = api
        .ok(
            "/v2/kafka/credential",
            &json!({"credential_name": "web", "cluster_id": "upkafka", "topic": "t", "permissions": "PRODUCE"}),
        )
        .await;
    let scoped = basic(
        created["username"].as_str().expect("username"),
        created["password"].as_str().expect("password"),
    );
    // One with a single request a day, spent here: every request below is its 429.
    let spent = api
        .ok(
            "/v2/kafka/credential",
            &json!({"credential_name": "spent", "cluster_id": "upkafka", "topic": "t", "permissions": "PRODUCE", "requests_per_day": 1}),
        )
        .await;
    let spent = basic(
        spent["username"].as_str().expect("username"),
        spent["password"].as_str().expect("password"),
    );
    let first = request("GET", "/produce/t/first", "", None, Some(&spent));
    assert_eq!(api.response(first).await.status(), StatusCode::OK);
    let wrong = basic(USER, "not-the-password");
    let produce = json!({"value": "from a page"}).to_string();
    let big = json!({"value": "x".repeat(2000)}).to_string();
    let cases: [(&str, &str, &str, &str, u16); 5] = [
        ("POST", "/produce/t", &produce, &scoped, 200),
        ("POST", "/produce/t", &produce, &wrong, 401),
        ("POST", "/produce/u", &produce, &scoped, 403),
        ("POST", "/produce/t", &big, &scoped, 413),
        ("POST", "/produce/t", &produce, &spent, 429),
    ];
    for (method, path, body, auth, want) in cases {
        let ask = |origin| api.response(request(method, path, body, origin, Some(auth)));
        let (status, h, v) = status_and_json(ask(Some(APP)).await).await;
        assert_eq!(status.as_u16(), want, "{method} {path}: {v}");
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some(APP),
            "{want}"
        );
        let exposed = tokens(&h, "access-control-expose-headers");
        assert!(exposed.contains(&"retry-after".to_owned()), "{exposed:?}");
        if want == 429 {
            assert!(h.contains_key("retry-after"), "a 429 says when: {h:?}");
        }
        assert!(tokens(&h, "vary").contains(&"origin".to_owned()), "{want}");
        // The same request from a page of another origin, or from no page at all: the
        // server answers as ever, and tells no browser it may read the answer.
        for other in [Some("https://evil.example"), None] {
            let (status, h, v) = status_and_json(ask(other).await).await;
            assert_eq!(status.as_u16(), want, "{other:?} {method} {path}: {v}");
            assert_eq!(cors_headers(&h), Vec::<String>::new(), "{other:?} {want}");
            assert!(tokens(&h, "vary").contains(&"origin".to_owned()), "{want}");
        }
    }
    // An OPTIONS that is no preflight (no Access-Control-Request-Method) is an ordinary
    // request: it needs credentials.
    let plain = request("OPTIONS", "/topics", "", Some(APP), None);
    let (status, h, _) = status_and_json(api.response(plain).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&h, "access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn a_wildcard_allows_every_origin_with_a_star() {
    let api = Api::new(cors_config(&["*"])).await;
    for origin in ["https://anything.example", "http://127.0.0.1:9999", "null"] {
        let (status, h, _) = status_and_json(api.response(preflight("/fetch", origin)).await).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
        // The same answer for everyone: nothing for a cache to vary on.
        assert_eq!(header(&h, "vary"), None);
    }
    let auth = basic(USER, PASS);
    for origin in [Some("https://anything.example"), None] {
        let req = request("GET", "/topics", "", origin, Some(&auth));
        let (status, h, _) = status_and_json(api.response(req).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn cors_is_off_by_default_and_options_answers_as_without_it() {
    let cfg = ServerConfig {
        credentials: Some(Credentials::new(USER, PASS)),
        ..config(&[("t", 1)])
    };
    assert!(cfg.cors_origins.is_empty());
    let api = Api::new(cfg).await;
    let auth = basic(USER, PASS);
    for path in ["/produce/t", "/topics", "/no/such/route"] {
        // A preflight is an ordinary OPTIONS request: 401 without credentials, as an
        // OPTIONS without any CORS header gets, and no CORS header in either.
        let (status, h, body) = status_and_json(api.response(preflight(path, APP)).await).await;
        let plain = request("OPTIONS", path, "", None, None);
        let (plain_status, plain_h, plain_body) = status_and_json(api.response(plain).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!((status, &body), (plain_status, &plain_body), "{path}");
        assert_eq!(cors_headers(&h), Vec::<String>::new(), "{path}");
        assert_eq!(cors_headers(&plain_h), Vec::<String>::new(), "{path}");
        assert_eq!(header(&h, "vary"), None, "{path}");
    }
    let req = request("GET", "/topics", "", Some(APP), Some(&auth));
    let (status, h, _) = status_and_json(api.response(req).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cors_headers(&h), Vec::<String>::new());
    assert_eq!(header(&h, "vary"), None);
}

#[tokio::test]
async fn a_wildcard_among_other_origins_is_refused_at_start() {
    let cfg = ServerConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        ..cors_config(&[APP, "*"])
    };
    let err = upkafka_server::Server::bind(cfg)
        .await
        .expect_err("the mix is refused")
        .to_string();
    assert!(err.contains("`*`"), "{err}");
}
