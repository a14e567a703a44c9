//! Startup against the simulator: READY, a truthful /health, commands registered once.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn ready_turns_health_from_starting_to_ok_and_registers_guild_commands() {
    let sim = Sim::start().await;
    // The gateway refuses connections until the probe has been asked: no READY before that.
    sim.refuse_connections(Duration::from_secs(60));
    let mut bot = Bot::start(&sim).await;
    // Before READY, the probe says "starting" (the health server is up before the gateway).
    let (code, body) = bot.health().await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "starting", "{body}");
    sim.refuse_connections(Duration::ZERO);
    let body = bot.wait_health(200, Duration::from_secs(20)).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["shard"]["stage"], "connected");

    let commands = sim
        .wait_for("guild command registration", REACT, |v| {
            v.requests()
                .iter()
                .find(|r| {
                    r.method == "PUT"
                        && r.path == format!("/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
                })
                .cloned()
        })
        .await;
    let names: Vec<&str> = commands
        .body
        .as_ref()
        .and_then(|b| b.as_array())
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for expected in ["ping", "help", "ask"] {
        assert!(
            names.contains(&expected),
            "{expected} not registered: {names:?}"
        );
    }
    // Startup checks the token and reads the gateway URL from the base.
    let requests = sim.requests();
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/users/@me"));
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/gateway"));
    // A command answered after setup: registration, which setup does first, is long over.
    let reply = run_command(&sim, BOB, GENERAL, "ping").await;
    assert!(content(&reply).contains("Pong"));
    assert_eq!(sim.command_puts(), 1, "commands registered more than once");
    assert!(
        sim.commands(None).is_none(),
        "registered globally despite DEV_GUILD_ID"
    );
    assert_eq!(sim.identifies(), 1);
    sim.assert_clean().await;
}
