//! Novera Assistant: a Discord bot for competitive gaming communities.
//!
//! One Tokio runtime (owned by `main`) runs the poise command framework and the axum health
//! server side by side; whichever stops first (a signal, a fatal gateway error, the server
//! failing) stops the other. Every interactive wait goes through [`wait::safe_wait_for`] and
//! returns an `Option`, so a timeout is always handled.
//!
//! # Layout
//! - `main.rs` — `.env`, configuration, logging, [`run`], exit code.
//! - [`config`] — typed configuration; the only code that reads the environment.
//! - [`logging`] — tracing setup with a writer that blanks the token out of every line.
//! - [`shutdown`] — SIGINT/SIGTERM as one future.
//! - [`state`] — the state shared by commands, events and the HTTP server.
//! - [`wait`] — `safe_wait_for` and the wait registry; the only place that times out.
//! - [`flows`] — how many interactive flows each member may have open.
//! - [`claims`] — what this process is doing right now (tryout publications, running tryouts).
//! - [`turns`] — work that goes one task at a time per server (rank-role syncs).
//! - [`arrivals`] — members who joined and wait to be greeted, queued per server.
//! - [`values`] — the tryout value formula and value bounds (pure functions).
//! - [`db`] — the SQLite database: migrations, one file per table's queries.
//! - [`health`] — the HTTP router: `GET /health`, `/livez`, `/metrics`.
//! - [`probe_server`] — serves that router within limits (connections, rate, header size).
//! - [`telemetry`] — metric names and recording helpers (Prometheus exporter).
//! - [`memory`] — gives the heap's free pages back to the system after a burst.
//! - [`types`] — `Data`, `Error`, `Context`, `UserError`: what every command shares.
//! - [`bot`] — the HTTP client, poise options, `on_error`, the client, command registration.
//! - [`routing`] — routes each gateway event; queues command interactions.
//! - [`slots`] — how many commands may work (not wait) at once.
//! - [`events`] — gateway events that are not commands: health, guilds, waits.
//! - [`invite`] — the invite link and the permissions it asks for.
//! - [`commands`] — one file per feature.
//! - `sandbox` — `novera-assistant sandbox`: this bot against a local Discord in the browser
//!   (the `sandbox` feature, on by default).

pub mod arrivals;
pub mod bot;
pub mod claims;
pub mod commands;
pub mod config;
pub mod db;
pub mod events;
pub mod flows;
pub mod health;
pub mod invite;
pub mod logging;
pub mod memory;
pub mod probe_server;
pub mod routing;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod shutdown;
pub mod slots;
pub mod state;
pub mod telemetry;
pub mod turns;
pub mod types;
pub mod values;
pub mod wait;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::health::Health;
use crate::state::AppState;
use crate::wait::safe_wait_for;

/// How long commands get to finish (tell their users, post last messages) at shutdown.
const DRAIN_MAX: Duration = Duration::from_secs(3);
/// The shortest stopping window: long enough for probes to see `stopping` and for commands
/// invoked at that moment to get the "restarting" reply rather than silence.
const DRAIN_MIN: Duration = Duration::from_secs(1);
/// How long the gateway gets to close (serenity can stall up to 5 s on a stuck shard).
const GATEWAY_GRACE: Duration = Duration::from_secs(5);
/// How long the HTTP server gets to drain.
const SERVER_GRACE: Duration = Duration::from_secs(1);
/// The whole stop, from the signal to the tasks' end, whatever each step's grace: the rest of
/// the 10 s a supervisor gives (`docker stop`, systemd) is for closing the database (at most
/// [`SERVER_GRACE`]) and writing out the last log lines. The gateway's close leaves room for
/// the HTTP server's drain and the tasks' end after it.
const STOP_WITHIN: Duration = Duration::from_secs(8);

/// Waits until every command task has ended (at least [`DRAIN_MIN`], at most [`DRAIN_MAX`]).
async fn drain_commands(state: &AppState) {
    state.tasks.close();
    let drained = async {
        tokio::time::sleep(DRAIN_MIN).await;
        state.tasks.wait().await;
    };
    if safe_wait_for(drained, DRAIN_MAX).await.is_none() {
        let left = state.tasks.len();
        tracing::warn!(tasks = left, "commands still running at shutdown");
    }
}

