//! Tryouts, values and rankings end to end: the wizard in DMs, its refusals and timeouts, the
//! value commands, and a crash in the middle of it all.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use novera_assistant::db::Db;
use serde_json::{json, Value};
use serenity::all::{GuildId, UserId};
use support::*;

/// Bob's (value, rank) in the test guild, read from the bot's database.
async fn bob_standing(bot: &Bot) -> Option<(i64, i64)> {
    let db = Db::connect(&bot.database_url).await.unwrap();
    db.standing(GuildId::new(GUILD_ID), UserId::new(BOB))
        .await
        .unwrap()
}

/// Default bot options with `WAIT_TIMEOUT_SECS` = `secs`.
fn waiting(secs: u64) -> BotOptions {
    BotOptions {
        wait_timeout: Some(secs),
        ..BotOptions::default()
    }
}

/// Alice configures results in #general, values in #off-topic, evaluators = Staff.
async fn configure(sim: &Sim) {
    let since = sim.mark();
    let settings = sim.slash(
        ALICE,
        GENERAL,
        "settings",
        json!([
            {"name": "results_channel", "type": 7, "value": GENERAL.to_string()},
            {"name": "values_channel", "type": 7, "value": OFF_TOPIC.to_string()},
            {"name": "evaluator_role", "type": 8, "value": STAFF_ROLE.to_string()},
        ]),
    );
    let reply = sim
        .wait_request("the /settings answer", since, REACT, |r| {
            is_callback(r, settings.id)
        })
        .await;
    assert!(
        content(&reply).contains("Settings saved"),
        "{}",
        content(&reply)
    );
}

/// `evaluator` runs `/tryout member:player` in #general; returns the interaction and the bot's
/// first response.
async fn run_tryout(sim: &Sim, evaluator: u64, player: u64) -> (sim::Interaction, Request) {
    let member = json!([{"name": "start", "type": 1, "options": [
        {"name": "member", "type": 6, "value": player.to_string()}]}]);
    run_command_with(sim, evaluator, GENERAL, "tryout", member).await
}

/// Alice (the owner) runs `/settings` with `options`; returns what she is told.
async fn alice_sets(sim: &Sim, options: Value) -> String {
    content(
        &run_command_with(sim, ALICE, GENERAL, "settings", options)
            .await
            .1,
    )
}

/// Waits for a bot message in `user`'s DMs, after message index `since`, containing `needle`.
async fn dm(sim: &Sim, user: u64, since: usize, needle: &str) -> Value {
    sim.wait_for(
        &format!("a DM to {user} containing {needle:?}"),
        REACT,
        |v| {
            let channel = v.dm_channel(user)?.to_string();
            v.messages()[since.min(v.messages().len())..]
                .iter()
                .find(|m| {
                    m["channel_id"] == channel
                        && m["content"].as_str().unwrap_or("").contains(needle)
                })
                .cloned()
        },
    )
    .await
}

/// Waits for a bot post in `channel` after message index `since`.
async fn post_in(sim: &Sim, channel: u64, since: usize) -> Value {
    sim.wait_for(&format!("a post in channel {channel}"), REACT, |v| {
        v.messages()[since.min(v.messages().len())..]
            .iter()
            .find(|m| m["channel_id"].as_str() == Some(channel.to_string().as_str()))
            .cloned()
    })
    .await
}

fn message_count(sim: &Sim) -> usize {
    sim.bot_messages().len()
}

/// The custom id of component `index` in row `row` of `message`.
fn component(message: &Value, row: usize, index: usize) -> String {
    message["components"][row]["components"][index]["custom_id"]
        .as_str()
        .expect("a component with a custom_id")
        .to_owned()
}

/// Alice starts `/tryout member:Bob` and picks `position`; returns her DM channel.
async fn start_tryout(sim: &Sim, position: &str) -> u64 {
    start_tryout_by(sim, ALICE, position).await
}

/// `evaluator` starts `/tryout member:Bob` and picks `position`; returns their DM channel.
async fn start_tryout_by(sim: &Sim, evaluator: u64, position: &str) -> u64 {
    let since = message_count(sim);
    let marks = sim.mark();
    let tryout = sim.slash(
        evaluator,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": BOB.to_string()}]}]),
    );
    let menu = dm(sim, evaluator, since, "step 1").await;
    sim.wait_request("the ephemeral 'check your DMs'", marks, REACT, |r| {
        is_followup(r, &tryout.token) && content(r).contains("Check your DMs")
    })
    .await;
    let before_select = message_count(sim);
    let select = sim.select(evaluator, &menu, &component(&menu, 0, 0), 3, &[position]);
    let ack = sim
        .wait_request("the position acknowledgement", marks, REACT, |r| {
            is_callback(r, select.id)
        })
        .await;
    assert_eq!(
        ack.body.as_ref().unwrap()["type"],
        7,
        "the click must update its message: {:?}",
        ack.body
    );
    let rows = &ack.body.as_ref().unwrap()["data"]["components"];
    assert_eq!(
        rows[0]["components"][0]["disabled"], true,
        "the menu greyed: {rows}"
    );
    // Every position's ratings start with shooting.
    dm(sim, evaluator, before_select, "**shooting**").await;
    sim.dm_channel(evaluator)
        .expect("a DM channel with the evaluator")
}

