//! The process's life: configuration errors, bad tokens, a port in use, SIGTERM, and a token
//! that never reaches the logs.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::harness::http_get;
use support::*;

#[test]
fn no_token_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_novera-assistant"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DISCORD_TOKEN"), "{stderr}");
    assert!(stderr.contains(".env.example"), "{stderr}");
    assert!(stderr.contains("novera-assistant sandbox"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_argument_exits_2_with_the_usage() {
    for args in [&["sandbox", "extra"][..], &["--token"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_novera-assistant"))
            .args(args)
            .env_clear()
            .env("DISCORD_TOKEN", "x")
            .output()
            .expect("run the binary");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim(),
            "usage: novera-assistant [sandbox]",
            "{args:?}"
        );
    }
}

#[test]
fn the_sandbox_refuses_a_bad_address_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_novera-assistant"))
        .arg("sandbox")
        .env_clear()
        .env("SANDBOX_ADDR", "anywhere")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SANDBOX_ADDR"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing starts: {:?}",
        output.stdout
    );
}

#[test]
fn a_bad_variable_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_novera-assistant"))
        .current_dir(dir.path())
        .env_clear()
        .env("DISCORD_TOKEN", "x")
        .env("DEV_GUILD_ID", "not-a-number")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEV_GUILD_ID"), "{stderr}");
}

#[test]
fn a_malformed_env_file_exits_2_without_showing_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let token = "MTIzNDU2.secret-token-in-a-broken-line";
    for line in [
        format!("DISCORD_TOKEN=\"{token}\n"),
        format!("DISCORD_TOKEN={token} trailing\n"),
    ] {
        std::fs::write(dir.path().join(".env"), &line).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_novera-assistant"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .expect("run the binary");
        assert_eq!(output.status.code(), Some(2), "{line}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(".env"), "{stderr}");
        assert!(stderr.contains("malformed"), "{stderr}");
        assert!(!stderr.contains("secret-token"), "{stderr}");
        assert!(output.stdout.is_empty(), "{line}");
    }
}

#[tokio::test]
async fn a_rejected_token_exits_3_without_connecting() {
    let sim = Sim::start().await;
    let mut bot = Bot::start_with(
        &sim,
        BotOptions {
            token: Some("wrong-token".into()),
            ..BotOptions::default()
        },
    )
    .await;
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(3), "{}", bot.logs());
    assert!(bot.logs().contains("DISCORD_TOKEN"), "{}", bot.logs());
    assert_eq!(
        sim.connections(),
        0,
        "connected to the gateway with a rejected token"
    );
}

#[tokio::test]
async fn gateway_close_4004_exits_3_without_a_reconnect_loop() {
    let sim = Sim::with_options(SimOptions {
        gateway_accepts_token: false,
        ..SimOptions::default()
    })
    .await;
    let mut bot = Bot::start(&sim).await;
    let start = Instant::now();
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(3), "{}", bot.logs());
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        sim.connections() <= 1,
        "reconnected {} times",
        sim.connections()
    );
    assert!(bot.logs().contains("4004"), "{}", bot.logs());
}

#[tokio::test]
async fn a_health_port_in_use_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sim = Sim::start().await;
    let mut bot = Bot::start_with(
        &sim,
        BotOptions {
            health_addr: Some(addr.clone()),
            ..BotOptions::default()
        },
    )
    .await;
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "{}", bot.logs());
    assert!(
        bot.logs().contains(&format!("HEALTH_ADDR {addr}")),
        "{}",
        bot.logs()
    );
    assert_eq!(sim.connections(), 0);
}

#[tokio::test]
async fn sigterm_closes_the_gateway_and_exits_0_within_10_s() {
    let (sim, mut bot) = start_ready().await;
    let start = Instant::now();
    bot.sigterm();
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", bot.logs());
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(sim.close_codes(), vec![1000], "no clean close frame seen");
}

