//! The rank role end to end: the top of the rankings carries it, a change moves only the role
//! that changed hands, and a role Discord refuses is reported to staff once.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// Twelve players, P1 to P12.
fn player(n: u64) -> u64 {
    1_100_000_000_000_000_200 + n
}

/// Their values: P1 to P8 from 200 down to 130, then P9 60, P10 50, P11 40, P12 35.
fn start_value(n: u64) -> i64 {
    match n {
        1..=8 => 210 - 10 * n as i64,
        9 => 60,
        10 => 50,
        11 => 40,
        _ => 35,
    }
}

async fn answer(sim: &Sim, user: u64, name: &str, options: Value) -> String {
    let (interaction, reply) = run_command_with(sim, user, GENERAL, name, options).await;
    if !content(&reply).is_empty() {
        return content(&reply);
    }
    let followup = sim
        .wait_request("the answer", 0, REACT, |r| {
            is_followup(r, &interaction.token)
        })
        .await;
    content(&followup)
}

async fn set_value(sim: &Sim, user: u64, value: i64) {
    let reply = answer(
        sim,
        ALICE,
        "setvalue",
        json!([
            {"name": "member", "type": 6, "value": user.to_string()},
            {"name": "amount", "type": 4, "value": value},
        ]),
    )
    .await;
    assert!(reply.contains("value"), "{reply}");
}

/// The rank role's PUT and DELETE calls after request mark `since`: (method, user).
fn role_calls(sim: &Sim, since: usize) -> Vec<(String, u64)> {
    let mut calls: Vec<(String, u64)> = sim
        .requests_since(since)
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/roles/{PLAYER_ROLE}")))
        .map(|r| {
            let user = r
                .path
                .split('/')
                .nth(4)
                .and_then(|u| u.parse().ok())
                .unwrap_or(0);
            (r.method, user)
        })
        .collect();
    calls.sort();
    calls
}

fn holders(sim: &Sim) -> Vec<u64> {
    let mut held: Vec<u64> = sim.with_guild(|g| {
        g.members
            .iter()
            .filter(|(_, roles)| roles.contains(&PLAYER_ROLE))
            .map(|(id, _)| *id)
            .collect()
    });
    held.sort();
    held
}

async fn click(sim: &Sim, user: u64, message: &Value, action: &str) {
    let now = sim
        .bot_messages()
        .into_iter()
        .find(|m| m["id"] == message["id"])
        .unwrap();
    let id = now["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.ends_with(&format!(":{action}")))
        .unwrap_or_else(|| panic!("no {action} button"));
    let marks = sim.mark();
    let pressed = sim.click(user, &now, &id);
    sim.wait_request("the click's answer", marks, REACT, |r| {
        is_callback(r, pressed.id)
    })
    .await;
}

#[tokio::test]
async fn the_top_ten_carry_the_rank_role_and_a_match_moves_only_what_changed() {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        for n in 1..=12 {
            g.members.insert(player(n), Vec::new());
            g.names.insert(player(n), format!("p{n}"));
        }
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let settings = answer(
        &sim,
        ALICE,
        "settings",
        json!([
            {"name": "rank_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "matches_channel", "type": 7, "value": OFF_TOPIC.to_string()},
            {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
            {"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()},
        ]),
    )
    .await;
    assert!(settings.contains("the top 10"), "{settings}");
    for n in 1..=12 {
        set_value(&sim, player(n), start_value(n)).await;
    }
    let top_ten: Vec<u64> = (1..=10).map(player).collect();
    assert_eq!(holders(&sim), top_ten);

    // A 2v2: P11 and P12 beat P9 and P10 for 30 each, and swap places with them.
    let since = sim.mark();
    let before = sim.bot_messages().len();
    let create = json!([{"name": "create", "type": 1, "options": [
        {"name": "mode", "type": 4, "value": 1}, {"name": "stake", "type": 4, "value": 30}]}]);
    answer(&sim, player(11), "match", create).await;
    let card = sim
        .wait_for("the card", REACT, |v| {
            v.messages()[before..]
                .iter()
                .find(|m| m["content"].as_str().unwrap_or("").starts_with("**Match #"))
                .cloned()
        })
        .await;
    click(&sim, player(12), &card, "join_a").await;
    click(&sim, player(9), &card, "join_b").await;
    click(&sim, player(10), &card, "join_b").await;
    click(&sim, player(11), &card, "won_a").await;
    click(&sim, player(9), &card, "confirm").await;
    sim.wait_for("the role moves", REACT, |v| {
        let moved = v
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("/roles/{PLAYER_ROLE}")))
            .count();
        (moved >= 14).then_some(())
    })
    .await;
    settle(&sim).await;
    assert_eq!(
        role_calls(&sim, since),
        vec![
            ("DELETE".to_owned(), player(9)),
            ("DELETE".to_owned(), player(10)),
            ("PUT".to_owned(), player(11)),
            ("PUT".to_owned(), player(12)),
        ],
        "exactly the four that crossed the top-10 boundary, and no others"
    );
    let mut expected: Vec<u64> = (1..=8)
        .map(player)
        .chain([player(11), player(12)])
        .collect();
    expected.sort();
    assert_eq!(holders(&sim), expected);
    sim.assert_clean();
}

#[tokio::test]
async fn a_role_above_the_bots_is_reported_once_and_not_retried() {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        for n in 1..=2 {
            g.members.insert(player(n), Vec::new());
        }
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let settings = answer(
        &sim,
        ALICE,
        "settings",
        json!([
            {"name": "rank_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "rank_top", "type": 4, "value": 1},
            {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
        ]),
    )
    .await;
    assert!(settings.contains("the top 1"), "{settings}");
    // Someone moves the role above the bot's.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 99;
        }
    });
    let since = sim.mark();
    set_value(&sim, player(1), 10).await;
    let told = sim
        .wait_for("the note to staff", REACT, |v| {
            v.messages()
                .iter()
                .find(|m| {
                    m["content"]
                        .as_str()
                        .unwrap_or("")
                        .contains("I can't give or take the rank role")
                })
                .cloned()
        })
        .await;
    assert_eq!(told["channel_id"], GENERAL.to_string());
    // More changes: no role call and no second note.
    let later = sim.mark();
    set_value(&sim, player(2), 20).await;
    set_value(&sim, player(1), 30).await;
    settle(&sim).await;
    assert!(
        role_calls(&sim, later).is_empty(),
        "paused: {:?}",
        role_calls(&sim, later)
    );
    let notes = sim
        .bot_messages()
        .iter()
        .filter(|m| m["content"].as_str().unwrap_or("").contains("rank role"))
        .count();
    assert_eq!(notes, 1, "staff are told once");
    assert_eq!(role_calls(&sim, since).len(), 1, "one attempt, refused");
    // The refusal is Discord's rule at work, not a rule the bot broke.
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
