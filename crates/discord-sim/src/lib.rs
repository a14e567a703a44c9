//! A local Discord for end-to-end tests of Discord bots: REST (axum) and the gateway
//! (WebSocket) on loopback, one pair of ports per instance, following Discord's documented
//! protocol (discord/discord-api-docs) rather than any one bot's habits.
//!
//! A bot connects to it exactly as to Discord: point its REST base URL at [`Sim::base_url`]
//! (serenity: `HttpBuilder::proxy`; twilight: a proxy URL) and it reads the gateway URL from
//! `GET /api/v10/gateway`. The test then acts as Discord's users through [`Sim`] (slash
//! commands, clicks, selects, modals, messages), injects faults (dropped or reset connections,
//! op 7, INVALID_SESSION, withheld heartbeat ACKs, REST 429/500, requests that never answer),
//! and reads back every REST call the bot made.
//!
//! Rules it enforces, recorded as violations ([`Sim::assert_clean`]): every JSON body validates
//! against Discord's OpenAPI spec ([`schema`]) and the documented limits the spec lacks
//! ([`limits`]), and one that does not is refused with a 400 as at Discord; one initial
//! response per interaction within 3 s, of a type that interaction takes (one never answered
//! fails `assert_clean`); a token editing only what was sent with it; the `User-Agent` Discord
//! requires; the bot token on every call but the interaction endpoints (which use the
//! interaction's token, as at Discord); one IDENTIFY per 5 s from a bot process; a heartbeat
//! each interval (a connection without one is closed; a client's own close 1000 or 1001 ends
//! its session); and Discord's rate limits ([`ratelimit`]: headers on every limited response, 429s past a limit).
//!
//! A message the bot sends carries who it pinged, worked out from its content and allowed
//! mentions as Discord does (`mentions`, `mention_roles`, `mention_everyone`), so a test reads
//! the pings rather than the request. The guild id in a role route is checked like any other.
//!
//! A person can use it too: [`web::router`] serves a page that looks and behaves like a
//! Discord client (channels, DMs, slash commands, components, modals, ephemeral messages,
//! acting as any member, a fault panel), over what `client` says each member sees and may do.
//!
//! Modules: [`sim`] (the handle: servers, waiting, faults), `actions` (what users do),
//! `client` (a member's client: what they see, what it lets them send), [`web`] (the page),
//! `world` (the state), `gateway` and `rest` (the two servers), [`guild`] (the league server: roles, members, channels, permissions), [`payloads`] (gateway
//! and REST objects as Discord shapes them), [`schema`], [`ratelimit`].
// The simulator keeps its own deadlines (the 3 s interaction rule, a silent client); the
// workspace's rule against `tokio::time::timeout` is about the bot's waits.
#![allow(clippy::disallowed_methods)]

mod actions;
mod client;
mod gateway;
pub mod guild;
pub mod limits;
mod mentions;
pub mod payloads;
pub mod ratelimit;
mod rest;
pub mod schema;
pub mod sim;
pub mod web;
mod world;

pub use sim::{Interaction, Request, Sim, SimOptions, SimView};
pub use world::{GUILD_MEMBERS_INTENT, GUILD_PRESENCES_INTENT, PRIVILEGED_INTENTS};
