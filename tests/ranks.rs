//! The rank role end to end: the top of the rankings carries it, a change moves only the role
//! that changed hands, and a role Discord refuses is reported to staff once.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use novera_assistant::db::Db;
use serde_json::{json, Value};
use serenity::all::{GuildId, UserId};
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

/// Gives `user` the value `value` with `/setvalue`, set by Alice.
async fn valued(sim: &Sim, user: u64, value: i64) {
    let (_, reply) = set_value(sim, ALICE, user, value).await;
    assert!(reply.contains("→"), "{reply}");
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
    sim.with_guild(holders_in)
}

fn holders_in(g: &Guild) -> Vec<u64> {
    let mut held: Vec<u64> = g
        .members
        .iter()
        .filter(|(_, roles)| roles.contains(&PLAYER_ROLE))
        .map(|(id, _)| *id)
        .collect();
    held.sort();
    held
}

/// Waits until exactly `expected` (sorted) carry the rank role.
async fn wait_holders(sim: &Sim, what: &str, expected: &[u64]) {
    sim.wait_for(what, REACT, |v| {
        (holders_in(v.guild()) == expected).then_some(())
    })
    .await;
}

/// `creator` creates a match of mode `mode` (poise sends a choice as its index: 0 is 1v1)
/// for `stake`; returns its card as posted.
async fn create_match(sim: &Sim, creator: u64, mode: u64, stake: i64) -> Value {
    let before = sim.bot_messages().len();
    let create = json!([{"name": "create", "type": 1, "options": [
        {"name": "mode", "type": 4, "value": mode}, {"name": "stake", "type": 4, "value": stake}]}]);
    answer(sim, creator, "match", create).await;
    sim.wait_for("the card", REACT, |v| {
        v.messages()[before..]
            .iter()
            .find(|m| m["content"].as_str().unwrap_or("").starts_with("**Match #"))
            .cloned()
    })
    .await
}

async fn click(sim: &Sim, user: u64, message: &Value, action: &str) {
    let now = sim
        .bot_messages()
        .into_iter()
        .find(|m| m["id"] == message["id"])
        .unwrap();
    let id = button_for(&now, action).unwrap_or_else(|| panic!("no {action} button"));
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
    // Twelve changes back to back make some 90 requests (the staff check, the member read and
    // the role with its check, the player's DM): the bot keeps them within Discord's global
    // limit of 50 a second (`assert_clean` fails on any 429).
    for n in 1..=12 {
        valued(&sim, player(n), start_value(n)).await;
    }
    let top_ten: Vec<u64> = (1..=10).map(player).collect();
    wait_holders(&sim, "the top ten carry the role", &top_ten).await;

    // A 2v2: P11 and P12 beat P9 and P10 for 30 each, and swap places with them.
    let since = sim.mark();
    let card = create_match(&sim, player(11), 1, 30).await;
    click(&sim, player(12), &card, "join_a").await;
    click(&sim, player(9), &card, "join_b").await;
    click(&sim, player(10), &card, "join_b").await;
    click(&sim, player(11), &card, "won_a").await;
    click(&sim, player(9), &card, "confirm").await;
    click(&sim, player(10), &card, "confirm").await;
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

    // Staff undo the match: the same four move back.
    let since = sim.mark();
    let undo = json!([{"name": "undo", "type": 1, "options": [
        {"name": "match_id", "type": 4, "value": 1}]}]);
    let undone = answer(&sim, ALICE, "match", undo).await;
    assert!(undone.contains("undone"), "{undone}");
    wait_holders(&sim, "the roles move back", &top_ten).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(
        role_calls(&sim, since),
        vec![
            ("DELETE".to_owned(), player(11)),
            ("DELETE".to_owned(), player(12)),
            ("PUT".to_owned(), player(9)),
            ("PUT".to_owned(), player(10)),
        ]
    );

    // A season that resets everyone to 0: nobody is ranked, the role goes from all ten.
    let reset = json!([
        {"name": "season_reset", "type": 4, "value": 1},
        {"name": "season_base_value", "type": 4, "value": 0},
    ]);
    answer(&sim, ALICE, "settings", reset).await;
    let since = sim.mark();
    let before = sim.bot_messages().len();
    answer(
        &sim,
        ALICE,
        "season",
        json!([{"name": "end", "type": 1, "options": []}]),
    )
    .await;
    let question = sim
        .wait_for("the confirmation", REACT, |v| {
            v.messages()[before..]
                .iter()
                .find(|m| {
                    m["content"]
                        .as_str()
                        .unwrap_or("")
                        .contains("End season 1?")
                })
                .cloned()
        })
        .await;
    click(&sim, ALICE, &question, "end").await;
    wait_holders(&sim, "the role taken from all", &[]).await;
    settle(&sim).await;
    let calls = role_calls(&sim, since);
    assert_eq!(calls.len(), 10, "{calls:?}");
    assert!(
        calls.iter().all(|(method, _)| method == "DELETE"),
        "{calls:?}"
    );
    sim.assert_clean().await;
}

