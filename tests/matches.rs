//! Wager matches end to end: cards and their buttons, reports, confirmation and disputes,
//! staff decisions, settlement exactly once, undo, history, expiry, restarts, seasons, and
//! every refusal.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use novera_assistant::db::Db;
use serde_json::{json, Value};
use serenity::all::{GuildId, UserId};
use support::*;

/// Two more players for 2v2 matches.
const DAVE: u64 = 1_100_000_000_000_000_104;
const ERIN: u64 = 1_100_000_000_000_000_105;
/// Where cards go (everyone may post) and where staff review results.
const MATCHES: u64 = OFF_TOPIC;
const STAFF: u64 = GENERAL;

/// A league with Dave and Erin, matches configured, staff = Staff (Alice).
async fn league() -> (Sim, Bot) {
    league_with(BotOptions::default()).await
}

async fn league_with(options: BotOptions) -> (Sim, Bot) {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.members.insert(DAVE, Vec::new());
        g.members.insert(ERIN, Vec::new());
        g.names.insert(DAVE, "dave".into());
        g.names.insert(ERIN, "erin".into());
        g.members.insert(KEEPER, vec![STAFF_ROLE]);
    });
    let mut bot = Bot::start_with(&sim, options).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let reply = answer(
        &sim,
        ALICE,
        "settings",
        json!([
            {"name": "matches_channel", "type": 7, "value": MATCHES.to_string()},
            {"name": "staff_channel", "type": 7, "value": STAFF.to_string()},
            {"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()},
        ]),
    )
    .await;
    assert!(reply.contains("Settings saved"), "{reply}");
    (sim, bot)
}

/// `user` runs `/name options` in #general; returns the text of the bot's answer (the first
/// response, or the follow-up after a deferral).
/// `/match <sub> options`.
async fn match_command(sim: &Sim, user: u64, sub: &str, options: Value) -> String {
    answer(
        sim,
        user,
        "match",
        json!([{"name": sub, "type": 1, "options": options}]),
    )
    .await
}

/// A staff member who keeps the values (nobody sets their own, Alice included).
const KEEPER: u64 = 1_100_000_000_000_000_120;

/// Gives `user` the value `value` with `/setvalue`, set by staff (Alice, or for Alice the
/// keeper).
async fn valued(sim: &Sim, user: u64, value: i64) {
    let by = if user == ALICE { KEEPER } else { ALICE };
    let (_, reply) = set_value(sim, by, user, value).await;
    assert!(reply.contains("→"), "{reply}");
}

async fn values(bot: &Bot, users: &[u64]) -> HashMap<u64, i64> {
    let db = Db::connect(&bot.database_url).await.unwrap();
    let mut out = HashMap::new();
    for user in users {
        let value = db
            .standing(GuildId::new(GUILD_ID), UserId::new(*user))
            .await
            .unwrap()
            .map_or(0, |(v, _)| v);
        out.insert(*user, value);
    }
    db.close().await;
    out
}

