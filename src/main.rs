//! The `novera-assistant` binary: configuration, logging, then [`novera_assistant::run`];
//! `novera-assistant sandbox` runs it against [`novera_assistant::sandbox`] instead.

use std::process::ExitCode;

#[cfg(feature = "sandbox")]
use novera_assistant::run_on;
use novera_assistant::{exit_code, logging, run, shutdown, Config};

// The one runtime runs on this one thread. The bot's work is waiting on sockets and timers;
// SQLite runs on sqlx's own thread, logs on their writer's and the heap trim on a blocking
// thread, so nothing here computes for long. One thread spares every event the hand-offs and
// wake-ups between worker threads (BENCHMARKS.md has the figures).
#[allow(clippy::disallowed_methods)] // #[tokio::main] builds the process's one runtime, here.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => {}
        #[cfg(feature = "sandbox")]
        (Some("sandbox"), None) => return sandbox().await,
        #[cfg(not(feature = "sandbox"))]
        (Some("sandbox"), None) => {
            eprintln!(
                "error: this build has no sandbox (it was built without the `sandbox` feature)"
            );
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("usage: novera-assistant [sandbox]");
            return ExitCode::from(2);
        }
    }
    // A missing .env is normal (the environment may be set another way); a broken one is not.
    // The sandbox never reads it: it is the production bot's configuration.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("error: cannot read .env: {}", env_file_error(&err));
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

/// `novera-assistant sandbox`: the bot against a local Discord, on a page in the browser. Its
/// stdout carries one line, the page's address; logs go to stderr (warnings unless `RUST_LOG`
/// says otherwise).
#[cfg(feature = "sandbox")]
async fn sandbox() -> ExitCode {
    let addr = match Config::sandbox_addr_from_env() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let token =
        novera_assistant::config::Token::new(discord_sim::SimOptions::default().token.as_str());
    let _log_writer = logging::init_for_sandbox(&token);
    let outcome = match novera_assistant::sandbox::start(addr).await {
        Ok((sandbox, bot)) => {
            println!(
                "Sandbox: open http://{}/ (a local Discord with a demo league; Ctrl-C stops it)",
                sandbox.page_addr
            );
            let outcome = run_on(bot.health, bot.config, shutdown::signal()).await;
            sandbox.stop();
            outcome
        }
        Err(err) => Err(err),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", logging::redacted(&format!("{err:#}"), &token));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// What is wrong with `.env`, without the line that is: a malformed line is often the token's
/// own (an unclosed quote, a space in the value), and dotenvy's message quotes it.
fn env_file_error(err: &dotenvy::Error) -> String {
    match err {
        dotenvy::Error::LineParse(..) => "a line is malformed (an unclosed quote, or a space in \
             a value without quotes?); it is not shown here because it may hold the token"
            .to_owned(),
        other => other.to_string(),
    }
}
