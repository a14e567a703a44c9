//! Welcomes end to end: with the Server Members intent a member who joins is greeted (pinging
//! only them) and given the welcome role; a role the bot may not give is reported once;
//! without the intent the bot says what is missing and connects all the same; an intent the
//! application was not granted stops the bot with a clear message instead of a reconnect loop.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use discord_sim::{GUILD_MEMBERS_INTENT, PRIVILEGED_INTENTS};
use serde_json::{json, Value};
use support::*;

const NEWCOMER: u64 = 1_100_000_000_000_000_301;
const SECOND: u64 = 1_100_000_000_000_000_302;
const THIRD: u64 = 1_100_000_000_000_000_303;
const FOURTH: u64 = 1_100_000_000_000_000_304;

fn with_intent() -> BotOptions {
    BotOptions {
        env: vec![("GUILD_MEMBERS_INTENT".into(), "on".into())],
        ..BotOptions::default()
    }
}

/// Starts the bot with the intent on and saves `options` with `/settings`.
async fn start_with_settings(sim_options: SimOptions, options: Value) -> (Sim, Bot) {
    let (sim, bot) = start_ready_with(sim_options, with_intent()).await;
    let saved = settings(&sim, options).await;
    assert!(saved.contains("Settings saved"), "{saved}");
    (sim, bot)
}

async fn settings(sim: &Sim, options: Value) -> String {
    let (_, reply) = run_command_with(sim, ALICE, GENERAL, "settings", options).await;
    content(&reply)
}

/// The welcomes posted: the test's own text, or the default one.
fn welcomes(sim: &Sim) -> Vec<Value> {
    sim.bot_messages().into_iter().filter(is_welcome).collect()
}

fn is_welcome(m: &Value) -> bool {
    let text = m["content"].as_str().unwrap_or("");
    m["channel_id"].as_str() == Some(OFF_TOPIC.to_string().as_str())
        && (text.starts_with("Hi <@") || text.starts_with("Welcome to the league"))
}