/// Rows of `value_history` naming match `id`.
async fn history_rows(bot: &Bot, id: i64) -> i64 {
    let db = Db::connect(&bot.database_url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_history WHERE match_id = ?")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    n
}

/// A full 2v2 at a stake of 10: Bob (its creator) and Dave on Team A, Carol and Erin on
/// Team B. Returns its card as posted.
async fn full_2v2(sim: &Sim) -> Value {
    let card = create(sim, BOB, "2v2", 10, None).await;
    click(sim, DAVE, &card, "join_a").await;
    click(sim, CAROL, &card, "join_b").await;
    click(sim, ERIN, &card, "join_b").await;
    card
}

/// `creator` creates a match; returns its card as posted.
async fn create(sim: &Sim, creator: u64, mode: &str, stake: i64, note: Option<&str>) -> Value {
    let before = sim.bot_messages().len();
    // poise sends a choice as the index of its name.
    let index = ["1v1", "2v2", "3v3", "4v4", "5v5"]
        .iter()
        .position(|m| *m == mode)
        .unwrap();
    let mut options = vec![
        json!({"name": "mode", "type": 4, "value": index}),
        json!({"name": "stake", "type": 4, "value": stake}),
    ];
    if let Some(note) = note {
        options.push(json!({"name": "note", "type": 3, "value": note}));
    }
    let reply = match_command(sim, creator, "create", Value::Array(options)).await;
    assert!(reply.contains("is up in"), "{reply}");
    sim.wait_for("the match card", REACT, |v| {
        v.messages()[before.min(v.messages().len())..]
            .iter()
            .find(|m| in_channel(m, MATCHES) && text(m).starts_with("**Match #"))
            .cloned()
    })
    .await
}

fn in_channel(message: &Value, channel: u64) -> bool {
    message["channel_id"].as_str().and_then(|c| c.parse().ok()) == Some(channel)
}

fn text(message: &Value) -> String {
    message["content"].as_str().unwrap_or_default().to_owned()
}

/// The card (or staff post) `message` as it is now.
fn now(sim: &Sim, message: &Value) -> Value {
    sim.bot_messages()
        .into_iter()
        .find(|m| m["id"] == message["id"])
        .expect("the message still exists")
}

/// Waits until `message` (edited by the bot after an answer) contains `needle`.
async fn wait_text(sim: &Sim, message: &Value, needle: &str) -> Value {
    sim.wait_for(&format!("{needle:?} on the message"), REACT, |v| {
        v.messages()
            .iter()
            .find(|m| m["id"] == message["id"] && text(m).contains(needle))
            .cloned()
    })
    .await
}

/// `user` clicks `action` on the current version of `message`; returns the bot's response body.
async fn click(sim: &Sim, user: u64, message: &Value, action: &str) -> Value {
    click_as_drawn(sim, user, &now(sim, message), action).await
}

/// `user` clicks `action` on `drawn`, a message as it was when they saw it (perhaps redrawn
/// since); returns the bot's response body.
async fn click_as_drawn(sim: &Sim, user: u64, drawn: &Value, action: &str) -> Value {
    let id = button_for(drawn, action)
        .unwrap_or_else(|| panic!("no {action} button on {}", text(drawn)));
    let marks = sim.mark();
    let pressed = sim.click(user, drawn, &id);
    let reply = sim
        .wait_request(&format!("the answer to {action}"), marks, REACT, |r| {
            is_callback(r, pressed.id)
        })
        .await;
    reply.body.unwrap_or(Value::Null)
}

/// The refusal text of an ephemeral answer.
fn refusal(body: &Value) -> String {
    assert_eq!(body["type"], 4, "a refusal is a new message: {body}");
    assert_eq!(body["data"]["flags"], 64, "a refusal is ephemeral: {body}");
    body["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The staff post about match `id`.
async fn staff_post(sim: &Sim, id: i64) -> Value {
    sim.wait_for("the staff post", REACT, |v| {
        v.messages()
            .iter()
            .find(|m| {
                in_channel(m, STAFF)
                    && text(m).contains(&format!("Match #{id}**"))
                    && text(m).starts_with("**Staff review**")
            })
            .cloned()
    })
    .await
}

fn match_id(card: &Value) -> i64 {
    let t = text(card);
    t.trim_start_matches("**Match #")
        .split("**")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no match number in {t}"))
}

#[tokio::test]
async fn a_1v1_from_creation_to_settlement() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 30).await;
    let card = create(&sim, BOB, "1v1", 10, Some("EU, best of 3")).await;
    let id = match_id(&card);
    assert!(text(&card).contains("Team A: <@") && text(&card).contains("Team B: (open)"));
    assert!(button_for(&card, "join_b").is_some() && button_for(&card, "cancel").is_some());

    let joined = click(&sim, CAROL, &card, "join_b").await;
    assert_eq!(joined["type"], 7, "the card is redrawn: {joined}");
    let full = now(&sim, &card);
    assert!(text(&full).contains("Full."), "{}", text(&full));
    assert!(
        button_for(&full, "join_a").is_none(),
        "a full match takes nobody else"
    );
    let mentions = &joined["data"]["allowed_mentions"];
    let mut users: Vec<String> = mentions["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    users.sort();
    assert_eq!(
        users,
        [BOB.to_string(), CAROL.to_string()],
        "only players ping"
    );
    assert_eq!(
        mentions["parse"],
        json!([]),
        "no @everyone or roles: {mentions}"
    );

    let reported = click(&sim, CAROL, &card, "won_b").await;
    assert_eq!(reported["type"], 7);
    let post = staff_post(&sim, id).await;
    assert!(
        button_for(&post, "approve_b").is_some(),
        "Approve names the reported winner"
    );
    assert!(text(&now(&sim, &card)).contains("Reported: **Team B** won"));
    // The reporter cannot confirm.
    let own = click(&sim, CAROL, &card, "confirm").await;
    assert!(refusal(&own).contains("You reported"), "{own}");

    let confirmed = click(&sim, BOB, &card, "confirm").await;
    assert_eq!(confirmed["type"], 7, "{confirmed}");
    let settled = text(&now(&sim, &card));
    assert!(settled.contains("Settled: **Team B** won"), "{settled}");
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 40), (CAROL, 40)])
    );
    assert_eq!(history_rows(&bot, id).await, 2);
    sim.wait_for("the staff post closed", REACT, |v| {
        v.messages()
            .iter()
            .find(|m| m["id"] == post["id"] && text(m).contains("Settled"))
            .map(|_| ())
    })
    .await;

    let history = match_command(
        &sim,
        ALICE,
        "history",
        json!([{"name": "member", "type": 6, "value": CAROL.to_string()}]),
    )
    .await;
    assert!(
        history.contains(&format!("#{id} · 1v1 · won, +¥10 million")),
        "{history}"
    );
    let shown = match_command(
        &sim,
        ALICE,
        "show",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(shown.contains("Settled"), "{shown}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_2v2_settles_every_player_and_undo_restores_every_value() {
    let (sim, bot) = league().await;
    for (user, value) in [(BOB, 20), (CAROL, 20), (DAVE, 15), (ERIN, 100)] {
        valued(&sim, user, value).await;
    }
    let card = create(&sim, BOB, "2v2", 15, None).await;
    let id = match_id(&card);
    click(&sim, DAVE, &card, "join_a").await;
    click(&sim, CAROL, &card, "join_b").await;
    click(&sim, ERIN, &card, "join_b").await;
    assert!(text(&now(&sim, &card)).contains("Full."));
    // Dave's value drops below the stake after he joined: he loses what he has, not more.
    valued(&sim, DAVE, 4).await;
    click(&sim, CAROL, &card, "won_b").await;
    // Every loser confirms: Dave's confirmation alone settles nothing.
    click(&sim, DAVE, &card, "confirm").await;
    let waiting = wait_text(&sim, &card, &format!("Waiting for <@{BOB}>")).await;
    assert!(
        text(&waiting).contains(&format!("Confirmed by <@{DAVE}>")),
        "{}",
        text(&waiting)
    );
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 20), (CAROL, 20), (DAVE, 4), (ERIN, 100)])
    );
    click(&sim, BOB, &card, "confirm").await;
    wait_text(&sim, &card, "Settled").await;
    let after = values(&bot, &[BOB, CAROL, DAVE, ERIN]).await;
    assert_eq!(
        after,
        HashMap::from([(BOB, 5), (CAROL, 35), (DAVE, 0), (ERIN, 115)])
    );

    let undone = match_command(
        &sim,
        ALICE,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(undone.contains(&format!("Match #{id} undone")), "{undone}");
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 20), (CAROL, 20), (DAVE, 4), (ERIN, 100)]),
        "every value is back where the match found it"
    );
    assert_eq!(
        history_rows(&bot, id).await,
        8,
        "the undo adds rows; nothing is deleted"
    );
    wait_text(&sim, &card, "Void").await;
    let again = match_command(
        &sim,
        ALICE,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(again.contains("was undone"), "{again}");
    assert_eq!(history_rows(&bot, id).await, 8);
    let history = match_command(&sim, DAVE, "history", json!([])).await;
    assert!(
        history.contains(&format!("#{id} · 2v2 · void (undone)")),
        "{history}"
    );
    sim.assert_clean().await;
}

