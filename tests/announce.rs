//! `/announce` end to end: the composer posts once, where and how it was told, and nothing a
//! staff member did not choose can ping anyone.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::sim::Interaction;
use support::*;

/// A simulator and a bot whose waits last `secs` seconds.
async fn start_waiting(secs: u64) -> (Sim, Bot) {
    let options = BotOptions {
        wait_timeout: Some(secs),
        ..BotOptions::default()
    };
    start_ready_with(SimOptions::default(), options).await
}

/// Alice runs /announce; returns the interaction and its ephemeral step-1 message.
async fn open(sim: &Sim) -> (Interaction, Value) {
    open_as(sim, ALICE).await
}

/// `user` runs /announce in #general; returns the interaction and its step-1 message.
async fn open_as(sim: &Sim, user: u64) -> (Interaction, Value) {
    let (announce, reply) = run_command_with(sim, user, GENERAL, "announce", json!([])).await;
    assert_eq!(
        reply.body.as_ref().unwrap()["data"]["flags"]
            .as_u64()
            .unwrap_or(0)
            & 64,
        64,
        "step 1 must be ephemeral"
    );
    let message = sim.original(&announce).expect("the step-1 message");
    (announce, message)
}

fn custom_id(message: &Value, row: usize, index: usize) -> String {
    message["components"][row]["components"][index]["custom_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no component {row}/{index} in {message}"))
        .to_owned()
}

/// Answers a component or modal interaction's callback; returns its body.
async fn callback(sim: &Sim, what: &str, marks: usize, interaction: &Interaction) -> Value {
    let r = sim
        .wait_request(what, marks, REACT, |r| is_callback(r, interaction.id))
        .await;
    assert_eq!(r.status, 204, "{what}: {}", sim.request_log());
    r.body.expect("a callback body")
}

/// Steps 1 and 2: picks `channel`, then the mention (`none`, `here`, `everyone` or a role id).
/// Returns the modal's custom id and the message the steps are on.
async fn choose(sim: &Sim, message: &Value, channel: u64, mention: &str) -> (String, Value) {
    choose_as(sim, ALICE, message, channel, mention).await
}

/// [`choose`], as `user`.
async fn choose_as(
    sim: &Sim,
    user: u64,
    message: &Value,
    channel: u64,
    mention: &str,
) -> (String, Value) {
    let marks = sim.mark();
    let pick = sim.select(
        user,
        message,
        &custom_id(message, 0, 0),
        8,
        &[&channel.to_string()],
    );
    let body = callback(sim, "step 2", marks, &pick).await;
    assert_eq!(body["type"], 7);
    let message = sim.original(&pick).unwrap();
    let marks = sim.mark();
    let chosen = pick_mention(sim, user, &message, mention);
    let body = callback(sim, "the compose modal", marks, &chosen).await;
    assert_eq!(
        body["type"], 9,
        "the mention step must open the modal: {body}"
    );
    (
        body["data"]["custom_id"].as_str().unwrap().to_owned(),
        message,
    )
}

/// `user` picks `channel` in the step-1 menu of `message`; returns the pick and the callback.
async fn pick_channel(
    sim: &Sim,
    user: u64,
    message: &Value,
    channel: u64,
    what: &str,
) -> (Interaction, Value) {
    let marks = sim.mark();
    let menu = custom_id(message, 0, 0);
    let pick = sim.select(user, message, &menu, 8, &[&channel.to_string()]);
    let body = callback(sim, what, marks, &pick).await;
    (pick, body)
}

/// `user` picks `mention` on the step-2 message.
fn pick_mention(sim: &Sim, user: u64, message: &Value, mention: &str) -> Interaction {
    match mention {
        "none" => sim.click(user, message, &custom_id(message, 0, 0)),
        "here" => sim.click(user, message, &custom_id(message, 0, 1)),
        "everyone" => sim.click(user, message, &custom_id(message, 0, 2)),
        role => sim.select(user, message, &custom_id(message, 1, 0), 6, &[role]),
    }
}

/// Submits the modal; returns the callback body (the preview or the refusal).
async fn compose(
    sim: &Sim,
    message: &Value,
    modal: &str,
    title: &str,
    body: &str,
) -> (Value, Value) {
    compose_as(sim, ALICE, message, modal, title, body).await
}