fn notes_to_staff(sim: &Sim) -> Vec<String> {
    notes_in(&sim.bot_messages())
}

fn notes_in(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.contains("I can't give or take the rank role"))
        .map(str::to_owned)
        .collect()
}

async fn set_rank_role(sim: &Sim, role: u64, top: i64) {
    let settings = answer(
        sim,
        ALICE,
        "settings",
        json!([
            {"name": "rank_role", "type": 8, "value": role.to_string()},
            {"name": "rank_top", "type": 4, "value": top},
            {"name": "staff_channel", "type": 7, "value": GENERAL.to_string()},
        ]),
    )
    .await;
    assert!(settings.contains(&format!("the top {top}")), "{settings}");
}

#[tokio::test]
async fn a_role_the_bot_may_not_give_is_reported_once_and_not_retried() {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        for n in 1..=2 {
            g.members.insert(player(n), Vec::new());
        }
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    set_rank_role(&sim, PLAYER_ROLE, 1).await;

    // Someone moves the role above the bot's: the bot sees it and does not even try.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 99;
        }
    });
    let since = sim.mark();
    valued(&sim, player(1), 10).await;
    sim.wait_for("the note to staff", REACT, |v| {
        (notes_in(v.messages()).len() == 1).then_some(())
    })
    .await;
    let note = &notes_to_staff(&sim)[0];
    assert!(note.contains("above my highest role"), "{note}");
    valued(&sim, player(2), 20).await;
    valued(&sim, player(1), 30).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(role_calls(&sim, since), vec![], "paused, never tried");
    assert_eq!(notes_to_staff(&sim).len(), 1, "staff are told once");

    // Back in place, but someone gave it Administrator: setting it again is refused outright,
    // and a role edited after it was set is refused when the bot would give it.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 1;
        }
    });
    set_rank_role(&sim, PLAYER_ROLE, 1).await;
    wait_holders(&sim, "the top one gets the role", &[player(1)]).await;
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.permissions = 1 << 3; // Administrator
        }
    });
    let since = sim.mark();
    valued(&sim, player(2), 40).await;
    sim.wait_for("the second note", REACT, |v| {
        (notes_in(v.messages()).len() == 2).then_some(())
    })
    .await;
    assert!(
        notes_to_staff(&sim)[1].contains("moderator permissions"),
        "{:?}",
        notes_to_staff(&sim)
    );
    bot.wait_commands_finished(&sim).await;
    assert_eq!(
        role_calls(&sim, since),
        vec![("DELETE".to_owned(), player(1))],
        "the role is taken from who left the top, and given to nobody"
    );
    assert_eq!(holders(&sim), Vec::<u64>::new());

    // Fixed again; then Discord itself refuses (the bot lost Manage Roles): one try, one note.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.permissions = 0;
        }
    });
    sim.forbid_roles();
    let since = sim.mark();
    set_rank_role(&sim, PLAYER_ROLE, 1).await;
    sim.wait_for("the third note", REACT, |v| {
        (notes_in(v.messages()).len() == 3).then_some(())
    })
    .await;
    valued(&sim, player(1), 50).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(
        role_calls(&sim, since),
        vec![("PUT".to_owned(), player(2))],
        "one attempt, refused, then paused"
    );
    assert_eq!(notes_to_staff(&sim).len(), 3);
    // The refusals are Discord's rules at work, not rules the bot broke.
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[tokio::test]
async fn a_replaced_rank_role_is_taken_back_and_the_new_one_given() {
    const TOP_ROLE: u64 = 1_100_000_000_000_000_039;
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.roles.push(Role::new(TOP_ROLE, "Top", 0, 1));
        for n in 1..=3 {
            g.members.insert(player(n), Vec::new());
        }
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    for n in 1..=3 {
        valued(&sim, player(n), 100 - n as i64).await;
    }
    let since = sim.mark();
    set_rank_role(&sim, PLAYER_ROLE, 2).await;
    wait_holders(&sim, "the top two get the role", &[player(1), player(2)]).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(role_calls(&sim, since).len(), 2);

    let since = sim.mark();
    set_rank_role(&sim, TOP_ROLE, 2).await;
    sim.wait_for("the new role moves", REACT, |v| {
        (v.role_changes().len() == 6).then_some(())
    })
    .await;
    bot.wait_commands_finished(&sim).await;
    let mut moved: Vec<(String, u64, u64)> = sim.role_changes()[2..].to_vec();
    moved.sort();
    assert_eq!(
        moved,
        vec![
            ("DELETE".to_owned(), player(1), PLAYER_ROLE),
            ("DELETE".to_owned(), player(2), PLAYER_ROLE),
            ("PUT".to_owned(), player(1), TOP_ROLE),
            ("PUT".to_owned(), player(2), TOP_ROLE),
        ]
    );
    assert!(role_calls(&sim, since).iter().all(|(m, _)| m == "DELETE"));

    // The replaced role moved above the bot's before it was replaced: the bot can't take it
    // back, tells staff once who still has it, and gives the new role all the same.
    const THIRD_ROLE: u64 = 1_100_000_000_000_000_040;
    sim.edit_guild(|g| {
        g.roles.push(Role::new(THIRD_ROLE, "Third", 0, 1));
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == TOP_ROLE) {
            role.position = 99;
        }
    });
    set_rank_role(&sim, THIRD_ROLE, 2).await;
    let note = sim
        .wait_for("the note about the old role", REACT, |v| {
            v.messages()
                .iter()
                .find(|m| {
                    m["content"]
                        .as_str()
                        .unwrap_or("")
                        .contains("couldn't take the earlier rank role")
                })
                .cloned()
        })
        .await;
    let text = note["content"].as_str().unwrap_or("");
    assert!(
        text.contains(&format!("<@&{TOP_ROLE}>")) && text.contains(&format!("<@{}>", player(1))),
        "{text}"
    );
    sim.wait_for("the third role reaches the top", REACT, |v| {
        let held = |user: u64| {
            v.guild()
                .members
                .get(&user)
                .is_some_and(|roles| roles.contains(&THIRD_ROLE))
        };
        (held(player(1)) && held(player(2))).then_some(())
    })
    .await;
    // Told once: the next change does not try the old role again.
    let calls = sim.role_changes().len();
    let marks = sim.mark();
    valued(&sim, player(3), 50).await;
    bot.wait_commands_finished(&sim).await;
    let old_role = format!("/roles/{TOP_ROLE}");
    let retried: Vec<_> = sim
        .requests_since(marks)
        .into_iter()
        .filter(|r| r.path.ends_with(&old_role))
        .collect();
    assert!(
        retried.is_empty(),
        "the old role was tried again: {retried:?}"
    );
    let notes = sim
        .bot_messages()
        .iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .contains("couldn't take the earlier rank role")
        })
        .count();
    assert_eq!(notes, 1, "staff told more than once");
    assert!(
        sim.role_changes()[calls..]
            .iter()
            .all(|(_, _, role)| *role == THIRD_ROLE),
        "{:?}",
        sim.role_changes()
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_first_value_set_by_staff_brings_the_evaluated_roles() {
    const AWAITING_ROLE: u64 = 1_100_000_000_000_000_039;
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.roles
            .push(Role::new(AWAITING_ROLE, "Awaiting evaluation", 0, 1));
        g.members.insert(player(1), vec![AWAITING_ROLE]);
        g.members.insert(player(2), vec![AWAITING_ROLE]);
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let settings = answer(
        &sim,
        ALICE,
        "settings",
        json!([
            {"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "remove_role", "type": 8, "value": AWAITING_ROLE.to_string()},
        ]),
    )
    .await;
    assert!(settings.contains("Settings saved"), "{settings}");
    let roles_of =
        |user: u64| sim.with_guild(|g| g.members.get(&user).cloned().unwrap_or_default());

    // ¥0 counts as no value: no evaluated roles, and the next value is still the first.
    valued(&sim, player(1), 0).await;
    bot.wait_commands_done("setvalue", 1).await;
    assert_eq!(sim.role_changes(), Vec::new(), "roles moved at ¥0");
    valued(&sim, player(1), 25).await;
    sim.wait_for("the roles move", REACT, |v| {
        (v.guild().members.get(&player(1)) == Some(&vec![PLAYER_ROLE])).then_some(())
    })
    .await;
    // Later changes are not first values: no more role calls, even if staff took a role back.
    sim.edit_guild(|g| {
        g.members.insert(player(1), vec![AWAITING_ROLE]);
    });
    let reply = answer(
        &sim,
        ALICE,
        "addvalue",
        json!([
            {"name": "member", "type": 6, "value": player(1).to_string()},
            {"name": "delta", "type": 4, "value": 5},
        ]),
    )
    .await;
    assert!(reply.contains("30"), "{reply}");
    bot.wait_commands_done("addvalue", 1).await;
    assert_eq!(sim.role_changes().len(), 2, "{:?}", sim.role_changes());
    assert_eq!(roles_of(player(1)), vec![AWAITING_ROLE]);

    // A role above the bot's by the time it is given: staff are told, nothing is tried.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 99;
        }
    });
    let (interaction, _) = set_value(&sim, ALICE, player(2), 10).await;
    let note = sim
        .wait_request("the note", 0, REACT, |r| {
            is_followup(r, &interaction.token) && content(r).contains("I didn't give")
        })
        .await;
    assert!(
        content(&note).contains("above my highest role"),
        "{}",
        content(&note)
    );
    let flags = note.body.as_ref().and_then(|b| b["flags"].as_u64());
    assert_eq!(flags.unwrap_or(0) & 64, 64, "only staff see it");
    bot.wait_commands_finished(&sim).await;
    assert_eq!(
        roles_of(player(2)),
        Vec::<u64>::new(),
        "the awaiting role is taken all the same"
    );

    // A member still in membership screening is not given it: staff are told why.
    sim.edit_guild(|g| {
        if let Some(role) = g.roles.iter_mut().find(|r| r.id == PLAYER_ROLE) {
            role.position = 1;
        }
        g.members.insert(player(3), vec![AWAITING_ROLE]);
        g.pending.insert(player(3));
    });
    let (interaction, _) = set_value(&sim, ALICE, player(3), 10).await;
    let note = sim
        .wait_request("the screening note", 0, REACT, |r| {
            is_followup(r, &interaction.token) && content(r).contains("I didn't give")
        })
        .await;
    assert!(
        content(&note).contains("not accepted the server's rules"),
        "{}",
        content(&note)
    );
    bot.wait_commands_finished(&sim).await;
    assert_eq!(
        roles_of(player(3)),
        Vec::<u64>::new(),
        "given while screening"
    );

    // A user who is not in the server has no value here: refused, nothing written.
    let (_, reply) = set_value(&sim, ALICE, player(4), 10).await;
    assert!(reply.contains("isn't a member of this server"), "{reply}");
    let db = Db::connect(&bot.database_url).await.unwrap();
    let standing = db.standing(GuildId::new(GUILD_ID), UserId::new(player(4)));
    assert_eq!(standing.await.unwrap(), None);
    sim.assert_clean().await;
}