#[tokio::test]
async fn a_member_who_joins_is_welcomed_and_given_the_role() {
    let (sim, mut bot) = start_ready_with(SimOptions::default(), with_intent()).await;
    assert_ne!(sim.intents() & GUILD_MEMBERS_INTENT, 0);
    let saved = settings(
        &sim,
        json!([
            {"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()},
            {"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "welcome_message", "type": 3,
             "value": "Hi {member}! @everyone <@&1100000000000000030> read #rules"},
            {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
        ]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    assert!(!saved.contains("can't run yet"), "{saved}");

    sim.member_joins(NEWCOMER, "newcomer");
    let welcome = sim
        .wait_for("the welcome", REACT, |v| {
            v.messages().iter().find(|m| is_welcome(m)).cloned()
        })
        .await;
    assert_eq!(
        welcome["content"],
        format!("Hi <@{NEWCOMER}>! @everyone <@&1100000000000000030> read #rules")
    );
    let posted = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{OFF_TOPIC}/messages"))
        .expect("the welcome's request");
    let body = posted.body.clone().unwrap_or_default();
    assert_eq!(
        body["allowed_mentions"]["users"],
        json!([NEWCOMER.to_string()]),
        "only the newcomer may be pinged"
    );
    assert_eq!(
        body["allowed_mentions"]["parse"]
            .as_array()
            .map_or(0, Vec::len),
        0,
        "{body}"
    );
    sim.wait_for("the welcome role", REACT, |v| {
        v.role_changes()
            .contains(&("PUT".to_owned(), NEWCOMER, PLAYER_ROLE))
            .then_some(())
    })
    .await;

    // Left and back within a day: the role again, no second post.
    sim.member_leaves(NEWCOMER);
    let marks = sim.mark();
    sim.member_joins(NEWCOMER, "newcomer");
    sim.wait_request("the role given again", marks, REACT, |r| {
        r.method == "PUT"
            && r.path
                .ends_with(&format!("/members/{NEWCOMER}/roles/{PLAYER_ROLE}"))
    })
    .await;
    bot.wait_member_events_handled(&sim).await;
    assert_eq!(welcomes(&sim).len(), 1, "welcomed twice");

    // Membership screening: welcomed at once, the role only once they accept the rules.
    const SCREENED: u64 = 1_100_000_000_000_000_306;
    sim.member_joins_screened(SCREENED, "screened");
    sim.wait_for("the second welcome", REACT, |v| {
        (v.messages().iter().filter(|m| is_welcome(m)).count() == 2).then_some(())
    })
    .await;
    bot.wait_member_events_handled(&sim).await;
    let given = |v: &[(String, u64, u64)]| v.iter().any(|(_, user, _)| *user == SCREENED);
    assert!(!given(&sim.role_changes()), "no role while pending");
    // An update that does not say `pending` (a nickname change, say) releases nothing: the
    // bot asks Discord, which says they are still pending.
    let mut update = sim.with_guild(|g| g.member_json(SCREENED, true));
    update["guild_id"] = json!(GUILD_ID.to_string());
    if let Some(fields) = update.as_object_mut() {
        fields.remove("pending");
    }
    sim.dispatch("GUILD_MEMBER_UPDATE", update);
    bot.wait_member_events_handled(&sim).await;
    assert!(!given(&sim.role_changes()), "no role while still pending");
    sim.member_passes_screening(SCREENED);
    sim.wait_for("the role after screening", REACT, |v| {
        given(v.role_changes()).then_some(())
    })
    .await;

    // Bots are not welcomed.
    let mut other_bot = sim.with_guild(|g| g.member_json(SECOND, true));
    other_bot["user"]["bot"] = json!(true);
    other_bot["guild_id"] = json!(GUILD_ID.to_string());
    sim.dispatch("GUILD_MEMBER_ADD", other_bot);
    bot.wait_member_events_handled(&sim).await;
    assert_eq!(welcomes(&sim).len(), 2);

    // The role moved above the bot's: one note to staff, no call, the welcome still posted.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 99;
        }
    });
    let calls = sim.role_changes().len();
    sim.member_joins(THIRD, "third");
    sim.member_joins(FOURTH, "fourth");
    sim.wait_for("two welcomes and a note", REACT, |v| {
        let posted = v.messages().iter();
        let welcomes = posted.clone().filter(|m| is_welcome(m)).count();
        let notes = posted
            .filter(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("I can't give the welcome role")
            })
            .count();
        (welcomes == 4 && notes == 1).then_some(())
    })
    .await;
    bot.wait_member_events_handled(&sim).await;
    assert_eq!(sim.role_changes().len(), calls, "no role call once refused");
    let notes = sim
        .bot_messages()
        .iter()
        .filter(|m| m["content"].as_str().unwrap_or("").contains("welcome role"))
        .count();
    assert_eq!(notes, 1, "staff are told once");

    // Fixed and set again: the role is given to the next newcomer.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 1;
        }
    });
    let again = settings(
        &sim,
        json!([{"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    assert!(again.contains("Settings saved"), "{again}");
    const RESUMED: u64 = 1_100_000_000_000_000_307;
    sim.member_joins(RESUMED, "resumed");
    sim.wait_for("the role given again", REACT, |v| {
        v.role_changes()
            .contains(&("PUT".to_owned(), RESUMED, PLAYER_ROLE))
            .then_some(())
    })
    .await;

    // Welcomes off: nothing more.
    let off = settings(
        &sim,
        json!([{"name": "welcome_off", "type": 5, "value": true}]),
    )
    .await;
    assert!(off.contains("Welcome channel: not set"), "{off}");
    sim.member_joins(1_100_000_000_000_000_305, "fifth");
    bot.wait_member_events_handled(&sim).await;
    assert_eq!(welcomes(&sim).len(), 5);
    sim.assert_clean().await;
}

/// A welcome whose post failed does not count: the member's return within the day is
/// welcomed.
#[tokio::test]
async fn a_welcome_that_failed_is_posted_at_the_return() {
    let (sim, _bot) = start_ready_with(SimOptions::default(), with_intent()).await;
    let saved = settings(
        &sim,
        json!([{"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    let posts = format!("/channels/{OFF_TOPIC}/messages");
    let marks = sim.mark();
    sim.fail_next(1, 500, &posts);
    sim.member_joins(NEWCOMER, "newcomer");
    sim.wait_request("the failed welcome", marks, REACT, |r| {
        r.method == "POST" && r.path == posts && r.status == 500
    })
    .await;
    assert!(welcomes(&sim).is_empty());
    sim.member_leaves(NEWCOMER);
    sim.member_joins(NEWCOMER, "newcomer");
    sim.wait_for("the welcome at the return", REACT, |v| {
        v.messages().iter().find(|m| is_welcome(m)).cloned()
    })
    .await;
    assert_eq!(sim.violations(), Vec::<String>::new());
}

/// Events are handled side by side: the update saying a member passed screening may be handled
/// before their join. They get the welcome role all the same, and once.
#[tokio::test]
async fn a_member_who_passes_before_their_join_is_handled_gets_the_role_once() {
    let (sim, mut bot) = start_with_settings(
        SimOptions::default(),
        json!([{"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    sim.edit_guild(|g| {
        g.members.insert(NEWCOMER, Vec::new());
    });
    let mut member = sim.with_guild(|g| g.member_json(NEWCOMER, true));
    member["guild_id"] = json!(GUILD_ID.to_string());
    member["pending"] = json!(false);
    sim.dispatch("GUILD_MEMBER_UPDATE", member.clone());
    member["pending"] = json!(true);
    let since = sim.mark();
    sim.dispatch("GUILD_MEMBER_ADD", member);
    let given = ("PUT".to_owned(), NEWCOMER, PLAYER_ROLE);
    sim.wait_for("the welcome role", REACT, |v| {
        v.role_changes().contains(&given).then_some(())
    })
    .await;
    // Both events handled, their work done: a second role given would be among the calls.
    let read = format!("/guilds/{GUILD_ID}/members/{NEWCOMER}");
    sim.wait_request("the join's read", since, REACT, |r| {
        r.method == "GET" && r.path == read
    })
    .await;
    bot.wait_member_events_handled(&sim).await;
    let times = sim.role_changes().iter().filter(|c| **c == given).count();
    assert_eq!(times, 1, "{:?}", sim.role_changes());
    sim.assert_clean().await;
}

/// A player with a value who leaves and comes back is not put back to awaiting evaluation: a
/// welcome role that is also the role a tryout takes goes to newcomers only.
#[tokio::test]
async fn an_evaluated_player_who_returns_is_not_awaiting_evaluation_again() {
    let (sim, mut bot) = start_with_settings(
        SimOptions::default(),
        json!([
            {"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "remove_role", "type": 8, "value": PLAYER_ROLE.to_string()},
        ]),
    )
    .await;
    let (_, reply) = set_value(&sim, ALICE, BOB, 40).await;
    assert!(reply.contains("→"), "{reply}");
    bot.wait_commands_finished(&sim).await;
    sim.member_leaves(BOB);
    sim.member_joins(BOB, "bob");
    sim.member_joins(NEWCOMER, "newcomer");
    sim.wait_for("the newcomer's role", REACT, |v| {
        v.role_changes()
            .contains(&("PUT".to_owned(), NEWCOMER, PLAYER_ROLE))
            .then_some(())
    })
    .await;
    bot.wait_member_events_handled(&sim).await;
    let given_to_bob = ("PUT".to_owned(), BOB, PLAYER_ROLE);
    assert!(
        !sim.role_changes().contains(&given_to_bob),
        "{:?}",
        sim.role_changes()
    );
    sim.assert_clean().await;
}

/// A wave of joins (a raid, say): each member gets the role, in the order they came, and only
/// the first ones a message, since the rest would be welcomed minutes late; one who leaves
/// before their turn is not greeted.
#[tokio::test]
async fn a_wave_of_joins_is_greeted_in_order_and_its_tail_gets_the_role_only() {
    // A channel that takes the 21 or so welcomes in a second rather than twenty (Discord sets
    // its limits as it sees fit; the bot follows what its answers say).
    let mut options = SimOptions::default();
    options.rate_limits.channel_messages = ratelimit::Limit::new(30, Duration::from_secs(1));
    // And the three other calls each greeting makes: the bot's own global pace (about 40
    // calls a second) is then what bounds the wave, at about four seconds.
    options.rate_limits.other = ratelimit::Limit::new(30, Duration::from_secs(1));
    let (sim, mut bot) = start_with_settings(
        options,
        json!([
            {"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()},
            {"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "welcome_message", "type": 3, "value": "Hi {member}!"},
        ]),
    )
    .await;
    let wave: Vec<u64> = (0..40).map(|i| 1_100_000_000_000_001_000 + i).collect();
    for &member in &wave {
        sim.member_joins(member, "wave");
    }
    // One of them leaves before their turn: nothing is asked of Discord about them.
    let gone = wave[30];
    sim.member_leaves(gone);
    bot.wait_member_events_handled(&sim).await;

    let given: Vec<u64> = sim
        .role_changes()
        .into_iter()
        .filter(|(method, _, role)| method == "PUT" && *role == PLAYER_ROLE)
        .map(|(_, user, _)| user)
        .collect();
    let stayed: Vec<u64> = wave.iter().copied().filter(|&m| m != gone).collect();
    assert_eq!(given, stayed, "every member once, in the order they came");
    let about_gone = format!("/members/{gone}");
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains(&about_gone)),
        "a role asked for a member who had left"
    );
    let welcomed: Vec<u64> = welcomes(&sim)
        .iter()
        .filter_map(|m| {
            let text = m["content"].as_str()?;
            text.strip_prefix("Hi <@")?.strip_suffix(">!")?.parse().ok()
        })
        .collect();
    assert_eq!(welcomed.len(), welcomes(&sim).len(), "{:?}", welcomes(&sim));
    // The first 21 cannot have found more than 20 waiting; the joins come far faster than
    // they are greeted, so the last finds the queue long.
    assert!(welcomed.len() >= 21, "{welcomed:?}");
    assert_eq!(welcomed[..21], wave[..21], "the first ones, in order");
    assert!(
        welcomed.windows(2).all(|pair| pair[0] < pair[1]),
        "out of order: {welcomed:?}"
    );
    assert!(
        !welcomed.contains(&wave[wave.len() - 1]),
        "{} of {} joins posted about",
        welcomed.len(),
        wave.len()
    );
    sim.assert_clean().await;
}

/// A stop with joins still waiting: the bot stops greeting at once rather than spend its stop
/// on them, logs how many were left, and exits cleanly.
#[tokio::test]
async fn a_stop_leaves_the_waiting_joins_and_exits_cleanly() {
    let (sim, mut bot) = start_with_settings(
        SimOptions::default(),
        json!([{"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    let wave: Vec<u64> = (0..40).map(|i| 1_100_000_000_000_002_000 + i).collect();
    for &member in &wave {
        sim.member_joins(member, "wave");
    }
    let given = |changes: &[(String, u64, u64)]| {
        changes
            .iter()
            .filter(|(method, user, _)| method == "PUT" && wave.contains(user))
            .count()
    };
    sim.wait_for("the first welcome role", REACT, |v| {
        (given(v.role_changes()) > 0).then_some(())
    })
    .await;
    bot.sigterm();
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    let logs = bot.logs();
    // Ten role calls a second: all forty would take four seconds, more than the stop waits
    // for the bot's tasks.
    assert!(
        !logs.contains("commands still running at shutdown"),
        "the greeting held up the stop: {logs}"
    );
    let left: usize = logs
        .lines()
        .find(|l| l.contains("members who joined were not greeted"))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("left=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of the joins left: {logs}"));
    assert!(left > 0, "{logs}");
    assert_eq!(
        given(&sim.role_changes()) + left,
        wave.len(),
        "each join either greeted or counted as left"
    );
}

#[tokio::test]
async fn without_the_intent_the_bot_says_what_is_missing() {
    let (sim, _bot) = start_ready().await;
    assert_eq!(
        sim.intents() & GUILD_MEMBERS_INTENT,
        0,
        "not asked for unless turned on"
    );
    let saved = settings(
        &sim,
        json!([{"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    )
    .await;
    assert!(saved.contains("can't run yet"), "{saved}");
    assert!(saved.contains("GUILD_MEMBERS_INTENT=on"), "{saved}");
    sim.member_joins(NEWCOMER, "newcomer");
    assert_eq!(
        sim.dispatched("GUILD_MEMBER_ADD"),
        0,
        "a join reaches only a bot that asked for the intent"
    );
    settle(&sim).await;
    assert!(welcomes(&sim).is_empty());
    sim.assert_clean().await;
}

#[tokio::test]
async fn an_intent_the_application_was_not_granted_stops_the_bot_clearly() {
    let sim = Sim::with_options(SimOptions {
        privileged_intents: PRIVILEGED_INTENTS & !GUILD_MEMBERS_INTENT,
        ..SimOptions::default()
    })
    .await;
    let mut bot = Bot::start_with(&sim, with_intent()).await;
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "{}", bot.logs());
    assert_eq!(sim.connections(), 1, "no reconnect loop");
    let logs = bot.logs();
    assert!(
        logs.contains("4014") && logs.contains("Server Members"),
        "{logs}"
    );
}

/// A welcome message that would show nothing, or be too long once `{member}` is filled in, is
/// refused and changes nothing; one that is saved is shown back as typed. A role given after a
/// tryout cannot also be the one taken.
#[tokio::test]
async fn settings_refuse_what_would_not_work_and_show_the_welcome_as_typed() {
    let (sim, _bot) = start_ready().await;
    let message = |text: &str| json!([{"name": "welcome_message", "type": 3, "value": text}]);
    let blank = settings(&sim, message("\u{200b}\u{3164}")).await;
    assert!(blank.contains("shows something"), "{blank}");
    let long = settings(&sim, message(&"{member}".repeat(125))).await;
    assert!(long.contains("once each {member} is filled in"), "{long}");
    let shown = settings(&sim, json!([])).await;
    assert!(shown.contains("Welcome message: the default"), "{shown}");

    let ball = "⚽\u{fe0f}".repeat(150);
    let saved = settings(&sim, message(&ball)).await;
    assert!(saved.contains("Settings saved"), "{saved}");
    assert!(saved.contains(&"⚽\u{fe0f}".repeat(100)), "{saved}");
    assert!(saved.chars().count() <= 2000, "{saved}");

    let both = json!([
        {"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()},
        {"name": "remove_role", "type": 8, "value": PLAYER_ROLE.to_string()},
    ]);
    let refused = settings(&sim, both).await;
    assert!(refused.contains("both the role given"), "{refused}");
    let shown = settings(&sim, json!([])).await;
    assert!(
        shown.contains("Role added after a tryout: not set"),
        "{shown}"
    );
    sim.assert_clean().await;
}
