//! Metrics in the Prometheus text format, served at `GET /metrics`.
//!
//! Recorded with the `metrics` facade and exported by `metrics-exporter-prometheus` (no
//! hand-written exposition format). Label values are fixed words or command names: never user
//! content, never ids.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Commands run, by `command` and `outcome` (`ok`, `user_error`, `internal_error`).
pub const COMMANDS: &str = "novera_commands_total";
/// Interactive waits ended, by `kind` and `outcome` (`answered`, `timed_out`, `cancelled`).
pub const WAITS: &str = "novera_waits_total";
/// How long waits lasted, by `kind`.
pub const WAIT_SECONDS: &str = "novera_wait_duration_seconds";
/// Waits pending now.
pub const WAITS_IN_FLIGHT: &str = "novera_waits_in_flight";
/// Gateway sessions started again after the first (re-IDENTIFY).
pub const RECONNECTS: &str = "novera_gateway_reconnects_total";
/// Gateway sessions resumed.
pub const RESUMES: &str = "novera_gateway_resumes_total";
/// Last heartbeat round trip.
pub const LATENCY: &str = "novera_gateway_latency_seconds";
/// Member events handled, by `event` (`join`, `leave`, `update`), counted once their work is
/// done.
pub const MEMBER_EVENTS: &str = "novera_member_events_total";
/// REST requests that failed, by `status_class` (`4xx`, `5xx`, `other`).
pub const REST_FAILURES: &str = "novera_rest_failures_total";
/// REST responses 429 Too Many Requests.
pub const RATE_LIMITED: &str = "novera_rest_rate_limited_total";
/// Seconds since the process started.
pub const UPTIME: &str = "novera_uptime_seconds";
/// Log lines dropped because stdout did not keep up.
pub const LOG_LINES_DROPPED: &str = "novera_log_lines_dropped";

/// Installs the process-wide recorder once and returns its handle (later calls return the same
/// handle). `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(WAIT_SECONDS.to_owned()), &buckets)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

/// How often recorded histogram samples are folded into their buckets (the exporter's own
/// default, when it runs its own task).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Folds the histogram samples recorded through `handle` into their buckets every
/// [`UPKEEP_EVERY`], until `shutdown`. The exporter keeps every sample until then, and the
/// recorder installed here has no task of its own: a bot whose `/metrics` nobody scrapes would
/// keep each wait's duration for the life of the process.
pub async fn upkeep(handle: PrometheusHandle, shutdown: CancellationToken) {
    every(UPKEEP_EVERY, &shutdown, || handle.run_upkeep()).await;
}

/// Runs `work` once per `period`, the first time one period from now, until `shutdown`.
async fn every(period: Duration, shutdown: &CancellationToken, mut work: impl FnMut()) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => work(),
        }
    }
}

fn describe() {
    metrics::describe_counter!(COMMANDS, "Commands run, by command and outcome.");
    metrics::describe_counter!(WAITS, "Interactive waits ended, by kind and outcome.");
    metrics::describe_histogram!(
        WAIT_SECONDS,
        metrics::Unit::Seconds,
        "How long interactive waits lasted."
    );
    metrics::describe_gauge!(WAITS_IN_FLIGHT, "Interactive waits pending now.");
    metrics::describe_counter!(
        RECONNECTS,
        "Gateway sessions identified again after the first."
    );
    metrics::describe_counter!(RESUMES, "Gateway sessions resumed.");
    metrics::describe_gauge!(
        LATENCY,
        metrics::Unit::Seconds,
        "Last gateway heartbeat round trip."
    );
    metrics::describe_counter!(
        MEMBER_EVENTS,
        "Member joins, departures and updates handled, by event."
    );
    metrics::describe_counter!(REST_FAILURES, "REST requests that failed, by status class.");
    metrics::describe_counter!(RATE_LIMITED, "REST responses 429 Too Many Requests.");
    metrics::describe_gauge!(
        UPTIME,
        metrics::Unit::Seconds,
        "Seconds since the process started."
    );
    metrics::describe_gauge!(
        LOG_LINES_DROPPED,
        "Log lines dropped because stdout did not keep up."
    );
}

/// A command ended with `outcome`.
pub fn command(command: &str, outcome: &'static str) {
    metrics::counter!(COMMANDS, "command" => command.to_owned(), "outcome" => outcome).increment(1);
}

/// A member event (`join`, `leave`, `update`) was handled.
pub fn member_event(event: &'static str) {
    metrics::counter!(MEMBER_EVENTS, "event" => event).increment(1);
}

/// A wait of `kind` ended with `outcome` after `waited`.
pub fn wait_ended(kind: &'static str, outcome: &'static str, waited: Duration) {
    metrics::counter!(WAITS, "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!(WAIT_SECONDS, "kind" => kind).record(waited.as_secs_f64());
}

/// A wait was registered (`+1`) or ended (`-1`).
pub fn waits_in_flight(delta: f64) {
    metrics::gauge!(WAITS_IN_FLIGHT).increment(delta);
}

/// A REST request failed with `status` (`None` when no response came).
pub fn rest_failure(status: Option<u16>) {
    let class = match status {
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "other",
    };
    metrics::counter!(REST_FAILURES, "status_class" => class).increment(1);
    if status == Some(429) {
        metrics::counter!(RATE_LIMITED).increment(1);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn upkeep_runs_every_period_until_shutdown() {
        let shutdown = CancellationToken::new();
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                every(UPKEEP_EVERY, &shutdown, || {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
                .await;
            }
        });
        let count = || runs.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(UPKEEP_EVERY - Duration::from_millis(1)).await;
        assert_eq!(count(), 0, "ran before a period had passed");
        tokio::time::sleep(UPKEEP_EVERY * 3).await;
        assert_eq!(count(), 3, "one run per period");
        shutdown.cancel();
        crate::wait::safe_wait_for(task, Duration::from_secs(1))
            .await
            .expect("the upkeep task did not stop at shutdown")
            .expect("the upkeep task panicked");
    }
}