/// A value is saved before staff are answered: if Discord fails the answer, what follows
/// from the value (the evaluated roles, the member's DM) still happens.
#[tokio::test]
async fn a_first_value_whose_answer_failed_still_brings_the_roles_and_the_dm() {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        g.members.insert(player(1), Vec::new());
    });
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let settings = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    assert!(settings.contains("Settings saved"), "{settings}");
    sim.fail_next(1, 500, "/callback");
    let marks = sim.mark();
    sim.slash(
        ALICE,
        GENERAL,
        "setvalue",
        json!([
            {"name": "member", "type": 6, "value": player(1).to_string()},
            {"name": "amount", "type": 4, "value": 25},
        ]),
    );
    sim.wait_for("the role given", REACT, |v| {
        (v.guild().members.get(&player(1)) == Some(&vec![PLAYER_ROLE])).then_some(())
    })
    .await;
    let dm = sim
        .wait_request("the member's DM", marks, REACT, |r| {
            r.path.starts_with("/channels/") && content(r).contains("Staff changed your value")
        })
        .await;
    assert!(content(&dm).contains("¥25 million"), "{}", content(&dm));
    sim.assert_clean().await;
}

#[tokio::test]
async fn staff_cannot_raise_themselves_or_hand_out_the_roles_that_give_powers() {
    let sim = Sim::start().await;
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    let (_, own) = set_value(&sim, ALICE, ALICE, 1000).await;
    assert!(own.contains("Nobody changes their own value"), "{own}");
    let saved = answer(
        &sim,
        ALICE,
        "settings",
        json!([
            {"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()},
            {"name": "evaluator_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
        ]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    for (option, role) in [
        ("rank_role", STAFF_ROLE),
        ("welcome_role", EVALUATOR_ROLE),
        ("add_role", STAFF_ROLE),
    ] {
        let refused = answer(
            &sim,
            ALICE,
            "settings",
            json!([{"name": option, "type": 8, "value": role.to_string()}]),
        )
        .await;
        assert!(refused.contains("Nothing changed"), "{option}: {refused}");
    }
    // The rank role is a role of its own: not the one a tryout gives, nor the welcome role.
    const FAN_ROLE: u64 = 1_100_000_000_000_000_041;
    sim.edit_guild(|g| g.roles.push(Role::new(FAN_ROLE, "Fan", 0, 1)));
    let given = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
    )
    .await;
    assert!(given.contains("Settings saved"), "{given}");
    for options in [
        json!([{"name": "rank_role", "type": 8, "value": PLAYER_ROLE.to_string()}]),
        json!([
            {"name": "rank_role", "type": 8, "value": FAN_ROLE.to_string()},
            {"name": "welcome_role", "type": 8, "value": FAN_ROLE.to_string()},
        ]),
    ] {
        let refused = answer(&sim, ALICE, "settings", options.clone()).await;
        assert!(
            refused.contains("can't be the rank role"),
            "{options}: {refused}"
        );
    }
    let shown = answer(&sim, ALICE, "settings", json!([])).await;
    assert!(shown.contains("Rank role: not set"), "{shown}");
    assert!(shown.contains("Welcome role: not set"), "{shown}");
    // Nor the other way round: the rank role can't become the staff role.
    let rank = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "rank_role", "type": 8, "value": FAN_ROLE.to_string()}]),
    )
    .await;
    assert!(rank.contains("Settings saved"), "{rank}");
    let refused = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "staff_role", "type": 8, "value": FAN_ROLE.to_string()}]),
    )
    .await;
    assert!(refused.contains("it is the staff role"), "{refused}");
    let now = answer(&sim, ALICE, "settings", json!([])).await;
    assert!(
        now.contains(&format!("Staff role: <@&{STAFF_ROLE}>")),
        "{now}"
    );
    assert!(sim.role_changes().is_empty(), "{:?}", sim.role_changes());
    sim.assert_clean().await;
}