#[tokio::test]
async fn a_full_tryout_saves_posts_and_ranks() {
    // Steps with refused answers take several round trips: time enough on a busy machine.
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    configure(&sim).await;
    let dm_channel = start_tryout(&sim, "CF").await;

    // Each rating prompt comes before its answer; a bad answer is re-prompted politely.
    for (skill, answers) in [
        ("shooting", &["eleven", "-1", "7.5", "8"][..]),
        ("dribbling", &["6"][..]),
        ("passing", &["5"][..]),
        ("defense", &["3"][..]),
    ] {
        let since = message_count(&sim);
        dm(
            &sim,
            ALICE,
            since.saturating_sub(2),
            &format!("**{skill}**"),
        )
        .await;
        for (i, answer) in answers.iter().enumerate() {
            let before = message_count(&sim);
            sim.say(ALICE, dm_channel, answer);
            if i + 1 < answers.len() {
                dm(&sim, ALICE, before, "whole number from 0 to 10").await;
            }
        }
    }
    let since = message_count(&sim);
    dm(&sim, ALICE, since.saturating_sub(1), "Write your feedback").await;
    sim.say(ALICE, dm_channel, &"x".repeat(1001));
    dm(&sim, ALICE, since, "That's 1001 characters").await;
    // Counted as posted: each markdown character is escaped, so 501 of them make 1,002.
    let since = message_count(&sim);
    sim.say(ALICE, dm_channel, &"*".repeat(501));
    dm(&sim, ALICE, since, "That's 1002 characters").await;
    let since = message_count(&sim);
    sim.say(ALICE, dm_channel, "Great first touch @everyone");
    let summary = dm(&sim, ALICE, since, "Save this evaluation?").await;
    assert!(
        summary["content"].as_str().unwrap().contains("¥35 million"),
        "{summary}"
    );

    let since = message_count(&sim);
    let marks = sim.mark();
    let confirm = sim.click(ALICE, &summary, &component(&summary, 0, 0));
    sim.wait_request("the Confirm acknowledgement", marks, REACT, |r| {
        is_callback(r, confirm.id)
    })
    .await;

    let results = post_in(&sim, GENERAL, since).await;
    assert!(results["content"]
        .as_str()
        .unwrap()
        .contains(&format!("<@{BOB}>")));
    let values = post_in(&sim, OFF_TOPIC, since).await;
    assert!(values["content"].as_str().unwrap().contains("¥35 million"));
    dm(&sim, ALICE, since, "Saved.").await;
    dm(&sim, BOB, since, "Your tryout is done").await;
    // The results post may ping the player and nobody else, whatever the feedback says.
    let post = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{GENERAL}/messages"))
        .expect("the results POST");
    let mentions = &post.body.as_ref().unwrap()["allowed_mentions"];
    assert_eq!(mentions["parse"], json!([]), "{mentions}");
    assert_eq!(mentions["users"], json!([BOB.to_string()]), "{mentions}");

    // The value is saved with its history, and /value shows it.
    let db = Db::connect(&bot.database_url).await.unwrap();
    assert_eq!(
        db.standing(GuildId::new(GUILD_ID), UserId::new(BOB))
            .await
            .unwrap(),
        Some((35, 1))
    );
    let history = db
        .history(GuildId::new(GUILD_ID), UserId::new(BOB), 5)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].evaluation_id.is_some());
    let (_, reply) = run_command_with(
        &sim,
        CAROL,
        GENERAL,
        "value",
        json!([{"name": "member", "type": 6, "value": BOB.to_string()}]),
    )
    .await;
    assert!(
        content(&reply).contains("¥35 million") && content(&reply).contains("#1"),
        "{}",
        content(&reply)
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn typing_cancel_ends_the_wizard_and_saves_nothing() {
    let (sim, bot) = start_ready().await;
    let dm_channel = start_tryout(&sim, "GK").await;
    let since = message_count(&sim);
    sim.say(ALICE, dm_channel, "cancel");
    dm(
        &sim,
        ALICE,
        since.saturating_sub(1),
        "Tryout cancelled — nothing was saved.",
    )
    .await;
    assert_eq!(bob_standing(&bot).await, None);
    sim.assert_clean().await;
}

/// Feedback of invisible characters only is refused and asked again; `cancel` at that step
/// ends the wizard with nothing saved.
#[tokio::test]
async fn blank_feedback_is_asked_again_and_cancel_there_saves_nothing() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    let dm_channel = start_tryout(&sim, "CF").await;
    for (answer, next) in [
        ("8", "**dribbling**"),
        ("6", "**passing**"),
        ("5", "**defense**"),
        ("3", "Write your feedback"),
    ] {
        let since = message_count(&sim);
        sim.say(ALICE, dm_channel, answer);
        dm(&sim, ALICE, since, next).await;
    }
    let since = message_count(&sim);
    sim.say(ALICE, dm_channel, "\u{200b}\u{3164}");
    dm(&sim, ALICE, since, "Feedback can't be empty").await;
    let since = message_count(&sim);
    sim.say(ALICE, dm_channel, "cancel");
    dm(&sim, ALICE, since, "Tryout cancelled — nothing was saved.").await;
    assert_eq!(bob_standing(&bot).await, None);
    sim.assert_clean().await;
}

