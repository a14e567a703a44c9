//! Slash commands end to end: /ping, /help, /ask (decoys, mentions, timeout, two users).
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[tokio::test]
async fn ping_answers_pong_with_the_latency() {
    let (sim, _bot) = start_ready().await;
    let reply = run_command(&sim, BOB, GENERAL, "ping").await;
    assert_eq!(reply.status, 204, "{}", sim.request_log());
    let text = content(&reply);
    assert!(text.contains("Pong"), "{text}");
    assert!(text.contains("latency"), "{text}");
    sim.assert_clean().await;
}

#[tokio::test]
async fn help_lists_the_commands_ephemerally() {
    let (sim, _bot) = start_ready().await;
    let reply = run_command(&sim, BOB, GENERAL, "help").await;
    let text = content(&reply);
    for name in ["/ping", "/ask", "/help"] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    let flags = reply.body.as_ref().unwrap()["data"]["flags"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(flags & 64, 64, "/help should be ephemeral");
    sim.assert_clean().await;
}

#[tokio::test]
async fn ask_ignores_decoys_and_echoes_the_invokers_reply_without_pings() {
    let (sim, _bot) = start_ready().await;
    let since = sim.mark();
    let ask = sim.slash(
        BOB,
        GENERAL,
        "ask",
        json!([{"name": "question", "type": 3, "value": "Ready @everyone?"}]),
    );
    let prompt = sim
        .wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
        .await;
    assert_eq!(content(&prompt), "Ready @everyone?");
    let mentions = &prompt.body.as_ref().unwrap()["data"]["allowed_mentions"];
    assert_eq!(
        mentions["parse"],
        json!([]),
        "the prompt may ping: {mentions}"
    );

    // Another user, and the invoker in another channel: neither answers the wait.
    sim.say(CAROL, GENERAL, "decoy from carol");
    sim.say(BOB, OFF_TOPIC, "decoy in another channel");
    settle(&sim).await;
    assert!(
        !sim.requests()[since..]
            .iter()
            .any(|r| is_followup(r, &ask.token)),
        "a decoy answered the wait:\n{}",
        sim.request_log()
    );

    sim.say(BOB, GENERAL, "@everyone hi <@1100000000000000103>");
    let echo = sim
        .wait_request("the /ask echo", since, REACT, |r| {
            is_followup(r, &ask.token)
        })
        .await;
    assert_eq!(
        content(&echo),
        "You said: @everyone hi <@1100000000000000103>"
    );
    let mentions = &echo.body.as_ref().unwrap()["allowed_mentions"];
    assert_eq!(
        mentions["parse"],
        json!([]),
        "the echo may ping: {mentions}"
    );
    assert!(
        mentions.get("users").is_none_or(|u| u == &json!([])),
        "{mentions}"
    );
    assert!(
        mentions.get("roles").is_none_or(|u| u == &json!([])),
        "{mentions}"
    );
    // Neither the prompt nor the echo pinged anyone.
    for message in sim.bot_messages() {
        assert_eq!(pinged(&message), (vec![], vec![], false), "{message}");
    }
    sim.assert_clean().await;
}

#[tokio::test]
async fn ask_times_out_after_wait_timeout_secs() {
    let (sim, _bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            wait_timeout: Some(2),
            ..BotOptions::default()
        },
    )
    .await;
    let since = sim.mark();
    let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
    let prompt = sim
        .wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
        .await;
    assert_eq!(content(&prompt), "Say something!");
    let timeout = sim
        .wait_request("the /ask timeout", since, REACT, |r| {
            is_followup(r, &ask.token)
        })
        .await;
    assert_eq!(content(&timeout), "Timed out!");
    let waited = timeout.at.duration_since(prompt.at);
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "timed out after {waited:?}, expected about 2 s"
    );
    // A reply after the timeout answers nothing.
    let after = sim.mark();
    sim.say(BOB, GENERAL, "too late");
    settle(&sim).await;
    assert!(!sim.requests()[after..]
        .iter()
        .any(|r| is_followup(r, &ask.token)));
    sim.assert_clean().await;
}

#[tokio::test]
async fn two_users_asking_at_once_each_get_their_own_echo() {
    let (sim, _bot) = start_ready().await;
    let since = sim.mark();
    let bob = sim.slash(BOB, GENERAL, "ask", json!([]));
    let carol = sim.slash(CAROL, GENERAL, "ask", json!([]));
    for (who, ask) in [("bob", &bob), ("carol", &carol)] {
        sim.wait_request(&format!("{who}'s prompt"), since, REACT, |r| {
            is_callback(r, ask.id)
        })
        .await;
    }
    sim.say(CAROL, GENERAL, "carol's answer");
    sim.say(BOB, GENERAL, "bob's answer");
    let bob_echo = sim
        .wait_request("bob's echo", since, REACT, |r| is_followup(r, &bob.token))
        .await;
    let carol_echo = sim
        .wait_request("carol's echo", since, REACT, |r| {
            is_followup(r, &carol.token)
        })
        .await;
    assert_eq!(content(&bob_echo), "You said: bob's answer");
    assert_eq!(content(&carol_echo), "You said: carol's answer");
    sim.assert_clean().await;
}