#[tokio::test]
async fn members_who_left_give_up_their_place_and_the_role_can_be_turned_off() {
    const TOP_ROLE: u64 = 1_100_000_000_000_000_039;
    // P2 leaves the server: P3 takes the second place.
    let (sim, mut bot) = p2_gone_from_the_top_two(Vec::new()).await;
    sim.edit_guild(|g| g.roles.push(Role::new(TOP_ROLE, "Top", 0, 1)));
    // Staff delete the role, then pick another: the old one is gone from everyone already,
    // the new one reaches the top.
    sim.edit_guild(|g| {
        g.roles.retain(|r| r.id != PLAYER_ROLE);
        for roles in g.members.values_mut() {
            roles.retain(|r| *r != PLAYER_ROLE);
        }
    });
    set_rank_role(&sim, TOP_ROLE, 2).await;
    let carriers = |g: &Guild| {
        let mut held: Vec<u64> = g
            .members
            .iter()
            .filter(|(_, roles)| roles.contains(&TOP_ROLE))
            .map(|(id, _)| *id)
            .collect();
        held.sort();
        held
    };
    sim.wait_for("the new role reaches the top", REACT, |v| {
        (carriers(v.guild()) == vec![player(1), player(3)]).then_some(())
    })
    .await;
    // Off: the bot takes its role back from everyone it gave it to.
    let off = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "rank_off", "type": 5, "value": true}]),
    )
    .await;
    assert!(off.contains("Rank role: not set"), "{off}");
    sim.wait_for("the role taken back", REACT, |v| {
        carriers(v.guild()).is_empty().then_some(())
    })
    .await;
    let calls = sim.role_changes().len();
    valued(&sim, player(1), 99).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(sim.role_changes().len(), calls, "off stays off");
    sim.assert_clean().await;
}

