//! Who may do what, end to end: each scenario is a member trying to do more than their roles
//! allow, decided on the server's state at that moment (see `support::guild`).
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use serde_json::{json, Value};
use support::*;

/// `user` runs `/settings` with `options`; returns what they are told.
async fn settings(sim: &Sim, user: u64, options: Value) -> String {
    let (_, reply) = run_command_with(sim, user, GENERAL, "settings", options).await;
    content(&reply)
}

fn add_role(role: u64) -> Value {
    json!([{"name": "add_role", "type": 8, "value": role.to_string()}])
}

/// The role added after a tryout, as `/settings` shows it to Alice.
async fn configured_add_role(sim: &Sim) -> String {
    let shown = settings(sim, ALICE, json!([])).await;
    shown
        .lines()
        .find(|l| l.starts_with("Role added after a tryout"))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn manage_server_alone_cannot_make_the_bot_hand_out_roles() {
    let (sim, _bot) = start_ready().await;
    // Bob moderates (Manage Server, Manage Messages) but may not manage roles.
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![MODERATOR_ROLE]);
    });
    let told = settings(&sim, BOB, add_role(PLAYER_ROLE)).await;
    assert!(told.contains("needs Manage Roles"), "{told}");

    // Carol manages roles from a role placed just below Staff.
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![ROLE_MANAGER_ROLE]);
        g.roles
            .iter_mut()
            .find(|r| r.id == ROLE_MANAGER_ROLE)
            .unwrap()
            .position = 2;
    });
    for (role, why) in [
        (STAFF_ROLE, "not below your highest role"),
        (MODERATOR_ROLE, "moderator permissions"),
        (BOT_ROLE, "managed by an integration"),
        (GUILD_ID, "@everyone"),
    ] {
        let told = settings(&sim, CAROL, add_role(role)).await;
        assert!(told.contains(why), "{role}: {told}");
        let told = settings(
            &sim,
            CAROL,
            json!([{"name": "remove_role", "type": 8, "value": role.to_string()}]),
        )
        .await;
        assert!(told.contains(why), "remove {role}: {told}");
    }
    assert!(configured_add_role(&sim).await.contains("not set"));
    // A plain role below hers is accepted.
    let told = settings(&sim, CAROL, add_role(PLAYER_ROLE)).await;
    assert!(told.contains("Settings saved"), "{told}");
    assert!(configured_add_role(&sim)
        .await
        .contains(&PLAYER_ROLE.to_string()));
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_role_above_the_bot_and_everyone_as_staff_are_refused() {
    let (sim, _bot) = start_ready().await;
    sim.edit_guild(|g| {
        g.roles
            .iter_mut()
            .find(|r| r.id == PLAYER_ROLE)
            .unwrap()
            .position = 9;
    });
    let told = settings(&sim, ALICE, add_role(PLAYER_ROLE)).await;
    assert!(told.contains("above my highest role"), "{told}");
    let told = settings(
        &sim,
        ALICE,
        json!([{"name": "staff_role", "type": 8, "value": GUILD_ID.to_string()}]),
    )
    .await;
    assert!(told.contains("every member"), "{told}");
    assert!(configured_add_role(&sim).await.contains("not set"));
    sim.assert_clean().await;
}

