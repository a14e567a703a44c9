//! Gateway faults: drops, resets, op 7, zombie connections, invalid sessions. The bot must
//! notice, say so on /health, come back by itself, and keep every pending wait.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::harness::http_get;
use support::sim::Interaction;
use support::*;

/// Starts an `/ask` by Bob in #general and waits for its prompt.
async fn begin_ask(sim: &Sim) -> Interaction {
    let since = sim.mark();
    let ask = sim.slash(BOB, GENERAL, "ask", json!([]));
    sim.wait_request("the /ask prompt", since, REACT, |r| is_callback(r, ask.id))
        .await;
    ask
}

/// Bob answers; the pending `/ask` must echo it.
async fn finish_ask(sim: &Sim, ask: &Interaction, text: &str) {
    let since = sim.mark();
    sim.say(BOB, GENERAL, text);
    expect_echo(sim, ask, text, since).await;
}

/// The pending `/ask` echoes `text` in a REST call after `since`.
async fn expect_echo(sim: &Sim, ask: &Interaction, text: &str, since: usize) {
    let echo = sim
        .wait_request("the /ask echo after the reconnect", since, REACT, |r| {
            is_followup(r, &ask.token)
        })
        .await;
    assert_eq!(content(&echo), format!("You said: {text}"));
}

/// Polls /health until it is not 200; returns how long that took.
async fn time_to_unhealthy(bot: &mut Bot, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        let (code, body) = bot.health().await;
        if code != 200 {
            assert_eq!(code, 503);
            assert_eq!(body["status"], "reconnecting", "{body}");
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "/health stayed 200 for {limit:?} after the connection was lost.\nLogs:\n{}",
        bot.logs()
    );
}

/// CPU seconds the process used so far (user + system), from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    let after = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no CPU field {i} in /proc/{pid}/stat: {stat}"))
    };
    let ticks = field(11) + field(12);
    ticks / 100.0
}

/// Waits long enough to outlive every reconnect in these scenarios.
fn patient() -> BotOptions {
    BotOptions {
        wait_timeout: Some(60),
        ..BotOptions::default()
    }
}

/// Starts the simulator with heartbeat interval `heartbeat_ms` and a patient bot.
async fn start_with_heartbeat(heartbeat_ms: u64) -> (Sim, Bot) {
    start_ready_with(
        SimOptions {
            heartbeat_ms,
            ..SimOptions::default()
        },
        patient(),
    )
    .await
}

/// The scenarios that time the bot's reactions run alone (`TIMED.write()`), the others side by
/// side (`TIMED.read()`): on a 2-core machine, bots starting beside a timed one would be timed
/// too.
static TIMED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The simulator's heartbeat interval in these scenarios.
const HEARTBEAT: Duration = Duration::from_millis(2_000);

/// How long the gateway refuses connections after a lost one.
const REFUSED: Duration = Duration::from_secs(3);