/// A result is answered by the side it makes lose, every player of it but the reporter: a
/// player who reports their own side's loss cannot have it settled by a friend on the other
/// side over their teammate's head, nor can one loser give a teammate's stake away. A 1v1
/// player who concedes is the whole losing side: their opponent confirms.
#[tokio::test]
async fn the_side_a_report_makes_lose_answers_it() {
    let (sim, bot) = league().await;
    for user in [BOB, CAROL, DAVE, ERIN] {
        valued(&sim, user, 50).await;
    }
    let card = full_2v2(&sim).await;
    // Dave throws the match for his own side; Carol, on the winning side, tries to settle it.
    click(&sim, DAVE, &card, "won_b").await;
    let reported = wait_text(&sim, &card, "Reported").await;
    assert!(
        text(&reported).contains(&format!("Waiting for <@{BOB}> to confirm or dispute")),
        "{}",
        text(&reported)
    );
    for (user, action, why) in [
        (CAROL, "confirm", "Team A confirms"),
        (ERIN, "dispute", "Team A confirms"),
        (DAVE, "confirm", "You reported"),
        (DAVE, "dispute", "You reported"),
    ] {
        let refused = click(&sim, user, &card, action).await;
        assert!(
            refusal(&refused).contains(why),
            "{user} {action}: {refused}"
        );
    }
    assert!(text(&now(&sim, &card)).contains("Reported"));
    // Bob, Dave's teammate, disputes: staff decide, nothing settled.
    let disputed = click(&sim, BOB, &card, "dispute").await;
    assert_eq!(disputed["type"], 7, "{disputed}");
    wait_text(&sim, &card, "Disputed").await;
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 50), (CAROL, 50), (DAVE, 50), (ERIN, 50)])
    );

    // Staff call it off, which also frees the players, and the cancelled card says so.
    let id = match_id(&card);
    let decided = decide(&sim, ALICE, id, 2).await;
    assert!(!decided.contains("Sorry"), "{decided}");
    wait_text(&sim, &card, "Cancelled").await;

    // When Dave reports his own side's loss again, Bob's confirmation is the only one awaited:
    // the reporter's own counts as given.
    let card = full_2v2(&sim).await;
    click(&sim, DAVE, &card, "won_b").await;
    let confirmed = click(&sim, BOB, &card, "confirm").await;
    assert_eq!(confirmed["type"], 7, "{confirmed}");
    wait_text(&sim, &card, "Settled").await;
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 40), (CAROL, 60), (DAVE, 40), (ERIN, 60)])
    );

    // One loser's confirmation settles nothing: Carol confirms (twice), Erin has not yet.
    let card = full_2v2(&sim).await;
    click(&sim, BOB, &card, "won_a").await;
    for _ in 0..2 {
        let confirmed = click(&sim, CAROL, &card, "confirm").await;
        assert_eq!(confirmed["type"], 7, "{confirmed}");
    }
    let waiting = wait_text(
        &sim,
        &card,
        &format!("Confirmed by <@{CAROL}>. Waiting for <@{ERIN}>"),
    )
    .await;
    assert!(text(&waiting).contains("Reported"), "{}", text(&waiting));
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 40), (CAROL, 60), (DAVE, 40), (ERIN, 60)])
    );
    click(&sim, ERIN, &card, "confirm").await;
    wait_text(&sim, &card, "Settled").await;
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 50), (CAROL, 50), (DAVE, 50), (ERIN, 50)])
    );

    // A 1v1 concession: Erin reports her own loss, Carol confirms.
    let card = create(&sim, ERIN, "1v1", 5, None).await;
    click(&sim, CAROL, &card, "join_b").await;
    click(&sim, ERIN, &card, "won_b").await;
    let reported = wait_text(&sim, &card, "Reported").await;
    assert!(
        text(&reported).contains(&format!("Waiting for <@{CAROL}>")),
        "{}",
        text(&reported)
    );
    let confirmed = click(&sim, CAROL, &card, "confirm").await;
    assert_eq!(confirmed["type"], 7, "{confirmed}");
    wait_text(&sim, &card, "Settled").await;
    assert_eq!(
        values(&bot, &[CAROL, ERIN]).await,
        HashMap::from([(CAROL, 55), (ERIN, 45)])
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_dispute_goes_to_staff_who_reject_then_approve() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 50).await;
    let card = create(&sim, BOB, "1v1", 20, None).await;
    let id = match_id(&card);
    click(&sim, CAROL, &card, "join_b").await;
    click(&sim, BOB, &card, "won_a").await;
    click(&sim, CAROL, &card, "dispute").await;
    let disputed = now(&sim, &card);
    assert!(text(&disputed).contains("Disputed"), "{}", text(&disputed));
    assert!(
        button_for(&disputed, "confirm").is_none(),
        "staff decide now"
    );
    let post = staff_post(&sim, id).await;
    // A player cannot approve from the staff post, even their own side's report.
    let refused = click(&sim, BOB, &post, "approve_a").await;
    assert!(refusal(&refused).contains("Only"), "{refused}");
    let rejected = click(&sim, ALICE, &post, "reject").await;
    assert_eq!(rejected["type"], 7, "{rejected}");
    wait_text(&sim, &card, "Full.").await;
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 50), (CAROL, 50)])
    );

    click(&sim, CAROL, &card, "won_b").await;
    click(&sim, BOB, &card, "dispute").await;
    // A click left from the first report (Team A) cannot settle the new one (Team B).
    let stale = format!("nvm:{id}:approve_a");
    let marks = sim.mark();
    let old = sim.click(ALICE, &now(&sim, &post), &stale);
    let reply = sim
        .wait_request("the stale approval", marks, REACT, |r| {
            is_callback(r, old.id)
        })
        .await;
    assert!(
        refusal(reply.body.as_ref().unwrap()).contains("changed"),
        "{reply:?}"
    );
    let approved = click(&sim, ALICE, &post, "approve_b").await;
    assert_eq!(approved["type"], 7, "{approved}");
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 30), (CAROL, 70)])
    );
    wait_text(&sim, &card, "Settled: **Team B** won").await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn double_and_concurrent_approvals_settle_once() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 50).await;
    let card = create(&sim, BOB, "1v1", 5, None).await;
    let id = match_id(&card);
    click(&sim, CAROL, &card, "join_b").await;
    click(&sim, BOB, &card, "won_a").await;
    let post = staff_post(&sim, id).await;
    let post = now(&sim, &post);
    let approve = button_for(&post, "approve_a").unwrap();
    let confirm = button_for(&now(&sim, &card), "confirm").unwrap();
    // All at once: a double click on Approve, the other side's Confirm, and /match decide.
    let marks = sim.mark();
    let clicks = [
        sim.click(ALICE, &post, &approve),
        sim.click(ALICE, &post, &approve),
        sim.click(CAROL, &now(&sim, &card), &confirm),
        sim.slash(
            ALICE,
            GENERAL,
            "match",
            json!([{"name": "decide", "type": 1, "options": [
                {"name": "match_id", "type": 4, "value": id},
                {"name": "verdict", "type": 4, "value": 0},
            ]}]),
        ),
    ];
    for pressed in &clicks {
        sim.wait_request("every answer", marks, REACT, |r| is_callback(r, pressed.id))
            .await;
    }
    // /match decide answers after a deferral: its follow-up says what happened.
    sim.wait_request("the decision's answer", marks, REACT, |r| {
        is_followup(r, &clicks[3].token)
    })
    .await;
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 55), (CAROL, 45)])
    );
    assert_eq!(history_rows(&bot, id).await, 2, "settled exactly once");
    let refusals = sim
        .requests_since(marks)
        .iter()
        .filter(|r| content(r).contains("already settled"))
        .count();
    assert!(
        refusals >= 3,
        "the three late ones are told: {}",
        sim.request_log()
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_restart_between_report_and_confirmation_keeps_the_buttons_working() {
    // The database outlives each bot process.
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("league.db").display());
    let (sim, mut bot) = league_with(BotOptions {
        database_url: Some(database_url.clone()),
        ..BotOptions::default()
    })
    .await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 50).await;
    for (round, hard) in [(1, false), (2, true)] {
        let card = create(&sim, BOB, "1v1", 10, None).await;
        let id = match_id(&card);
        click(&sim, CAROL, &card, "join_b").await;
        click(&sim, CAROL, &card, "won_b").await;
        if hard {
            bot.kill_hard().await;
        } else {
            bot.sigterm();
            let status = bot.wait_exit(Duration::from_secs(12)).await;
            assert_eq!(status.code(), Some(0));
        }
        let options = BotOptions {
            database_url: Some(database_url.clone()),
            ..BotOptions::default()
        };
        bot = Bot::start_with(&sim, options).await;
        bot.wait_health(200, Duration::from_secs(20)).await;
        let confirmed = click(&sim, BOB, &card, "confirm").await;
        assert_eq!(confirmed["type"], 7, "round {round}: {confirmed}");
        assert!(text(&now(&sim, &card)).contains("Settled"), "round {round}");
        assert_eq!(history_rows(&bot, id).await, 2, "round {round}");
    }
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 30), (CAROL, 70)])
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn an_open_match_expires_and_its_card_says_so() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 50).await;
    let card = create(&sim, BOB, "2v2", 10, None).await;
    let id = match_id(&card);
    let db = Db::connect(&bot.database_url).await.unwrap();
    sqlx::query("UPDATE matches SET expires_at = 0 WHERE id = ?")
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    // A click finds it expired at once; the sweep would within 10 s.
    let late = click(&sim, CAROL, &card, "join_b").await;
    assert!(refusal(&late).contains("expired"), "{late}");
    sim.wait_for("the card saying expired", REACT, |v| {
        v.messages()
            .iter()
            .find(|m| m["id"] == card["id"] && text(m).contains("Expired"))
            .map(|_| ())
    })
    .await;
    assert!(button_for(&now(&sim, &card), "join_b").is_none());
    // Bob is free again.
    create(&sim, BOB, "1v1", 10, None).await;

    // The sweep expires a match nobody clicks.
    let db = Db::connect(&bot.database_url).await.unwrap();
    sqlx::query("UPDATE matches SET expires_at = 0 WHERE status = 'open'")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let second = sim
        .bot_messages()
        .into_iter()
        .rev()
        .find(|m| text(m).starts_with("**Match #"))
        .unwrap();
    sim.wait_for("the sweep", Duration::from_secs(15), |v| {
        v.messages()
            .iter()
            .find(|m| m["id"] == second["id"] && text(m).contains("Expired"))
            .map(|_| ())
    })
    .await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn two_confirmations_of_the_same_season_end_it_once() {
    let (sim, _bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 30).await;
    // A match settled in season 1, to undo after it ends.
    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    click(&sim, CAROL, &card, "join_b").await;
    click(&sim, CAROL, &card, "won_b").await;
    click(&sim, BOB, &card, "confirm").await;
    wait_text(&sim, &card, "Settled").await;
    let mut prompts = Vec::new();
    for _ in 0..2 {
        let question = season_end_prompt(&sim, ALICE, 1, &prompts).await;
        prompts.push(question);
    }
    let first = click(&sim, ALICE, &prompts[0], "end").await;
    assert_eq!(first["type"], 7, "{first}");
    wait_text(&sim, &prompts[0], "Season 1 ended").await;
    click(&sim, ALICE, &prompts[1], "end").await;
    wait_text(
        &sim,
        &prompts[1],
        "Season 1 has already ended: nothing changed.",
    )
    .await;
    let last = answer(
        &sim,
        BOB,
        "season",
        json!([{"name": "show", "type": 1, "options": []}]),
    )
    .await;
    assert!(last.contains("**Season 1**"), "only one season: {last}");
    // Values were archived since the match settled: its undo cannot be exact.
    let undo = match_command(
        &sim,
        ALICE,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(
        undo.contains("settled before the last season ended"),
        "{undo}"
    );
    sim.assert_clean().await;
}

fn prompts_seen(message: &Value, seen: &[Value]) -> bool {
    seen.iter().any(|m| m["id"] == message["id"])
}

/// `user` runs `/season end` and is asked to confirm ending season `season`; returns that
/// prompt, the newest not among `seen`.
async fn season_end_prompt(sim: &Sim, user: u64, season: i64, seen: &[Value]) -> Value {
    let (_, asked) = run_command_with(
        sim,
        user,
        GENERAL,
        "season",
        json!([{"name": "end", "type": 1, "options": []}]),
    )
    .await;
    let ask = format!("End season {season}?");
    assert!(content(&asked).contains(&ask), "{}", content(&asked));
    sim.wait_for("the prompt", REACT, |v| {
        v.messages()
            .iter()
            .rev()
            .find(|m| text(m).contains(&ask) && !prompts_seen(m, seen))
            .cloned()
    })
    .await
}

#[tokio::test]
async fn a_season_ends_with_values_kept_then_reset() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 30).await;
    // Dave is back at ¥0, which counts as no value: a reset leaves him there.
    valued(&sim, DAVE, 5).await;
    valued(&sim, DAVE, 0).await;
    for (season, reset) in [(1, false), (2, true)] {
        if reset {
            let reply = answer(
                &sim,
                ALICE,
                "settings",
                json!([
                    {"name": "season_reset", "type": 4, "value": 1},
                    {"name": "season_base_value", "type": 4, "value": 10},
                ]),
            )
            .await;
            assert!(reply.contains("values go back to ¥10 million"), "{reply}");
        }
        let (_, asked) = run_command_with(
            &sim,
            ALICE,
            GENERAL,
            "season",
            json!([{"name": "end", "type": 1, "options": []}]),
        )
        .await;
        let ask = format!("End season {season}?");
        assert!(content(&asked).contains(&ask), "{}", content(&asked));
        let question = sim
            .bot_messages()
            .into_iter()
            .rev()
            .find(|m| text(m).contains(&ask))
            .unwrap();
        let ended = click(&sim, ALICE, &question, "end").await;
        assert_eq!(ended["type"], 7, "{ended}");
        wait_text(&sim, &question, &format!("Season {season} ended")).await;
        // A second click on the same confirmation ends nothing more.
        if !reset {
            let marks = sim.mark();
            let again = sim.click(ALICE, &question, &button_for(&question, "end").unwrap());
            let answered = sim
                .wait_request("the second click's answer", marks, REACT, |r| {
                    is_callback(r, again.id)
                })
                .await;
            let body = answered.body.unwrap_or(Value::Null);
            assert!(text(&body["data"]).contains("has expired"), "{body}");
        }
        let expected = if reset {
            HashMap::from([(BOB, 10), (CAROL, 10), (DAVE, 0)])
        } else {
            HashMap::from([(BOB, 50), (CAROL, 30), (DAVE, 0)])
        };
        assert_eq!(
            values(&bot, &[BOB, CAROL, DAVE]).await,
            expected,
            "season {season}"
        );
    }
    let first = answer(
        &sim,
        BOB,
        "season",
        json!([{"name": "show", "type": 1, "options": [{"name": "number", "type": 4, "value": 1}]}]),
    )
    .await;
    assert!(first.contains("**Season 1**"), "{first}");
    assert!(first.contains("then keep."), "{first}");
    let bob_at = first.find(&format!("1. <@{BOB}> — ¥50 million"));
    let carol_at = first.find(&format!("2. <@{CAROL}> — ¥30 million"));
    assert!(bob_at.is_some() && carol_at.is_some(), "{first}");
    let last = answer(
        &sim,
        BOB,
        "season",
        json!([{"name": "show", "type": 1, "options": []}]),
    )
    .await;
    assert!(
        last.contains("**Season 2**") && last.contains("reset to 10"),
        "{last}"
    );
    // Only Manage Server ends a season.
    let (_, refused) = run_command_with(
        &sim,
        BOB,
        GENERAL,
        "season",
        json!([{"name": "end", "type": 1, "options": []}]),
    )
    .await;
    assert!(
        content(&refused).contains("Manage Server"),
        "{}",
        content(&refused)
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn refusals_change_nothing() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 5).await;
    let stake = |n: i64| json!([{"name": "mode", "type": 4, "value": 0}, {"name": "stake", "type": 4, "value": n}]);
    let above = match_command(&sim, CAROL, "create", stake(10)).await;
    assert!(
        above.contains("nobody may stake more than their value"),
        "{above}"
    );
    let card = create(
        &sim,
        BOB,
        "1v1",
        10,
        Some("@everyone come <@1100000000000000103>"),
    )
    .await;
    let id = match_id(&card);
    // The note pings nobody: only players may be pinged, and Carol is not one yet.
    let posted = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{MATCHES}/messages"))
        .unwrap();
    let mentions = &posted.body.as_ref().unwrap()["allowed_mentions"];
    assert_eq!(mentions["users"], json!([BOB.to_string()]), "{mentions}");
    assert_eq!(mentions["parse"], json!([]), "{mentions}");
    assert_eq!(
        pinged(&card),
        (vec![BOB], vec![], false),
        "only Bob, its player"
    );
    // Shown as typed: not as a mention, nor as formatting.
    assert!(
        text(&card).contains(&format!("come \\<@{CAROL}\\>")),
        "{}",
        text(&card)
    );

    let busy = match_command(&sim, BOB, "create", stake(1)).await;
    assert!(busy.contains(&format!("already in match #{id}")), "{busy}");
    let poor = click(&sim, CAROL, &card, "join_b").await;
    assert!(refusal(&poor).contains("stake"), "{poor}");
    let early = match_command(
        &sim,
        BOB,
        "report",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "winner", "type": 4, "value": 0}]),
    )
    .await;
    assert!(early.contains("still taking players"), "{early}");
    let unknown = match_command(
        &sim,
        BOB,
        "show",
        json!([{"name": "match_id", "type": 4, "value": 999}]),
    )
    .await;
    assert!(unknown.contains("no match #999"), "{unknown}");
    let not_creator = click(&sim, ALICE, &card, "cancel").await;
    assert!(refusal(&not_creator).contains("creator"), "{not_creator}");
    let not_player = click(&sim, ALICE, &card, "leave").await;
    assert!(
        refusal(&not_player).contains("Only the players"),
        "{not_player}"
    );
    let creator_leaves = click(&sim, BOB, &card, "leave").await;
    assert!(
        refusal(&creator_leaves).contains("cancel it"),
        "{creator_leaves}"
    );
    let undo = match_command(
        &sim,
        CAROL,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(undo.contains("Sorry, only"), "{undo}");
    let bad_proof = match_command(
        &sim,
        BOB,
        "report",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "winner", "type": 4, "value": 0},
               {"name": "proof", "type": 3, "value": "javascript:alert(1)"}]),
    )
    .await;
    assert!(bad_proof.contains("must be a link"), "{bad_proof}");
    // A link that would close early on the card and carry a role mention after it.
    let sneaky = format!("https://x<@&{STAFF_ROLE}");
    let bad_proof = match_command(
        &sim,
        BOB,
        "report",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "winner", "type": 4, "value": 0},
               {"name": "proof", "type": 3, "value": sneaky}]),
    )
    .await;
    assert!(bad_proof.contains("must be a link"), "{bad_proof}");
    assert!(
        text(&now(&sim, &card)).contains("Open"),
        "nothing changed the match"
    );
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 50), (CAROL, 5)])
    );
    let cancelled = click(&sim, BOB, &card, "cancel").await;
    assert_eq!(cancelled["type"], 7);
    assert!(text(&now(&sim, &card)).contains("Cancelled"));
    sim.assert_clean().await;
}