#[tokio::test]
async fn ask_is_refused_where_the_member_cannot_write() {
    let (sim, _bot) = start_ready().await;
    let (_, reply) = run_command_with(&sim, BOB, ANNOUNCEMENTS, "ask", json!([{"name": "question", "type": 3, "value": "# Free nitro: [discord.gift](https://example.com)"}])).await;
    let body = reply.body.as_ref().unwrap();
    assert_eq!(
        body["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "{body}"
    );
    assert!(
        content(&reply).contains("can't send messages"),
        "{}",
        content(&reply)
    );
    assert!(
        !sim.bot_messages().iter().any(|m| m["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Free nitro")),
        "the question was posted"
    );
    sim.assert_clean().await;
}

#[tokio::test]
async fn ask_in_a_thread_needs_send_messages_in_threads() {
    let (sim, _bot) = start_ready().await;
    // Bob may write in #general but not in its threads.
    let (_, reply) = run_command_with(&sim, BOB, THREAD, "ask", json!([])).await;
    assert!(
        content(&reply).contains("can't send messages"),
        "{}",
        content(&reply)
    );
    // With the permission he may.
    sim.edit_guild(|g| g.allow_in(GENERAL, BOB, bits::SEND_MESSAGES_IN_THREADS));
    let (interaction, reply) = run_command_with(&sim, BOB, THREAD, "ask", json!([])).await;
    assert!(
        content(&reply).contains("Say something!"),
        "{}",
        content(&reply)
    );
    sim.say(BOB, THREAD, "done");
    sim.wait_request("the echo", 0, REACT, |r| is_followup(r, &interaction.token))
        .await;
    // A locked thread takes Manage Threads as well.
    sim.edit_guild(|g| {
        if let Some(thread) = g.channels.iter_mut().find(|c| c.id == THREAD) {
            thread.locked = true;
        }
    });
    let (_, reply) = run_command_with(&sim, BOB, THREAD, "ask", json!([])).await;
    assert!(
        content(&reply).contains("can't send messages"),
        "{}",
        content(&reply)
    );
    sim.edit_guild(|g| g.allow_in(GENERAL, BOB, bits::MANAGE_THREADS));
    let (_, reply) = run_command_with(&sim, BOB, THREAD, "ask", json!([])).await;
    assert!(
        content(&reply).contains("Say something!"),
        "{}",
        content(&reply)
    );
    sim.assert_clean().await;
}

/// A new count for the rank role, or turning it off, gives or takes it from members as surely
/// as naming it: Manage Server alone does neither.
#[tokio::test]
async fn manage_server_alone_cannot_move_the_rank_role() {
    let (sim, _bot) = start_ready().await;
    let rank = json!([{"name": "rank_role", "type": 8, "value": PLAYER_ROLE.to_string()}]);
    let told = settings(&sim, ALICE, rank).await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![MODERATOR_ROLE]);
    });
    let since = sim.mark();
    for options in [
        json!([{"name": "rank_top", "type": 4, "value": 50}]),
        json!([{"name": "rank_off", "type": 5, "value": true}]),
    ] {
        let told = settings(&sim, BOB, options.clone()).await;
        assert!(told.contains("needs Manage Roles"), "{options}: {told}");
    }
    let shown = settings(&sim, ALICE, json!([])).await;
    assert!(
        shown.contains(&format!("Rank role: <@&{PLAYER_ROLE}> (the top 10)")),
        "{shown}"
    );
    let role_calls = sim
        .requests_since(since)
        .iter()
        .filter(|r| r.path.contains("/roles/") && r.method != "GET")
        .count();
    assert_eq!(role_calls, 0, "a role was given or taken");
    // Replacing the role takes the old one back from its holders: Carol manages roles, but
    // the rank role Alice set sits above hers.
    const HIGH_ROLE: u64 = 1_100_000_000_000_000_042;
    sim.edit_guild(|g| {
        g.roles.push(Role::new(HIGH_ROLE, "Champions", 0, 5));
        g.members.insert(CAROL, vec![ROLE_MANAGER_ROLE]);
    });
    let high = json!([{"name": "rank_role", "type": 8, "value": HIGH_ROLE.to_string()}]);
    let told = settings(&sim, ALICE, high).await;
    assert!(told.contains("Settings saved"), "{told}");
    let replace = json!([{"name": "rank_role", "type": 8, "value": PLAYER_ROLE.to_string()}]);
    let told = settings(&sim, CAROL, replace).await;
    assert!(
        told.contains(&format!("You can't change who carries <@&{HIGH_ROLE}>"))
            && told.contains("not below your highest role"),
        "{told}"
    );
    let shown = settings(&sim, ALICE, json!([])).await;
    assert!(
        shown.contains(&format!("Rank role: <@&{HIGH_ROLE}>")),
        "{shown}"
    );
    let told = settings(
        &sim,
        ALICE,
        json!([{"name": "rank_off", "type": 5, "value": true}]),
    )
    .await;
    assert!(told.contains("Rank role: not set"), "{told}");
    sim.assert_clean().await;
}

