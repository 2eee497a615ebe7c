//! [`AppState`]: what every handler and the request pipeline share, built in one place.

use std::sync::Arc;
use std::time::Duration;

use upkafka_protocol::DEFAULT_POLL_TIMEOUT_MS;

use super::backend::Backend;
use super::config::{Limits, MetricsAuth, ServerConfig};
use super::cors::Cors;
use super::metrics::{MeteredBackend, Metrics};
use super::sse::Streams;
use super::tenancy::{REFRESH_INTERVAL, Tenancy};

/// What every handler gets: the backend, the expected credentials, and the limits.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The storage the routes serve.
    pub backend: Arc<dyn Backend>,
    /// Request limits.
    pub limits: Arc<Limits>,
    /// Counters and histograms behind `/metrics` and the console.
    pub metrics: Arc<Metrics>,
    /// Who may read `/metrics`.
    pub metrics_auth: MetricsAuth,
    /// The open event streams' bound and stop signal ([`AppState::end_streams`]).
    pub(crate) streams: Arc<Streams>,
    /// The server's and the scoped credentials, with the cache of verified passwords.
    pub tenancy: Arc<Tenancy>,
    /// The CORS policy; `None` when no origin is configured (no per-request work).
    pub(crate) cors: Option<Arc<Cors>>,
}

impl AppState {
    /// State for `backend` with the credentials and limits of `config`. The backend is
    /// wrapped in a [`MeteredBackend`] counting into a new [`Metrics`] registry (which measures
    /// `config.data_dir` for the log size). The scoped credentials are those of `config` and
    /// its data directory ([`Tenancy::open`]); when those cannot be read, the error is logged
    /// and only the server credential is accepted (use [`AppState::with_tenancy`] to handle
    /// it).
    pub fn new(backend: Arc<dyn Backend>, config: &ServerConfig) -> Self {
        let tenancy = Tenancy::open(config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "scoped credentials unavailable; only the server's own is accepted");
            Tenancy::server_only(config)
        });
        Self::with_tenancy(backend, config, Arc::new(tenancy))
    }

    /// Like [`AppState::new`], with credentials opened by the caller.
    pub fn with_tenancy(
        backend: Arc<dyn Backend>,
        config: &ServerConfig,
        tenancy: Arc<Tenancy>,
    ) -> Self {
        let metrics = Arc::new(Metrics::with_max_series(
            config.data_dir.clone(),
            config.limits.max_metric_series,
        ));
        spawn_refresh(&tenancy);
        Self {
            backend: Arc::new(MeteredBackend::new(backend, Arc::clone(&metrics))),
            limits: Arc::new(config.limits.clone()),
            metrics,
            metrics_auth: config.metrics_auth,
            streams: Arc::new(Streams::new(config.limits.max_streams)),
            tenancy,
            cors: Cors::new(&config.cors_origins).map(Arc::new),
        }
    }

    /// Ends every open event stream (`Accept: text/event-stream`) at its next wait, and every
    /// one opened later. Graceful shutdown calls it first, so that connections holding a
    /// long-lived stream finish their response and close instead of holding the shutdown up.
    pub fn end_streams(&self) {
        self.streams.stop();
    }

    /// The wait a poll may use: query over body over the default, clamped to the maximum.
    pub(crate) fn poll_timeout(&self, query: Option<u64>, body: Option<u64>) -> Duration {
        let ms = query.or(body).unwrap_or(DEFAULT_POLL_TIMEOUT_MS);
        Duration::from_millis(ms).min(self.limits.max_timeout)
    }
}

/// Takes in, every [`REFRESH_INTERVAL`], what other processes sharing the state directory
/// changed in the credentials file, for as long as `tenancy` lives (the task holds it weakly).
/// Without a runtime (a state built outside one) there is nothing to share it with.
fn spawn_refresh(tenancy: &Arc<Tenancy>) {
    // In memory (no data or state directory) nobody else can change them.
    if !tenancy.has_file() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(tenancy);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(tenancy) = weak.upgrade() else {
                return;
            };
            if let Err(e) = tenancy.refresh().await {
                tracing::warn!(error = %e, "the shared credentials file could not be read");
            }
        }
    });
}