/// [`compose`], as `user`.
async fn compose_as(
    sim: &Sim,
    user: u64,
    message: &Value,
    modal: &str,
    title: &str,
    body: &str,
) -> (Value, Value) {
    let marks = sim.mark();
    let submit = sim.submit_modal(user, message, modal, &[("title", title), ("body", body)]);
    let reply = callback(sim, "the preview", marks, &submit).await;
    (reply, sim.original(&submit).unwrap())
}

/// Clicks Post on the preview; returns the channel POST.
async fn post(sim: &Sim, preview: &Value) -> Request {
    let marks = sim.mark();
    let click = sim.click(ALICE, preview, &custom_id(preview, 0, 0));
    let posted = sim
        .wait_request("the announcement POST", marks, REACT, |r| {
            r.method == "POST" && r.path.starts_with("/channels/") && r.path.ends_with("/messages")
        })
        .await;
    let outcome = sim
        .wait_request("the outcome for the invoker", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&click.token)
        })
        .await;
    let text = outcome.body.as_ref().unwrap()["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if posted.status == 200 {
        let id = posted_id(sim, &posted);
        let link = format!(
            "https://discord.com/channels/{GUILD_ID}/{}/{id}",
            id_in(&posted.path)
        );
        assert!(text.contains("Posted in") && text.contains(&link), "{text}");
    } else {
        assert!(!text.contains("Posted in"), "{text}");
    }
    posted
}

fn posts(sim: &Sim) -> Vec<Request> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST" && r.path.starts_with("/channels/") && r.path.ends_with("/messages")
        })
        .collect()
}

#[tokio::test]
async fn each_mention_choice_posts_once_with_exactly_that_mention() {
    let (sim, _bot) = start_ready().await;
    // #announcements is read-only for @everyone: staff let the bot post there.
    sim.edit_guild(|g| g.allow_in(ANNOUNCEMENTS, APP_ID, bits::SEND_MESSAGES));
    let role = STAFF_ROLE.to_string();
    for (choice, parse, roles, first_line) in [
        ("none", json!([]), None, "**Match day**"),
        ("here", json!(["everyone"]), None, "@here"),
        ("everyone", json!(["everyone"]), None, "@everyone"),
        (
            role.as_str(),
            json!([]),
            Some(json!([role.clone()])),
            "<@&1100000000000000030>",
        ),
    ] {
        let before = posts(&sim).len();
        let (_, message) = open(&sim).await;
        let (modal, message) = choose(&sim, &message, ANNOUNCEMENTS, choice).await;
        let (reply, preview) = compose(
            &sim,
            &message,
            &modal,
            "Match day",
            "Kick-off at 8 @everyone <@1100000000000000103>",
        )
        .await;
        assert!(
            reply["data"]["embeds"][0]["description"]
                .as_str()
                .unwrap()
                .starts_with(first_line),
            "{reply}"
        );
        let posted = post(&sim, &preview).await;
        assert_eq!(posted.path, format!("/channels/{ANNOUNCEMENTS}/messages"));
        assert_eq!(posted.status, 200, "{choice}: the post was refused");
        // Who it pinged: what staff chose, never the member typed into the text.
        let id = posted_id(&sim, &posted);
        let message = sim
            .bot_messages()
            .into_iter()
            .find(|m| m["id"] == id.as_str())
            .unwrap();
        let expected = match choice {
            "none" => (vec![], vec![], false),
            "here" | "everyone" => (vec![], vec![], true),
            _ => (vec![], vec![STAFF_ROLE], false),
        };
        assert_eq!(pinged(&message), expected, "{choice}");
        let body = posted.body.as_ref().unwrap();
        assert!(
            body["content"].as_str().unwrap().starts_with(first_line),
            "{body}"
        );
        assert_eq!(body["allowed_mentions"]["parse"], parse, "{choice}: {body}");
        assert!(
            body["allowed_mentions"]["users"]
                .as_array()
                .is_none_or(|u| u.is_empty()),
            "{body}"
        );
        match roles {
            Some(roles) => assert_eq!(body["allowed_mentions"]["roles"], roles),
            None => assert!(
                body["allowed_mentions"]["roles"]
                    .as_array()
                    .is_none_or(|r| r.is_empty()),
                "{body}"
            ),
        }
        if choice == "here" {
            assert!(
                !body["content"].as_str().unwrap().contains("@everyone"),
                "typed @everyone survived: {body}"
            );
        }
        assert_eq!(posts(&sim).len(), before + 1, "posted more than once");
    }
    sim.assert_clean().await;
}

