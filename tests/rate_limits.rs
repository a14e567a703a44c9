//! The bot's REST client keeps Discord's global limit (50 requests a second outside interaction
//! endpoints) against the simulator's windows, which start with their first request and so
//! not when the bot's own count would: a burst that follows a few earlier requests is spread
//! out instead of meeting a global 429, which Discord counts against the bot's IP.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use novera_assistant::bot;
use novera_assistant::wait::safe_wait_for;
use novera_assistant::Config;
use serenity::all::ChannelId;
use support::*;

/// The bot's HTTP client, pointed at `sim` as the binary would be.
fn client(sim: &Sim) -> serenity::all::Http {
    let config = Config::from_lookup(|name| match name {
        "DISCORD_TOKEN" => Some(sim.token().to_owned()),
        "DISCORD_API_BASE" => Some(sim.base_url()),
        _ => None,
    })
    .expect("a configuration");
    bot::http(&config).expect("an HTTP client")
}

/// `count` channel reads at once, one channel each (so no route's own limit holds them back),
/// numbered from `first`. The channels do not exist: a 404 counts against the global limit as
/// any answer does.
async fn read_channels(http: &serenity::all::Http, first: u64, count: u64) {
    let reads = (first..first + count).map(|id| http.get_channel(ChannelId::new(id)));
    let _ = futures_util::future::join_all(reads).await;
}

/// Ten requests, then 90 at once 1.1 s later. Discord's second started with the ten ends before
/// the 90, so all of them count in its next second: a client that counted 50 per window of its
/// own, started with the ten, sent 40 of them and then 50 more at the start of its next window
/// (90 in Discord's second). Whatever span of a second Discord counts, 50 is the most it sees.
#[tokio::test]
async fn a_burst_after_a_few_requests_stays_within_the_global_limit() {
    let sim = Sim::start().await;
    let http = client(&sim);
    let started = tokio::time::Instant::now();
    read_channels(&http, 1_000, 10).await;
    tokio::time::sleep_until(started + Duration::from_millis(1_100)).await;
    let burst = tokio::time::Instant::now();
    safe_wait_for(read_channels(&http, 2_000, 90), Duration::from_secs(20))
        .await
        .expect("the burst is sent within 20 s");
    assert_eq!(sim.rate_limited(), Vec::<String>::new(), "a 429 was met");
    let reads = sim.requests_since(0);
    let channel_reads = reads.iter().filter(|r| r.path.contains("/channels/"));
    assert_eq!(
        channel_reads.count(),
        100,
        "every read reached Discord once"
    );
    // Spread out: the last 40 left 1.25 s after the first 40.
    assert!(
        burst.elapsed() >= Duration::from_millis(1_000),
        "the 90 went out in {:?}",
        burst.elapsed()
    );
}

/// Requests given up while they wait for the global limit were never sent and leave the count
/// as it was: after a full second's worth and thirty given up while held back, the next request
/// still waits for the first to age out, and once they have, another full second's worth goes
/// out at once.
#[tokio::test]
async fn requests_given_up_while_held_back_leave_the_count_as_it_was() {
    let sim = Sim::start().await;
    let http = client(&sim);
    let started = tokio::time::Instant::now();
    read_channels(&http, 1_000, 50).await;
    let first_done = tokio::time::Instant::now();
    let given_up = safe_wait_for(read_channels(&http, 2_000, 30), Duration::from_millis(200)).await;
    assert!(given_up.is_none(), "the thirty were not held back");
    // Neither freed room (the fifty still count) ...
    read_channels(&http, 4_000, 1).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "a request left {:?} after the first fifty began",
        started.elapsed()
    );
    // ... nor took any: once the fifty have aged out, 49 more go at once.
    tokio::time::sleep_until(first_done + Duration::from_millis(1_300)).await;
    let next = tokio::time::Instant::now();
    safe_wait_for(read_channels(&http, 3_000, 49), Duration::from_secs(20))
        .await
        .expect("the next 49 are sent within 20 s");
    assert!(
        next.elapsed() < Duration::from_millis(1_000),
        "the next 49 were held back for {:?}",
        next.elapsed()
    );
    assert_eq!(sim.rate_limited(), Vec::<String>::new(), "a 429 was met");
    let reads = sim.requests_since(0);
    let given_up_reads = reads
        .iter()
        .filter(|r| r.path.contains("/channels/2"))
        .count();
    assert_eq!(given_up_reads, 0, "a request given up was sent");
    let channel_reads = reads
        .iter()
        .filter(|r| r.path.contains("/channels/"))
        .count();
    assert_eq!(channel_reads, 100, "every other read reached Discord once");
}
