//! The route table: every endpoint's path pattern, its handlers, and who may call it, declared
//! once. The axum router and the table the request pipeline reads (metrics label, access
//! policy, permit, a [`Direct`] handler) are built from the same declarations, so they cannot
//! disagree.

use std::borrow::Cow;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use axum::routing::MethodRouter;

use super::backend::BoxFuture;
use super::error::ApiError;
use super::metrics::RouteLabel;
use super::state::AppState;

/// The label of requests no route matched.
static UNMATCHED: RouteLabel = RouteLabel::Unmatched;

/// Who may call a route, checked by the request pipeline before the body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The API's credentials, in an `Authorization: Basic` header.
    Credentials,
    /// The API's credentials in the header, or as `user=`/`pass=` query parameters (the
    /// webhook: senders often cannot set a header).
    CredentialsOrQuery,
    /// The handler decides itself (`/metrics`, which may be open to scrapers).
    Handler,
}

/// What a caller's credential must allow, checked by [`authorize`](super::tenancy::authorize)
/// (scoped credentials only; the server's own credential may do everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Any valid credential (paths no route matches: they answer 404 to everyone).
    Authenticated,
    /// `PRODUCE` (or `ALL`) on every topic of the request.
    Produce,
    /// `CONSUME` (or `ALL`) on every topic of the request.
    Consume,
    /// Any permission; the answer shows only the topics in scope (`/topics`, `/offsets`,
    /// `/consumers`: spec §12 q. 14).
    Read,
    /// Only the server's own credential (managing credentials, the console).
    Server,
}

/// A route's permit: the [`Need`] and where the request's topics are: a path parameter, a
/// query parameter, the body (read by [`body_topics`](super::tenancy::body_topics)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Permit {
    pub(crate) need: Need,
    /// The path parameter holding a topic (`topic` of `/produce/{topic}`).
    pub(crate) path_topic: Option<&'static str>,
    /// The query parameter holding a topic (`topic` of `/webhook?topic=`).
    pub(crate) query_topic: Option<&'static str>,
    /// The body names topics.
    pub(crate) body_topics: bool,
    /// The route only reads, so it takes a token as `?token=` too (an `EventSource` cannot
    /// set headers; a URL ends up in logs and histories, so nothing that writes takes it).
    pub(crate) query_token: bool,
    /// The route may wait for records (a long poll): it takes one of
    /// `Limits::max_waiting_polls` instead of a request slot.
    pub(crate) waits: bool,
}

impl Permit {
    /// Needs `need`; names no topic (yet).
    pub(crate) const fn new(need: Need) -> Self {
        Self {
            need,
            path_topic: None,
            query_topic: None,
            body_topics: false,
            query_token: false,
            waits: false,
        }
    }

    /// Only the server's own credential.
    pub(crate) const SERVER: Permit = Permit::new(Need::Server);

    /// The topic is the path parameter `name`.
    pub(crate) const fn path(mut self, name: &'static str) -> Self {
        self.path_topic = Some(name);
        self
    }

    /// The topic is the query parameter `name`.
    pub(crate) const fn query(mut self, name: &'static str) -> Self {
        self.query_topic = Some(name);
        self
    }

    /// The body names topics.
    pub(crate) const fn body(mut self) -> Self {
        self.body_topics = true;
        self
    }

    /// The route may wait for records: it waits on its own budget, not a request slot.
    pub(crate) const fn waits(mut self) -> Self {
        self.waits = true;
        self
    }

    /// The route only reads: a token may come as `?token=`.
    pub(crate) const fn reads(mut self) -> Self {
        self.query_token = true;
        self
    }
}

/// A route the request pipeline serves itself, without the axum router: its handler is called
/// with the body the pipeline has read and the path parameters of the pipeline's own lookup.
///
/// For the hot routes (the body produces): on a single-message produce, the router's work
/// around the handler (rebuilding the request with the read body, routing the path a second
/// time, the extractors reading the body once more, the boxed handler service) was a fifth of
/// the server's instructions per request (issue 19, `bench/ceiling.sh`). Every other route
/// keeps the router and its extractors.
#[derive(Clone, Copy)]
pub(crate) struct Direct {
    /// The methods it takes; any other is a 405 with these in `Allow`.
    methods: &'static [Method],
    /// `Allow` of that 405.
    allow: &'static str,
    handler: DirectHandler,
}

/// A [`Direct`] route's handler: an error is answered as it would be from an extractor.
pub(crate) type DirectHandler =
    for<'a> fn(&'a AppState, DirectRequest<'a>) -> BoxFuture<'a, Result<Response, ApiError>>;