#[tokio::test]
async fn edit_reopens_the_draft_and_posts_the_edited_text() {
    let (sim, _bot) = start_ready().await;
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, GENERAL, "none").await;
    let (_, preview) = compose(&sim, &message, &modal, "Draft", "first version").await;
    let marks = sim.mark();
    let edit = sim.click(ALICE, &preview, &custom_id(&preview, 0, 1));
    let reopened = callback(&sim, "the reopened modal", marks, &edit).await;
    assert_eq!(reopened["type"], 9);
    let fields = reopened["data"]["components"].to_string();
    assert!(
        fields.contains("first version"),
        "the modal was not filled with the draft: {fields}"
    );
    let modal = reopened["data"]["custom_id"].as_str().unwrap().to_owned();
    let (_, preview) = compose(&sim, &preview, &modal, "Draft", "second version").await;
    let posted = post(&sim, &preview).await;
    assert_eq!(posted.status, 200, "{}", sim.request_log());
    assert_eq!(
        posted.body.as_ref().unwrap()["content"],
        "**Draft**\nsecond version"
    );
    assert_eq!(posts(&sim).len(), 1);
    sim.assert_clean().await;
}

#[tokio::test]
async fn cancel_posts_nothing() {
    let (sim, _bot) = start_ready().await;
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, GENERAL, "everyone").await;
    let (_, preview) = compose(&sim, &message, &modal, "", "never sent").await;
    let marks = sim.mark();
    let cancel = sim.click(ALICE, &preview, &custom_id(&preview, 0, 2));
    let body = callback(&sim, "the cancellation", marks, &cancel).await;
    assert!(
        body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("nothing was posted"),
        "{body}"
    );
    assert_eq!(
        body["data"]["components"],
        json!([]),
        "buttons left clickable"
    );
    settle(&sim).await;
    assert!(posts(&sim).is_empty());
    sim.assert_clean().await;
}

#[tokio::test]
async fn each_step_timing_out_posts_nothing_and_disables_the_components() {
    let (sim, _bot) = start_waiting(2).await;
    // Step 1 (the channel select) left alone.
    let (announce, _) = open(&sim).await;
    let marks = sim.mark();
    let expired = sim
        .wait_request("step 1 expiring", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&announce.token)
        })
        .await;
    let body = expired.body.unwrap();
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("Timed out — nothing was posted"),
        "{body}"
    );
    assert_eq!(
        body["components"][0]["components"][0]["disabled"], true,
        "{body}"
    );

    // The modal (step 3) left open: the message greys through the latest step's answer.
    let (_, message) = open(&sim).await;
    let marks = sim.mark();
    choose(&sim, &message, GENERAL, "none").await;
    let expired = sim
        .wait_request("the modal expiring", marks, REACT, |r| {
            r.method == "PATCH" && r.path.ends_with("/messages/@original")
        })
        .await;
    assert_eq!(expired.status, 200);
    let body = expired.body.unwrap();
    assert!(
        body["content"].as_str().unwrap().contains("Timed out"),
        "{body}"
    );
    assert!(posts(&sim).is_empty());
    sim.assert_clean().await;
}

