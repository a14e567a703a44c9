//! Tryout requests end to end: a player asks, an evaluator accepts (the wizard runs to the
//! end) or declines with a reason, two evaluators race, refusals, closed DMs and restarts.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use novera_assistant::db::Db;
use serde_json::{json, Value};
use serenity::all::{GuildId, UserId};
use support::*;

/// Dave: an evaluator through the Evaluator role only.
const DAVE: u64 = 1_100_000_000_000_000_104;

async fn league_with(options: BotOptions) -> (Sim, Bot) {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.members.insert(DAVE, vec![EVALUATOR_ROLE]);
        g.names.insert(DAVE, "dave".into());
    });
    let mut bot = Bot::start_with(&sim, options).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let options = json!([
        {"name": "results_channel", "type": 7, "value": GENERAL.to_string()},
        {"name": "values_channel", "type": 7, "value": OFF_TOPIC.to_string()},
        {"name": "evaluator_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
        {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
    ]);
    let (_, reply) = run_command_with(&sim, ALICE, GENERAL, "settings", options).await;
    assert!(
        content(&reply).contains("Settings saved"),
        "{}",
        content(&reply)
    );
    (sim, bot)
}

async fn league() -> (Sim, Bot) {
    league_with(BotOptions::default()).await
}

fn text(message: &Value) -> String {
    message["content"].as_str().unwrap_or_default().to_owned()
}

/// `/tryout <sub> options` by `user`; returns the text of the answer (after a deferral, its
/// follow-up).
async fn tryout(sim: &Sim, user: u64, sub: &str, options: Value) -> String {
    let (interaction, reply) = run_command_with(
        sim,
        user,
        GENERAL,
        "tryout",
        json!([{"name": sub, "type": 1, "options": options}]),
    )
    .await;
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

/// `player` asks for a tryout; returns the request's card.
async fn request(sim: &Sim, player: u64, position: Option<u64>) -> Value {
    let options = match position {
        Some(p) => json!([{"name": "position", "type": 4, "value": p}]),
        None => json!([]),
    };
    let reply = tryout(sim, player, "request", options).await;
    assert!(reply.contains("is in"), "{reply}");
    sim.wait_for("the request card", REACT, |v| {
        v.messages()
            .iter()
            .rev()
            .find(|m| {
                text(m).starts_with("**Tryout request #")
                    && text(m).contains(&format!("<@{player}>"))
            })
            .cloned()
    })
    .await
}

fn current(sim: &Sim, message: &Value) -> Value {
    sim.bot_messages()
        .into_iter()
        .find(|m| m["id"] == message["id"])
        .expect("the message exists")
}

fn button(message: &Value, action: &str) -> String {
    button_for(message, action).unwrap_or_else(|| panic!("no {action} on {}", text(message)))
}

/// `user` clicks `action` on `message`; returns the bot's response body.
async fn click(sim: &Sim, user: u64, message: &Value, action: &str) -> Value {
    let now = current(sim, message);
    let marks = sim.mark();
    let pressed = sim.click(user, &now, &button(&now, action));
    let reply = sim
        .wait_request(&format!("the answer to {action}"), marks, REACT, |r| {
            is_callback(r, pressed.id)
        })
        .await;
    reply.body.unwrap_or(Value::Null)
}

async fn wait_text(sim: &Sim, message: &Value, needle: &str) -> Value {
    sim.wait_for(&format!("{needle:?} on the message"), REACT, |v| {
        v.messages()
            .iter()
            .find(|m| m["id"] == message["id"] && text(m).contains(needle))
            .cloned()
    })
    .await
}

/// Waits for a DM to `user` containing `needle`.
async fn dm(sim: &Sim, user: u64, needle: &str) -> Value {
    sim.wait_for(&format!("a DM to {user} with {needle:?}"), REACT, |v| {
        let channel = v.dm_channel(user)?.to_string();
        v.messages()
            .iter()
            .rev()
            .find(|m| m["channel_id"] == channel.as_str() && text(m).contains(needle))
            .cloned()
    })
    .await
}

fn refusal(body: &Value) -> String {
    assert_eq!(body["data"]["flags"], 64, "a refusal is ephemeral: {body}");
    body["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs the wizard in `evaluator`'s DMs from the position menu to Confirm.
async fn evaluate(sim: &Sim, evaluator: u64) {
    let summary = to_summary(sim, evaluator).await;
    confirm(sim, evaluator, &summary).await;
}

/// Runs the wizard in `evaluator`'s DMs from the position menu to its summary; returns it.
async fn to_summary(sim: &Sim, evaluator: u64) -> Value {
    let menu = dm(sim, evaluator, "step 1").await;
    let select = menu["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.select(evaluator, &menu, &select, 3, &["CF"]);
    let channel = sim.dm_channel(evaluator).unwrap();
    for (answer, next) in [
        ("8", "**dribbling**"),
        ("6", "**passing**"),
        ("5", "**defense**"),
        ("3", "Write your feedback"),
    ] {
        dm(sim, evaluator, "from 0 to 10").await;
        sim.say(evaluator, channel, answer);
        dm(sim, evaluator, next).await;
    }
    sim.say(evaluator, channel, "Solid.");
    dm(sim, evaluator, "Save this evaluation?").await
}

/// `evaluator` clicks Confirm on the wizard's `summary`, and is told it was saved.
async fn confirm(sim: &Sim, evaluator: u64, summary: &Value) {
    let confirm = summary["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.click(evaluator, summary, &confirm);
    dm(sim, evaluator, "Saved.").await;
}

async fn value_of(bot: &Bot, user: u64) -> Option<i64> {
    let db = Db::connect(&bot.database_url).await.unwrap();
    let standing = db
        .standing(GuildId::new(GUILD_ID), UserId::new(user))
        .await
        .unwrap();
    db.close().await;
    standing.map(|(v, _)| v)
}

#[tokio::test]
async fn a_request_accepted_and_evaluated_to_the_end() {
    let (sim, bot) = league().await;
    // Position 3 is CF (poise sends a choice as its index).
    let card = request(&sim, BOB, Some(3)).await;
    assert!(text(&card).contains("(CF)"), "{}", text(&card));
    let accepted = click(&sim, DAVE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    assert!(text(&current(&sim, &card)).contains(&format!("Accepted by <@{DAVE}>")));
    dm(&sim, BOB, &format!("<@{DAVE}> is evaluating you")).await;
    dm(&sim, DAVE, "They asked to be evaluated as **CF**").await;
    evaluate(&sim, DAVE).await;
    wait_text(&sim, &card, &format!("Evaluated by <@{DAVE}>")).await;
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 0"), "{queue}");
    // Bob may ask again once evaluated.
    request(&sim, BOB, None).await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_declined_request_tells_the_player_why() {
    let (sim, _bot) = league().await;
    let card = request(&sim, CAROL, None).await;
    // Three spaces pass Discord's length check but are no reason: refused, nothing changes.
    let refused = decline(&sim, ALICE, &card, "   ").await;
    assert!(refusal(&refused).contains("nothing changed"), "{refused}");
    assert!(text(&current(&sim, &card)).contains("Waiting"));
    assert!(sim.dm_channel(CAROL).is_none(), "Carol was told nothing");
    // The form closed with the refusal: Decline again opens a new one.
    let reason = "Come back after the next season @everyone";
    let answer = decline(&sim, ALICE, &card, reason).await;
    assert_eq!(answer["type"], 7, "{answer}");
    wait_text(&sim, &card, "Declined by").await;
    let told = dm(&sim, CAROL, "Come back after the next season").await;
    assert_eq!(told["mention_everyone"], false);
    let carol_dm = sim.dm_channel(CAROL).unwrap();
    let posted = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{carol_dm}/messages"))
        .unwrap();
    assert_eq!(
        posted.body.as_ref().unwrap()["allowed_mentions"]["parse"],
        json!([]),
        "the reason pings nobody"
    );
    let queue = tryout(&sim, ALICE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 0"), "{queue}");
    // Declined: no new card for a day.
    let again = tryout(&sim, CAROL, "request", json!([])).await;
    assert!(again.contains("you can ask again"), "{again}");
    let queue = tryout(&sim, ALICE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 0"), "{queue}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn two_evaluators_accepting_at_once_one_wins() {
    let (sim, _bot) = league().await;
    let card = request(&sim, BOB, None).await;
    let now = current(&sim, &card);
    let accept = button(&now, "accept");
    let marks = sim.mark();
    let first = sim.click(ALICE, &now, &accept);
    let second = sim.click(DAVE, &now, &accept);
    let mut kinds = Vec::new();
    for pressed in [&first, &second] {
        let reply = sim
            .wait_request("both answers", marks, REACT, |r| is_callback(r, pressed.id))
            .await;
        kinds.push(reply.body.unwrap());
    }
    let won = kinds.iter().filter(|b| b["type"] == 7).count();
    assert_eq!(won, 1, "exactly one accept wins: {kinds:?}");
    let lost = kinds
        .iter()
        .find(|b| b["type"] == 4)
        .expect("the other is told");
    // Told who accepted it, or (a moment before that is saved) that someone is running it.
    let why = refusal(lost);
    assert!(
        why.contains("already accepted by") || why.contains("Another evaluator is running"),
        "{lost}"
    );
    // One wizard, the winner's: the card names them, and only they got the menu.
    let (winner, loser) = if kinds[0]["type"] == 7 {
        (ALICE, DAVE)
    } else {
        (DAVE, ALICE)
    };
    dm(&sim, winner, "step 1").await;
    let card_now = text(&current(&sim, &card));
    assert!(
        card_now.contains(&format!("Accepted by <@{winner}>")),
        "{card_now}"
    );
    assert!(
        sim.dm_channel(loser).is_none(),
        "the loser got a wizard too"
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_player_with_closed_dms_still_gets_their_tryout() {
    let (sim, bot) = league().await;
    sim.close_dms(BOB);
    let card = request(&sim, BOB, None).await;
    let accepted = click(&sim, DAVE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    evaluate(&sim, DAVE).await;
    wait_text(&sim, &card, &format!("Evaluated by <@{DAVE}>")).await;
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    sim.assert_clean().await;
}

#[tokio::test]
async fn refusals_change_nothing() {
    let (sim, _bot) = league().await;
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![EVALUATOR_ROLE]);
    });
    let card = request(&sim, BOB, None).await;
    let again = tryout(&sim, BOB, "request", json!([])).await;
    assert!(again.contains("already asked"), "{again}");
    let own = click(&sim, BOB, &card, "accept").await;
    assert!(refusal(&own).contains("can't evaluate yourself"), "{own}");
    let plain = click(&sim, CAROL, &card, "accept").await;
    assert!(refusal(&plain).contains("Only"), "{plain}");
    let queue = tryout(&sim, CAROL, "queue", json!([])).await;
    assert!(queue.contains("Sorry, only"), "{queue}");
    let card_carol = request(&sim, CAROL, None).await;
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    let bob_at = queue.find(&format!("<@{BOB}>")).expect("Bob is listed");
    let carol_at = queue.find(&format!("<@{CAROL}>")).expect("Carol is listed");
    assert!(bob_at < carol_at, "oldest first: {queue}");
    // An evaluator in timeout accepts nothing.
    sim.edit_guild(|g| {
        g.timed_out.insert(DAVE);
    });
    let timed_out = click(&sim, DAVE, &card, "accept").await;
    assert!(refusal(&timed_out).contains("Only"), "{timed_out}");
    // A member in timeout asks for nothing.
    let timed_out = tryout(&sim, DAVE, "request", json!([])).await;
    assert!(timed_out.contains("You're in timeout"), "{timed_out}");
    let queue = tryout(&sim, ALICE, "queue", json!([])).await;
    assert!(!queue.contains(&format!("<@{DAVE}>")), "{queue}");
    assert!(text(&current(&sim, &card)).contains("Waiting"));
    assert!(text(&current(&sim, &card_carol)).contains("Waiting"));
    sim.assert_clean().await;
}

/// Without a staff channel there is nowhere to post a request: the player is told, nothing is
/// saved. A Decline form left unsent keeps the request open; a player who left before Accept
/// ends their request.
#[tokio::test]
async fn requests_without_a_staff_channel_an_unsent_decline_and_a_player_gone() {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.members.insert(DAVE, vec![EVALUATOR_ROLE]);
    });
    let (_bot, sim) = {
        let mut bot = Bot::start_with(
            &sim,
            BotOptions {
                wait_timeout: Some(1),
                ..BotOptions::default()
            },
        )
        .await;
        bot.wait_health(200, Duration::from_secs(20)).await;
        wait_registered(&sim).await;
        (bot, sim)
    };
    let refused = tryout(&sim, BOB, "request", json!([])).await;
    assert!(refused.contains("aren't set up here yet"), "{refused}");
    let options = json!([
        {"name": "evaluator_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
        {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
    ]);
    let (_, reply) = run_command_with(&sim, ALICE, GENERAL, "settings", options).await;
    assert!(
        content(&reply).contains("Settings saved"),
        "{}",
        content(&reply)
    );
    let card = request(&sim, BOB, None).await;
    assert!(
        text(&card).contains("#1"),
        "the refused request saved nothing: {card}"
    );

    // The form is opened and not sent in time: sent late, it is told the prompt expired, and
    // the request is still open.
    let form = open_decline(&sim, DAVE, &card).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let late = submit_reason(&sim, DAVE, &card, &form, "Too late now").await;
    assert!(refusal(&late).contains("expired"), "{late}");
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 1"), "{queue}");
    assert!(!button(&current(&sim, &card), "decline").is_empty());

    // Bob leaves: Accept ends his request instead of starting a tryout.
    sim.member_leaves(BOB);
    click(&sim, DAVE, &card, "accept").await;
    let withdrawn = wait_text(&sim, &card, "Withdrawn: the player left the server.").await;
    assert_eq!(withdrawn["components"], json!([]), "{withdrawn}");
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(!queue.contains(&format!("<@{BOB}>")), "{queue}");
    assert!(sim.dm_channel(DAVE).is_none(), "a wizard was opened");
    sim.assert_clean().await;
}

/// A request from a player who already has a value: an evaluator who is not staff cannot
/// accept it (the tryout would replace the value), and the request stays open for staff.
#[tokio::test]
async fn a_valued_players_request_waits_for_staff() {
    let (sim, bot) = league().await;
    let (_, reply) = set_value(&sim, ALICE, BOB, 300).await;
    assert!(reply.contains("¥300 million"), "{reply}");
    let card = request(&sim, BOB, None).await;
    let refused = click(&sim, DAVE, &card, "accept").await;
    assert!(
        refusal(&refused).contains("already has a value"),
        "{refused}"
    );
    // Nor may he decline it: that too is staff's answer to give.
    let refused = click(&sim, DAVE, &card, "decline").await;
    assert!(
        refusal(&refused).contains("only staff") && refusal(&refused).contains("may answer"),
        "{refused}"
    );
    assert!(text(&current(&sim, &card)).contains("Waiting"));
    assert_eq!(value_of(&bot, BOB).await, Some(300));
    // Alice (Manage Server) accepts and evaluates.
    let accepted = click(&sim, ALICE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    evaluate(&sim, ALICE).await;
    wait_text(&sim, &card, &format!("Evaluated by <@{ALICE}>")).await;
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    sim.assert_clean().await;
}

/// One evaluator at a time runs a player's tryout, however it was started: while Dave's
/// `/tryout start` of Bob runs, Alice can neither accept Bob's request nor start his tryout. The
/// request, made meanwhile, is answered by Dave's tryout when it is saved: it leaves the queue
/// and its card says who evaluated Bob.
#[tokio::test]
async fn one_tryout_per_player_and_it_answers_the_request() {
    let (sim, bot) = league().await;
    let start = json!([{"name": "member", "type": 6, "value": BOB.to_string()}]);
    let started = tryout(&sim, DAVE, "start", start.clone()).await;
    assert!(started.contains("Check your DMs"), "{started}");
    let card = request(&sim, BOB, None).await;
    let refused = click(&sim, ALICE, &card, "accept").await;
    assert!(
        refusal(&refused).contains("Another evaluator is running"),
        "{refused}"
    );
    let second = tryout(&sim, ALICE, "start", start).await;
    assert!(second.contains("Another evaluator is running"), "{second}");
    assert!(
        sim.dm_channel(ALICE).is_none(),
        "a second wizard was opened"
    );
    assert!(text(&current(&sim, &card)).contains("Waiting"));
    // Nor is it declined while Dave's tryout runs: the tryout answers it.
    let refused = decline(&sim, ALICE, &card, "Not this season").await;
    assert!(refusal(&refused).contains("tryout is running"), "{refused}");
    assert!(text(&current(&sim, &card)).contains("Waiting"));
    let told = |v: &Value| text(v).contains("Not this season");
    assert!(!sim.bot_messages().iter().any(told), "Bob was told");

    evaluate(&sim, DAVE).await;
    let closed = wait_text(&sim, &card, &format!("Evaluated by <@{DAVE}>")).await;
    assert_eq!(closed["components"], json!([]), "{closed}");
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 0"), "{queue}");
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    sim.assert_clean().await;
}

/// An Accept whose answer Discord did not take starts no tryout: the request is back in the
/// queue, its card redrawn with its buttons, and the next Accept starts it.
#[tokio::test]
async fn an_accept_discord_did_not_take_leaves_the_request_open() {
    let (sim, _bot) = league().await;
    let card = request(&sim, BOB, None).await;
    sim.fail_next(1, 500, "/callback");
    click(&sim, DAVE, &card, "accept").await;
    let again = wait_text(&sim, &card, "Back in the queue").await;
    assert!(!button(&again, "accept").is_empty(), "{again}");
    assert!(sim.dm_channel(DAVE).is_none(), "a wizard was opened");
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 1"), "{queue}");
    // A tryout that cannot start (Discord fails the evaluator's DM channel) says so to the
    // evaluator, and the request is back in the queue.
    sim.fail_next(1, 500, "/users/@me/channels");
    let accepted = click(&sim, DAVE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    sim.wait_for("the evaluator told", REACT, |v| {
        v.messages()
            .iter()
            .any(|m| text(m).contains("the tryout stopped"))
            .then_some(())
    })
    .await;
    wait_text(&sim, &card, "Back in the queue").await;
    let accepted = click(&sim, DAVE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    dm(&sim, BOB, &format!("<@{DAVE}> is evaluating you")).await;
    sim.assert_clean().await;
}

/// A card the tryout could not redraw (its edit failed) keeps its Accept button: a click on it
/// is told the request was evaluated, and redraws the card.
#[tokio::test]
async fn a_card_left_with_its_buttons_is_redrawn_at_a_click() {
    let (sim, bot) = league().await;
    let card = request(&sim, BOB, None).await;
    let start = json!([{"name": "member", "type": 6, "value": BOB.to_string()}]);
    let started = tryout(&sim, DAVE, "start", start).await;
    assert!(started.contains("Check your DMs"), "{started}");
    let summary = to_summary(&sim, DAVE).await;
    let path = format!("/messages/{}", card["id"].as_str().unwrap());
    let marks = sim.mark();
    sim.fail_next(1, 500, &path);
    confirm(&sim, DAVE, &summary).await;
    sim.wait_request("the failed redraw", marks, REACT, |r| {
        r.method == "PATCH" && r.path.ends_with(&path) && r.status == 500
    })
    .await;
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    let left = current(&sim, &card);
    assert!(!button(&left, "accept").is_empty(), "{left}");

    let told = click(&sim, ALICE, &card, "accept").await;
    assert!(refusal(&told).contains("already been evaluated"), "{told}");
    let redrawn = wait_text(&sim, &card, &format!("Evaluated by <@{DAVE}>")).await;
    assert_eq!(redrawn["components"], json!([]), "{redrawn}");
    assert!(
        sim.dm_channel(ALICE).is_none(),
        "a second wizard was opened"
    );
    assert_eq!(value_of(&bot, BOB).await, Some(35));
    assert_eq!(sim.violations(), Vec::<String>::new());
}

/// A card that reached the staff channel although Discord's answer to its post was lost: the
/// request was withdrawn (its player told nothing was kept), and a click on the card is told
/// so and redraws it without its buttons. The player may ask again.
#[tokio::test]
async fn a_card_whose_post_answer_was_lost_is_closed_at_a_click() {
    let (sim, _bot) = league().await;
    sim.lose_next_answers(1, 500, &format!("/channels/{GENERAL}/messages"));
    let reply = tryout(&sim, BOB, "request", json!([])).await;
    assert!(reply.contains("nothing was saved"), "{reply}");
    let card = sim
        .bot_messages()
        .into_iter()
        .find(|m| text(m).starts_with("**Tryout request #"))
        .expect("the card reached the channel");
    let told = click(&sim, DAVE, &card, "accept").await;
    assert!(refusal(&told).contains("no longer open"), "{told}");
    let redrawn = wait_text(&sim, &card, "Withdrawn.").await;
    assert_eq!(redrawn["components"], json!([]), "{redrawn}");
    assert!(sim.dm_channel(DAVE).is_none(), "a wizard was opened");
    request(&sim, BOB, None).await;
    sim.assert_clean().await;
}

/// A request saved by a process that ended before its card went out: no evaluator can see it,
/// so the next start withdraws it and tells the player, who may ask again.
#[tokio::test]
async fn a_request_whose_card_a_restart_kept_back_is_withdrawn_at_the_next_start() {
    let (_dir, database_url) = lasting_database("league");
    let db = Db::connect(&database_url).await.unwrap();
    let guild = GuildId::new(GUILD_ID);
    let saved = db
        .open_request(
            guild,
            UserId::new(BOB),
            None,
            serenity::all::ChannelId::new(GENERAL),
        )
        .await
        .unwrap()
        .unwrap();
    db.close().await;
    let (sim, _bot) = league_with(BotOptions {
        database_url: Some(database_url.clone()),
        ..BotOptions::default()
    })
    .await;
    let told = dm(&sim, BOB, "didn't reach the evaluators").await;
    assert!(text(&told).contains(&format!("#{}", saved.id)), "{told}");
    request(&sim, BOB, None).await;
    sim.assert_clean().await;
}

/// A card whose redraw failed after its tryout was saved, with no button left to click, is
/// redrawn at the next start.
#[tokio::test]
async fn a_card_left_under_way_is_redrawn_at_the_next_start() {
    let (_dir, database_url) = lasting_database("league");
    let options = || BotOptions {
        database_url: Some(database_url.clone()),
        ..BotOptions::default()
    };
    let (sim, mut bot) = league_with(options()).await;
    let card = request(&sim, BOB, None).await;
    click(&sim, DAVE, &card, "accept").await;
    let summary = to_summary(&sim, DAVE).await;
    let path = format!("/messages/{}", card["id"].as_str().unwrap());
    sim.fail_next(1, 500, &path);
    confirm(&sim, DAVE, &summary).await;
    let left = text(&current(&sim, &card));
    assert!(left.contains("under way"), "{left}");
    assert_eq!(current(&sim, &card)["components"], json!([]));
    bot.sigterm();
    assert_eq!(bot.wait_exit(Duration::from_secs(12)).await.code(), Some(0));
    let mut bot = Bot::start_with(&sim, options()).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_text(&sim, &card, &format!("Evaluated by <@{DAVE}>")).await;
    // Redrawn once: a later start has nothing to redraw.
    bot.sigterm();
    assert_eq!(bot.wait_exit(Duration::from_secs(12)).await.code(), Some(0));
    let edits = |sim: &Sim| {
        let requests = sim.requests();
        requests
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(&path))
            .count()
    };
    let before = edits(&sim);
    let mut bot = Bot::start_with(&sim, options()).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    let pass = bot.wait_log(&["stale request cards redrawn"]).await;
    assert!(pass.contains("count=0"), "{pass}");
    assert_eq!(edits(&sim), before, "redrawn again");
    sim.assert_clean().await;
}

#[tokio::test]
async fn closed_dms_and_a_restart_put_requests_back_in_the_queue() {
    let (_dir, database_url) = lasting_database("league");
    let options = || BotOptions {
        database_url: Some(database_url.clone()),
        ..BotOptions::default()
    };
    let (sim, mut bot) = league_with(options()).await;
    // The player's DMs are closed: fine, the tryout runs. The evaluator's are: back to the queue.
    sim.close_dms(BOB);
    let card = request(&sim, BOB, None).await;
    sim.close_dms(DAVE);
    click(&sim, DAVE, &card, "accept").await;
    wait_text(&sim, &card, "Back in the queue").await;
    // After a restart the card's buttons still work; a tryout the restart interrupts goes back
    // to the queue.
    bot.sigterm();
    assert_eq!(bot.wait_exit(Duration::from_secs(12)).await.code(), Some(0));
    // The player never heard the tryout start, so they hear nothing of its end (all the
    // click's work is over once the bot has stopped).
    assert!(sim.dm_channel(BOB).is_none(), "the player was DMed");
    bot = Bot::start_with(&sim, options()).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    let accepted = click(&sim, ALICE, &card, "accept").await;
    assert_eq!(accepted["type"], 7, "{accepted}");
    dm(&sim, ALICE, "step 1").await;
    bot.kill_hard().await;
    bot = Bot::start_with(&sim, options()).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    let back = wait_text(&sim, &card, "Back in the queue").await;
    assert!(
        !button(&back, "accept").is_empty(),
        "its buttons are back: {back}"
    );
    let queue = tryout(&sim, ALICE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 1"), "{queue}");
    sim.assert_clean().await;
}

/// `user` presses Decline on `card` and submits `reason`; returns the answer to the form.
async fn decline(sim: &Sim, user: u64, card: &Value, reason: &str) -> Value {
    let form = open_decline(sim, user, card).await;
    submit_reason(sim, user, card, &form, reason).await
}

/// `user` clicks Decline on `card`; returns the custom id of the reason form it opens.
async fn open_decline(sim: &Sim, user: u64, card: &Value) -> String {
    let opened = click(sim, user, card, "decline").await;
    assert_eq!(opened["type"], 9, "Decline asks for a reason: {opened}");
    opened["data"]["custom_id"].as_str().unwrap().to_owned()
}

/// `user` submits `reason` in `form`, a Decline form of `card`; returns the bot's answer.
async fn submit_reason(sim: &Sim, user: u64, card: &Value, form: &str, reason: &str) -> Value {
    let marks = sim.mark();
    let submitted = sim.submit_modal(user, &current(sim, card), form, &[("reason", reason)]);
    let answer = sim
        .wait_request("the answer to the reason", marks, REACT, |r| {
            is_callback(r, submitted.id)
        })
        .await;
    answer.body.unwrap_or(Value::Null)
}

/// A decline that fails on the bot's side once its form is in (here the database refuses the
/// decision) answers the form with an apology, and the request stays open.
#[tokio::test]
async fn a_decline_that_fails_to_save_answers_its_form() {
    let (_dir, database_url) = lasting_database("league");
    let (sim, _bot) = league_with(BotOptions {
        database_url: Some(database_url.clone()),
        ..BotOptions::default()
    })
    .await;
    let card = request(&sim, BOB, None).await;
    let form = open_decline(&sim, DAVE, &card).await;
    let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_decisions BEFORE UPDATE ON tryout_requests
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let answer = submit_reason(&sim, DAVE, &card, &form, "Not this week").await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(refusal(&answer).contains("went wrong"), "{answer}");
    let queue = tryout(&sim, DAVE, "queue", json!([])).await;
    assert!(queue.contains("waiting**: 1"), "{queue}");
    sim.assert_clean().await;
}

/// A second Decline, submitted while the first is still being told to the player, is told the
/// request was declined and by whom.
#[tokio::test]
async fn a_second_decline_is_told_who_declined_first() {
    let (sim, _bot) = league().await;
    let card = request(&sim, BOB, None).await;
    let dave_form = open_decline(&sim, DAVE, &card).await;
    let alice_form = open_decline(&sim, ALICE, &card).await;
    // Telling Bob takes a while: Discord holds the DM to him.
    let bob_dm = sim.open_dm(BOB).unwrap();
    sim.hang_requests(&format!("/channels/{bob_dm}/messages"));
    let first = submit_reason(&sim, DAVE, &card, &dave_form, "Not yet").await;
    assert_eq!(first["type"], 7, "{first}");
    // The decision is saved: Bob is free for a tryout while he is being told.
    let start = json!([{"name": "member", "type": 6, "value": BOB.to_string()}]);
    let started = tryout(&sim, DAVE, "start", start).await;
    assert!(started.contains("Check your DMs"), "{started}");
    let second = submit_reason(&sim, ALICE, &card, &alice_form, "Not yet").await;
    assert!(
        refusal(&second).contains(&format!("already declined by <@{DAVE}>")),
        "{second}"
    );
    sim.answer_hung_requests();
    dm(&sim, BOB, "Their reason: Not yet").await;
    sim.assert_clean().await;
}

/// Decline is the evaluators': not a member without the role, not the player on their own
/// request, not an evaluator who lost the role while writing the reason. A declined player
/// with closed DMs still has the card say what happened, and may ask again a day later.
#[tokio::test]
async fn decline_is_the_evaluators_and_a_declined_player_asks_again_a_day_later() {
    let (sim, bot) = league().await;
    let card = request(&sim, CAROL, None).await;
    let plain = click(&sim, BOB, &card, "decline").await;
    assert!(refusal(&plain).contains("Only"), "{plain}");
    let own_card = request(&sim, DAVE, None).await;
    let own = click(&sim, DAVE, &own_card, "decline").await;
    assert!(refusal(&own).contains("can't evaluate yourself"), "{own}");

    // Dave opens the form, then loses the evaluator role before he submits it.
    let form = open_decline(&sim, DAVE, &card).await;
    sim.edit_guild(|g| {
        g.members.insert(DAVE, Vec::new());
    });
    let late = submit_reason(&sim, DAVE, &card, &form, "No").await;
    assert!(refusal(&late).contains("no longer decline"), "{late}");
    assert!(text(&current(&sim, &card)).contains("Waiting"));

    // Dave is an evaluator again and opens the form; staff give Carol a value meanwhile, so
    // her request is staff's to answer by the time he submits it.
    sim.edit_guild(|g| {
        g.members.insert(DAVE, vec![EVALUATOR_ROLE]);
    });
    let form = open_decline(&sim, DAVE, &card).await;
    let (_, valued) = set_value(&sim, ALICE, CAROL, 40).await;
    assert!(valued.contains("→"), "{valued}");
    let late = submit_reason(&sim, DAVE, &card, &form, "No").await;
    assert!(refusal(&late).contains("already has a value"), "{late}");
    assert!(text(&current(&sim, &card)).contains("Waiting"));

    // Carol's DMs are closed: the decline stands, and the card says so.
    sim.close_dms(CAROL);
    let declined = decline(&sim, ALICE, &card, "Not this season").await;
    assert_eq!(declined["type"], 7, "{declined}");
    let closed = wait_text(&sim, &card, "Declined by").await;
    assert_eq!(closed["components"], json!([]), "{closed}");
    let refused = tryout(&sim, CAROL, "request", json!([])).await;
    assert!(refused.contains("you can ask again"), "{refused}");

    // A day later she may.
    let db = Db::connect(&bot.database_url).await.unwrap();
    sqlx::query("UPDATE tryout_requests SET decided_at = decided_at - 86401")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let again = request(&sim, CAROL, None).await;
    assert_ne!(again["id"], card["id"], "a new card");
    sim.assert_clean().await;
}
