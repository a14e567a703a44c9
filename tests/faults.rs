//! REST faults from Discord (or the proxy in front of it): the bot logs them, fails the
//! affected flow politely, and keeps serving.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

/// A `/ping` whose first callback gets a 429 (with a `Retry-After` that cannot be read if
/// `garbled`): the callback is sent again once the wait is over, and the user gets their
/// answer, due within Discord's 3 s.
async fn ping_answered_after_a_429(garbled: bool) {
    let (sim, bot) = start_ready().await;
    sim.fail_next(1, 429, "/callback");
    if garbled {
        sim.garble_header(1, "/callback", "retry-after", "soon");
    }
    let since = sim.mark();
    let ping = sim.slash(BOB, GENERAL, "ping", json!([]));
    let answered = sim
        .wait_request("the retried /ping callback", since, REACT, |r| {
            is_callback(r, ping.id) && r.status == 204
        })
        .await;
    assert!(
        content(&answered).contains("Pong"),
        "{}",
        content(&answered)
    );
    let calls: Vec<_> = sim
        .requests_since(since)
        .into_iter()
        .filter(|r| is_callback(r, ping.id))
        .collect();
    assert_eq!(calls.len(), 2, "one refused call, one retry: {calls:?}");
    assert_eq!(calls[0].status, 429);
    // Retry-After says 1 s (the body's 0.25 s, rounded up to whole seconds); unreadable, the
    // bucket's window, which this call started, says about as much.
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}, before the wait was over"
    );
    assert!(!bot.logs().contains("command failed"), "{}", bot.logs());
    if garbled {
        bot.wait_log(&["retry-after header"]).await;
    }
    sim.assert_clean().await;
}

/// A route 429 is retried after the time Discord gives, and the user gets their answer.
#[tokio::test]
async fn a_route_429_is_retried_and_the_user_is_answered() {
    ping_answered_after_a_429(false).await;
}

/// A 429 whose wait cannot be read is still waited out and sent again: Discord did not carry it
/// out.
#[tokio::test]
async fn a_429_with_an_unreadable_wait_is_sent_again_after_a_while() {
    ping_answered_after_a_429(true).await;
}

/// An answer whose rate-limit header makes no sense (a proxy in front mangled it) still stands:
/// the request is not sent again, and the flow goes on.
#[tokio::test]
async fn an_answer_with_a_mangled_rate_limit_header_is_not_sent_again() {
    let (sim, bot) = start_ready().await;
    let mangled = [
        ("x-ratelimit-remaining", "unknown"),
        ("x-ratelimit-remaining", "-1"),
        ("x-ratelimit-reset-after", "-1"),
        ("x-ratelimit-reset-after", "inf"),
        ("x-ratelimit-limit", "99999999999"),
    ];
    for (header, value) in mangled {
        let needle = format!("{header} header");
        let warned_before = bot.log_count(&[&needle]);
        sim.garble_header(1, "/callback", header, value);
        let since = sim.mark();
        let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
        let prompt = sim
            .wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
            .await;
        assert_eq!(prompt.status, 204, "{header}: {value}");
        sim.say(BOB, GENERAL, "my answer");
        // Whatever follows the prompt goes out after its request has returned: a second prompt
        // would have been sent before it.
        let next = sim
            .wait_request("what follows the prompt", since, REACT, |r| {
                is_followup(r, &ask.token)
            })
            .await;
        let prompts = sim
            .requests_since(since)
            .into_iter()
            .filter(|r| is_callback(r, ask.id))
            .count();
        assert_eq!(prompts, 1, "{header}: {value}: the prompt was sent again");
        assert!(
            content(&next).contains("my answer"),
            "{header}: {value}: {}",
            content(&next)
        );
        bot.wait_log_count(&[&needle], warned_before + 1).await;
    }
    assert!(!bot.logs().contains("panicked"), "{}", bot.logs());
    sim.assert_clean().await;
}

