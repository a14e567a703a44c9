//! The types every command and handler shares: poise's user data, the error type, the
//! context, and the error a user is meant to read. Everything imports them from here; this
//! module imports nothing of the crate but the state it names.

use std::sync::Arc;

use poise::serenity_prelude as serenity;

use crate::state::AppState;

/// poise's user data: the shared state.
pub type Data = Arc<AppState>;
/// The error type every command returns.
pub type Error = anyhow::Error;
/// The context every command receives.
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// An error whose text is meant for the user, shown as written (ephemeral). Anything else a
/// command returns is logged and the user sees a short generic line.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

/// The HTTP status of a failed Discord request, if `error` is one.
pub fn serenity_status(error: &serenity::Error) -> Option<u16> {
    match error {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.status_code.as_u16())
        }
        _ => None,
    }
}

/// Discord's "Unknown Member" error code: the member is not in the server.
pub const UNKNOWN_MEMBER: isize = 10007;

/// Discord's JSON error code of a refused request (10007 Unknown Member, 50007 Cannot DM…).
pub fn discord_code(error: &serenity::Error) -> Option<isize> {
    match error {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.error.code)
        }
        _ => None,
    }
}