#[tokio::test]
async fn refusals_non_staff_forbidden_channel_and_too_long() {
    let (sim, _bot) = start_ready().await;
    // Bob has no Manage Messages and there is no staff role.
    let (_, reply) = run_command_with(&sim, BOB, GENERAL, "announce", json!([])).await;
    assert!(
        content(&reply).contains("Manage Messages"),
        "{}",
        content(&reply)
    );

    // 2,001 characters with the mention line are refused with the count and the limit.
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, GENERAL, "none").await;
    let (reply, _) = compose(&sim, &message, &modal, "", &"x".repeat(2001)).await;
    let text = reply["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("2001 characters") && text.contains("2000"),
        "{text}"
    );
    let rows = reply["data"]["components"].to_string();
    assert!(
        !rows.contains(":post\""),
        "a Post button was offered: {rows}"
    );

    // A body of only spaces passes the form's "required" but is refused, with Edit offered.
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, GENERAL, "none").await;
    let (reply, _) = compose(&sim, &message, &modal, "", " \u{200b}\n\u{3164} ").await;
    let text = reply["data"]["content"].as_str().unwrap();
    assert!(text.contains("no text"), "{text}");
    let rows = reply["data"]["components"].to_string();
    assert!(
        !rows.contains(":post\"") && rows.contains(":edit\""),
        "{rows}"
    );

    // Discord answers 403 / 50013: reported plainly.
    sim.forbid_channel(OFF_TOPIC);
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, OFF_TOPIC, "none").await;
    let (_, preview) = compose(&sim, &message, &modal, "", "hello").await;
    let marks = sim.mark();
    let click = sim.click(ALICE, &preview, &custom_id(&preview, 0, 0));
    let outcome = sim
        .wait_request("the permission report", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&click.token)
        })
        .await;
    let text = outcome.body.as_ref().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("don't have permission") && text.contains("Nothing was posted"),
        "{text}"
    );
    sim.assert_clean().await;
}

/// The channel id in a `/channels/{id}/messages` path.
fn id_in(path: &str) -> u64 {
    path.split('/')
        .nth(2)
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

/// The id of the message the bot created with `post` (the last one in that channel).
fn posted_id(sim: &Sim, post: &Request) -> String {
    let channel = id_in(&post.path).to_string();
    sim.bot_messages()
        .iter()
        .rev()
        .find(|m| m["channel_id"] == channel.as_str())
        .and_then(|m| m["id"].as_str().map(str::to_owned))
        .expect("the posted message")
}

/// `user` clicks Post on `preview`; returns what the invoker is told.
async fn click_post_as(sim: &Sim, user: u64, preview: &Value) -> String {
    let marks = sim.mark();
    let click = sim.click(user, preview, &custom_id(preview, 0, 0));
    let outcome = sim
        .wait_request("the outcome for the invoker", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&click.token)
        })
        .await;
    outcome.body.as_ref().unwrap()["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A moderator of one channel can't post in a channel they can't write to, nor ping
/// @everyone; they are told why and may choose again.
#[tokio::test]
async fn the_destination_decides_who_may_post_and_ping() {
    let (sim, _bot) = start_ready().await;
    // Bob has Manage Messages in #general only (a member overwrite).
    sim.edit_guild(|g| g.allow_in(GENERAL, BOB, bits::MANAGE_MESSAGES));
    let (_, message) = open_as(&sim, BOB).await;
    // #announcements is read-only for members: refused, and the menu comes back.
    let (pick, body) = pick_channel(&sim, BOB, &message, ANNOUNCEMENTS, "the refusal").await;
    let text = body["data"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("You can't post in"), "{body}");
    assert_eq!(
        body["data"]["components"][0]["components"][0]["type"], 8,
        "{body}"
    );
    // #off-topic: he can write there, but he moderates only #general.
    let message = sim.original(&pick).unwrap();
    let (pick, body) = pick_channel(&sim, BOB, &message, OFF_TOPIC, "the second refusal").await;
    assert!(
        body["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Manage Messages"),
        "{body}"
    );
    // #general: accepted; @everyone and a role nobody may mention are refused, no ping is fine.
    let message = sim.original(&pick).unwrap();
    let marks = sim.mark();
    let pick = sim.select(
        BOB,
        &message,
        &custom_id(&message, 0, 0),
        8,
        &[&GENERAL.to_string()],
    );
    callback(&sim, "step 2", marks, &pick).await;
    let message = sim.original(&pick).unwrap();
    for refused in ["everyone", "here", &STAFF_ROLE.to_string()] {
        let marks = sim.mark();
        let chosen = pick_mention(&sim, BOB, &message, refused);
        let body = callback(&sim, "the mention refusal", marks, &chosen).await;
        assert_eq!(body["type"], 7, "{refused}: a modal opened: {body}");
        assert!(
            body["data"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("You can't ping"),
            "{body}"
        );
    }
    // The Evaluator role is mentionable: anyone may ping it.
    let marks = sim.mark();
    let chosen = pick_mention(&sim, BOB, &message, &EVALUATOR_ROLE.to_string());
    let body = callback(&sim, "the modal", marks, &chosen).await;
    assert_eq!(body["type"], 9, "{body}");
    let modal = body["data"]["custom_id"].as_str().unwrap().to_owned();
    let (_, preview) = compose_as(&sim, BOB, &message, &modal, "", "Tryouts tonight").await;
    let text = click_post_as(&sim, BOB, &preview).await;
    assert!(text.contains("Posted in"), "{text}");
    let sent = posts(&sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, format!("/channels/{GENERAL}/messages"));
    assert_eq!(
        sent[0].body.as_ref().unwrap()["allowed_mentions"]["roles"],
        json!([EVALUATOR_ROLE.to_string()])
    );
    sim.assert_clean().await;
}

/// Rights are read again at Post: staff who lost the role since the preview post nothing.
#[tokio::test]
async fn post_rechecks_the_invokers_rights_on_fresh_data() {
    let (sim, _bot) = start_ready().await;
    let marks = sim.mark();
    let settings = sim.slash(
        ALICE,
        GENERAL,
        "settings",
        json!([{"name": "staff_role", "type": 8, "value": STAFF_ROLE.to_string()}]),
    );
    callback(&sim, "the settings", marks, &settings).await;
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![STAFF_ROLE]);
    });
    let (_, message) = open_as(&sim, CAROL).await;
    let (modal, message) = choose_as(&sim, CAROL, &message, OFF_TOPIC, "none").await;
    let (_, preview) = compose_as(&sim, CAROL, &message, &modal, "", "hello").await;
    sim.edit_guild(|g| {
        g.members.insert(CAROL, Vec::new());
    });
    let text = click_post_as(&sim, CAROL, &preview).await;
    assert!(
        text.contains("any more") && text.contains("Nothing was posted"),
        "{text}"
    );
    assert!(posts(&sim).is_empty(), "posted after the role was taken");

    // The same for a channel of another guild, which only the post-time check can see.
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, FOREIGN_CHANNEL, "none").await;
    let (_, preview) = compose(&sim, &message, &modal, "", "hello").await;
    let text = click_post_as(&sim, ALICE, &preview).await;
    assert!(text.contains("isn't in this server"), "{text}");
    assert!(posts(&sim).is_empty(), "posted in another guild");
    sim.assert_clean().await;
}

