//! `novera-assistant sandbox`: the bot, unchanged, against a local Discord in the browser.
//!
//! It starts the simulator of `crates/discord-sim` on loopback with the demo league
//! ([`demo`]) and seeds a database of its own in a new temporary directory; the binary then
//! runs the bot with `run_on`, pointed at the simulator exactly as at Discord (REST and the
//! gateway over real sockets, the rate limiter on). The simulator's web client is served on
//! `SANDBOX_ADDR` (127.0.0.1:8090 by default) with a badge showing the bot's `/health`.
//!
//! It never reads the production token or database: the bot's configuration is built here,
//! and the data directory is removed when the sandbox stops. Ctrl-C (or SIGTERM) stops the bot
//! the way it stops in production, then the page.

pub mod demo;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use discord_sim::{Sim, SimOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Discord's heartbeat interval, so the sandbox's gateway paces like the real one.
const HEARTBEAT_MS: u64 = 41_250;

/// The bot's configuration in the sandbox: the simulator's token and address, the sandbox's
/// database, commands registered in the demo server (at once, as `DEV_GUILD_ID` does).
fn bot_config(sim: &Sim, database_url: &str, health: SocketAddr) -> anyhow::Result<Config> {
    let values = HashMap::from([
        ("DISCORD_TOKEN", sim.token().to_owned()),
        ("DISCORD_API_BASE", sim.base_url()),
        ("DATABASE_URL", database_url.to_owned()),
        ("HEALTH_ADDR", health.to_string()),
        ("DEV_GUILD_ID", discord_sim::payloads::GUILD_ID.to_string()),
        // The simulated application is granted Server Members, so welcomes can be tried.
        ("GUILD_MEMBERS_INTENT", "on".to_owned()),
    ]);
    Config::from_lookup(|name| values.get(name).cloned()).context("configuring the sandbox's bot")
}

/// A running sandbox: the simulator, its page and the bot's data. The bot itself is run by the
/// caller with [`crate::run_on`] and [`SandboxBot`], so the sandbox adds nothing to its path.
pub struct Sandbox {
    /// Where the page is served.
    pub page_addr: SocketAddr,
    _sim: Arc<Sim>,
    page_server: tokio::task::JoinHandle<()>,
    stop_page: CancellationToken,
    data: tempfile::TempDir,
}

/// What the bot runs with in the sandbox: its configuration and its health server's listener.
pub struct SandboxBot {
    /// The bot's configuration, pointed at the simulator.
    pub config: Config,
    /// The health server's listener (loopback, a free port), which the page's badge reads.
    pub health: TcpListener,
}

/// Starts the simulator with the demo league, seeds the sandbox's database and serves the page
/// on `addr`. Returns the sandbox and what the bot needs to run against it.
pub async fn start(addr: SocketAddr) -> anyhow::Result<(Sandbox, SandboxBot)> {
    let page = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on SANDBOX_ADDR {addr} (is another process using that port?)")
    })?;
    let page_addr = page.local_addr().context("reading the page's address")?;
    let health = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the bot's health server on loopback")?;
    let health_addr = health
        .local_addr()
        .context("reading the health server's address")?;

    let sim = Arc::new(
        Sim::with_options(SimOptions {
            heartbeat_ms: HEARTBEAT_MS,
            ..SimOptions::default()
        })
        .await,
    );
    sim.edit_guild(|guild| *guild = demo::guild());

    // Created exclusively, readable by this user only, removed when the sandbox stops.
    let data = tempfile::Builder::new()
        .prefix("novera-sandbox-")
        .tempdir()
        .context("creating the sandbox's data directory")?;
    let database_url = format!("sqlite://{}", data.path().join("sandbox.db").display());
    let db = crate::db::Db::connect(&database_url).await?;
    demo::seed(&db).await?;
    db.close().await;
    let config = bot_config(&sim, &database_url, health_addr)?;

    let stop_page = CancellationToken::new();
    let loopback = page_addr.ip().is_loopback();
    if !loopback {
        tracing::warn!(
            addr = %page_addr,
            "the sandbox's page is reachable beyond this machine, and has no login"
        );
    }
    let router = discord_sim::web::router(sim.clone(), Some(health_addr), loopback);
    let page_stopped = stop_page.clone();
    let page_server = tokio::spawn(async move {
        let served = axum::serve(page, router)
            .with_graceful_shutdown(async move { page_stopped.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the sandbox's page server failed");
        }
    });
    let sandbox = Sandbox {
        page_addr,
        _sim: sim,
        page_server,
        stop_page,
        data,
    };
    Ok((sandbox, SandboxBot { config, health }))
}

impl Sandbox {
    /// Stops the page and removes the sandbox's data (call it once the bot has stopped).
    pub fn stop(self) {
        self.stop_page.cancel();
        // The page keeps an event stream open: the server is not waited for.
        self.page_server.abort();
        drop(self.data);
    }
}
