//! The one app builder: every route of the server (the data API and the console) in one
//! table, behind the one request pipeline. Serving it on sockets is [`super::Server`]'s job;
//! tests call [`router`] with `oneshot`.

use axum::Router;

use super::admin;
use super::console;
use super::error::ApiError;
use super::pipeline::ApiService;
use super::route_table::Routes;
use super::routes;
use super::state::AppState;

/// The API as one service: the request pipeline ([`ApiService`]) around the router of every
/// endpoint (spec §3), the management API (`/v2/kafka`, spec §9), the console (`/ui`)
/// and `/metrics`. This is what the server runs on
/// each connection.
pub fn service(state: AppState) -> ApiService {
    let routes = admin::routes(console::routes(routes::api(Routes::new())));
    ApiService::new(routes, not_found, state)
}

/// [`service`] as an axum router that hands every request to it, for callers that compose
/// axum routers or test with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(service(state))
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
