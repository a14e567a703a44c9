//! The HTTP side of the bot: `GET /health`, a readiness probe that tells the truth.
//!
//! `/health` answers 200 only while the gateway session is really up. Gateway events alone are
//! not enough with serenity 0.12 (some disconnects dispatch no stage change before the resume
//! completes), so the answer combines what the event handler saw with the shard manager's own
//! runner state, read at request time. The body never carries secrets or user data.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serenity::all::{ConnectionStage, ShardId, ShardManager};

/// What the event handler last saw of the gateway session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// No READY yet.
    Starting = 0,
    /// READY or RESUMED seen, and no loss since.
    Connected = 1,
    /// A loss was seen after READY; waiting for READY/RESUMED.
    Reconnecting = 2,
    /// The process is shutting down.
    Stopping = 3,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Connected,
            2 => Self::Reconnecting,
            3 => Self::Stopping,
            _ => Self::Starting,
        }
    }
}

/// The gateway's health as seen by events and the shard manager. Shared by the event handler
/// (which writes it) and the HTTP handler (which reads it).
pub struct Health {
    /// When the process started, for `uptime_secs`.
    started: Instant,
    /// Last phase reported by gateway events (a [`Phase`] as `u8`).
    phase: AtomicU8,
    /// The shard manager, attached once the client exists; its runner state is the ground truth.
    shards: OnceLock<Arc<ShardManager>>,
    /// Whether the database took the last write check.
    database_ok: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A fresh state: "starting".
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            phase: AtomicU8::new(Phase::Starting as u8),
            shards: OnceLock::new(),
            database_ok: AtomicBool::new(true),
        }
    }

    /// Lets `/health` read the shard runners' state.
    pub fn attach(&self, shards: Arc<ShardManager>) {
        let _already_attached = self.shards.set(shards);
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    fn set_phase(&self, phase: Phase) {
        // Once stopping, nothing brings the probe back to ready.
        let _ = self
            .phase
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (Phase::from_u8(current) != Phase::Stopping).then_some(phase as u8)
            });
    }

    /// Records whether the database took the last write check.
    pub fn database_checked(&self, ok: bool) {
        self.database_ok.store(ok, Ordering::Release);
    }

    /// READY or RESUMED arrived: the session is up.
    pub fn connected(&self) {
        self.set_phase(Phase::Connected);
    }

    /// The shard changed stage. Leaving `Connected` after READY means the session was lost.
    pub fn stage_changed(&self, new: ConnectionStage) {
        if new == ConnectionStage::Connected {
            self.connected();
        } else if self.phase() != Phase::Starting {
            self.set_phase(Phase::Reconnecting);
        }
    }

    /// Follows the shard runner's stage until `shutdown`, logging each change and feeding it to
    /// [`Health::stage_changed`].
    ///
    /// serenity reports stage changes only to event handlers it runs in a task of their own for
    /// every event; the bot registers none (see `routing`), so the stage is read here instead,
    /// ten times a second. `/health` itself reads the runner's stage on every request, so a
    /// loss shows there at once whatever this interval.
    pub async fn watch_stage(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let Some(manager) = self.shards.get() else {
                continue;
            };
            let stage = manager
                .runners
                .lock()
                .await
                .get(&ShardId(0))
                .map(|info| info.stage);
            if stage != last {
                tracing::info!(old = ?last, new = ?stage, "shard stage changed");
                if let Some(stage) = stage {
                    self.stage_changed(stage);
                }
                last = stage;
            }
        }
    }

    /// The process is shutting down: readiness goes away for good.
    pub fn stopping(&self) {
        self.phase.store(Phase::Stopping as u8, Ordering::Release);
    }

    /// The current report, reading the shard runner's state when a shard manager is attached.
    pub async fn report(&self) -> HealthReport {
        let (stage, latency_ms) = match self.shards.get() {
            Some(manager) => {
                let runners = manager.runners.lock().await;
                match runners.get(&ShardId(0)) {
                    Some(info) => (Some(info.stage), info.latency.map(|l| l.as_millis() as u64)),
                    None => (None, None),
                }
            }
            None => (None, None),
        };
        let status = match self.phase() {
            Phase::Stopping => Status::Stopping,
            Phase::Starting => Status::Starting,
            Phase::Reconnecting => Status::Reconnecting,
            // Events say connected; the runner must agree (it may have noticed a loss that
            // dispatched no event yet, or be gone while the shard restarts).
            Phase::Connected => match (self.shards.get(), stage) {
                (None, _) | (Some(_), Some(ConnectionStage::Connected)) => Status::Ok,
                _ => Status::Reconnecting,
            },
        };
        let database_ok = self.database_ok.load(Ordering::Acquire);
        // A bot that cannot save what members do is not ready for them either.
        let status = match status {
            Status::Ok if !database_ok => Status::DatabaseFailing,
            other => other,
        };
        HealthReport {
            status,
            uptime_secs: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
            database: if database_ok { "ok" } else { "failing" },
            shard: ShardReport {
                id: 0,
                stage: stage.map_or("none", stage_name),
                latency_ms,
            },
        }
    }
}