/// Without the Server Members intent the bot never hears that a member came back. A match that
/// moves their value shows it: the sync reads them again, and they take their place.
#[tokio::test]
async fn a_member_back_unheard_takes_their_place_once_a_match_moves_their_value() {
    let (sim, _bot) = p2_gone_from_the_top_two(Vec::new()).await;
    let saved = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "matches_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    // P2 is back, with no event the bot can hear.
    sim.edit_guild(|g| {
        g.members.insert(player(2), Vec::new());
    });
    let card = create_match(&sim, player(2), 0, 5).await;
    click(&sim, player(3), &card, "join_b").await;
    click(&sim, player(3), &card, "won_a").await;
    click(&sim, player(2), &card, "confirm").await;
    wait_holders(&sim, "P1 and P2 carry the role", &[player(1), player(2)]).await;
    sim.assert_clean().await;
}

/// P1 to P3 in the server (those in `pending` still screening), valued `values`. The bot
/// runs with `env` besides its defaults.
async fn three_ranked(env: Vec<(String, String)>, pending: &[u64], values: [i64; 3]) -> (Sim, Bot) {
    let sim = Sim::start().await;
    sim.edit_guild(|g| {
        for n in 1..=3 {
            g.members.insert(player(n), Vec::new());
        }
        g.pending.extend(pending);
    });
    let options = BotOptions {
        env,
        ..BotOptions::default()
    };
    let mut bot = Bot::start_with(&sim, options).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    wait_registered(&sim).await;
    for (n, value) in (1..=3).zip(values) {
        valued(&sim, player(n), value).await;
    }
    (sim, bot)
}