impl Direct {
    /// `handler` for the `methods` (listed in `allow`, comma-separated, for a 405).
    pub(crate) const fn new(
        methods: &'static [Method],
        allow: &'static str,
        handler: DirectHandler,
    ) -> Self {
        Self {
            methods,
            allow,
            handler,
        }
    }

    /// The answer to `req`: the handler's, or 405 (left for the pipeline to put in the JSON
    /// error shape, as it does the router's).
    pub(crate) async fn call(&self, state: &AppState, req: DirectRequest<'_>) -> Response {
        if !self.methods.contains(req.method) {
            let mut resp = Response::new(axum::body::Body::empty());
            *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
            resp.headers_mut().insert(
                axum::http::header::ALLOW,
                HeaderValue::from_static(self.allow),
            );
            return resp;
        }
        match (self.handler)(state, req).await {
            Ok(resp) => resp,
            Err(e) => axum::response::IntoResponse::into_response(e),
        }
    }
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// What a [`Direct`] handler gets of its request.
pub(crate) struct DirectRequest<'a> {
    /// The request method (one of the route's).
    pub(crate) method: &'a Method,
    /// Its headers.
    pub(crate) headers: &'a HeaderMap,
    /// The path parameters, raw (percent-encoded); [`DirectRequest::param`] decodes one.
    pub(crate) params: &'a matchit::Params<'a, 'a>,
    /// The body, read whole within the limits.
    pub(crate) body: Bytes,
}

impl<'a> DirectRequest<'a> {
    /// The path parameter `name`, percent-decoded as axum's `Path` decodes it; 400 when it is
    /// missing, empty or not UTF-8, naming it.
    pub(crate) fn param(&self, name: &str) -> Result<Cow<'a, str>, ApiError> {
        let raw = self.params.get(name).unwrap_or("");
        if raw.is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid path: the {name} must not be empty"
            )));
        }
        decode_param(name, raw)
    }
}

/// A path parameter percent-decoded (borrowed unless it has escapes); 400 naming it when the
/// decoded bytes are not UTF-8.
pub(crate) fn decode_param<'a>(name: &str, raw: &'a str) -> Result<Cow<'a, str>, ApiError> {
    // Most values have no escapes (and a path is ASCII): nothing to decode.
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request(format!("invalid path: the {name} is not UTF-8")))
}

/// What the pipeline knows of a route before routing: its metrics label, access policy and
/// permit, and its handler when the pipeline calls it itself.
#[derive(Debug)]
pub(crate) struct RouteInfo {
    /// The route pattern with a trailing `/` folded (`/produce/{topic}`).
    pub(crate) label: RouteLabel,
    /// Who may call it.
    pub(crate) access: Access,
    /// What the caller's credential must allow.
    pub(crate) permit: Permit,
    /// Served by the pipeline, not the router.
    pub(crate) direct: Option<Direct>,
}

/// A looked-up request path.
///
/// `'t` is the table's lifetime, `'p` the path's: the label and policy outlive the request's
/// path, so the pipeline may move the request on while it holds them.
#[derive(Debug)]
pub(crate) struct Lookup<'t, 'p> {
    /// Its metrics label.
    pub(crate) label: &'t RouteLabel,
    /// Its access policy.
    pub(crate) access: Access,
    /// Its permit.
    pub(crate) permit: Permit,
    /// The route's handler, when the pipeline calls it itself.
    pub(crate) direct: Option<&'t Direct>,
    /// The raw (percent-encoded) path parameters; `None` when no route matched.
    pub(crate) params: Option<matchit::Params<'t, 'p>>,
}

impl<'p> Lookup<'_, 'p> {
    /// The raw (percent-encoded) value of the permit's path topic parameter. Looked up when
    /// asked (only a scoped caller's check needs it), not with the route: each lookup of a
    /// parameter checks its bytes are UTF-8 again.
    pub(crate) fn path_topic(&self) -> Option<&'p str> {
        let name = self.permit.path_topic?;
        self.params.as_ref()?.get(name)
    }
}

/// The table the pipeline looks a request's path up in.
pub(crate) struct RouteTable(matchit::Router<RouteInfo>);

impl RouteTable {
    /// The label, access policy and permit of `path`. A path no route matches is
    /// [`UNMATCHED`] and needs credentials: an unauthenticated caller learns nothing about
    /// which paths exist.
    pub(crate) fn lookup<'t, 'p>(&'t self, path: &'p str) -> Lookup<'t, 'p> {
        match self.0.at(path) {
            Ok(m) => Lookup {
                label: &m.value.label,
                access: m.value.access,
                permit: m.value.permit,
                direct: m.value.direct.as_ref(),
                params: Some(m.params),
            },
            Err(_) => Lookup {
                label: &UNMATCHED,
                access: Access::Credentials,
                permit: Permit::new(Need::Authenticated),
                direct: None,
                params: None,
            },
        }
    }
}