/// Each open draft is a suspended command: a member may hold a few, and is told when that is
/// enough; closing one makes room again.
#[tokio::test]
async fn a_member_may_hold_only_a_few_drafts_open() {
    let (sim, _bot) = start_waiting(60).await;
    let mut open_steps = Vec::new();
    for _ in 0..3 {
        open_steps.push(open(&sim).await.1);
    }
    let refused = run_command(&sim, ALICE, GENERAL, "announce").await;
    assert!(
        content(&refused).contains("several menus open"),
        "{}",
        content(&refused)
    );
    let refused = run_command(&sim, ALICE, GENERAL, "rankings").await;
    assert!(content(&refused).contains("several menus open"));
    // Others are not limited by Alice's drafts.
    let theirs = run_command(&sim, BOB, GENERAL, "rankings").await;
    assert!(
        content(&theirs).contains("Rankings"),
        "{}",
        content(&theirs)
    );
    // Cancelling one makes room.
    let marks = sim.mark();
    let cancel = sim.click(ALICE, &open_steps[0], &custom_id(&open_steps[0], 1, 0));
    callback(&sim, "the cancellation", marks, &cancel).await;
    let (_, message) = open(&sim).await;
    assert!(message["content"]
        .as_str()
        .unwrap_or_default()
        .contains("step 1"));
    sim.assert_clean().await;
}

/// However a flow ends on a timeout, nothing it showed stays clickable: the preview's Post,
/// Edit and Cancel included.
#[tokio::test]
async fn an_unanswered_preview_turns_every_button_grey() {
    let (sim, _bot) = start_waiting(2).await;
    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, GENERAL, "none").await;
    let marks = sim.mark();
    compose(&sim, &message, &modal, "", "left alone").await;
    let expired = sim
        .wait_request("the preview expiring", marks, REACT, |r| {
            r.method == "PATCH" && r.path.ends_with("/messages/@original")
        })
        .await;
    assert_eq!(expired.status, 200);
    let body = expired.body.unwrap();
    assert!(
        body["content"].as_str().unwrap().contains("Timed out"),
        "{body}"
    );
    let buttons = body["components"][0]["components"].as_array().unwrap();
    assert_eq!(buttons.len(), 3, "{body}");
    for button in buttons {
        assert_eq!(button["disabled"], true, "a button stayed live: {body}");
    }
    assert!(posts(&sim).is_empty());
    sim.assert_clean().await;
}