/// How many times the rank role was given to `user` between request marks `since` and
/// `until`.
fn given_between(sim: &Sim, user: u64, since: usize, until: usize) -> usize {
    let path = format!("/guilds/{GUILD_ID}/members/{user}/roles/{PLAYER_ROLE}");
    sim.requests()[since..until]
        .iter()
        .filter(|r| r.method == "PUT" && r.path == path)
        .count()
}

/// P1 to P3 valued 30, 20, 10; P2 has left the server and the top two (P1, P3) carry the rank
/// role. The bot runs with `env` besides its defaults.
async fn p2_gone_from_the_top_two(env: Vec<(String, String)>) -> (Sim, Bot) {
    let (sim, bot) = three_ranked(env, &[], [30, 20, 10]).await;
    sim.edit_guild(|g| {
        g.members.remove(&player(2));
    });
    set_rank_role(&sim, PLAYER_ROLE, 2).await;
    wait_holders(&sim, "P1 and P3 carry the role", &[player(1), player(3)]).await;
    (sim, bot)
}

/// The bot's environment for member events (joins, screening).
fn member_events() -> Vec<(String, String)> {
    vec![("GUILD_MEMBERS_INTENT".into(), "on".into())]
}

/// Whether `messages` hold a welcome of `user` in #off-topic.
fn welcomed(messages: &[Value], user: u64) -> bool {
    messages.iter().any(|m| {
        m["channel_id"].as_str() == Some(OFF_TOPIC.to_string().as_str())
            && m["content"]
                .as_str()
                .is_some_and(|c| c.contains(&format!("<@{user}>")))
    })
}