/// Creating and cancelling in a loop would fill the matches channel with cards: a member
/// creates at most five matches an hour, and is told when the next may be created.
#[tokio::test]
async fn a_create_and_cancel_loop_is_stopped() {
    let (sim, _bot) = league().await;
    valued(&sim, BOB, 50).await;
    for _ in 0..5 {
        let card = create(&sim, BOB, "1v1", 1, None).await;
        let cancelled = click(&sim, BOB, &card, "cancel").await;
        assert_eq!(cancelled["type"], 7, "{cancelled}");
    }
    let cards = || {
        sim.bot_messages()
            .iter()
            .filter(|m| in_channel(m, MATCHES))
            .count()
    };
    let before = cards();
    let stake =
        json!([{"name": "mode", "type": 4, "value": 0}, {"name": "stake", "type": 4, "value": 1}]);
    let refused = match_command(&sim, BOB, "create", stake).await;
    assert!(refused.contains("5 matches in the last hour"), "{refused}");
    assert!(refused.contains("<t:"), "{refused}");
    assert_eq!(cards(), before, "no card was posted");
    // Others are not limited by Bob's loop.
    valued(&sim, CAROL, 50).await;
    create(&sim, CAROL, "1v1", 1, None).await;
    sim.assert_clean().await;
}

/// `/match decide match_id verdict` as `user` (0 approve, 1 reject, 2 cancel).
async fn decide(sim: &Sim, user: u64, id: i64, verdict: u64) -> String {
    match_command(
        sim,
        user,
        "decide",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "verdict", "type": 4, "value": verdict}]),
    )
    .await
}