/// The staff role changes values; it runs no tryout unless it is also the evaluator role.
#[tokio::test]
async fn the_staff_role_alone_runs_no_tryout() {
    const STAFFER: u64 = 1_100_000_000_000_000_150;
    let (sim, _bot) = start_ready().await;
    let told = alice_sets(
        &sim,
        json!([
            {"name": "evaluator_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
            {"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()},
        ]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(STAFFER, vec![STAFF_ROLE]);
    });
    let (_, reply) = run_tryout(&sim, STAFFER, CAROL).await;
    assert!(
        content(&reply).contains("only members with"),
        "{}",
        content(&reply)
    );
    let (_, reply) = set_value(&sim, STAFFER, CAROL, 10).await;
    assert!(reply.contains("→"), "staff change values: {reply}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_step_that_times_out_saves_nothing_and_says_so() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(2)).await;
    let since = message_count(&sim);
    sim.slash(
        ALICE,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": BOB.to_string()}]}]),
    );
    let menu = dm(&sim, ALICE, since, "step 1").await;
    dm(
        &sim,
        ALICE,
        since,
        "You took too long to respond — run /tryout again.",
    )
    .await;
    // The menu's components were disabled.
    let edited = sim
        .wait_for("the menu disabled", REACT, |v| {
            v.messages()
                .iter()
                .find(|m| {
                    m["id"] == menu["id"] && m["components"][0]["components"][0]["disabled"] == true
                })
                .cloned()
        })
        .await;
    assert_eq!(edited["components"][1]["components"][0]["disabled"], true);
    assert_eq!(bob_standing(&bot).await, None);
    sim.assert_clean().await;
}

/// A step lasts one timeout however many refused answers come meanwhile: typing nonsense
/// does not keep a player's tryout (and its request) held.
#[tokio::test]
async fn refused_answers_do_not_lengthen_a_step() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(6)).await;
    let dm_channel = start_tryout(&sim, "CF").await;
    // The shooting prompt is out: its step ends 6 s from now, nonsense or not.
    let asked = tokio::time::Instant::now();
    for at in [1_500, 3_000] {
        tokio::time::sleep_until(asked + Duration::from_millis(at)).await;
        let before = message_count(&sim);
        sim.say(ALICE, dm_channel, "eleven");
        dm(&sim, ALICE, before, "Please answer with a whole number").await;
    }
    dm(&sim, ALICE, 0, "You took too long to respond").await;
    let took = asked.elapsed();
    // Each refusal giving the step its time again would end it 9 s after the prompt.
    assert!(
        took < Duration::from_millis(7_500),
        "the step lasted {took:?}"
    );
    assert_eq!(bob_standing(&bot).await, None);
    sim.assert_clean().await;
}

#[tokio::test]
async fn refusals_non_evaluator_closed_dms_and_a_second_wizard() {
    let (sim, _bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    // Bots are neither evaluated nor valued.
    let (_, reply) = run_tryout(&sim, ALICE, APP_ID).await;
    assert!(
        content(&reply).contains("Bots can't be evaluated"),
        "{}",
        content(&reply)
    );
    let (_, reply) = set_value(&sim, ALICE, APP_ID, 10).await;
    assert!(reply.contains("Bots have no value"), "{reply}");
    // Bob is no evaluator.
    let (_, reply) = run_tryout(&sim, BOB, CAROL).await;
    assert!(
        content(&reply).contains("only members with"),
        "{}",
        content(&reply)
    );
    assert_eq!(
        reply.body.as_ref().unwrap()["data"]["flags"]
            .as_u64()
            .unwrap_or(0)
            & 64,
        64
    );

    // A second /tryout while one runs is refused.
    start_tryout(&sim, "CM").await;
    let (_, reply) = run_tryout(&sim, ALICE, CAROL).await;
    assert!(
        content(&reply).contains("already have a tryout running"),
        "{}",
        content(&reply)
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn closed_dms_are_reported_and_nothing_starts() {
    let (sim, _bot) = start_ready().await;
    sim.close_dms(ALICE);
    let marks = sim.mark();
    let tryout = sim.slash(
        ALICE,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": BOB.to_string()}]}]),
    );
    let reply = sim
        .wait_request("the closed-DMs answer", marks, REACT, |r| {
            is_followup(r, &tryout.token) && content(r).contains("can't send you direct messages")
        })
        .await;
    assert_eq!(
        reply.body.as_ref().unwrap()["flags"].as_u64().unwrap_or(0) & 64,
        64
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn setvalue_and_addvalue_respect_bounds_and_permissions() {
    let (sim, bot) = start_ready().await;
    let run = |user: u64, name: &str, options: Value| {
        let marks = sim.mark();
        let i = sim.slash(user, GENERAL, name, options);
        (marks, i)
    };
    let user_opt = |id: u64| json!({"name": "member", "type": 6, "value": id.to_string()});
    let value_of_carol = || async {
        let (marks, i) = run(BOB, "value", json!([user_opt(CAROL)]));
        let reply = sim
            .wait_request("/value", marks, REACT, |r| is_callback(r, i.id))
            .await;
        content(&reply)
    };
    let none = value_of_carol().await;
    assert!(
        none.contains("has no value yet: **¥0 million**, unranked"),
        "{none}"
    );
    for (user, name, amount, expect) in [
        (BOB, "setvalue", 10, "only members with"),
        (ALICE, "setvalue", 1_000_001, "Nothing changed"),
        (ALICE, "setvalue", -1, "Nothing changed"),
        (ALICE, "setvalue", 40, "¥40 million"),
        (ALICE, "addvalue", 1_000_000, "Nothing changed"),
        (ALICE, "addvalue", -41, "Nothing changed"),
        (ALICE, "addvalue", 2, "¥42 million"),
    ] {
        let key = if name == "setvalue" {
            "amount"
        } else {
            "delta"
        };
        let (marks, i) = run(
            user,
            name,
            json!([user_opt(CAROL), {"name": key, "type": 4, "value": amount}]),
        );
        let reply = sim
            .wait_request(&format!("/{name} {amount}"), marks, REACT, |r| {
                is_callback(r, i.id)
            })
            .await;
        assert!(
            content(&reply).contains(expect),
            "/{name} {amount}: {}",
            content(&reply)
        );
    }
    let db = Db::connect(&bot.database_url).await.unwrap();
    let history = db
        .history(GuildId::new(GUILD_ID), UserId::new(CAROL), 10)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.new_value).collect::<Vec<_>>(),
        vec![42, 40]
    );
    let valued = value_of_carol().await;
    assert!(
        valued.contains("is worth **¥42 million** — rank #1"),
        "{valued}"
    );
    // Carol hears of each change in her DMs.
    sim.wait_for("Carol told of her new value", REACT, |v| {
        v.messages()
            .iter()
            .find(|m| {
                let text = m["content"].as_str().unwrap_or_default();
                text.contains("Staff changed your value") && text.contains("→ **¥42 million**")
            })
            .map(|_| ())
    })
    .await;
    // A reason is kept and shown as typed, newest first, to the asker only.
    let (marks, i) = run(
        ALICE,
        "addvalue",
        json!([user_opt(CAROL), {"name": "delta", "type": 4, "value": 1},
               {"name": "reason", "type": 3, "value": "[appeal](https://e.invalid) **won**"}]),
    );
    sim.wait_request("/addvalue with a reason", marks, REACT, |r| {
        is_callback(r, i.id)
    })
    .await;
    let (marks, i) = run(ALICE, "valuehistory", json!([user_opt(CAROL)]));
    let history = sim
        .wait_request("/valuehistory", marks, REACT, |r| is_callback(r, i.id))
        .await;
    let text = content(&history);
    assert_eq!(
        history.body.as_ref().unwrap()["data"]["flags"],
        64,
        "{text}"
    );
    assert!(
        text.contains("\\[appeal\\]\\(https") && !text.contains("](") && !text.contains("**won"),
        "{text}"
    );
    let order: Vec<usize> = ["¥43 million", "¥42 million", "¥40 million"]
        .iter()
        .map(|v| {
            text.find(&format!("→ {v}"))
                .unwrap_or_else(|| panic!("no → {v}: {text}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    sim.assert_clean().await;
}

/// `/valuehistory` shows the last 10 changes, newest first, each reason cut to 50 characters.
#[tokio::test]
async fn value_history_shows_the_last_ten_with_reasons_cut() {
    let (sim, bot) = start_ready().await;
    let db = Db::connect(&bot.database_url).await.unwrap();
    let long = format!("{}{}", "a".repeat(49), "b".repeat(100));
    for n in 1..=12 {
        let reason = if n == 12 {
            long.clone()
        } else {
            format!("change {n}")
        };
        db.change_value(
            GuildId::new(GUILD_ID),
            UserId::new(CAROL),
            UserId::new(ALICE),
            novera_assistant::db::ValueChange::Set(n),
            Some(&reason),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let (_, reply) = run_command_with(
        &sim,
        ALICE,
        GENERAL,
        "valuehistory",
        json!([{"name": "member", "type": 6, "value": CAROL.to_string()}]),
    )
    .await;
    let text = content(&reply);
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(rows.len(), 10, "{text}");
    assert!(
        rows[0].contains(&format!("({}…)", "a".repeat(49))),
        "{text}"
    );
    assert!(!text.contains("ab"), "{text}");
    assert!(rows[9].contains("(change 3)"), "{text}");
    assert!(!text.contains("(change 2)"), "{text}");
    sim.assert_clean().await;
}

/// A member may keep three flows with live buttons open at once: a fourth is refused politely,
/// and another member is not held back by them.
#[tokio::test]
async fn a_fourth_open_flow_is_refused() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    ranked(&bot, 0..12).await;
    for _ in 0..3 {
        let (_, page) = run_command_with(&sim, BOB, GENERAL, "rankings", json!([])).await;
        assert!(content(&page).contains("page 1/2"), "{}", content(&page));
    }
    let (_, fourth) = run_command_with(&sim, BOB, GENERAL, "rankings", json!([])).await;
    assert!(
        content(&fourth).contains("several menus open"),
        "{}",
        content(&fourth)
    );
    let (_, carols) = run_command_with(&sim, CAROL, GENERAL, "rankings", json!([])).await;
    assert!(
        content(&carols).contains("page 1/2"),
        "{}",
        content(&carols)
    );
    sim.assert_clean().await;
}

/// Gives members `5000 + n` for each `n` in `members` the value `100 + n`, straight in the
/// database.
async fn ranked(bot: &Bot, members: std::ops::Range<u64>) {
    let db = Db::connect(&bot.database_url).await.unwrap();
    for n in members {
        db.change_value(
            GuildId::new(GUILD_ID),
            UserId::new(5000 + n),
            UserId::new(ALICE),
            novera_assistant::db::ValueChange::Set(100 + n as i64),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    }
    db.close().await;
}

/// A member who pages on past the command's own token (Discord's last 15 minutes; here 5 s)
/// still sees the buttons grey out at the end: the last click's token does it.
#[tokio::test]
async fn rankings_grey_out_after_the_commands_token_expired() {
    let options = SimOptions {
        token_lifetime: Duration::from_secs(5),
        ..SimOptions::default()
    };
    let (sim, bot) = start_ready_with(options, waiting(3)).await;
    ranked(&bot, 0..12).await;
    let marks = sim.mark();
    let (rankings, first) = run_command_with(&sim, BOB, GENERAL, "rankings", json!([])).await;
    assert!(content(&first).contains("page 1/2"), "{}", content(&first));
    let board_id = sim
        .wait_for("the rankings message", REACT, |v| {
            v.messages()
                .iter()
                .rev()
                .find(|m| m["content"].as_str().unwrap_or("").contains("page 1/2"))
                .map(|m| m["id"].clone())
        })
        .await;
    let mut last = None;
    for (i, button) in [1, 0, 1].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let board = sim
            .bot_messages()
            .into_iter()
            .find(|m| m["id"] == board_id)
            .unwrap();
        let pressed = sim.click(BOB, &board, &component(&board, 0, button));
        let answer = sim
            .wait_request(&format!("click {i}"), marks, REACT, |r| {
                is_callback(r, pressed.id)
            })
            .await;
        assert_eq!(answer.body.as_ref().unwrap()["type"], 7);
        last = Some(pressed);
    }
    let last = last.unwrap();
    let greyed = sim
        .wait_request("the buttons greyed", marks, REACT, |r| {
            r.method == "PATCH"
                && (r.path.contains(&last.token) || r.path.contains(&rankings.token))
        })
        .await;
    assert_eq!(
        greyed.status,
        200,
        "{}: {:?}",
        greyed.path.contains(&rankings.token),
        greyed.body
    );
    let rows = &greyed.body.as_ref().unwrap()["components"];
    assert_eq!(rows[0]["components"][1]["disabled"], true);
    sim.assert_clean().await;
}

#[tokio::test]
async fn rankings_page_for_the_invoker_only_and_expire() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(3)).await;
    // 12 ranked members: two pages.
    ranked(&bot, 0..12).await;
    let marks = sim.mark();
    let (_, first) = run_command_with(&sim, BOB, GENERAL, "rankings", json!([])).await;
    assert!(content(&first).contains("page 1/2"), "{}", content(&first));
    let board = sim
        .wait_for("the rankings message", REACT, |v| {
            v.messages()
                .iter()
                .rev()
                .find(|m| m["content"].as_str().unwrap_or("").contains("page 1/2"))
                .cloned()
        })
        .await;
    let next = component(&board, 0, 1);
    // Carol's click is refused privately; the page does not move.
    let carol = sim.click(CAROL, &board, &next);
    let refusal = sim
        .wait_request("Carol's refusal", marks, REACT, |r| {
            is_callback(r, carol.id)
        })
        .await;
    assert!(
        content(&refusal).contains("isn't yours"),
        "{}",
        content(&refusal)
    );
    // Bob's click turns the page.
    let bob = sim.click(BOB, &board, &next);
    let page2 = sim
        .wait_request("page 2", marks, REACT, |r| is_callback(r, bob.id))
        .await;
    assert_eq!(page2.body.as_ref().unwrap()["type"], 7);
    assert!(
        content(&page2).contains("page 2/2") && content(&page2).contains("11. "),
        "{}",
        content(&page2)
    );
    // The rankings grow while Bob reads them: Next goes on to the page that is new.
    ranked(&bot, 12..22).await;
    let bob = sim.click(BOB, &board, &next);
    let page3 = sim
        .wait_request("page 3", marks, REACT, |r| is_callback(r, bob.id))
        .await;
    assert!(
        content(&page3).contains("page 3/3") && content(&page3).contains("21. "),
        "{}",
        content(&page3)
    );
    // After the timeout the buttons are disabled on the message, through Bob's last click.
    let edit = sim
        .wait_request(
            "the buttons disabled",
            marks,
            Duration::from_secs(10),
            |r| r.method == "PATCH" && r.path.contains(&bob.token),
        )
        .await;
    assert_eq!(edit.status, 200);
    let rows = &edit.body.as_ref().unwrap()["components"];
    assert_eq!(rows[0]["components"][0]["disabled"], true);
    assert_eq!(rows[0]["components"][1]["disabled"], true);
    // A click that still reaches the bot (a client showing the old buttons), or one on a
    // button of an older version of the bot whose `custom_id` this one does not know, is told
    // the prompt expired rather than left to fail.
    for custom_id in [next.as_str(), "rankings_next_page"] {
        let late = sim.click(BOB, &board, custom_id);
        let told = sim
            .wait_request("the expired prompt's answer", marks, REACT, |r| {
                is_callback(r, late.id)
            })
            .await;
        assert!(
            content(&told).contains("has expired"),
            "{custom_id}: {}",
            content(&told)
        );
        assert_eq!(told.body.as_ref().unwrap()["data"]["flags"], 64);
    }
    sim.assert_clean().await;
}

/// `evaluator` answers every step of a CF tryout up to the summary; returns the summary
/// message. Each answer is typed only once its prompt is seen, as a person would.
async fn answer_all_as(sim: &Sim, evaluator: u64, dm_channel: u64) -> Value {
    for (answer, next) in [
        ("8", "**dribbling**"),
        ("6", "**passing**"),
        ("5", "**defense**"),
        ("3", "Write your feedback"),
    ] {
        let since = message_count(sim);
        sim.say(evaluator, dm_channel, answer);
        dm(sim, evaluator, since, next).await;
    }
    let since = message_count(sim);
    sim.say(evaluator, dm_channel, "Solid.");
    dm(sim, evaluator, since, "Save this evaluation?").await
}

#[tokio::test]
async fn the_cancel_button_saves_nothing_and_roles_failures_are_reported() {
    let (sim, bot) = start_ready().await;
    configure(&sim).await;
    let summary = summary_by(&sim, ALICE).await;
    let since = message_count(&sim);
    let marks = sim.mark();
    let cancel = sim.click(ALICE, &summary, &component(&summary, 0, 1));
    let ack = sim
        .wait_request("the Cancel acknowledgement", marks, REACT, |r| {
            is_callback(r, cancel.id)
        })
        .await;
    let rows = &ack.body.as_ref().unwrap()["data"]["components"];
    assert_eq!(
        rows[0]["components"][0]["disabled"], true,
        "buttons stay clickable after Cancel"
    );
    dm(&sim, ALICE, since, "Tryout cancelled — nothing was saved.").await;
    assert_eq!(bob_standing(&bot).await, None);

    // With roles configured but no permission to manage them, the save still happens and the
    // evaluator is told what could not be done.
    alice_sets(
        &sim,
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    sim.forbid_roles();
    let summary = summary_by(&sim, ALICE).await;
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    assert!(
        saved["content"]
            .as_str()
            .unwrap()
            .contains("I couldn't give"),
        "{saved}"
    );
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));
    sim.assert_clean().await;
}

#[tokio::test]
async fn roles_are_applied_after_a_confirmed_tryout() {
    let (sim, _bot) = start_ready().await;
    let told = alice_sets(
        &sim,
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}, {"name": "remove_role", "type": 8, "value": EVALUATOR_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![EVALUATOR_ROLE]);
    });
    let summary = summary_by(&sim, ALICE).await;
    confirm(&sim, ALICE, &summary, "Saved.").await;
    let changes = sim.role_changes();
    assert!(
        changes.contains(&("PUT".to_owned(), BOB, PLAYER_ROLE)),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("DELETE".to_owned(), BOB, EVALUATOR_ROLE)),
        "{changes:?}"
    );
    let bob = sim.with_guild(|g| g.roles_of(BOB));
    assert_eq!(bob, vec![PLAYER_ROLE], "Bob's roles after the tryout");
    sim.assert_clean().await;
}

/// A player still in membership screening is evaluated and saved, but not given the tryout's
/// role: it would let them around the server's rules. The evaluator is told why.
#[tokio::test]
async fn a_player_still_screening_is_not_given_the_tryout_role() {
    let (sim, bot) = start_ready().await;
    let told = alice_sets(
        &sim,
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.pending.insert(BOB);
    });
    let summary = summary_by(&sim, ALICE).await;
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    let text = saved["content"].as_str().unwrap_or_default();
    assert!(text.contains("not accepted the server's rules"), "{text}");
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));
    assert!(
        !sim.role_changes().iter().any(|(_, user, _)| *user == BOB),
        "{:?}",
        sim.role_changes()
    );
    sim.assert_clean().await;
}

