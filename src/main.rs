//! The `novera-assistant` binary: configuration, logging, then [`novera_assistant::run`].

use std::process::ExitCode;

use novera_assistant::{exit_code, logging, run, shutdown, Config};

// The one runtime runs on this one thread. The bot's work is waiting on sockets and timers;
// SQLite runs on sqlx's own thread, logs on their writer's and the heap trim on a blocking
// thread, so nothing here computes for long. One thread spares every event the hand-offs and
// wake-ups between worker threads (BENCHMARKS.md has the figures).
#[allow(clippy::disallowed_methods)] // #[tokio::main] builds the process's one runtime, here.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // A missing .env is normal (the environment may be set another way); a broken one is not.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("error: cannot read .env: {err}");
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let _log_writer = logging::init(&config.token, config.log_format);
    let token = config.token.clone();

    match run(config, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            // Also on stderr, where a supervisor looks first, blanked as the log is.
            eprintln!("error: {}", logging::redacted(&format!("{err:#}"), &token));
            ExitCode::from(exit_code(&err))
        }
    }
}