/// A member who comes back counts for the rank role again, and the sync that gives it back does
/// not hold up the welcomes of the members who join meanwhile.
#[tokio::test]
async fn a_returning_members_rank_sync_does_not_hold_up_the_next_welcome() {
    const NEWCOMER: u64 = 1_100_000_000_000_000_301;
    let mut env = member_events();
    // A hung request holds the sync for longer than the test waits for a welcome.
    env.push(("DISCORD_HTTP_TIMEOUT_SECS".into(), "60".into()));
    let (sim, _bot) = p2_gone_from_the_top_two(env).await;
    let saved = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    // P2 comes back: giving them the role again (and taking it from P3) gets no answer.
    sim.hang_requests(&format!("/roles/{PLAYER_ROLE}"));
    sim.member_joins(player(2), "p2");
    sim.wait_for("P2 welcomed back", REACT, |v| {
        welcomed(v.messages(), player(2)).then_some(())
    })
    .await;
    sim.member_joins(NEWCOMER, "newcomer");
    sim.wait_for("the newcomer welcomed while P2's sync waits", REACT, |v| {
        welcomed(v.messages(), NEWCOMER).then_some(())
    })
    .await;
    // Discord answers again: P2 is back in the top two.
    sim.answer_hung_requests();
    wait_holders(&sim, "P1 and P2 carry the role", &[player(1), player(2)]).await;
    sim.assert_clean().await;
}

/// On a server with membership screening, a member who comes back gets the rank role only once
/// they accept the rules, as with the welcome role.
#[tokio::test]
async fn a_returning_member_still_screening_waits_for_the_rank_role() {
    let (sim, _bot) = p2_gone_from_the_top_two(member_events()).await;
    let saved = answer(
        &sim,
        ALICE,
        "settings",
        json!([{"name": "welcome_channel", "type": 7, "value": OFF_TOPIC.to_string()}]),
    )
    .await;
    assert!(saved.contains("Settings saved"), "{saved}");
    let since = sim.mark();
    sim.member_joins_screened(player(2), "p2");
    // The welcome comes after the join has been handled up to the screening check.
    sim.wait_for("P2 welcomed back", REACT, |v| {
        welcomed(v.messages(), player(2)).then_some(())
    })
    .await;
    // Discord is asked whether P2 is still screening, after the welcome: the rank role waits.
    sim.wait_request("the screening check", since, REACT, |r| {
        r.method == "GET" && r.path == format!("/guilds/{GUILD_ID}/members/{}", player(2))
    })
    .await;
    let held = sim.with_guild(holders_in);
    assert_eq!(
        held,
        vec![player(1), player(3)],
        "given before the rules were accepted"
    );
    // A staff change meanwhile moves the rankings, not P2's place.
    valued(&sim, player(3), 15).await;
    let passed = sim.mark();
    sim.member_passes_screening(player(2));
    wait_holders(&sim, "P1 and P2 carry the role", &[player(1), player(2)]).await;
    let early = given_between(&sim, player(2), since, passed);
    assert_eq!(early, 0, "given before the rules were accepted");
    sim.assert_clean().await;
}

/// A member in membership screening has no place in the rankings, whatever their value, until
/// they accept the rules: neither a sync for someone else nor a value change of their own gives
/// them the rank role.
#[tokio::test]
async fn a_member_still_screening_has_no_place_until_they_pass() {
    let (sim, _bot) = three_ranked(member_events(), &[], [30, 20, 10]).await;
    set_rank_role(&sim, PLAYER_ROLE, 2).await;
    wait_holders(&sim, "P1 and P2 carry the role", &[player(1), player(2)]).await;
    // P4, new to the server, joins screening: the bot asks Discord whether they passed.
    let since = sim.mark();
    sim.member_joins_screened(player(4), "p4");
    sim.wait_request("the screening check", since, REACT, |r| {
        r.method == "GET" && r.path == format!("/guilds/{GUILD_ID}/members/{}", player(4))
    })
    .await;
    // Staff value P4 above everyone, then raise P3 above P2: only P3's change moves the role.
    valued(&sim, player(4), 50).await;
    valued(&sim, player(3), 25).await;
    wait_holders(&sim, "P1 and P3 carry the role", &[player(1), player(3)]).await;
    let passed = sim.mark();
    sim.member_passes_screening(player(4));
    wait_holders(&sim, "P4 and P1 carry the role", &[player(1), player(4)]).await;
    let early = given_between(&sim, player(4), since, passed);
    assert_eq!(early, 0, "given before the rules were accepted");
    sim.assert_clean().await;
}