/// A player who leaves the server while their tryout's summary waits is still evaluated (the
/// tryout happened), and the evaluator is told why the evaluated role was not given.
#[tokio::test]
async fn a_player_who_leaves_mid_wizard_is_saved_without_the_role() {
    let (sim, bot) = start_ready().await;
    let told = alice_sets(
        &sim,
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    let summary = summary_by(&sim, ALICE).await;
    sim.member_leaves(BOB);
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    let text = saved["content"].as_str().unwrap_or_default();
    assert!(text.contains("no longer in the server"), "{text}");
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));
    assert!(
        !sim.role_changes().iter().any(|(_, user, _)| *user == BOB),
        "{:?}",
        sim.role_changes()
    );
    sim.assert_clean().await;
}

/// Starts a bot on the database at `url` and waits until it is ready.
async fn start_on(sim: &Sim, url: &str) -> Bot {
    let options = BotOptions {
        database_url: Some(url.to_owned()),
        wait_timeout: Some(30),
        ..BotOptions::default()
    };
    let mut bot = Bot::start_with(sim, options).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    bot
}

/// Checks the database after a crash: intact, and no value without its history.
async fn assert_consistent(database_url: &str) {
    let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    // Every evaluation has exactly one history row, and every value equals its latest history.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM evaluations e WHERE
             (SELECT COUNT(*) FROM value_history h WHERE h.evaluation_id = e.id) != 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "an evaluation without its history row");
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM member_values v WHERE v.value != COALESCE(
             (SELECT h.new_value FROM value_history h
              WHERE h.guild_id = v.guild_id AND h.user_id = v.user_id ORDER BY h.id DESC LIMIT 1), -1)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "a value without its history row");
    pool.close().await;
}