/// Staff who play in a match decide nothing about it, whatever the path: no verdict by
/// `/match decide`, and no `/match undo` once it is settled.
#[tokio::test]
async fn staff_who_play_decide_nothing_by_command() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, KEEPER, 50).await;
    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    click(&sim, KEEPER, &card, "join_b").await;
    click(&sim, BOB, &card, "won_a").await;
    wait_text(&sim, &card, "Reported").await;
    for verdict in [0, 1, 2] {
        let told = decide(&sim, KEEPER, id, verdict).await;
        assert!(
            told.contains("You play in this match"),
            "verdict {verdict}: {told}"
        );
    }
    assert!(text(&now(&sim, &card)).contains("Reported"));
    // As a player, Keeper answers the report like anyone on the losing side.
    let confirmed = click(&sim, KEEPER, &card, "confirm").await;
    assert_eq!(confirmed["type"], 7, "{confirmed}");
    wait_text(&sim, &card, "Settled").await;
    let undo = match_command(
        &sim,
        KEEPER,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(undo.contains("You play in this match"), "{undo}");
    assert_eq!(
        values(&bot, &[BOB, KEEPER]).await,
        HashMap::from([(BOB, 60), (KEEPER, 40)])
    );
    sim.assert_clean().await;
}

/// `/season end` is decided again at its confirmation click: a member who lost Manage Server
/// since the prompt ends nothing.
#[tokio::test]
async fn a_season_end_is_checked_again_at_the_click() {
    let (sim, _bot) = league().await;
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![MODERATOR_ROLE]);
    });
    let prompt = season_end_prompt(&sim, CAROL, 1, &[]).await;
    sim.edit_guild(|g| {
        g.members.insert(CAROL, Vec::new());
    });
    let refused = click(&sim, CAROL, &prompt, "end").await;
    assert_eq!(refused["type"], 7, "{refused}");
    assert!(
        refused["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Only members with Manage Server"),
        "{refused}"
    );
    let seasons = answer(
        &sim,
        BOB,
        "season",
        json!([{"name": "show", "type": 1, "options": []}]),
    )
    .await;
    assert!(seasons.contains("No season has ended yet"), "{seasons}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn matches_need_a_channel_first() {
    let (sim, _bot) = start_ready().await;
    let reply = answer(
        &sim,
        BOB,
        "match",
        json!([{"name": "create", "type": 1, "options": [
            {"name": "mode", "type": 4, "value": 0}, {"name": "stake", "type": 4, "value": 1}]}]),
    )
    .await;
    assert!(reply.contains("/settings matches_channel"), "{reply}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn staff_limits_forged_clicks_and_an_undo_that_cannot_be_exact() {
    let (sim, bot) = league().await;
    // Dave is staff through the role only (no Manage Server).
    sim.edit_guild(|g| {
        g.members.insert(DAVE, vec![STAFF_ROLE]);
    });
    valued(&sim, ALICE, 50).await;
    valued(&sim, BOB, 50).await;
    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    click(&sim, ALICE, &card, "join_b").await;
    // Full: the creator can no longer call it off (a button forged from an old card says why).
    let marks = sim.mark();
    let forged = sim.click(BOB, &now(&sim, &card), &format!("nvm:{id}:cancel"));
    let reply = sim
        .wait_request("the forged cancel", marks, REACT, |r| {
            is_callback(r, forged.id)
        })
        .await;
    assert!(
        refusal(reply.body.as_ref().unwrap()).contains("only staff"),
        "{reply:?}"
    );
    click(&sim, BOB, &card, "won_a").await;
    let post = staff_post(&sim, id).await;
    // A card's button forged onto the staff post changes nothing.
    let marks = sim.mark();
    let misplaced = sim.click(BOB, &now(&sim, &post), &format!("nvm:{id}:confirm_a"));
    let reply = sim
        .wait_request("the misplaced click", marks, REACT, |r| {
            is_callback(r, misplaced.id)
        })
        .await;
    assert!(
        refusal(reply.body.as_ref().unwrap()).contains("doesn't belong"),
        "{reply:?}"
    );
    // Alice is staff but plays: she does not decide.
    let own = click(&sim, ALICE, &post, "approve_a").await;
    assert!(refusal(&own).contains("another staff member"), "{own}");
    assert!(text(&now(&sim, &card)).contains("Reported"));
    let approved = click(&sim, DAVE, &post, "approve_a").await;
    assert_eq!(approved["type"], 7, "{approved}");
    assert_eq!(
        values(&bot, &[ALICE, BOB]).await,
        HashMap::from([(ALICE, 40), (BOB, 60)])
    );

    // Bob's value moved since: undoing exactly would take him below 0, so nothing is undone.
    valued(&sim, BOB, 5).await;
    let undo = match_command(
        &sim,
        DAVE,
        "undo",
        json!([{"name": "match_id", "type": 4, "value": id}]),
    )
    .await;
    assert!(
        undo.contains("out of") && undo.contains("/addvalue"),
        "{undo}"
    );
    assert_eq!(
        values(&bot, &[ALICE, BOB]).await,
        HashMap::from([(ALICE, 40), (BOB, 5)])
    );
    assert_eq!(history_rows(&bot, id).await, 2, "no reversal was written");
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_season_waits_for_results_and_calls_off_open_and_full_matches() {
    let (sim, bot) = league().await;
    for user in [BOB, CAROL, DAVE] {
        valued(&sim, user, 50).await;
    }
    let reported = create(&sim, BOB, "1v1", 10, None).await;
    let reported_id = match_id(&reported);
    click(&sim, CAROL, &reported, "join_b").await;
    click(&sim, CAROL, &reported, "won_b").await;
    let open = create(&sim, DAVE, "2v2", 10, None).await;
    let end = json!([{"name": "end", "type": 1, "options": []}]);
    let end_season = || async {
        run_command_with(&sim, ALICE, GENERAL, "season", end.clone()).await;
        let question = sim
            .bot_messages()
            .into_iter()
            .rev()
            .find(|m| text(m).contains("End season 1?"))
            .unwrap();
        click(&sim, ALICE, &question, "end").await;
        question
    };
    let question = end_season().await;
    wait_text(&sim, &question, &format!("matches #{reported_id}")).await;
    assert!(
        text(&now(&sim, &open)).contains("Open"),
        "nothing was called off"
    );
    let no_season = answer(
        &sim,
        BOB,
        "season",
        json!([{"name": "show", "type": 1, "options": []}]),
    )
    .await;
    assert!(no_season.contains("No season has ended yet"), "{no_season}");

    let decided = match_command(
        &sim,
        ALICE,
        "decide",
        json!([{"name": "match_id", "type": 4, "value": reported_id}, {"name": "verdict", "type": 4, "value": 0}]),
    )
    .await;
    assert!(decided.contains("settled"), "{decided}");
    // A full match, played or not, has no result waiting: it is called off too.
    let full = create(&sim, BOB, "1v1", 5, None).await;
    click(&sim, CAROL, &full, "join_b").await;
    wait_text(&sim, &full, "Full.").await;
    let question = end_season().await;
    wait_text(&sim, &question, "Season 1 ended").await;
    wait_text(&sim, &open, "Cancelled").await;
    wait_text(&sim, &full, "Cancelled").await;
    // Dave is free, and his stake was never taken.
    assert_eq!(values(&bot, &[DAVE]).await, HashMap::from([(DAVE, 50)]));
    create(&sim, DAVE, "1v1", 10, None).await;
    sim.assert_clean().await;
}

/// A member in timeout takes part in no match until it ends: no card, no join, no report.
/// Buttons left on a card drawn earlier act on nothing they do not name: a Join on a card that
/// filled since, a Confirm or Dispute of a result staff rejected and that was reported the other
/// way since.
#[tokio::test]
async fn timeouts_and_buttons_drawn_earlier_change_nothing() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 30).await;
    valued(&sim, ERIN, 30).await;
    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    sim.edit_guild(|g| {
        g.timed_out.insert(CAROL);
    });
    let muted = click(&sim, CAROL, &card, "join_b").await;
    assert!(refusal(&muted).contains("timeout"), "{muted}");
    sim.edit_guild(|g| {
        g.timed_out.insert(BOB);
    });
    let muted = click(&sim, BOB, &card, "cancel").await;
    assert!(refusal(&muted).contains("timeout"), "{muted}");
    sim.edit_guild(|g| {
        g.timed_out.remove(&BOB);
    });
    let stake =
        json!([{"name": "mode", "type": 4, "value": 0}, {"name": "stake", "type": 4, "value": 1}]);
    let muted = match_command(&sim, CAROL, "create", stake).await;
    assert!(muted.contains("timeout"), "{muted}");
    assert!(text(&now(&sim, &card)).contains("Open"), "nothing changed");
    sim.edit_guild(|g| {
        g.timed_out.remove(&CAROL);
    });

    let open = now(&sim, &card);
    click(&sim, CAROL, &card, "join_b").await;
    let late = click_as_drawn(&sim, ERIN, &open, "join_a").await;
    assert!(refusal(&late).contains("takes nobody else"), "{late}");
    let late = click_as_drawn(&sim, CAROL, &open, "leave").await;
    assert!(refusal(&late).contains("is full."), "{late}");

    // Carol concedes; staff reject it; she reports her own win instead.
    click(&sim, CAROL, &card, "won_a").await;
    let conceded = wait_text(&sim, &card, "Reported: **Team A** won").await;
    let rejected = decide(&sim, ALICE, id, 1).await;
    assert!(rejected.contains("rejected"), "{rejected}");
    wait_text(&sim, &card, "Full.").await;
    sim.edit_guild(|g| {
        g.timed_out.insert(CAROL);
    });
    let muted = match_command(
        &sim,
        CAROL,
        "report",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "winner", "type": 4, "value": 1}]),
    )
    .await;
    assert!(muted.contains("timeout"), "{muted}");
    for action in ["won_b", "won_a"] {
        let muted = click(&sim, CAROL, &card, action).await;
        assert!(refusal(&muted).contains("timeout"), "{action}: {muted}");
    }
    sim.edit_guild(|g| {
        g.timed_out.remove(&CAROL);
    });
    click(&sim, CAROL, &card, "won_b").await;
    wait_text(&sim, &card, "Reported: **Team B** won").await;
    // Nor does Bob answer it while he is in timeout.
    sim.edit_guild(|g| {
        g.timed_out.insert(BOB);
    });
    for action in ["confirm", "dispute"] {
        let muted = click(&sim, BOB, &card, action).await;
        assert!(refusal(&muted).contains("timeout"), "{action}: {muted}");
    }
    sim.edit_guild(|g| {
        g.timed_out.remove(&BOB);
    });
    // Bob's Confirm and Dispute on the concession's card do not answer her new report.
    for action in ["confirm", "dispute"] {
        let stale = click_as_drawn(&sim, BOB, &conceded, action).await;
        assert!(refusal(&stale).contains("changed"), "{action}: {stale}");
    }
    // A Confirm that names no result (drawn before buttons named it) settles nothing.
    let marks = sim.mark();
    let unnamed = sim.click(BOB, &now(&sim, &card), &format!("nvm:{id}:confirm"));
    let told = sim
        .wait_request("the unnamed Confirm", marks, REACT, |r| {
            is_callback(r, unnamed.id)
        })
        .await;
    let told = told.body.unwrap_or(Value::Null);
    assert!(refusal(&told).contains("out of date"), "{told}");
    assert!(text(&now(&sim, &card)).contains("Reported: **Team B** won"));
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 50), (CAROL, 30)])
    );
    click(&sim, BOB, &card, "confirm").await;
    wait_text(&sim, &card, "Settled: **Team B** won").await;
    sim.assert_clean().await;
}