/// How often the database's writability is checked for `/health`.
const DATABASE_CHECK: Duration = Duration::from_secs(30);

/// Checks every `every` ([`DATABASE_CHECK`] in the bot) that the database takes writes, for
/// `/health`, until `shutdown`. Logs each change.
async fn watch_database(
    db: db::Db,
    health: Arc<Health>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut was_ok = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let checked = db.check_writable().await;
        if let Err(err) = &checked {
            if was_ok {
                tracing::error!(
                    error = format!("{err:#}"),
                    "the database stopped taking writes"
                );
            }
        } else if !was_ok {
            tracing::info!("the database takes writes again");
        }
        was_ok = checked.is_ok();
        health.database_checked(was_ok);
    }
}

/// How often posts a passing failure left pending are tried again.
const PUBLICATION_RETRY: Duration = Duration::from_secs(60);
/// How old a pending publication must be before the retry takes it: a wizard publishing its
/// own has claimed it by then, so this only guards the moment between its commit and its claim.
const PUBLICATION_SETTLED: i64 = 120;

/// Makes the tryout posts left pending: at once everything queued before this start, then
/// every [`PUBLICATION_RETRY`] what a passing failure left, until `shutdown`. Publications a
/// wizard is making are claimed and skipped.
async fn finish_publications(
    http: Arc<serenity::http::Http>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) {
    let now = db::now;
    let (db, claims) = (&state.db, &state.publishing);
    let me = state.bot_user;
    commands::publication::resume(&http, me, db, claims, now()).await;
    loop {
        tokio::select! {
            () = tokio::time::sleep(PUBLICATION_RETRY) => {}
            () = shutdown.cancelled() => return,
        }
        let until = now().saturating_sub(PUBLICATION_SETTLED);
        commands::publication::resume(&http, me, db, claims, until).await;
    }
}

/// How often open matches past their time are marked expired.
const MATCH_SWEEP: Duration = Duration::from_secs(10);

/// The league's upkeep until `shutdown`: open matches whose time is up expire, every
/// [`MATCH_SWEEP`].
async fn league_upkeep(
    http: Arc<serenity::http::Http>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(MATCH_SWEEP) => {}
            () = shutdown.cancelled() => return,
        }
        commands::matches::expire_due(&http, &state.db, db::now()).await;
    }
}

/// Why the process ended badly, as the exit code `main` should use.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.chain().any(|e| e.is::<bot::AuthFailed>()) {
        3
    } else if error.chain().any(|e| e.is::<config::ConfigError>()) {
        2
    } else {
        1
    }
}

/// Runs the bot until `shutdown` completes or something fatal happens.
///
/// `Ok(())` is a clean, requested stop. An error carries what went wrong; [`exit_code`] maps it.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Bind first: a port in use is reported before anything connects to Discord.
    let addr = config.health_addr;
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on HEALTH_ADDR {addr} (is another process using that port?)")
    })?;
    run_on(listener, config, shutdown).await
}

/// What [`start`] made ready for the bot to run.
struct Started {
    db: db::Db,
    state: Arc<AppState>,
    client: serenity::Client,
}