#[tokio::test]
async fn sigkill_mid_wizard_and_after_confirm_leaves_nothing_half_written() {
    let (_dir, database_url) = lasting_database("crash");
    let sim = Sim::start().await;

    // Killed in the middle of the ratings.
    let mut bot = start_on(&sim, &database_url).await;
    configure(&sim).await;
    let dm_channel = start_tryout(&sim, "CF").await;
    let since = message_count(&sim);
    dm(&sim, ALICE, since.saturating_sub(2), "**shooting**").await;
    sim.say(ALICE, dm_channel, "9");
    dm(&sim, ALICE, since, "**dribbling**").await;
    bot.kill_hard().await;
    assert_consistent(&database_url).await;
    let db = Db::connect(&database_url).await.unwrap();
    assert_eq!(
        db.standing(GuildId::new(GUILD_ID), UserId::new(BOB))
            .await
            .unwrap(),
        None
    );
    db.close().await;

    // Killed right after Confirm is acknowledged: either everything is saved or nothing.
    let mut bot = start_on(&sim, &database_url).await;
    let summary = summary_by(&sim, ALICE).await;
    let marks = sim.mark();
    let confirm = sim.click(ALICE, &summary, &component(&summary, 0, 0));
    sim.wait_request("the Confirm acknowledgement", marks, REACT, |r| {
        is_callback(r, confirm.id)
    })
    .await;
    bot.kill_hard().await;
    assert_consistent(&database_url).await;
    // The kill may come before or after the save: either is whole, and the bot serves it.
    let saved = {
        let db = Db::connect(&database_url).await.unwrap();
        let standing = db.standing(GuildId::new(GUILD_ID), UserId::new(BOB)).await;
        db.close().await;
        standing.unwrap().is_some()
    };

    // And the bot starts again on that database and serves from it.
    let _bot = start_on(&sim, &database_url).await;
    let (_, reply) = run_command_with(
        &sim,
        CAROL,
        GENERAL,
        "value",
        json!([{"name": "member", "type": 6, "value": BOB.to_string()}]),
    )
    .await;
    let text = content(&reply);
    let expected = if saved {
        "¥35 million"
    } else {
        "no value yet"
    };
    assert!(text.contains(expected), "{text}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn nobody_evaluates_themselves() {
    let (sim, bot) = start_ready().await;
    let (_, reply) = run_tryout(&sim, ALICE, ALICE).await;
    assert!(
        content(&reply).contains("can't evaluate yourself"),
        "{}",
        content(&reply)
    );
    assert!(sim.dm_channel(ALICE).is_none(), "a wizard was opened");
    let db = Db::connect(&bot.database_url).await.unwrap();
    let alice = db.standing(GuildId::new(GUILD_ID), UserId::new(ALICE));
    assert_eq!(alice.await.unwrap(), None);
    // Nor anyone who is not in the server (a user picked by id).
    let stranger = 1_100_000_000_000_000_999;
    let (_, reply) = run_tryout(&sim, ALICE, stranger).await;
    assert!(
        content(&reply).contains("isn't a member of this server"),
        "{}",
        content(&reply)
    );
    assert!(sim.dm_channel(ALICE).is_none(), "a wizard was opened");
    sim.assert_clean().await;
}

#[tokio::test]
async fn an_evaluator_who_loses_the_role_mid_wizard_cannot_save() {
    // Carol is an evaluator through the Evaluator role only.
    let (sim, bot) = carol_evaluates().await;
    let summary = summary_by(&sim, CAROL).await;
    // Staff take the role away while the summary waits.
    sim.edit_guild(|g| {
        g.members.insert(CAROL, Vec::new());
    });
    confirm(&sim, CAROL, &summary, "You can no longer run tryouts").await;
    assert_eq!(bob_standing(&bot).await, None, "the evaluation was saved");
    let posts = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == format!("/channels/{GENERAL}/messages"))
        .count();
    assert_eq!(posts, 0, "results were posted");
    sim.assert_clean().await;
}