/// A step that runs out after the command's own token has (Discord's last 15 minutes; here
/// 4 s) still greys out, through the latest answered step's token.
#[tokio::test]
async fn a_step_expiring_after_the_commands_token_still_greys_out() {
    let sim_options = SimOptions {
        token_lifetime: Duration::from_secs(4),
        ..SimOptions::default()
    };
    let bot_options = BotOptions {
        wait_timeout: Some(3),
        ..BotOptions::default()
    };
    let (sim, _bot) = start_ready_with(sim_options, bot_options).await;
    let (announce, message) = open(&sim).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let marks = sim.mark();
    let (pick, body) = pick_channel(&sim, ALICE, &message, GENERAL, "step 2").await;
    assert_eq!(body["type"], 7, "{body}");
    // The mention step runs out 3 s later: the command's token is 5 s old, the pick's 3 s.
    let expired = sim
        .wait_request("the mention step expiring", marks, REACT, |r| {
            r.method == "PATCH"
                && (r.path.contains(&pick.token) || r.path.contains(&announce.token))
        })
        .await;
    assert_eq!(
        expired.status,
        200,
        "{}",
        expired.path.contains(&announce.token)
    );
    let body = expired.body.unwrap();
    assert!(
        body["content"].as_str().unwrap().contains("Timed out"),
        "{body}"
    );
    sim.assert_clean().await;
}

/// Staff means the staff role or Manage Server: Manage Server alone may announce.
#[tokio::test]
async fn manage_server_without_manage_messages_may_announce() {
    let (sim, _bot) = start_ready().await;
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![ROLE_MANAGER_ROLE]);
    });
    let (_, message) = open_as(&sim, CAROL).await;
    let (modal, message) = choose_as(&sim, CAROL, &message, OFF_TOPIC, "none").await;
    let (_, preview) = compose_as(&sim, CAROL, &message, &modal, "", "hello").await;
    let text = click_post_as(&sim, CAROL, &preview).await;
    assert!(text.contains("Posted in"), "{text}");
    assert_eq!(posts(&sim).len(), 1);
    sim.assert_clean().await;
}

/// At Post the mention is checked again too, and a member in timeout posts nothing.
#[tokio::test]
async fn post_rechecks_the_mention_and_timeouts() {
    let (sim, _bot) = start_ready().await;
    sim.edit_guild(|g| g.allow_in(GENERAL, BOB, bits::MANAGE_MESSAGES));
    // The Evaluator role is mentionable when Bob picks it, and no longer when he posts.
    let (_, message) = open_as(&sim, BOB).await;
    let role = EVALUATOR_ROLE.to_string();
    let (modal, message) = choose_as(&sim, BOB, &message, GENERAL, &role).await;
    let (_, preview) = compose_as(&sim, BOB, &message, &modal, "", "Tryouts tonight").await;
    sim.edit_guild(|g| {
        g.roles
            .iter_mut()
            .find(|r| r.id == EVALUATOR_ROLE)
            .unwrap()
            .mentionable = false;
    });
    let text = click_post_as(&sim, BOB, &preview).await;
    assert!(text.contains("Mention Everyone"), "{text}");
    assert!(
        posts(&sim).is_empty(),
        "posted an unmentionable role's ping"
    );

    // Bob is put in timeout between the preview and Post.
    let (_, message) = open_as(&sim, BOB).await;
    let (modal, message) = choose_as(&sim, BOB, &message, GENERAL, "none").await;
    let (_, preview) = compose_as(&sim, BOB, &message, &modal, "", "hello").await;
    sim.edit_guild(|g| {
        g.timed_out.insert(BOB);
    });
    let text = click_post_as(&sim, BOB, &preview).await;
    assert!(text.contains("any more"), "{text}");
    assert!(posts(&sim).is_empty(), "posted while in timeout");
    sim.assert_clean().await;
}