fn stage_name(stage: ConnectionStage) -> &'static str {
    match stage {
        ConnectionStage::Connected => "connected",
        ConnectionStage::Connecting => "connecting",
        ConnectionStage::Disconnected => "disconnected",
        ConnectionStage::Handshake => "handshake",
        ConnectionStage::Identifying => "identifying",
        ConnectionStage::Resuming => "resuming",
        _ => "unknown",
    }
}

/// The readiness verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The gateway session is up: ready for traffic.
    Ok,
    /// No READY yet since the process started.
    Starting,
    /// The session was lost and is being resumed or re-identified.
    Reconnecting,
    /// The process is shutting down.
    Stopping,
    /// The gateway is up but the database refuses writes.
    #[serde(rename = "database_failing")]
    DatabaseFailing,
}

/// The `/health` body.
#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// The verdict; 200 only for `ok`.
    pub status: Status,
    /// Seconds since the process started.
    pub uptime_secs: u64,
    /// The bot's version.
    pub version: &'static str,
    /// `ok`, or `failing` when the database refused the last write check.
    pub database: &'static str,
    /// The (single) shard's state.
    pub shard: ShardReport,
}

/// The shard part of the `/health` body.
#[derive(Debug, Serialize)]
pub struct ShardReport {
    /// Shard number (the bot runs one shard).
    pub id: u32,
    /// The runner's connection stage, `none` while no runner exists.
    pub stage: &'static str,
    /// Last heartbeat round trip; `null` until one was measured.
    pub latency_ms: Option<u64>,
}

/// What the HTTP handlers read.
#[derive(Clone)]
struct HttpState {
    /// The gateway's health.
    health: Arc<Health>,
    /// The metrics exporter; `None` serves 404 at `/metrics`.
    metrics: Option<PrometheusHandle>,
}

/// The HTTP routes. Kept free of sockets so tests can drive it with `oneshot`. Nothing here
/// changes state: every route is a read.
pub fn router(health: Arc<Health>, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics_handler))
        .with_state(HttpState { health, metrics })
}

async fn metrics_handler(State(state): State<HttpState>) -> Response {
    let Some(handle) = state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Gauges read at scrape time.
    let report = state.health.report().await;
    if let Some(ms) = report.shard.latency_ms {
        metrics::gauge!(crate::telemetry::LATENCY).set(ms as f64 / 1000.0);
    }
    metrics::gauge!(crate::telemetry::UPTIME).set(report.uptime_secs as f64);
    metrics::gauge!(crate::telemetry::LOG_LINES_DROPPED)
        .set(crate::logging::dropped_lines() as f64);
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}

/// Liveness: 200 whenever the runtime can answer, whatever the gateway does. A supervisor
/// restarts the process only when this fails, so a reconnect never causes a restart storm.
async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive"}))
}

async fn health_handler(State(state): State<HttpState>) -> Response {
    let report = state.health.report().await;
    let code = if report.status == Status::Ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report)).into_response()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_health(health: &Arc<Health>) -> (StatusCode, serde_json::Value) {
        let response = router(health.clone(), None)
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_database_that_refuses_writes_makes_the_probe_fail_until_it_recovers() {
        let health = Arc::new(Health::new());
        health.connected();
        assert_eq!(get_health(&health).await.0, StatusCode::OK);
        health.database_checked(false);
        let (status, body) = get_health(&health).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "database_failing");
        assert_eq!(body["database"], "failing");
        health.database_checked(true);
        let (status, body) = get_health(&health).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["database"], "ok");
    }

    #[tokio::test]
    async fn starting_before_ready() {
        let health = Arc::new(Health::new());
        let (code, body) = get_health(&health).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "starting");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert!(body["uptime_secs"].is_u64());
        assert!(body["shard"]["latency_ms"].is_null());
    }

    #[tokio::test]
    async fn ok_after_ready_and_reconnecting_after_a_loss() {
        let health = Arc::new(Health::new());
        // A stage change before the first READY is still "starting".
        health.stage_changed(ConnectionStage::Identifying);
        assert_eq!(get_health(&health).await.1["status"], "starting");

        health.connected();
        let (code, body) = get_health(&health).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );

        health.stage_changed(ConnectionStage::Resuming);
        let (code, body) = get_health(&health).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "reconnecting");

        health.stage_changed(ConnectionStage::Connected);
        assert_eq!(get_health(&health).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn livez_is_200_whatever_the_gateway_does() {
        let health = Arc::new(Health::new());
        for state in [None, Some(ConnectionStage::Resuming)] {
            if let Some(stage) = state {
                health.connected();
                health.stage_changed(stage);
            }
            let response = router(health.clone(), None)
                .oneshot(Request::get("/livez").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(get_health(&health).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn stopping_is_final() {
        let health = Arc::new(Health::new());
        health.connected();
        health.stopping();
        health.connected();
        let (code, body) = get_health(&health).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "stopping");
    }
}