/// `user` runs `/setvalue member:Bob amount:<amount>`; returns what they are told.
async fn set_bob(sim: &Sim, user: u64, amount: i64) -> String {
    set_value(sim, user, BOB, amount).await.1
}

/// A tryout replaces the player's value: an evaluator who is not staff evaluates only players
/// without one, checked when the tryout starts and again, on fresh data, at Confirm.
#[tokio::test]
async fn only_staff_replace_a_value_by_tryout() {
    // Carol is an evaluator through the Evaluator role only, not staff.
    let (sim, bot) = carol_evaluates().await;

    // Bob gets a value while Carol's wizard is at its summary: Confirm saves nothing.
    let summary = summary_by(&sim, CAROL).await;
    assert!(set_bob(&sim, ALICE, 400).await.contains("¥400 million"));
    let refused = confirm(&sim, CAROL, &summary, "already has a value").await;
    assert!(
        refused["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Nothing changed"),
        "{refused}"
    );
    assert_eq!(bob_standing(&bot).await, Some((400, 1)));

    // Now Bob has a value, the tryout does not even start for Carol.
    let (_, reply) = run_tryout(&sim, CAROL, BOB).await;
    assert!(
        content(&reply).contains("already has a value"),
        "{}",
        content(&reply)
    );
    let db = Db::connect(&bot.database_url).await.unwrap();
    let history = db
        .history(GuildId::new(GUILD_ID), UserId::new(BOB), 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "only Alice's /setvalue: {history:?}");

    // Alice (Manage Server) may replace it.
    let summary = summary_by(&sim, ALICE).await;
    confirm(&sim, ALICE, &summary, "Saved.").await;
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));

    // So may Carol once she is staff through the staff role, without Manage Server.
    let told = alice_sets(
        &sim,
        json!([{"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![EVALUATOR_ROLE, STAFF_ROLE]);
    });
    assert!(set_bob(&sim, ALICE, 400).await.contains("¥400 million"));
    let summary = summary_by(&sim, CAROL).await;
    confirm(&sim, CAROL, &summary, "Saved.").await;
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));
    sim.assert_clean().await;
}