/// A member in timeout cannot Leave a card either: they stay on it, listed as before.
#[tokio::test]
async fn a_member_in_timeout_stays_on_the_card() {
    let (sim, _bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, DAVE, 50).await;
    let card = create(&sim, BOB, "2v2", 10, None).await;
    click(&sim, DAVE, &card, "join_a").await;
    let joined = text(&now(&sim, &card));
    assert!(joined.contains(&format!("<@{DAVE}>")), "{joined}");
    sim.edit_guild(|g| {
        g.timed_out.insert(DAVE);
    });
    let muted = click(&sim, DAVE, &card, "leave").await;
    assert!(refusal(&muted).contains("timeout"), "{muted}");
    assert_eq!(text(&now(&sim, &card)), joined, "the card changed");
    sim.edit_guild(|g| {
        g.timed_out.remove(&DAVE);
    });
    click(&sim, DAVE, &card, "leave").await;
    let left = text(&now(&sim, &card));
    assert!(!left.contains(&format!("<@{DAVE}>")), "{left}");
    sim.assert_clean().await;
}

/// A click whose answer Discord refuses still did what it says: a report made that way is on
/// the card and in front of staff, so the other side can confirm it and staff can decide it.
#[tokio::test]
async fn a_report_whose_answer_failed_still_reaches_the_card_and_staff() {
    let (sim, _bot) = league().await;
    valued(&sim, BOB, 50).await;
    valued(&sim, CAROL, 30).await;
    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    click(&sim, CAROL, &card, "join_b").await;
    sim.fail_next(1, 500, "/callback");
    click(&sim, CAROL, &card, "won_a").await;
    let reported = wait_text(&sim, &card, "Reported: **Team A** won").await;
    assert!(button_for(&reported, "confirm").is_some(), "{reported}");
    let post = staff_post(&sim, id).await;
    assert!(button_for(&post, "approve_a").is_some(), "{post}");
    sim.assert_clean().await;
}

