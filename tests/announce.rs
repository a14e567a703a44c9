//! `/announce` end to end: the composer posts once, where and how it was told, and nothing a
//! staff member did not choose can ping anyone.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::sim::Interaction;
use support::*;

/// Alice runs /announce; returns the interaction and its ephemeral step-1 message.
async fn open(sim: &Sim) -> (Interaction, Value) {
    let marks = sim.mark();
    let announce = sim.slash(ALICE, GENERAL, "announce", json!([]));
    let reply = sim
        .wait_request("the /announce step 1", marks, REACT, |r| {
            is_callback(r, announce.id)
        })
        .await;
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
    let marks = sim.mark();
    let pick = sim.select(
        ALICE,
        message,
        &custom_id(message, 0, 0),
        8,
        &[&channel.to_string()],
    );
    let body = callback(sim, "step 2", marks, &pick).await;
    assert_eq!(body["type"], 7);
    let message = sim.original(&pick).unwrap();
    let marks = sim.mark();
    let chosen = match mention {
        "none" => sim.click(ALICE, &message, &custom_id(&message, 0, 0)),
        "here" => sim.click(ALICE, &message, &custom_id(&message, 0, 1)),
        "everyone" => sim.click(ALICE, &message, &custom_id(&message, 0, 2)),
        role => sim.select(ALICE, &message, &custom_id(&message, 1, 0), 6, &[role]),
    };
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

/// Submits the modal; returns the callback body (the preview or the refusal).
async fn compose(
    sim: &Sim,
    message: &Value,
    modal: &str,
    title: &str,
    body: &str,
) -> (Value, Value) {
    let marks = sim.mark();
    let submit = sim.submit_modal(ALICE, message, modal, &[("title", title), ("body", body)]);
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
        assert!(
            text.contains("Posted in") && text.contains("https://discord.com/channels/"),
            "{text}"
        );
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
    sim.assert_clean();
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
    assert_eq!(
        posted.body.as_ref().unwrap()["content"],
        "**Draft**\nsecond version"
    );
    assert_eq!(posts(&sim).len(), 1);
    sim.assert_clean();
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(posts(&sim).is_empty());
    sim.assert_clean();
}

#[tokio::test]
async fn each_step_timing_out_posts_nothing_and_disables_the_components() {
    let (sim, _bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            wait_timeout: Some(2),
            ..BotOptions::default()
        },
    )
    .await;
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

    // The modal (step 3) left open.
    let (announce, message) = open(&sim).await;
    let marks = sim.mark();
    choose(&sim, &message, GENERAL, "none").await;
    let expired = sim
        .wait_request("the modal expiring", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&announce.token)
        })
        .await;
    let body = expired.body.unwrap();
    assert!(
        body["content"].as_str().unwrap().contains("Timed out"),
        "{body}"
    );
    assert!(posts(&sim).is_empty());
    sim.assert_clean();
}

#[tokio::test]
async fn refusals_non_staff_forbidden_channel_and_too_long() {
    let (sim, _bot) = start_ready().await;
    // Bob has no Manage Messages and there is no staff role.
    let marks = sim.mark();
    let bob = sim.slash(BOB, GENERAL, "announce", json!([]));
    let reply = sim
        .wait_request("Bob's refusal", marks, REACT, |r| is_callback(r, bob.id))
        .await;
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
    sim.assert_clean();
}