/// An evaluator by role who is put in timeout while the summary waits saves nothing: the
/// rights read again at Confirm count the role for nothing in timeout.
#[tokio::test]
async fn an_evaluator_put_in_timeout_mid_wizard_cannot_save() {
    let (sim, bot) = carol_evaluates().await;
    let summary = summary_by(&sim, CAROL).await;
    sim.edit_guild(|g| {
        g.timed_out.insert(CAROL);
    });
    confirm(&sim, CAROL, &summary, "You can no longer run tryouts").await;
    assert_eq!(bob_standing(&bot).await, None, "the evaluation was saved");
    sim.assert_clean().await;
}

/// A bot where Carol is an evaluator through the Evaluator role only (not staff), with waits
/// of 30 s.
async fn carol_evaluates() -> (Sim, Bot) {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    let told = alice_sets(
        &sim,
        json!([{"name": "evaluator_role", "type": 8, "value": EVALUATOR_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![EVALUATOR_ROLE]);
    });
    (sim, bot)
}

/// `evaluator` runs a CF tryout of Bob up to its summary; returns the summary message.
async fn summary_by(sim: &Sim, evaluator: u64) -> Value {
    let dm_channel = start_tryout_by(sim, evaluator, "CF").await;
    answer_all_as(sim, evaluator, dm_channel).await
}

/// `evaluator` presses Confirm on `summary`; returns their next DM containing `needle`.
async fn confirm(sim: &Sim, evaluator: u64, summary: &Value, needle: &str) -> Value {
    let since = message_count(sim);
    sim.click(evaluator, summary, &component(summary, 0, 0));
    dm(sim, evaluator, since, needle).await
}

/// Confirm is the evaluator's decision even when its answer from Discord is lost: the
/// evaluation is saved. So is a tryout whose "Check your DMs" reply came back as a failure.
#[tokio::test]
async fn a_confirm_whose_answer_was_lost_still_saves_the_tryout() {
    let (sim, bot) = carol_evaluates().await;
    // The command's follow-up after its deferral: the wizard, already in the DMs, goes on.
    sim.lose_next_answers(1, 500, "/webhooks/");
    let summary = summary_by(&sim, CAROL).await;
    sim.lose_next_answers(1, 500, "/callback");
    let saved = confirm(&sim, CAROL, &summary, "Saved.").await;
    let text = saved["content"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("<@{BOB}>'s value is now")), "{text}");
    assert!(bob_standing(&bot).await.is_some());
    sim.assert_clean().await;
}

/// A crash after Confirm but before the posts: the next start makes them, once each.
#[tokio::test]
async fn posts_interrupted_by_a_crash_are_made_at_the_next_start() {
    let (_dir, database_url) = lasting_database("outbox");
    let sim = Sim::start().await;
    let mut bot = start_on(&sim, &database_url).await;
    configure(&sim).await;
    // The results post hangs: the process dies with the evaluation saved and nothing posted.
    sim.hang_requests(&format!("/channels/{GENERAL}/messages"));
    let summary = summary_by(&sim, ALICE).await;
    sim.click(ALICE, &summary, &component(&summary, 0, 0));
    let db = Db::connect(&database_url).await.unwrap();
    for _ in 0..100 {
        if bob_standing(&bot).await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bob_standing(&bot).await, Some((35, 1)));
    bot.kill_hard().await;
    let pending = db.pending_publications(i64::MAX).await.unwrap();
    assert_eq!(pending.len(), 1, "the publication was not queued");
    db.close().await;
    let posted = |sim: &Sim, channel: u64| {
        sim.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == format!("/channels/{channel}/messages"))
            .count()
    };
    assert_eq!(posted(&sim, OFF_TOPIC), 0);

    sim.stop_hanging();
    let since = message_count(&sim);
    let bot = start_on(&sim, &database_url).await;
    let results = post_in(&sim, GENERAL, since).await;
    assert!(results["content"]
        .as_str()
        .unwrap()
        .contains(&format!("<@{BOB}>")));
    let value = post_in(&sim, OFF_TOPIC, since).await;
    assert!(value["content"].as_str().unwrap().contains("¥35 million"));
    dm(&sim, BOB, since, "Your tryout is done").await;
    let db = Db::connect(&database_url).await.unwrap();
    for _ in 0..100 {
        if db.pending_publications(i64::MAX).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(db.pending_publications(i64::MAX).await.unwrap().is_empty());
    // Each post once, and nothing left for a later start to repeat.
    let before = (posted(&sim, GENERAL), posted(&sim, OFF_TOPIC));
    assert_eq!(before, (1, 1), "each post made exactly once");
    drop(bot);
    sim.assert_clean().await;
}

/// Waits until message `id` has every component of its first row disabled.
async fn disabled(sim: &Sim, id: &Value) -> Value {
    sim.wait_for("the prompt's components disabled", REACT, |v| {
        v.messages()
            .iter()
            .find(|m| {
                m["id"] == *id
                    && m["components"][0]["components"]
                        .as_array()
                        .is_some_and(|c| c.iter().all(|c| c["disabled"] == true))
            })
            .cloned()
    })
    .await
}

/// `cancel` typed at the menu or at the summary ends the wizard like the Cancel button: the
/// prompt goes grey, a late click is told it expired, and nothing is saved.
#[tokio::test]
async fn typing_cancel_at_the_menu_or_the_summary_leaves_nothing_clickable() {
    let (sim, bot) = start_ready_with(SimOptions::default(), waiting(30)).await;
    let since = message_count(&sim);
    sim.slash(
        ALICE,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": BOB.to_string()}]}]),
    );
    let menu = dm(&sim, ALICE, since, "step 1").await;
    let dm_channel = sim.dm_channel(ALICE).unwrap();
    // Anything else typed at the menu gets a hint, and the menu still waits.
    let before = message_count(&sim);
    sim.say(ALICE, dm_channel, "CF please");
    dm(&sim, ALICE, before, "Pick the position from the menu").await;
    let before = message_count(&sim);
    sim.say(ALICE, dm_channel, "Cancel");
    dm(&sim, ALICE, before, "Tryout cancelled — nothing was saved.").await;
    disabled(&sim, &menu["id"]).await;
    let marks = sim.mark();
    let late = sim.select(ALICE, &menu, &component(&menu, 0, 0), 3, &["CF"]);
    let reply = sim
        .wait_request("the late click's answer", marks, REACT, |r| {
            is_callback(r, late.id)
        })
        .await;
    assert!(content(&reply).contains("expired"), "{}", content(&reply));

    let summary = summary_by(&sim, ALICE).await;
    let before = message_count(&sim);
    sim.say(ALICE, dm_channel, "cancel");
    dm(&sim, ALICE, before, "Tryout cancelled — nothing was saved.").await;
    disabled(&sim, &summary["id"]).await;
    let marks = sim.mark();
    let late = sim.click(ALICE, &summary, &component(&summary, 0, 0));
    let reply = sim
        .wait_request("the late Confirm's answer", marks, REACT, |r| {
            is_callback(r, late.id)
        })
        .await;
    assert!(content(&reply).contains("expired"), "{}", content(&reply));
    assert_eq!(bob_standing(&bot).await, None, "saved after a typed cancel");
    sim.assert_clean().await;
}