async fn lost_connection_scenario(reset: bool) {
    let _alone = TIMED.write().await;
    let (sim, mut bot) = start_with_heartbeat(HEARTBEAT.as_millis() as u64).await;
    let ask = begin_ask(&sim).await;
    let session = sim.session_id().expect("a session");
    let identifies = sim.identifies();
    let cpu_before = cpu_secs(bot.pid());

    sim.refuse_connections(REFUSED);
    let dropped_at = Instant::now();
    let dropped = if reset {
        sim.reset_connection()
    } else {
        sim.drop_connection(None)
    };
    assert!(dropped, "no live gateway connection to drop");

    let noticed = time_to_unhealthy(&mut bot, Duration::from_secs(10)).await;
    assert!(
        noticed < Duration::from_secs(1),
        "/health took {noticed:?} to notice"
    );
    // Bob answers while the bot is away: the resume must replay it.
    let since = sim.mark();
    sim.say(BOB, GENERAL, "said during the outage");
    bot.wait_health(200, Duration::from_secs(20)).await;
    let back = dropped_at.elapsed();
    let cpu = cpu_secs(bot.pid()) - cpu_before;
    // Reconnects are retried often enough that the gateway's return ends the outage at once,
    // and not in a loop: the bot idles meanwhile.
    assert!(
        back < REFUSED + Duration::from_secs(1),
        "/health was 200 again only {:?} after the gateway accepted connections",
        back.saturating_sub(REFUSED)
    );
    assert!(
        cpu < 0.5,
        "the bot used {cpu:.2} s of CPU during a {back:?} outage"
    );
    println!(
        "{}: /health 503 after {noticed:?}, 200 again after {back:?}, bot CPU {cpu:.2} s",
        if reset {
            "TCP reset"
        } else {
            "drop without close frame"
        }
    );

    // The session was kept and resumed (events sent during the outage are replayed), not
    // replaced by a fresh IDENTIFY.
    let resumed = sim
        .resumes()
        .iter()
        .any(|(id, seq)| *id == session && *seq > 0);
    assert!(resumed, "the bot did not resume its session");
    assert_eq!(sim.identifies(), identifies, "the bot identified again");
    // Operators see the loss and the recovery in the log.
    bot.wait_log(&["shard stage changed", "Connected"]).await;
    expect_echo(&sim, &ask, "said during the outage", since).await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn drop_without_close_frame_is_noticed_and_survived() {
    lost_connection_scenario(false).await;
}

#[tokio::test]
async fn tcp_reset_is_noticed_and_survived() {
    lost_connection_scenario(true).await;
}

/// A reset while the gateway accepts reconnects: serenity sees the error on its next read and
/// resumes at once, so /health must follow within 1 s even at Discord's heartbeat interval.
#[tokio::test]
async fn tcp_reset_with_the_gateway_up_is_noticed_and_resumed_at_once() {
    let _alone = TIMED.write().await;
    let (sim, mut bot) = start_with_heartbeat(41_250).await;
    let ask = begin_ask(&sim).await;
    let session = sim.session_id().expect("a session");
    let dropped_at = Instant::now();
    assert!(sim.reset_connection());
    sim.wait_for("a RESUME", REACT, |v| (v.resumes() > 0).then_some(()))
        .await;
    bot.wait_health(200, Duration::from_secs(1)).await;
    println!(
        "TCP reset, gateway up: resumed and healthy after {:?}",
        dropped_at.elapsed()
    );
    assert_eq!(sim.resumes()[0].0, session);
    finish_ask(&sim, &ask, "after the reset").await;
    sim.assert_clean().await;
}

/// A reset while the gateway refuses reconnects, at Discord's heartbeat interval: the bot must
/// notice at once, keep answering /health throughout (nothing busy-loops), and be back within
/// 2 s of the gateway's return, with a pending /ask intact.
#[tokio::test]
async fn tcp_reset_with_reconnects_refused_is_noticed_within_one_second() {
    let _alone = TIMED.write().await;
    let (sim, mut bot) = start_with_heartbeat(41_250).await;
    let ask = begin_ask(&sim).await;
    let port = bot.health_port().await;
    let cpu_before = cpu_secs(bot.pid());
    let dropped_at = Instant::now();
    sim.refuse_connections(REFUSED);
    assert!(sim.reset_connection());
    // A probe unanswered within 100 ms counts as a failure: Docker and Kubernetes would see one.
    let (mut slow, mut first_503, mut back) = (Vec::new(), None, None);
    while back.is_none() && dropped_at.elapsed() < Duration::from_secs(30) {
        let sent = Instant::now();
        let probe = tokio::time::timeout(Duration::from_millis(100), http_get(port, "/health"));
        match probe.await {
            Ok(Ok((503, _))) => {
                first_503.get_or_insert(dropped_at.elapsed());
            }
            Ok(Ok((200, _))) if first_503.is_some() => back = Some(dropped_at.elapsed()),
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => slow.push(sent.duration_since(dropped_at)),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = cpu_secs(bot.pid()) - cpu_before;
    println!(
        "TCP reset, reconnects refused {REFUSED:?}, 41.25 s heartbeat: 503 after {first_503:?}, \
         200 again after {back:?}, {} probes unanswered within 100 ms, bot CPU {cpu:.2} s",
        slow.len()
    );
    assert!(
        slow.is_empty(),
        "probes sent at {slow:?} went unanswered within 100 ms"
    );
    let noticed = first_503.expect("/health never answered 503");
    assert!(
        noticed < Duration::from_secs(1),
        "/health took {noticed:?} to answer 503"
    );
    let back = back.expect("/health never came back to 200");
    assert!(
        back < REFUSED + Duration::from_secs(2),
        "/health was 200 again only {:?} after the gateway accepted connections",
        back.saturating_sub(REFUSED)
    );
    assert!(
        cpu < 0.5,
        "the bot used {cpu:.2} s of CPU during a {back:?} outage"
    );
    finish_ask(&sim, &ask, "after the outage").await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn op7_reconnect_resumes_and_replays_the_missed_reply() {
    let _shared = TIMED.read().await;
    let (sim, mut bot) = start_ready_with(SimOptions::default(), patient()).await;
    let ask = begin_ask(&sim).await;
    let session = sim.session_id().expect("a session");
    let seq_before = sim.seq();
    assert!(sim.request_reconnect());
    // Dispatched after op 7, so only a RESUME with replay can deliver it.
    let since = sim.mark();
    sim.say(BOB, GENERAL, "said during the gap");
    sim.wait_for("a RESUME", REACT, |v| (v.resumes() > 0).then_some(()))
        .await;
    let (resumed_id, resumed_seq) = sim.resumes()[0].clone();
    assert_eq!(resumed_id, session);
    assert_eq!(resumed_seq, seq_before, "RESUME carried the wrong sequence");
    let echo = sim
        .wait_request("the replayed reply's echo", since, REACT, |r| {
            is_followup(r, &ask.token)
        })
        .await;
    assert_eq!(content(&echo), "You said: said during the gap");
    assert_eq!(
        sim.identifies(),
        1,
        "the bot re-identified instead of resuming"
    );
    bot.wait_health(200, REACT).await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn withheld_heartbeat_acks_make_the_bot_reconnect() {
    let _shared = TIMED.read().await;
    let (sim, mut bot) = start_with_heartbeat(1_000).await;
    let ask = begin_ask(&sim).await;
    let connections = sim.connections();
    sim.withhold_acks(true);
    sim.wait_for(
        "a new gateway connection after the zombie",
        Duration::from_secs(15),
        |v| (v.connections() > connections).then_some(()),
    )
    .await;
    sim.withhold_acks(false);
    bot.wait_health(200, Duration::from_secs(20)).await;
    // Discord's docs: a zombie connection is closed and the session resumed on a new one.
    assert!(
        !sim.resumes().is_empty(),
        "no RESUME after the zombie connection"
    );
    assert_eq!(sim.identifies(), 1, "the bot started a new session");
    finish_ask(&sim, &ask, "after the zombie").await;
    sim.assert_clean().await;
}

/// A close that ends the session (4009, session timed out) makes the shard start again: the new
/// connection and IDENTIFY must follow at once, not after a 5 s wait. (Discord spaces IDENTIFYs
/// 5 s apart, and the bot leaves 5.5 s between connections, so the close comes later than that.)
#[tokio::test]
async fn a_shard_restart_connects_again_at_once() {
    let _alone = TIMED.write().await;
    let (sim, mut bot) = start_ready_with(SimOptions::default(), patient()).await;
    let ask = begin_ask(&sim).await;
    tokio::time::sleep(Duration::from_millis(5_700)).await;
    let identifies = sim.identifies();
    let closed_at = Instant::now();
    assert!(sim.drop_connection(Some(4009)));
    sim.wait_for("a new IDENTIFY", Duration::from_secs(10), |v| {
        (v.identifies() > identifies).then_some(())
    })
    .await;
    let again = closed_at.elapsed();
    println!("close 4009: IDENTIFY again after {again:?}");
    assert!(
        again < Duration::from_secs(1),
        "the shard identified again only after {again:?}"
    );
    bot.wait_health(200, REACT).await;
    assert!(
        !bot.logs().contains("Failed to cleanly shutdown"),
        "a restart sat out the shutdown timeout:\n{}",
        bot.logs()
    );
    finish_ask(&sim, &ask, "after the restart").await;
    sim.assert_clean().await;
}

/// A session ended right after READY: the new IDENTIFY waits for Discord's 5 s spacing (the
/// simulator records an earlier one as a violation), then the bot is back.
#[tokio::test]
async fn a_new_session_keeps_discords_identify_spacing() {
    let _shared = TIMED.read().await;
    let (sim, mut bot) = start_ready_with(SimOptions::default(), patient()).await;
    let identifies = sim.identifies();
    assert!(sim.drop_connection(Some(4009)));
    sim.wait_for("a new IDENTIFY", Duration::from_secs(15), |v| {
        (v.identifies() > identifies).then_some(())
    })
    .await;
    bot.wait_health(200, REACT).await;
    sim.assert_clean().await;
}

#[tokio::test]
async fn invalid_session_makes_the_bot_identify_again() {
    let _shared = TIMED.read().await;
    let (sim, mut bot) = start_ready_with(SimOptions::default(), patient()).await;
    let ask = begin_ask(&sim).await;
    assert!(sim.invalidate_session(false));
    sim.wait_for("a second IDENTIFY", Duration::from_secs(15), |v| {
        (v.identifies() >= 2).then_some(())
    })
    .await;
    bot.wait_health(200, Duration::from_secs(15)).await;
    finish_ask(&sim, &ask, "after the new session").await;
    sim.assert_clean().await;
}

/// Sends a `/ping` by Bob and waits for its answer.
async fn ping(sim: &Sim) {
    let reply = run_command(sim, BOB, GENERAL, "ping").await;
    assert!(content(&reply).contains("Pong"), "{}", sim.request_log());
}

#[tokio::test]
async fn compressed_payloads_are_read_whichever_events_come_compressed() {
    let _shared = TIMED.read().await;
    // Every payload compressed: the bot inflates each one.
    let every = SimOptions {
        compress_above: 0,
        ..SimOptions::default()
    };
    let (sim, _bot) = start_ready_with(every, BotOptions::default()).await;
    let before = sim.compressed_dispatches();
    ping(&sim).await;
    assert!(
        sim.compressed_dispatches() > before,
        "the interaction went as text"
    );
    sim.assert_clean().await;

    // Discord's way: large payloads compressed, small events as text.
    let (sim, _bot) = start_ready().await;
    let before = sim.compressed_dispatches();
    ping(&sim).await;
    assert_eq!(
        sim.compressed_dispatches(),
        before,
        "a small event went compressed"
    );
    sim.dispatch(
        "GUILD_CREATE",
        guild::synthetic_guild(1_300_000_000_000_000_000, 100, 1_310_000_000_000_000_000),
    );
    let deadline = Instant::now() + REACT;
    while sim.compressed_dispatches() == before {
        assert!(Instant::now() < deadline, "a large guild went as text");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ping(&sim).await;
    sim.assert_clean().await;
}