/// A new report, or one staff reject, starts the confirmations afresh: a confirmation given to
/// a rejected report does not count for the next, even one with the same winner.
#[tokio::test]
async fn confirmations_start_afresh_after_a_rejection() {
    let (sim, bot) = league().await;
    for user in [BOB, CAROL, DAVE, ERIN] {
        valued(&sim, user, 50).await;
    }
    let card = full_2v2(&sim).await;
    let id = match_id(&card);
    click(&sim, BOB, &card, "won_a").await;
    click(&sim, CAROL, &card, "confirm").await;
    wait_text(&sim, &card, &format!("Confirmed by <@{CAROL}>")).await;
    let rejected = decide(&sim, ALICE, id, 1).await;
    assert!(rejected.contains("rejected"), "{rejected}");
    click(&sim, BOB, &card, "won_a").await;
    click(&sim, ERIN, &card, "confirm").await;
    let waiting = wait_text(&sim, &card, &format!("Confirmed by <@{ERIN}>")).await;
    assert!(
        text(&waiting).contains(&format!("Waiting for <@{CAROL}>")),
        "{}",
        text(&waiting)
    );
    assert_eq!(
        values(&bot, &[BOB, CAROL, DAVE, ERIN]).await,
        HashMap::from([(BOB, 50), (CAROL, 50), (DAVE, 50), (ERIN, 50)])
    );
    sim.assert_clean().await;
}

