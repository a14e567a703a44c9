//! The end-to-end test kit: a local Discord simulator and a harness that runs the real bot
//! binary against it. Each test file uses the parts it needs.
#![allow(dead_code)]

pub mod harness;

// The simulator lives in its own crate (crates/discord-sim); the tests name its modules as
// before. Each test file uses some of them.
#[allow(unused_imports)]
pub use discord_sim::{guild, payloads, ratelimit, schema, sim};

#[allow(unused_imports)]
pub use guild::*;
pub use harness::{Bot, BotOptions};
pub use payloads::*;
pub use sim::{Request, Sim, SimOptions};

use std::time::Duration;

/// The usual deadline for the bot to react to something.
pub const REACT: Duration = Duration::from_secs(10);

/// Starts a simulator and the bot, and waits until `/health` says ok.
pub async fn start_ready() -> (Sim, Bot) {
    start_ready_with(SimOptions::default(), BotOptions::default()).await
}

/// As [`start_ready`], with options.
pub async fn start_ready_with(sim_options: SimOptions, options: BotOptions) -> (Sim, Bot) {
    let sim = Sim::with_options(sim_options).await;
    let mut bot = Bot::start_with(&sim, options).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    (sim, bot)
}

/// Waits until the bot has registered its slash commands (poise's setup, right after READY).
pub async fn wait_registered(sim: &Sim) {
    sim.wait_for("slash command registration", REACT, |v| {
        v.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .then_some(())
    })
    .await;
}

/// `user` runs `/name` with `options` in `channel`; returns the interaction and the bot's
/// first response to it.
pub async fn run_command_with(
    sim: &Sim,
    user: u64,
    channel: u64,
    name: &str,
    options: serde_json::Value,
) -> (sim::Interaction, Request) {
    let since = sim.mark();
    let interaction = sim.slash(user, channel, name, options);
    let reply = sim
        .wait_request(&format!("the /{name} callback"), since, REACT, |r| {
            is_callback(r, interaction.id)
        })
        .await;
    (interaction, reply)
}

/// `user` runs `/name` with no options in `channel`; returns the bot's first response to it.
pub async fn run_command(sim: &Sim, user: u64, channel: u64, name: &str) -> Request {
    run_command_with(sim, user, channel, name, serde_json::json!([]))
        .await
        .1
}

/// Waits until the bot has read every event sent so far: the gateway delivers in order, so a
/// `/ping` sent now is answered after them. For proving that an event did *not* start
/// something; work an event started (a REST call) may still be under way.
pub async fn settle(sim: &Sim) {
    let reply = run_command(sim, CAROL, OFF_TOPIC, "ping").await;
    assert!(content(&reply).contains("Pong"), "{}", content(&reply));
}

/// Whether `r` is the first response to interaction `id`.
pub fn is_callback(r: &Request, id: u64) -> bool {
    r.method == "POST"
        && r.path.starts_with(&format!("/interactions/{id}/"))
        && r.path.ends_with("/callback")
}

/// The `custom_id` of the button on `message` for `action`: `confirm` finds `confirm`,
/// `confirm_a` or `confirm_b` (a match's Confirm and Dispute name the result they answer).
pub fn button_for(message: &serde_json::Value, action: &str) -> Option<String> {
    let named = |id: &str| {
        let (_, found) = id.rsplit_once(':')?;
        (found == action
            || found
                .strip_prefix(action)
                .is_some_and(|s| s == "_a" || s == "_b"))
        .then_some(())
    };
    message["components"]
        .as_array()?
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| named(id).is_some())
}

/// Who a bot message, as the simulator keeps it, pinged (worked out as Discord does from its
/// content and allowed mentions): its users, its roles, and whether @everyone or @here.
pub fn pinged(message: &serde_json::Value) -> (Vec<u64>, Vec<u64>, bool) {
    let ids = |list: &serde_json::Value, field: Option<&str>| -> Vec<u64> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| field.map_or(v, |f| &v[f]).as_str()?.parse().ok())
            .collect()
    };
    (
        ids(&message["mentions"], Some("id")),
        ids(&message["mention_roles"], None),
        message["mention_everyone"] == true,
    )
}

/// Whether `r` is a follow-up on the interaction with `token`.
pub fn is_followup(r: &Request, token: &str) -> bool {
    r.method == "POST" && r.path.ends_with(&format!("/{token}"))
}

/// The content of a callback or follow-up body.
pub fn content(r: &Request) -> String {
    let body = r.body.as_ref();
    body.and_then(|b| b["data"]["content"].as_str().or(b["content"].as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// `user` runs `/name` with `options` in #general; returns what they are told: the callback's
/// content, or for a command that deferred, its first follow-up or edit.
pub async fn answer(sim: &Sim, user: u64, name: &str, options: serde_json::Value) -> String {
    let (interaction, reply) = run_command_with(sim, user, GENERAL, name, options).await;
    let text = content(&reply);
    if !text.is_empty() {
        return text;
    }
    let followup = sim
        .wait_request("the answer", 0, REACT, |r| {
            is_followup(r, &interaction.token)
                || (r.method == "PATCH" && r.path.contains(&interaction.token))
        })
        .await;
    content(&followup)
}

/// The options of `/setvalue member:<member> amount:<amount>`.
fn value_options(member: u64, amount: i64) -> serde_json::Value {
    serde_json::json!([
        {"name": "member", "type": 6, "value": member.to_string()},
        {"name": "amount", "type": 4, "value": amount},
    ])
}

/// `by` runs `/setvalue member:<member> amount:<amount>` in #general; returns the interaction
/// and what `by` is told.
pub async fn set_value(sim: &Sim, by: u64, member: u64, amount: i64) -> (sim::Interaction, String) {
    let options = value_options(member, amount);
    let (interaction, reply) = run_command_with(sim, by, GENERAL, "setvalue", options).await;
    (interaction, content(&reply))
}

/// A database file that outlives the bot processes of one test (restarts, kills): its
/// directory, kept for the test's length, and its `DATABASE_URL`.
pub fn lasting_database(name: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    );
    (dir, url)
}
