//! The route table: every endpoint's path pattern, its handlers, and who may call it, declared
//! once. The axum router and the table the request pipeline reads (metrics label, access
//! policy) are built from the same declarations, so they cannot disagree.

use axum::Router;
use axum::routing::MethodRouter;

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

/// What the pipeline knows of a route before routing: its metrics label and access policy.
#[derive(Debug)]
pub(crate) struct RouteInfo {
    /// The route pattern with a trailing `/` folded (`/produce/{topic}`).
    pub(crate) label: RouteLabel,
    /// Who may call it.
    pub(crate) access: Access,
}

/// The table the pipeline looks a request's path up in.
pub(crate) struct RouteTable(matchit::Router<RouteInfo>);

impl RouteTable {
    /// The label and access policy of `path`. A path no route matches is [`UNMATCHED`] and
    /// needs credentials: an unauthenticated caller learns nothing about which paths exist.
    pub(crate) fn lookup(&self, path: &str) -> (&RouteLabel, Access) {
        match self.0.at(path) {
            Ok(m) => (&m.value.label, m.value.access),
            Err(_) => (&UNMATCHED, Access::Credentials),
        }
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

    /// Serves `path` with `m`, callable as `access` says.
    pub(crate) fn route(mut self, path: &str, access: Access, m: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, m);
        let info = RouteInfo {
            label: fold_trailing_slash(path).into(),
            access,
        };
        // The router above panics on a conflicting pattern before this could fail.
        let _ = self.table.insert(path, info);
        self
    }

    /// Serves `path` and `path/` with `m`.
    pub(crate) fn both(self, path: &str, access: Access, m: MethodRouter<AppState>) -> Self {
        self.route(path, access, m.clone())
            .route(&format!("{path}/"), access, m)
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
        let (_, table) = Routes::new()
            .both("/produce/{topic}", Access::Credentials, get(|| async {}))
            .route("/metrics", Access::Handler, get(|| async {}))
            .into_parts();
        let lookup = |path| {
            let (label, access) = table.lookup(path);
            (label.as_str().to_owned(), access)
        };
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