/// A role deleted, or a channel deleted, between the preview and Post stops the post.
#[tokio::test]
async fn post_stops_when_the_role_or_the_channel_is_gone() {
    let (sim, _bot) = start_ready().await;
    let (_, message) = open(&sim).await;
    let role = EVALUATOR_ROLE.to_string();
    let (modal, message) = choose(&sim, &message, GENERAL, &role).await;
    let (_, preview) = compose(&sim, &message, &modal, "", "Tryouts tonight").await;
    sim.edit_guild(|g| g.roles.retain(|r| r.id != EVALUATOR_ROLE));
    let text = click_post_as(&sim, ALICE, &preview).await;
    assert!(text.contains("that role no longer exists"), "{text}");
    assert!(text.contains("Nothing was posted"), "{text}");

    let (_, message) = open(&sim).await;
    let (modal, message) = choose(&sim, &message, OFF_TOPIC, "none").await;
    let (_, preview) = compose(&sim, &message, &modal, "", "hello").await;
    sim.edit_guild(|g| g.channels.retain(|c| c.id != OFF_TOPIC));
    let text = click_post_as(&sim, ALICE, &preview).await;
    assert!(text.contains("that channel isn't in this server"), "{text}");
    assert!(text.contains("Nothing was posted"), "{text}");
    assert!(posts(&sim).is_empty(), "{:?}", posts(&sim));
    sim.assert_clean().await;
}

/// Three announcements posted at once into a channel whose limit is two messages a second:
/// the bot spaces them as Discord's rate-limit headers say, so none is refused with a 429 and
/// the third goes out once the window has reset.
#[tokio::test]
async fn a_burst_of_posts_is_spread_by_the_rate_limit_headers() {
    three_posts_keep_a_limit_of_two_a_second(false).await;
}

/// The same three posts, each sent once the one before was answered: the first leaves room
/// in the window, so the bot forgets that bucket (vendor/README.md, 17); the second learns the
/// window again and fills it, and the third waits for the reset instead of meeting a 429.
#[tokio::test]
async fn posts_one_after_another_keep_the_limit_a_forgotten_bucket_learns_again() {
    three_posts_keep_a_limit_of_two_a_second(true).await;
}

/// Posts three announcements into a channel limited to two messages a second, all at once or
/// `one_at_a_time` (each once the one before was answered), and checks that none met a 429
/// and that the third went out in the next window.
async fn three_posts_keep_a_limit_of_two_a_second(one_at_a_time: bool) {
    let mut options = SimOptions::default();
    options.rate_limits.channel_messages =
        support::ratelimit::Limit::new(2, std::time::Duration::from_secs(1));
    let (sim, _bot) = start_ready_with(options, BotOptions::default()).await;
    let mut previews = Vec::new();
    for n in 0..3 {
        let (_, message) = open(&sim).await;
        let (modal, message) = choose(&sim, &message, OFF_TOPIC, "none").await;
        let (_, preview) = compose(&sim, &message, &modal, "Limited", &format!("number {n}")).await;
        previews.push(preview);
    }
    let to_channel =
        |r: &Request| r.method == "POST" && r.path == format!("/channels/{OFF_TOPIC}/messages");
    let marks = sim.mark();
    let posted_at_least = |count: usize| {
        let sim = &sim;
        async move {
            sim.wait_for("the announcements posted", REACT, |v| {
                (v.requests()[marks..]
                    .iter()
                    .filter(|r| to_channel(r) && r.status == 200)
                    .count()
                    >= count)
                    .then_some(())
            })
            .await
        }
    };
    for (n, preview) in previews.iter().enumerate() {
        sim.click(ALICE, preview, &custom_id(preview, 0, 0));
        if one_at_a_time {
            posted_at_least(n + 1).await;
        }
    }
    posted_at_least(3).await;
    let posted: Vec<Request> = sim
        .requests_since(marks)
        .into_iter()
        .filter(to_channel)
        .collect();
    assert_eq!(posted.len(), 3, "no refused post, no retry: {posted:?}");
    let spread = posted[2].at.duration_since(posted[0].at);
    assert!(
        spread >= std::time::Duration::from_millis(900),
        "the third post went out {spread:?} after the first, inside the first window"
    );
    sim.assert_clean().await;
}