/// The bot asks Discord before giving the rank role: a member still screening has no place even
/// when the bot never saw them join (it was down, or runs without the Server Members intent).
#[tokio::test]
async fn a_member_the_bot_never_saw_join_gets_no_place_while_screening() {
    let (sim, _bot) = three_ranked(Vec::new(), &[player(3)], [10, 20, 30]).await;
    let since = sim.mark();
    set_rank_role(&sim, PLAYER_ROLE, 1).await;
    wait_holders(&sim, "P2 carries the role", &[player(2)]).await;
    let read_p3 = format!("/guilds/{GUILD_ID}/members/{}", player(3));
    assert!(
        sim.requests_since(since)
            .iter()
            .any(|r| r.method == "GET" && r.path == read_p3),
        "P3 was not read from Discord"
    );
    // P3 accepts the rules; the next change gives them their place.
    sim.edit_guild(|g| {
        g.pending.remove(&player(3));
    });
    valued(&sim, player(1), 5).await;
    wait_holders(&sim, "P3 carries the role", &[player(3)]).await;
    sim.assert_clean().await;
}

/// A member who carries the rank role and leaves gives up their place at once (Discord says so
/// to a bot with the Server Members intent): the next one down gets the role. Back, they count
/// again.
#[tokio::test]
async fn a_holder_who_leaves_hands_the_role_down_and_takes_it_back_on_return() {
    let (sim, _bot) = three_ranked(member_events(), &[], [30, 20, 10]).await;
    set_rank_role(&sim, PLAYER_ROLE, 2).await;
    wait_holders(&sim, "P1 and P2 carry the role", &[player(1), player(2)]).await;
    sim.member_leaves(player(2));
    wait_holders(&sim, "P3 takes P2's place", &[player(1), player(3)]).await;
    sim.member_joins(player(2), "p2");
    wait_holders(&sim, "P2 back in the top two", &[player(1), player(2)]).await;
    sim.assert_clean().await;
}

/// A grant whose answer was lost (Discord gave the role; the bot heard a 500) is not
/// forgotten: while the member stays in the top the next sync asks for it once more, and once
/// they drop out of it the role is taken back.
#[tokio::test]
async fn a_rank_role_whose_answer_was_lost_is_still_taken_back() {
    let (sim, mut bot) = three_ranked(Vec::new(), &[], [30, 20, 10]).await;
    let p1_role = format!("/members/{}/roles/{PLAYER_ROLE}", player(1));
    sim.lose_next_answers(1, 500, &p1_role);
    let before = sim.mark();
    set_rank_role(&sim, PLAYER_ROLE, 1).await;
    wait_holders(&sim, "P1 carries the role", &[player(1)]).await;
    bot.wait_commands_finished(&sim).await;
    assert_eq!(given_between(&sim, player(1), before, sim.mark()), 1);
    // A change below the top: P1's grant, unconfirmed, is asked for again.
    let again = sim.mark();
    valued(&sim, player(3), 15).await;
    sim.wait_request("P1's role asked for again", again, REACT, |r| {
        r.method == "PUT" && r.path.ends_with(&p1_role)
    })
    .await;
    // Confirmed now: the next change below the top asks nothing of P1 (the syncs run one at
    // a time, so the move below comes after it).
    let settled = sim.mark();
    valued(&sim, player(3), 12).await;
    // P2 rises above P1: the role moves.
    valued(&sim, player(2), 40).await;
    wait_holders(&sim, "the role moved to P2", &[player(2)]).await;
    assert_eq!(given_between(&sim, player(1), settled, sim.mark()), 0);
    sim.assert_clean().await;
}

/// The same lost answer while the member drops out of the top before any other sync: the role
/// is taken back at the first sync after.
#[tokio::test]
async fn a_rank_role_whose_answer_was_lost_is_taken_back_at_the_next_sync() {
    let (sim, _bot) = three_ranked(Vec::new(), &[], [30, 20, 10]).await;
    sim.lose_next_answers(
        1,
        500,
        &format!("/members/{}/roles/{PLAYER_ROLE}", player(1)),
    );
    set_rank_role(&sim, PLAYER_ROLE, 1).await;
    wait_holders(&sim, "P1 carries the role", &[player(1)]).await;
    valued(&sim, player(2), 40).await;
    wait_holders(&sim, "the role moved to P2", &[player(2)]).await;
    sim.assert_clean().await;
}
