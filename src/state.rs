//! The state shared by the commands, the event handler and the HTTP server.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::health::Health;
use crate::wait::Waits;

/// One instance per process, behind an `Arc`; poise's `Data` is this.
pub struct AppState {
    /// Pending interactive waits, fed by the event handler.
    pub waits: Arc<Waits>,
    /// The database.
    pub db: Db,
    /// Tryout publications being made now, so a retry never overlaps a wizard's own.
    pub publishing: crate::claims::Claims<i64>,
    /// Open interactive flows per member, bounded.
    pub flows: crate::flows::OpenFlows,
    /// A server's turn to bring its rank role in step, so two value changes never move it at
    /// once.
    pub rank_syncs: crate::turns::Turns<serenity::all::GuildId>,
    /// Members who joined and wait to be greeted, per server.
    pub arrivals: crate::arrivals::Arrivals,
    /// Evaluators with a tryout wizard running: one wizard per evaluator at a time.
    pub tryouts_running: crate::claims::Claims<serenity::all::UserId>,
    /// Players whose tryout runs: one evaluator at a time per player, by `/tryout start` or a
    /// request's Accept.
    pub players_in_tryout: crate::claims::Claims<(serenity::all::GuildId, serenity::all::UserId)>,
    /// What `/health` reports.
    pub health: Arc<Health>,
    /// The parsed configuration (its `Debug` hides the token).
    pub config: Config,
    /// The bot's own user id (from the token check at startup): whose standing in a server
    /// decides which roles it may give.
    pub bot_user: serenity::all::UserId,
    /// Cancelled when the process must stop; every long-lived task watches it.
    pub shutdown: CancellationToken,
    /// Guilds the bot is in (from GUILD_CREATE/GUILD_DELETE), for /status: ids only, since
    /// serenity's cache is off.
    guilds: Mutex<std::collections::HashSet<serenity::all::GuildId>>,
    /// Every command's task, and tasks that outlive their command (a pending `/ask`'s
    /// answer): shutdown waits for them.
    pub tasks: tokio_util::task::TaskTracker,
    /// Bounds how many commands work (not wait) at once; see [`crate::slots`].
    pub command_slots: Arc<tokio::sync::Semaphore>,
    /// Why the bot must stop, when something failed that no user can fix (for example command
    /// registration after all retries). `run` returns it.
    fatal: Mutex<Option<anyhow::Error>>,
}

impl AppState {
    /// Builds the state for `config`.
    pub fn new(
        config: Config,
        bot_user: serenity::all::UserId,
        db: Db,
        health: Arc<Health>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            waits: Arc::new(Waits::new(config.wait_timeout)),
            db,
            tryouts_running: Default::default(),
            players_in_tryout: Default::default(),
            rank_syncs: Default::default(),
            arrivals: Default::default(),
            flows: Default::default(),
            publishing: Default::default(),
            command_slots: Arc::new(tokio::sync::Semaphore::new(crate::slots::COMMAND_SLOTS)),
            tasks: tokio_util::task::TaskTracker::new(),
            guilds: Mutex::new(Default::default()),
            health,
            config,
            bot_user,
            shutdown,
            fatal: Mutex::new(None),
        }
    }

    /// The bot joined (or was sent) guild `id`.
    pub fn guild_joined(&self, id: serenity::all::GuildId) {
        self.guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    /// The bot left guild `id`.
    pub fn guild_left(&self, id: serenity::all::GuildId) {
        self.guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// How many guilds the bot is in.
    pub fn guild_count(&self) -> usize {
        self.guilds.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether shutdown has begun: new commands are turned away, waits are interrupted.
    pub fn stopping(&self) -> bool {
        self.waits.stopping()
    }

    /// Records a fatal error and stops the process.
    pub fn fail(&self, error: anyhow::Error) {
        tracing::error!(error = format!("{error:#}"), "fatal error, shutting down");
        {
            let mut slot = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error);
        }
        self.shutdown.cancel();
    }

    /// Takes the recorded fatal error, if any.
    pub fn take_fatal(&self) -> Option<anyhow::Error> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