/// How a route is served: by the axum router (most routes), or by the pipeline itself.
pub(crate) enum Handler {
    /// The router's method router for the path (boxed: the enum lives only while routes are
    /// built, and the direct variant is a few words).
    Router(Box<MethodRouter<AppState>>),
    /// The pipeline's own call ([`Direct`]); the router never sees the path.
    Direct(Direct),
}

impl From<MethodRouter<AppState>> for Handler {
    fn from(m: MethodRouter<AppState>) -> Self {
        Self::Router(Box::new(m))
    }
}

impl From<Direct> for Handler {
    fn from(d: Direct) -> Self {
        Self::Direct(d)
    }
}

/// The endpoints under construction: an axum router and the route table, built together.
pub(crate) struct Routes {
    router: Router<AppState>,
    table: matchit::Router<RouteInfo>,
}

impl Routes {
    /// No routes yet.
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            table: matchit::Router::new(),
        }
    }

    /// Serves `path` with `handler`, callable as `access` and `permit` say.
    pub(crate) fn route(
        mut self,
        path: &str,
        access: Access,
        permit: Permit,
        handler: impl Into<Handler>,
    ) -> Self {
        let direct = match handler.into() {
            Handler::Router(m) => {
                self.router = self.router.route(path, *m);
                None
            }
            // The pipeline hands `Access::Handler` routes to the router before any check.
            Handler::Direct(_) if access == Access::Handler => {
                panic!("route {path}: a direct route cannot leave its access to the handler")
            }
            Handler::Direct(d) => Some(d),
        };
        let info = RouteInfo {
            label: fold_trailing_slash(path).into(),
            access,
            permit,
            direct,
        };
        // The router above panics on a conflicting pattern first (a direct route's conflict is
        // found here). A route missing from the table would be `unmatched` and skip its permit
        // check: never serve that.
        if let Err(e) = self.table.insert(path, info) {
            panic!("route {path} is served but cannot be entered in the route table: {e}");
        }
        self
    }

    /// Serves `path` and `path/` with `handler`.
    pub(crate) fn both(
        self,
        path: &str,
        access: Access,
        permit: Permit,
        handler: impl Into<Handler>,
    ) -> Self {
        let handler = handler.into();
        let again = match &handler {
            Handler::Router(m) => Handler::Router(m.clone()),
            Handler::Direct(d) => Handler::Direct(*d),
        };
        self.route(path, access, permit, handler)
            .route(&format!("{path}/"), access, permit, again)
    }

    /// The router and the table, for the pipeline.
    pub(crate) fn into_parts(self) -> (Router<AppState>, RouteTable) {
        (self.router, RouteTable(self.table))
    }
}

/// `/a/b/` → `/a/b`; `/` stays.
fn fold_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[test]
    fn labels_fold_the_trailing_slash() {
        assert_eq!(fold_trailing_slash("/produce/{topic}/"), "/produce/{topic}");
        assert_eq!(fold_trailing_slash("/ui/"), "/ui");
        assert_eq!(fold_trailing_slash("/"), "/");
        assert_eq!(fold_trailing_slash("/topics"), "/topics");
    }

    #[test]
    fn lookups_give_the_declared_label_and_access() {
        let produce = Permit::new(Need::Produce).path("topic");
        let (_, table) = Routes::new()
            .both(
                "/produce/{topic}",
                Access::Credentials,
                produce,
                get(|| async {}),
            )
            .route(
                "/metrics",
                Access::Handler,
                Permit::SERVER,
                get(|| async {}),
            )
            .into_parts();
        let lookup = |path| {
            let l = table.lookup(path);
            (l.label.as_str().to_owned(), l.access)
        };
        let l = table.lookup("/produce/t%2E1/");
        assert_eq!((l.permit, l.path_topic()), (produce, Some("t%2E1")));
        assert_eq!(table.lookup("/nope").permit.need, Need::Authenticated);
        assert_eq!(
            lookup("/produce/t/"),
            ("/produce/{topic}".to_owned(), Access::Credentials)
        );
        assert_eq!(lookup("/metrics"), ("/metrics".to_owned(), Access::Handler));
        assert_eq!(
            lookup("/nope"),
            ("unmatched".to_owned(), Access::Credentials)
        );
    }
}