/// A setting made can be unset again, one at a time; unsetting a setting while setting it is
/// refused and changes nothing.
#[tokio::test]
async fn a_setting_can_be_cleared() {
    let (sim, _bot) = start_ready().await;
    let clear = |choice: u64| json!({"name": "clear", "type": 4, "value": choice});
    let told = settings(
        &sim,
        ALICE,
        json!([
            {"name": "remove_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()},
            {"name": "results_channel", "type": 7, "value": GENERAL.to_string()},
        ]),
    )
    .await;
    assert!(
        told.contains(&format!("Role removed after a tryout: <@&{PLAYER_ROLE}>")),
        "{told}"
    );
    // poise sends a choice as its index: 5 is the role removed after a tryout.
    let both = json!([
        {"name": "remove_role", "type": 8, "value": PLAYER_ROLE.to_string()},
        clear(5),
    ]);
    let refused = settings(&sim, ALICE, both).await;
    assert!(refused.contains("not both"), "{refused}");
    let cleared = settings(&sim, ALICE, json!([clear(5)])).await;
    assert!(
        cleared.contains("Role removed after a tryout: not set"),
        "{cleared}"
    );
    assert!(
        cleared.contains(&format!("Staff role: <@&{STAFF_ROLE}>")),
        "only that one was cleared: {cleared}"
    );
    // The role once taken can now be the one given: the checks judge the settings as they
    // will be, with the cleared one unset.
    let swapped = json!([
        {"name": "remove_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
    ]);
    assert!(settings(&sim, ALICE, swapped)
        .await
        .contains("Settings saved"));
    let both = json!([
        {"name": "add_role", "type": 8, "value": EVALUATOR_ROLE.to_string()},
        clear(5),
    ]);
    let told = settings(&sim, ALICE, both).await;
    assert!(told.contains("Settings saved"), "{told}");
    // With the staff role cleared, its holders are no longer staff: Manage Server alone is.
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![STAFF_ROLE]);
    });
    let (_, reply) = set_value(&sim, BOB, CAROL, 10).await;
    assert!(reply.contains("→"), "staff before: {reply}");
    let cleared = settings(&sim, ALICE, json!([clear(3)])).await;
    assert!(cleared.contains("Staff role: not set"), "{cleared}");
    let (_, reply) = set_value(&sim, BOB, CAROL, 20).await;
    assert!(!reply.contains("→"), "staff after: {reply}");
    let cleared = settings(&sim, ALICE, json!([clear(0)])).await;
    assert!(cleared.contains("Results channel: not set"), "{cleared}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn results_can_only_go_where_the_member_could_post() {
    let (sim, _bot) = start_ready().await;
    sim.edit_guild(|g| {
        g.members.insert(BOB, vec![ROLE_MANAGER_ROLE]);
    });
    let told = settings(
        &sim,
        BOB,
        json!([{"name": "results_channel", "type": 7, "value": ANNOUNCEMENTS.to_string()}]),
    )
    .await;
    assert!(told.contains("can't send messages there"), "{told}");
    let shown = settings(&sim, ALICE, json!([])).await;
    assert!(shown.contains("Results channel: not set"), "{shown}");
    let told = settings(
        &sim,
        BOB,
        json!([{"name": "results_channel", "type": 7, "value": GENERAL.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.assert_clean().await;
}

/// One `/settings` reads who the invoker and the bot are once, however many roles and channels
/// it sets: every check decides on the same reading.
#[tokio::test]
async fn settings_reads_the_invoker_and_the_bot_once_for_all_its_roles_and_channels() {
    let (sim, _bot) = start_ready().await;
    let since = sim.mark();
    let told = settings(
        &sim,
        ALICE,
        json!([
            {"name": "add_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "welcome_role", "type": 8, "value": PLAYER_ROLE.to_string()},
            {"name": "results_channel", "type": 7, "value": GENERAL.to_string()},
            {"name": "values_channel", "type": 7, "value": OFF_TOPIC.to_string()},
        ]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    let reads = |user: u64| {
        sim.requests_since(since)
            .iter()
            .filter(|r| r.method == "GET" && r.path == format!("/guilds/{GUILD_ID}/members/{user}"))
            .count()
    };
    assert_eq!(reads(ALICE), 1, "the invoker's reads");
    assert_eq!(reads(APP_ID), 1, "the bot's reads");
    sim.assert_clean().await;
}

/// A member in timeout acts on nothing that needs a role: Discord leaves their permissions at
/// View Channel and Read Message History, and their roles must not stand in for them.
#[tokio::test]
async fn a_member_in_timeout_uses_no_staff_command() {
    let (sim, _bot) = start_ready().await;
    let told = settings(
        &sim,
        ALICE,
        json!([{"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()}]),
    )
    .await;
    assert!(told.contains("Settings saved"), "{told}");
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![STAFF_ROLE]);
    });
    let (_, reply) = set_value(&sim, CAROL, BOB, 10).await;
    assert!(reply.contains("¥10 million"), "{reply}");
    sim.edit_guild(|g| {
        g.timed_out.insert(CAROL);
    });
    let (_, reply) = set_value(&sim, CAROL, BOB, 20).await;
    assert!(reply.contains("You're in timeout"), "{reply}");
    let (_, reply) = run_command_with(&sim, BOB, GENERAL, "value", json!([])).await;
    assert!(
        content(&reply).contains("¥10 million"),
        "{}",
        content(&reply)
    );
    sim.assert_clean().await;
}