/// Discord limits an interaction's webhook per token: two members' follow-ups do not wait on
/// each other's limit (with one follow-up per 2 s per token, both echoes go out together).
#[tokio::test]
async fn follow_ups_of_different_interactions_do_not_wait_on_each_other() {
    let mut options = SimOptions::default();
    options.rate_limits.interaction_webhook =
        support::ratelimit::Limit::new(1, Duration::from_secs(2));
    let (sim, _bot) = start_ready_with(options, BotOptions::default()).await;
    let mut asks = Vec::new();
    for user in [BOB, CAROL] {
        let (ask, _) = run_command_with(&sim, user, GENERAL, "ask", json!([])).await;
        asks.push(ask);
    }
    let since = sim.mark();
    sim.say(BOB, GENERAL, "first");
    sim.say(CAROL, GENERAL, "second");
    let mut at = Vec::new();
    for ask in &asks {
        let echo = sim
            .wait_request("an /ask echo", since, REACT, |r| is_followup(r, &ask.token))
            .await;
        assert_eq!(echo.status, 200);
        at.push(echo.at);
    }
    let apart = if at[0] > at[1] {
        at[0] - at[1]
    } else {
        at[1] - at[0]
    };
    assert!(
        apart < Duration::from_secs(1),
        "the second echo waited {apart:?} for the first one's limit"
    );
    sim.assert_clean().await;
}

/// Behind a proxy that rate-limits for the bot (`DISCORD_RATE_LIMITER=off`), the bot sends
/// requests as they come: a 429 fails that request, logged, and the bot keeps serving.
#[tokio::test]
async fn with_the_rate_limiter_off_a_429_fails_the_request_and_the_bot_keeps_serving() {
    let options = BotOptions {
        env: vec![("DISCORD_RATE_LIMITER".into(), "off".into())],
        ..BotOptions::default()
    };
    let (sim, mut bot) = start_ready_with(SimOptions::default(), options).await;
    sim.fail_next(1, 429, "/callback");
    let since = sim.mark();
    let first = sim.slash(BOB, GENERAL, "ping", json!([]));
    let limited = sim
        .wait_request("the rate-limited callback", since, REACT, |r| {
            is_callback(r, first.id)
        })
        .await;
    assert_eq!(limited.status, 429);
    bot.wait_health(200, REACT).await;
    let second = sim.slash(BOB, GENERAL, "ping", json!([]));
    let reply = sim
        .wait_request("the next /ping callback", since, REACT, |r| {
            is_callback(r, second.id) && r.status == 204
        })
        .await;
    assert!(content(&reply).contains("Pong"));
    bot.wait_log(&["command failed", "429"]).await;
    // Discord's 429 body (no `code`) is read, not reported as undecodable.
    bot.wait_log(&["You are being rate limited"]).await;
    assert!(!bot.logs().contains("Could not decode"), "{}", bot.logs());
    // Not retried (the proxy's job): the only other call on that interaction is the apology.
    let pongs = sim
        .requests_since(since)
        .into_iter()
        .filter(|r| is_callback(r, first.id) && content(r).contains("Pong"))
        .count();
    assert_eq!(pongs, 1);
    sim.assert_clean().await;
}