/// A player may leave an open match; a member busy in another match is refused a place by
/// click; a proof link is shown on the card; and a win never takes a value above the highest.
#[tokio::test]
async fn leaving_a_busy_member_a_proof_and_the_highest_value() {
    let (sim, bot) = league().await;
    valued(&sim, BOB, 999_995).await;
    valued(&sim, CAROL, 30).await;
    valued(&sim, ERIN, 30).await;
    let open = create(&sim, BOB, "2v2", 10, None).await;
    click(&sim, ERIN, &open, "join_b").await;
    assert!(text(&now(&sim, &open)).contains(&format!("Team B: <@{ERIN}>")));
    let left = click(&sim, ERIN, &open, "leave").await;
    assert_eq!(left["type"], 7, "{left}");
    assert!(text(&now(&sim, &open)).contains("Team B: (open)"));
    click(&sim, BOB, &open, "cancel").await;

    let card = create(&sim, BOB, "1v1", 10, None).await;
    let id = match_id(&card);
    let other = create(&sim, ERIN, "1v1", 5, None).await;
    let busy = click(&sim, ERIN, &card, "join_b").await;
    let expected = format!("already in match #{}", match_id(&other));
    assert!(refusal(&busy).contains(&expected), "{busy}");

    click(&sim, CAROL, &card, "join_b").await;
    let proof = "https://cdn.example.com/result.png?size=2048";
    let reported = match_command(
        &sim,
        BOB,
        "report",
        json!([{"name": "match_id", "type": 4, "value": id}, {"name": "winner", "type": 4, "value": 0},
               {"name": "proof", "type": 3, "value": proof}]),
    )
    .await;
    assert!(reported.contains("Reported"), "{reported}");
    wait_text(&sim, &card, &format!("Proof: <{proof}>")).await;
    click(&sim, CAROL, &card, "confirm").await;
    wait_text(&sim, &card, "Settled").await;
    assert_eq!(
        values(&bot, &[BOB, CAROL]).await,
        HashMap::from([(BOB, 1_000_000), (CAROL, 20)]),
        "the winner stops at the highest value"
    );
    sim.assert_clean().await;
}
