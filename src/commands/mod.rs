//! Slash commands, one file per feature. [`all`] is the one list the framework, `/help` and
//! command registration read.

pub mod access;
pub mod announce;
pub mod ask;
pub mod general;
pub mod matches;
pub mod publication;
pub mod seasons;
pub mod settings;
pub mod tryout;
pub mod values;

use crate::types::{Data, Error};

/// Every command the bot offers.
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        general::ping(),
        general::help(),
        general::status(),
        ask::ask(),
        settings::settings(),
        announce::announce(),
        tryout::tryout(),
        values::value(),
        values::rankings(),
        values::setvalue(),
        values::addvalue(),
        values::valuehistory(),
        matches::matches(),
        seasons::season(),
    ]
}