/// A signal while the bot is still starting (here: Discord holds the token check) stops it
/// cleanly, and the probes answer meanwhile: alive, not ready.
#[tokio::test]
async fn a_signal_while_starting_stops_the_bot_cleanly_and_the_probes_answer_meanwhile() {
    for ctrl_c in [false, true] {
        let sim = Sim::start().await;
        sim.hang_requests("/users/@me");
        let options = BotOptions {
            env: vec![("DISCORD_HTTP_TIMEOUT_SECS".into(), "60".into())],
            ..BotOptions::default()
        };
        let mut bot = Bot::start_with(&sim, options).await;
        let port = bot.health_port().await;
        sim.wait_for("the token check, held", REACT, |v| {
            v.hanging().iter().any(|p| p == "/users/@me").then_some(())
        })
        .await;
        let (live, _) = http_get(port, "/livez").await.expect("/livez answers");
        assert_eq!(live, 200);
        let (status, body) = bot.health().await;
        assert_eq!((status, body["status"].as_str()), (503, Some("starting")));
        let start = Instant::now();
        if ctrl_c {
            bot.sigint();
        } else {
            bot.sigterm();
        }
        let exit = bot.wait_exit(Duration::from_secs(5)).await;
        assert_eq!(exit.code(), Some(0), "{}", bot.logs());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(
            bot.logs().contains("stopped while starting"),
            "{}",
            bot.logs()
        );
        assert_eq!(sim.connections(), 0);
    }
}

#[tokio::test]
async fn sigterm_tells_waiting_users_turns_new_commands_away_and_loses_nothing() {
    let (sim, mut bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            wait_timeout: Some(60),
            ..BotOptions::default()
        },
    )
    .await;
    // Bob waits in /ask; Alice is in a tryout wizard in her DMs.
    let marks = sim.mark();
    let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
    sim.wait_request("the /ask prompt", marks, REACT, |r| is_callback(r, ask.id))
        .await;
    let tryout = sim.slash(
        ALICE,
        GENERAL,
        "tryout",
        json!([{"name": "start", "type": 1, "options": [{"name": "member", "type": 6, "value": CAROL.to_string()}]}]),
    );
    sim.wait_request("the tryout's start", marks, REACT, |r| {
        is_followup(r, &tryout.token)
    })
    .await;
    // Carol (staff by Manage Server) has an /announce draft open at step 1.
    sim.edit_guild(|g| {
        g.members.insert(CAROL, vec![ROLE_MANAGER_ROLE]);
    });
    let announce = sim.slash(CAROL, GENERAL, "announce", json!([]));
    sim.wait_request("the /announce step 1", marks, REACT, |r| {
        is_callback(r, announce.id)
    })
    .await;
    let database_url = bot.database_url.clone();

    let start = Instant::now();
    bot.sigterm();
    // The stopping window: readiness says so, and a new command is turned away politely.
    let body = bot.wait_health(503, Duration::from_secs(2)).await;
    assert_eq!(body["status"], "stopping", "{body}");
    let ping = sim.slash(CAROL, GENERAL, "ping", json!([]));
    let turned_away = sim
        .wait_request("the restarting reply", marks, REACT, |r| {
            is_callback(r, ping.id)
        })
        .await;
    assert!(
        content(&turned_away).contains("restarting"),
        "{}",
        content(&turned_away)
    );

    // The announcer is told in the draft itself, whose menu goes grey.
    let announcer = sim
        .wait_request("Carol told her draft was interrupted", marks, REACT, |r| {
            r.method == "PATCH" && r.path.contains(&announce.token)
        })
        .await;
    let edit = announcer.body.as_ref().unwrap();
    assert!(
        edit["content"]
            .as_str()
            .unwrap_or_default()
            .contains("restarting"),
        "{edit}"
    );
    assert_eq!(
        edit["components"][0]["components"][0]["disabled"], true,
        "{edit}"
    );
    let told = sim
        .wait_request("Bob told his /ask was interrupted", marks, REACT, |r| {
            is_followup(r, &ask.token) && content(r).contains("restarting")
        })
        .await;
    assert!(content(&told).contains("nothing was saved"));
    sim.wait_for("Alice told her tryout was interrupted", REACT, |v| {
        let dm = v.dm_channel(ALICE)?.to_string();
        v.messages()
            .iter()
            .any(|m| {
                m["channel_id"] == dm && m["content"].as_str().unwrap_or("").contains("interrupted")
            })
            .then_some(())
    })
    .await;

    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", bot.logs());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(sim.close_codes(), vec![1000]);
    let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    sim.assert_clean().await;
}