/// Opens the database, checks the token and builds the client; then puts back what the last
/// process left half done, before any click can arrive. Stopped midway, it leaves nothing
/// running: what it had begun is in the database, and the next start does it again.
async fn start(
    config: Config,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> anyhow::Result<Started> {
    let db = db::Db::connect(&config.database_url).await?;
    db.check_writable()
        .await
        .with_context(|| format!("DATABASE_URL {}: cannot write there", config.database_url))?;

    let http = bot::http(&config)?;
    if let Some(base) = &config.api_base {
        tracing::info!(%base, "using DISCORD_API_BASE");
    }
    if !config.rate_limiter {
        tracing::info!("DISCORD_RATE_LIMITER=off: rate limiting is left to the server in front");
    }
    let bot_user = bot::check_token(&http).await?;

    let state = Arc::new(AppState::new(
        config,
        bot_user,
        db.clone(),
        health,
        cancel.clone(),
    ));

    let client = bot::client(http, state.clone()).await?;
    // Tryout requests whose card the last process never posted are withdrawn, those whose
    // wizard it ran go back to the queue, staff posts it was making can be made again.
    commands::requests::settle_interrupted(&client.http, &state.db).await;
    if let Err(err) = state.db.release_stale_staff_posts().await {
        tracing::warn!(
            error = format!("{err:#}"),
            "could not release unfinished staff posts"
        );
    }
    Ok(Started { db, state, client })
}

/// [`run`], with the health server on `listener` (bound by the caller, who then knows its
/// address; `config.health_addr` is not used).
pub async fn run_on(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Log the bound address: with port 0 the system picked one, and supervisors read it here.
    let bound = listener
        .local_addr()
        .context("reading the health server's address")?;
    tracing::info!(addr = %bound, "health server listening");

    // The probes answer from the start: `/livez` 200, `/health` 503 "starting" until the
    // gateway is up, so a supervisor sees a slow start as starting, not as a hung process.
    let cancel = CancellationToken::new();
    let _stop_everything_on_return = cancel.clone().drop_guard();
    let health = Arc::new(Health::new());
    let metrics = telemetry::install();
    if let Some(handle) = metrics.clone() {
        tokio::spawn(telemetry::upkeep(handle, cancel.clone()));
    }
    let server = probe_server::serve(
        listener,
        health::router(health.clone(), metrics),
        probe_server::Limits::PROBES,
        cancel.clone(),
    );
    let mut server = tokio::spawn(server);

    // A stop asked for while starting ends the start where it is: nothing is connected yet,
    // and what the start had begun is in the database, done again at the next start.
    tokio::pin!(shutdown);
    let started = tokio::select! {
        started = start(config, health.clone(), cancel.clone()) => started?,
        () = &mut shutdown => {
            tracing::info!("stopped while starting");
            cancel.cancel();
            if safe_wait_for(&mut server, SERVER_GRACE).await.is_none() {
                server.abort();
            }
            return Ok(());
        }
    };
    let Started {
        db,
        state,
        mut client,
    } = started;
    // Tryouts confirmed just before a crash get their posts now, and passing failures later.
    let mut publications = tokio::spawn(finish_publications(
        client.http.clone(),
        state.clone(),
        cancel.clone(),
    ));
    let mut upkeep = tokio::spawn(league_upkeep(
        client.http.clone(),
        state.clone(),
        cancel.clone(),
    ));
    let shard_manager = client.shard_manager.clone();
    health.attach(shard_manager.clone());
    tokio::spawn(health.clone().watch_stage(cancel.clone()));

    // Request cards a stop left showing another state are redrawn beside the gateway.
    tokio::spawn({
        let (http, db, cancel) = (client.http.clone(), db.clone(), cancel.clone());
        async move {
            tokio::select! {
                () = commands::requests::redraw_stale_cards(&http, &db) => {}
                () = cancel.cancelled() => {}
            }
        }
    });
    let mut gateway = tokio::spawn(async move { client.start().await });
    tokio::spawn(memory::release_after_bursts(cancel.clone()));
    tokio::spawn(watch_database(
        db.clone(),
        health.clone(),
        DATABASE_CHECK,
        cancel.clone(),
    ));

    let outcome: anyhow::Result<()> = tokio::select! {
        () = &mut shutdown => Ok(()),
        () = cancel.cancelled() => Ok(()),
        result = &mut gateway => Err(match result {
            Ok(Ok(())) => anyhow::anyhow!("the gateway connection ended unexpectedly"),
            Ok(Err(serenity::Error::Gateway(serenity::gateway::GatewayError::InvalidAuthentication))) => {
                bot::AuthFailed("Discord closed the gateway with 4004: DISCORD_TOKEN is not valid").into()
            }
            Ok(Err(serenity::Error::Gateway(serenity::gateway::GatewayError::DisallowedGatewayIntents))) => {
                anyhow::anyhow!(
                    "Discord closed the gateway with 4014: the application is not allowed a \
                     privileged intent the bot asks for. In the Developer Portal (Bot tab, \
                     Privileged Gateway Intents) switch on Message Content, and Server Members \
                     if GUILD_MEMBERS_INTENT=on, or set GUILD_MEMBERS_INTENT=off"
                )
            }
            Ok(Err(err)) => anyhow::Error::new(err).context("the gateway connection failed"),
            Err(join) => anyhow::Error::new(join).context("the gateway task failed"),
        }),
        result = &mut server => Err(match result {
            Ok(()) => anyhow::anyhow!("the health server stopped unexpectedly"),
            Err(join) => anyhow::Error::new(join).context("the health server task failed"),
        }),
    };
    let outcome = match state.take_fatal() {
        Some(fatal) => Err(fatal),
        None => outcome,
    };

    // Stop everything, whatever ended first, in an order that loses nothing: readiness goes,
    // new commands are turned away, every wait is told it was interrupted, commands get to
    // send their last messages, then the gateway closes, the HTTP server drains and the
    // database closes. All of it within 10 s.
    tracing::info!("stopping");
    // Each step gets its own grace, and none of them more than is left of the whole stop.
    let deadline = tokio::time::Instant::now() + STOP_WITHIN;
    // `grace`, or less: what is left of the stop once `keep` is set aside for the steps after.
    let left = |grace: Duration, keep: Duration| {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        grace.min(left.saturating_sub(keep))
    };
    health.stopping();
    state.waits.cancel_all();
    drain_commands(&state).await;
    if !gateway.is_finished() {
        // Sends a close frame (1000) and ends the shard runner; `client.start()` then returns.
        if safe_wait_for(
            shard_manager.shutdown_all(),
            left(GATEWAY_GRACE, 2 * SERVER_GRACE),
        )
        .await
        .is_none()
        {
            tracing::warn!("the gateway did not close in time");
        }
        if safe_wait_for(&mut gateway, left(Duration::from_secs(1), 2 * SERVER_GRACE))
            .await
            .is_none()
        {
            gateway.abort();
        }
    }
    cancel.cancel();
    if !server.is_finished()
        && safe_wait_for(&mut server, left(SERVER_GRACE, SERVER_GRACE))
            .await
            .is_none()
    {
        tracing::warn!("the health server did not drain in time");
        server.abort();
    }
    // A retry pass still posting ends before the database closes; what it did not finish
    // stays pending for the next start. Both tasks end at once, so they share one grace.
    let both = async {
        let _ = (&mut publications).await;
        let _ = (&mut upkeep).await;
    };
    if safe_wait_for(both, left(SERVER_GRACE, Duration::ZERO))
        .await
        .is_none()
    {
        publications.abort();
        upkeep.abort();
    }
    // A pool still lent to a command that outlived the drain does not hold up the exit.
    if safe_wait_for(db.close(), SERVER_GRACE).await.is_none() {
        tracing::warn!("the database did not close in time");
    }
    tracing::info!("stopped");
    outcome
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;

    /// Waits (up to 5 s) until the probe shows the database as `expected`.
    async fn database_shows(health: &Health, expected: &str) {
        for _ in 0..250 {
            if health.report().await.database == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the probe never showed the database {expected}");
    }

    /// The watch turns the probe's database to `failing` once writes are refused, and back to
    /// `ok` once they are taken again. Real time, on a short period: SQLite answers from its
    /// own threads, which a paused clock would outrun (the pool's own timeouts would fire).
    #[tokio::test]
    async fn the_database_watch_follows_what_the_database_takes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = db::Db::connect(&url).await.unwrap();
        let health = Arc::new(Health::new());
        let shutdown = CancellationToken::new();
        let every = Duration::from_millis(20);
        let watch = tokio::spawn(watch_database(
            db.clone(),
            health.clone(),
            every,
            shutdown.clone(),
        ));
        database_shows(&health, "ok").await;
        for refuse in [
            "CREATE TRIGGER refuse_insert BEFORE INSERT ON write_check
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON write_check
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ] {
            sqlx::query(refuse).execute(db.pool()).await.unwrap();
        }
        database_shows(&health, "failing").await;
        for trigger in ["refuse_insert", "refuse_update"] {
            let drop = format!("DROP TRIGGER {trigger}");
            sqlx::query(&drop).execute(db.pool()).await.unwrap();
        }
        database_shows(&health, "ok").await;
        shutdown.cancel();
        watch.await.unwrap();
    }
}