#[tokio::test]
async fn a_500_on_a_followup_fails_the_flow_politely_and_the_bot_keeps_serving() {
    let (sim, mut bot) = start_ready().await;
    let since = sim.mark();
    let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
    sim.wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
        .await;
    sim.fail_next(1, 500, &format!("/webhooks/{APP_ID}/{}", ask.token));
    sim.say(BOB, GENERAL, "my answer");
    let failed = sim
        .wait_request("the failing echo", since, REACT, |r| {
            is_followup(r, &ask.token)
        })
        .await;
    assert_eq!(failed.status, 500);
    // The user is told, privately, that something went wrong.
    let apology = sim
        .wait_request("the apology", since, REACT, |r| {
            is_followup(r, &ask.token) && r.status == 200
        })
        .await;
    assert!(
        content(&apology).contains("Something went wrong"),
        "{}",
        content(&apology)
    );
    let flags = apology.body.as_ref().unwrap()["flags"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(flags & 64, 64, "the apology should be ephemeral");
    assert!(
        !content(&apology).contains("500"),
        "internal error text shown to the user"
    );
    // The failure is logged inside the command's span, opened again once the wait was over.
    let logged = bot.wait_log(&["could not answer an /ask"]).await;
    assert!(
        logged.contains("command=\"ask\"") && logged.contains(&format!("invocation={}", ask.id)),
        "logged outside the /ask span: {logged}"
    );

    bot.wait_health(200, REACT).await;
    let ping = sim.slash(CAROL, GENERAL, "ping", json!([]));
    let reply = sim
        .wait_request("a /ping after the failure", since, REACT, |r| {
            is_callback(r, ping.id)
        })
        .await;
    assert!(content(&reply).contains("Pong"));
    sim.assert_clean().await;
}

/// Interaction tokens let their holder post as the bot: no log line at any level, in either
/// format, may carry one, even when a failing request's URL is logged.
#[tokio::test]
async fn no_interaction_token_reaches_the_logs_even_at_trace() {
    for format in ["text", "json"] {
        let (sim, mut bot) = start_ready_with(
            SimOptions::default(),
            BotOptions {
                rust_log: "trace".into(),
                env: vec![("LOG_FORMAT".into(), format.into())],
                ..BotOptions::default()
            },
        )
        .await;
        let since = sim.mark();
        sim.fail_next(1, 500, "/callback");
        let ping = sim.slash(BOB, GENERAL, "ping", json!([]));
        sim.wait_request("the failing callback", since, REACT, |r| {
            is_callback(r, ping.id)
        })
        .await;
        let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
        sim.wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
            .await;
        sim.fail_next(1, 500, &format!("/webhooks/{APP_ID}/{}", ask.token));
        sim.say(BOB, GENERAL, "my answer");
        sim.wait_request("the apology", since, REACT, |r| {
            is_followup(r, &ask.token) && r.status == 200
        })
        .await;
        bot.wait_health(200, REACT).await;
        bot.wait_log(&["command failed"]).await;
        bot.wait_log(&["<redacted>"]).await;
        bot.wait_log(&["could not answer an /ask"]).await;
        let logs = bot.logs();
        for token in [&ping.token, &ask.token] {
            let leaked: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains(token.as_str()))
                .collect();
            assert!(
                leaked.is_empty(),
                "{format}: token in the logs: {leaked:#?}"
            );
        }
        sim.assert_clean().await;
    }
}

/// A request that is never answered ends at DISCORD_HTTP_TIMEOUT_SECS: the command fails
/// politely instead of hanging (and holding a command slot) for minutes.
#[tokio::test]
async fn a_request_that_never_answers_times_out_and_the_bot_keeps_serving() {
    let (sim, mut bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            env: vec![("DISCORD_HTTP_TIMEOUT_SECS".into(), "2".into())],
            ..BotOptions::default()
        },
    )
    .await;
    // Opening the evaluator's DM channel hangs.
    sim.hang_requests("/users/@me/channels");
    let since = sim.mark();
    let tryout = sim.slash(
        ALICE,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": BOB.to_string()}]}]),
    );
    let apology = sim
        .wait_request("the apology", since, REACT, |r| {
            is_followup(r, &tryout.token) || (r.method == "PATCH" && r.path.contains(&tryout.token))
        })
        .await;
    assert!(
        content(&apology).contains("Something went wrong"),
        "{}",
        content(&apology)
    );
    assert!(
        apology.at.duration_since(sim.requests()[since].at) < std::time::Duration::from_secs(6),
        "the request was not cut off at its deadline"
    );
    bot.wait_health(200, REACT).await;
    let ping = sim.slash(CAROL, GENERAL, "ping", json!([]));
    let reply = sim
        .wait_request("a /ping after the hang", since, REACT, |r| {
            is_callback(r, ping.id)
        })
        .await;
    assert!(content(&reply).contains("Pong"));
    sim.assert_clean().await;
}