/// A global 429 on a post: every other request waits until the limit is over (a second post,
/// to another channel, goes out only then), while a member's slash command is still answered
/// at once (interaction endpoints are not bound to the global limit).
#[tokio::test]
async fn a_global_429_holds_posts_but_not_answers_to_members() {
    let (sim, _bot) = start_ready().await;
    let mut previews = Vec::new();
    for (channel, text) in [(OFF_TOPIC, "first"), (GENERAL, "second")] {
        let (_, message) = open(&sim).await;
        let (modal, message) = choose(&sim, &message, channel, "none").await;
        let (_, preview) = compose(&sim, &message, &modal, "Limited", text).await;
        previews.push(preview);
    }
    sim.fail_next_globally(&format!("/channels/{OFF_TOPIC}/messages"));
    let marks = sim.mark();
    sim.click(ALICE, &previews[0], &custom_id(&previews[0], 0, 0));
    let post_to = |channel: u64| {
        move |r: &Request| r.method == "POST" && r.path == format!("/channels/{channel}/messages")
    };
    let refused = sim
        .wait_request("the refused post", marks, REACT, |r| {
            post_to(OFF_TOPIC)(r) && r.status == 429
        })
        .await;
    // During the limit (Retry-After: 1 s): Bob's /ping is answered, Alice's second post waits.
    sim.click(ALICE, &previews[1], &custom_id(&previews[1], 0, 0));
    let ping = run_command(&sim, BOB, GENERAL, "ping").await;
    assert!(content(&ping).contains("Pong"));
    assert!(
        ping.at.duration_since(refused.at) < std::time::Duration::from_millis(800),
        "the /ping answer waited for the global limit"
    );
    for channel in [OFF_TOPIC, GENERAL] {
        let posted = sim
            .wait_request("a post after the limit", marks, REACT, |r| {
                post_to(channel)(r) && r.status == 200
            })
            .await;
        assert!(
            posted.at.duration_since(refused.at) >= std::time::Duration::from_millis(900),
            "a post to {channel} went out {:?} after the global 429, before Retry-After",
            posted.at.duration_since(refused.at)
        );
    }
    sim.assert_clean().await;
}

/// A member may close the form instead of submitting it: the buttons behind it still work. On
/// step 2 a mention clicked again opens the form for that mention; on the preview, Edit opens
/// it again and Post posts what the preview shows; Cancel cancels.
#[tokio::test]
async fn a_closed_form_leaves_the_buttons_behind_it_working() {
    let (sim, _bot) = start_ready().await;
    let (_, message) = open(&sim).await;
    // The form for "no ping" is closed unsent; @here is clicked instead.
    let (_closed, step2) = choose(&sim, &message, GENERAL, "none").await;
    let marks = sim.mark();
    let again = pick_mention(&sim, ALICE, &step2, "here");
    let body = callback(&sim, "the form again", marks, &again).await;
    assert_eq!(body["type"], 9, "{body}");
    let modal = body["data"]["custom_id"].as_str().unwrap().to_owned();
    let (_, preview) = compose(&sim, &step2, &modal, "", "Match night at 8").await;
    let shown = preview["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(shown.starts_with("@here"), "{preview}");

    // Edit opens the form; it is closed unsent; Post posts the preview's text.
    let marks = sim.mark();
    let edit = sim.click(ALICE, &preview, &custom_id(&preview, 0, 1));
    let body = callback(&sim, "the edit form", marks, &edit).await;
    assert_eq!(body["type"], 9, "{body}");
    let posted = post(&sim, &preview).await;
    assert_eq!(posted.status, 200, "{}", sim.request_log());
    let content = posted.body.as_ref().unwrap()["content"].as_str().unwrap();
    assert_eq!(content, "@here\nMatch night at 8");

    // Cancel behind a closed form cancels.
    let (_, message) = open(&sim).await;
    let (_closed, step2) = choose(&sim, &message, GENERAL, "none").await;
    let marks = sim.mark();
    let cancel = sim.click(ALICE, &step2, &custom_id(&step2, 0, 3));
    let body = callback(&sim, "the cancel", marks, &cancel).await;
    let said = body["data"]["content"].as_str().unwrap_or_default();
    assert!(said.contains("Cancelled"), "{body}");
    assert_eq!(posts(&sim).len(), 1, "only the first was posted");
    sim.assert_clean().await;
}