/// A role saved as the tryout role before the rules existed (or given moderator permissions
/// since) is checked again when a tryout would hand it out: it is not.
#[tokio::test]
async fn a_tryout_role_that_became_dangerous_is_not_handed_out() {
    let (sim, bot) = start_ready().await;
    let db = Db::connect(&bot.database_url).await.unwrap();
    let dangerous = novera_assistant::db::SettingsUpdate {
        add_role: Some(MODERATOR_ROLE),
        ..Default::default()
    };
    db.update_settings(GuildId::new(GUILD_ID), &dangerous)
        .await
        .unwrap();
    db.close().await;
    let summary = summary_by(&sim, ALICE).await;
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    assert!(
        saved["content"].as_str().unwrap().contains("I didn't give"),
        "{saved}"
    );
    assert!(
        !sim.role_changes()
            .iter()
            .any(|(_, _, role)| *role == MODERATOR_ROLE),
        "the moderator role was handed out: {:?}",
        sim.role_changes()
    );
    assert!(!sim.with_guild(|g| g.roles_of(BOB).contains(&MODERATOR_ROLE)));
    sim.assert_clean().await;
}

/// A post that fails for a passing reason (a 500) stays pending and is made later, once; the
/// steps that succeeded are not repeated.
#[tokio::test]
async fn a_post_that_failed_for_a_passing_reason_is_made_at_the_next_start() {
    let (_dir, database_url) = lasting_database("retry");
    let sim = Sim::start().await;
    let mut bot = start_on(&sim, &database_url).await;
    configure(&sim).await;
    let summary = summary_by(&sim, ALICE).await;
    sim.fail_next(1, 500, &format!("/channels/{GENERAL}/messages"));
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    assert!(
        saved["content"].as_str().unwrap().contains("try again"),
        "{saved}"
    );
    let made = |sim: &Sim, channel: u64| {
        sim.requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path == format!("/channels/{channel}/messages")
                    && r.status == 200
            })
            .count()
    };
    assert_eq!((made(&sim, GENERAL), made(&sim, OFF_TOPIC)), (0, 1));
    let db = Db::connect(&database_url).await.unwrap();
    assert_eq!(db.pending_publications(i64::MAX).await.unwrap().len(), 1);
    bot.kill_hard().await;

    let since = message_count(&sim);
    let bot = start_on(&sim, &database_url).await;
    post_in(&sim, GENERAL, since).await;
    for _ in 0..100 {
        if db.pending_publications(i64::MAX).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(db.pending_publications(i64::MAX).await.unwrap().is_empty());
    assert_eq!(
        (made(&sim, GENERAL), made(&sim, OFF_TOPIC)),
        (1, 1),
        "the results posted once, the value not again"
    );
    drop(bot);
    sim.assert_clean().await;
}

/// A DM to the player that fails for a passing reason is tried again like every post; a post
/// that then fails for good is told to staff, since the evaluator heard "I'll try again"
/// long before.
#[tokio::test]
async fn what_fails_for_good_on_a_later_try_is_told_to_staff() {
    let text_of = |m: &Value| m["content"].as_str().unwrap_or_default().to_owned();
    let (_dir, database_url) = lasting_database("staff");
    let sim = Sim::start().await;
    let mut bot = start_on(&sim, &database_url).await;
    configure(&sim).await;
    let staff = sim.slash(
        ALICE,
        GENERAL,
        "settings",
        json!([{"name": "staff_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    );
    sim.wait_request("the staff channel set", 0, REACT, |r| {
        is_callback(r, staff.id)
    })
    .await;
    let summary = summary_by(&sim, ALICE).await;
    sim.fail_next(1, 500, &format!("/channels/{GENERAL}/messages"));
    sim.fail_next(1, 500, "/users/@me/channels");
    let saved = confirm(&sim, ALICE, &summary, "Saved.").await;
    let said = saved["content"].as_str().unwrap_or_default();
    assert!(
        said.contains(&format!(
            "I couldn't tell <@{BOB}> their new value by DM. I'll try again"
        )),
        "{said}"
    );
    let told_bob = |sim: &Sim| {
        sim.bot_messages()
            .iter()
            .any(|m| text_of(m).contains("Your tryout is done"))
    };
    assert!(!told_bob(&sim));
    bot.kill_hard().await;

    // At the next start the results post is refused for good (403), and the DM fails again
    // for a passing reason: staff hear of the first at once, with the DM still to come.
    sim.fail_next(1, 403, &format!("/channels/{GENERAL}/messages"));
    sim.fail_next(1, 500, "/users/@me/channels");
    let since = message_count(&sim);
    let mut bot = start_on(&sim, &database_url).await;
    let note = sim
        .wait_for("the note to staff", REACT, |v| {
            v.messages()[since..]
                .iter()
                .find(|m| text_of(m).contains("not everything after it went through"))
                .cloned()
        })
        .await;
    assert_eq!(note["channel_id"], OFF_TOPIC.to_string(), "{note}");
    assert!(text_of(&note).contains(&format!("<#{GENERAL}>")), "{note}");
    assert!(!text_of(&note).contains("by DM"), "{note}");
    assert!(!told_bob(&sim));
    bot.kill_hard().await;

    // The start after that: the DM goes through, and staff hear nothing more.
    let notes = |sim: &Sim| {
        sim.bot_messages()
            .iter()
            .filter(|m| text_of(m).contains("not everything after it went through"))
            .count()
    };
    let _bot = start_on(&sim, &database_url).await;
    sim.wait_for("the player's DM", REACT, |v| {
        v.messages()
            .iter()
            .any(|m| text_of(m).contains("Your tryout is done"))
            .then_some(())
    })
    .await;
    assert!(told_bob(&sim));
    assert_eq!(notes(&sim), 1);
    sim.assert_clean().await;
}
