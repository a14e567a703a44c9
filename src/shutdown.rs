//! The process's shutdown signal: SIGINT (ctrl-c) or SIGTERM, whichever comes first.
//!
//! `run` turns this into one `CancellationToken` that every part of the bot watches, so a
//! signal, a fatal error in the bot or the HTTP server ending all stop everything together.

use std::future::Future;

/// Completes when the process is asked to stop (SIGINT or SIGTERM).
///
/// The handlers are in place once this returns, before the future is first polled: a signal
/// that comes while the bot is still starting is caught and stops it cleanly, rather than
/// ending the process with the signal's default action.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = received(interrupt, "SIGINT") => tracing::info!("ctrl-c received, shutting down"),
                () = received(terminate, "SIGTERM") => tracing::info!("SIGTERM received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("ctrl-c received, shutting down");
    }
}

/// Completes when `listener` receives its signal; never, if it could not be set up.
#[cfg(unix)]
async fn received(listener: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match listener {
        Ok(mut listener) => {
            listener.recv().await;
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}
