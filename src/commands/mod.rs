//! Slash commands, one file per feature. [`all`] is the one list the framework, `/help` and
//! command registration read.

pub mod access;
pub mod announce;
pub mod ask;
pub mod flow_message;
pub mod general;
pub mod matches;
pub mod publication;
pub mod ranks;
pub mod replies;
pub mod request_cards;
pub mod requests;
pub mod roles;
pub mod seasons;
pub mod settings;
pub mod tryout;
pub mod values;
pub mod welcome;

use crate::types::{Context, Data, Error};

/// Every command the bot offers.
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        general::ping(),
        general::help(),
        general::status(),
        ask::ask(),
        settings::settings(),
        announce::announce(),
        tryout(),
        values::value(),
        values::rankings(),
        values::setvalue(),
        values::addvalue(),
        values::valuehistory(),
        matches::matches(),
        seasons::season(),
    ]
}

/// Tryouts: start an evaluation, ask for one, or see the requests waiting
#[poise::command(
    slash_command,
    guild_only,
    subcommands("tryout::start", "requests::request", "requests::queue")
)]
pub async fn tryout(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}