#[tokio::test]
async fn the_token_never_appears_in_logs_even_at_trace() {
    let (sim, mut bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            rust_log: "trace".into(),
            ..BotOptions::default()
        },
    )
    .await;
    let since = sim.mark();
    let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
    sim.wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
        .await;
    sim.say(BOB, GENERAL, "hello");
    sim.wait_request("the echo", since, REACT, |r| is_followup(r, &ask.token))
        .await;
    bot.sigterm();
    bot.wait_exit(Duration::from_secs(10)).await;
    let logs = bot.logs();
    assert!(
        logs.len() > 10_000,
        "trace logging produced too little to be a real check"
    );
    println!(
        "redactions in the trace log: {}",
        logs.matches("<redacted>").count()
    );
    assert!(
        !logs.contains(sim.token()),
        "the token leaked into the logs"
    );
    // Nor any recognisable part of it.
    for part in sim.token().split('.') {
        assert!(!logs.contains(part), "a part of the token leaked: {part}");
    }
    // Nor the interaction's token, which the callback and the follow-up carried in their URLs.
    assert!(ask.token.len() > 20, "{}", ask.token);
    assert!(
        !logs.contains(&ask.token),
        "an interaction token leaked into the logs"
    );
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line_with_the_command_span() {
    let (sim, mut bot) = start_ready_with(
        SimOptions::default(),
        BotOptions {
            env: vec![("LOG_FORMAT".into(), "json".into())],
            // The HTTP client's debug lines run inside the command's span.
            rust_log: "debug".into(),
            ..BotOptions::default()
        },
    )
    .await;
    let marks = sim.mark();
    let ping = sim.slash(BOB, GENERAL, "ping", json!([]));
    sim.wait_request("the /ping answer", marks, REACT, |r| {
        is_callback(r, ping.id)
    })
    .await;
    bot.sigterm();
    bot.wait_exit(Duration::from_secs(10)).await;
    let logs = bot.logs();
    let mut in_command_span = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
        let ping_span = value["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|span| span["command"] == "ping"));
        if let Some(span) = ping_span {
            assert_eq!(span["invocation"], ping.id, "{line}");
            assert_eq!(span["guild"], GUILD_ID, "{line}");
            in_command_span += 1;
        }
    }
    assert!(
        in_command_span > 0,
        "no log line inside the /ping span:\n{logs}"
    );
}

#[tokio::test]
async fn command_registration_that_keeps_failing_stops_the_bot_with_the_reason() {
    let sim = Sim::start().await;
    sim.fail_next(10, 500, "/commands");
    let mut bot = Bot::start(&sim).await;
    let status = bot.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "{}", bot.logs());
    assert!(
        bot.logs()
            .contains("could not register slash commands after 5 attempts"),
        "{}",
        bot.logs()
    );
    let puts = sim.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 5, "expected five attempts with backoff");
}

#[tokio::test]
async fn command_registration_recovers_from_a_passing_failure() {
    let sim = Sim::start().await;
    sim.fail_next(2, 500, "/commands");
    let mut bot = Bot::start(&sim).await;
    bot.wait_health(200, Duration::from_secs(20)).await;
    sim.wait_for("the commands stored", REACT, |v| {
        v.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 200)
            .then_some(())
    })
    .await;
    assert!(sim.commands(Some(GUILD_ID)).is_some());
    let marks = sim.mark();
    let ping = sim.slash(BOB, GENERAL, "ping", json!([]));
    sim.wait_request("/ping after the retries", marks, REACT, |r| {
        is_callback(r, ping.id)
    })
    .await;
}

/// A command whose arguments fail to parse still ends its task: the next shutdown does not
/// wait for a command that no longer runs.
#[tokio::test]
async fn a_command_with_bad_arguments_does_not_hold_up_shutdown() {
    let (sim, mut bot) = start_ready().await;
    let since = sim.mark();
    // A string where /value expects a member: poise fails to parse it.
    let bad = sim.slash(
        BOB,
        GENERAL,
        "value",
        json!([{"name": "member", "type": 3, "value": "not a member"}]),
    );
    sim.wait_request("the answer to the bad arguments", since, REACT, |r| {
        is_callback(r, bad.id)
    })
    .await;
    bot.sigterm();
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", bot.logs());
    let logs = bot.logs();
    assert!(
        !logs.contains("commands still running at shutdown"),
        "shutdown waited for a command that had ended:\n{logs}"
    );
    assert!(logs.contains("stopped"), "{logs}");
}

/// A database that opens but refuses writes stops the bot at startup, naming it, instead of
/// failing at a member's first save.
#[tokio::test]
async fn a_read_only_database_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("league.db");
    let db = novera_assistant::db::Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    db.close().await;
    let sim = Sim::start().await;
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut bot = Bot::start_with(
        &sim,
        BotOptions {
            database_url: Some(url.clone()),
            ..BotOptions::default()
        },
    )
    .await;
    let status = bot.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "{}", bot.logs());
    assert!(bot.logs().contains(&url), "{}", bot.logs());
    assert_eq!(
        sim.connections(),
        0,
        "connected with a database it cannot write"
    );
}
