//! The simulator checks itself: a test kit that accepts anything proves nothing, so these
//! tests show that it rejects what Discord rejects.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::harness::http_request;
use support::schema::validate;
use support::*;

const UA: (&str, &str) = ("User-Agent", "DiscordBot (https://example.com, 1.0)");

#[test]
fn the_schema_rejects_bodies_discord_would_reject() {
    let path = "/interactions/1/tok/callback";
    assert!(validate("POST", path, &json!({"type": 4, "data": {"content": "hi"}})).is_ok());
    assert!(validate("POST", path, &json!({"type": "four"})).is_err());
    assert!(validate("POST", path, &json!({"type": 4, "data": {"content": 5}})).is_err());
    let post = "/channels/1/messages";
    assert!(validate(
        "POST",
        post,
        &json!({"content": "x", "allowed_mentions": {"parse": []}})
    )
    .is_ok());
    assert!(validate(
        "POST",
        post,
        &json!({"content": "x", "allowed_mentions": {"parse": ["nobody"]}})
    )
    .is_err());
    assert!(validate("POST", post, &json!({"content": "x".repeat(4001)})).is_err());
}

#[test]
fn command_registration_accepts_permissions_as_a_string_or_an_integer() {
    let path = "/applications/1/guilds/2/commands";
    for permissions in [json!("32"), json!(32)] {
        let body = json!([{"name": "settings", "description": "d", "type": 1, "default_member_permissions": permissions}]);
        assert!(validate("PUT", path, &body).is_ok(), "{body}");
    }
    let bad = json!([{"name": "x".repeat(33), "description": "d", "type": 1}]);
    assert!(validate("PUT", path, &bad).is_err());
}

async fn post(sim: &Sim, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let (status, text) = http_request(
        sim.rest_port(),
        "POST",
        &format!("/api/v10{path}"),
        headers,
        Some(body),
    )
    .await
    .expect("request the simulator");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn interactions_get_one_response_within_three_seconds() {
    let sim = Sim::start().await;
    let body = json!({"type": 4, "data": {"content": "hi"}});

    let on_time = sim.slash(BOB, GENERAL, "ping", json!([]));
    let path = format!("/interactions/{}/{}/callback", on_time.id, on_time.token);
    assert_eq!(post(&sim, &path, &[UA], &body).await.0, 204);
    let (status, error) = post(&sim, &path, &[UA], &body).await;
    assert_eq!((status, error["code"].as_u64()), (400, Some(40060)));

    let late = sim.slash(BOB, GENERAL, "ping", json!([]));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let path = format!("/interactions/{}/{}/callback", late.id, late.token);
    let (status, error) = post(&sim, &path, &[UA], &body).await;
    assert_eq!((status, error["code"].as_u64()), (404, Some(10062)));
    // A late answer is the bot's fault: it is recorded, without the interaction's token.
    let violations = sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("allows 3 s"), "{violations:?}");
    assert!(!violations[0].contains(&late.token), "{violations:?}");
    // And it stays unanswered, which fails a test that checks the bot was clean.
    let unanswered = sim.unanswered();
    assert_eq!(unanswered.len(), 1, "{unanswered:?}");
    assert!(
        unanswered[0].contains(&late.id.to_string()),
        "{unanswered:?}"
    );
}

/// `assert_clean` judges an interaction still inside its 3 s too: it waits for its answer, and
/// fails once the 3 s pass without one.
#[tokio::test]
async fn assert_clean_waits_out_an_interactions_three_seconds() {
    use futures_util::FutureExt;
    let sim = Sim::start().await;
    let body = json!({"type": 4, "data": {"content": "hi"}});
    let slow = sim.slash(BOB, GENERAL, "ping", json!([]));
    let path = format!("/interactions/{}/{}/callback", slow.id, slow.token);
    let answer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        post(&sim, &path, &[UA], &body).await.0
    };
    let start = std::time::Instant::now();
    let (status, ()) = tokio::join!(answer, sim.assert_clean());
    assert_eq!(status, 204);
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "did not wait"
    );

    sim.slash(BOB, GENERAL, "ping", json!([]));
    let start = std::time::Instant::now();
    let judged = std::panic::AssertUnwindSafe(sim.assert_clean())
        .catch_unwind()
        .await;
    assert!(judged.is_err(), "an unanswered interaction passed");
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "judged too early"
    );
}

/// A deferral promises an answer: one never followed up fails a test that checks the bot was
/// clean, and an empty message is refused as Discord refuses it.
#[tokio::test]
async fn a_deferral_never_followed_up_and_an_empty_message_are_caught() {
    let sim = Sim::start().await;
    let deferred = sim.slash(BOB, GENERAL, "ping", json!([]));
    let path = format!("/interactions/{}/{}/callback", deferred.id, deferred.token);
    assert_eq!(post(&sim, &path, &[UA], &json!({"type": 5})).await.0, 204);
    let loading = sim.still_loading();
    assert_eq!(loading.len(), 1, "{loading:?}");
    assert!(loading[0].contains(&deferred.id.to_string()), "{loading:?}");
    let followup = format!("/webhooks/{APP_ID}/{}", deferred.token);
    let (status, error) = post(&sim, &followup, &[UA], &json!({"content": ""})).await;
    assert_eq!((status, error["code"].as_u64()), (400, Some(50006)));
    assert_eq!(sim.still_loading().len(), 1, "an empty message answered it");
    let (status, _) = post(&sim, &followup, &[UA], &json!({"content": "done"})).await;
    assert_eq!(status, 200);
    assert!(sim.still_loading().is_empty());
}

/// Discord delivers a bot's DM only to a user who shares a server with it.
#[tokio::test]
async fn a_dm_reaches_only_a_member() {
    let sim = Sim::start().await;
    let auth = format!("Bot {}", sim.token());
    let dm = |user: u64| {
        let (sim, auth) = (&sim, &auth);
        async move {
            let auth = ("Authorization", auth.as_str());
            let (status, channel) = post(
                sim,
                "/users/@me/channels",
                &[UA, auth],
                &json!({"recipient_id": user.to_string()}),
            )
            .await;
            assert_eq!(status, 200, "{channel}");
            let path = format!("/channels/{}/messages", channel["id"].as_str().unwrap());
            let (status, answer) = post(sim, &path, &[UA, auth], &json!({"content": "hi"})).await;
            (status, answer["code"].as_u64())
        }
    };
    assert_eq!(dm(BOB).await.0, 200);
    sim.member_leaves(BOB);
    assert_eq!(dm(BOB).await, (403, Some(50007)));
    assert_eq!(dm(APP_ID).await, (403, Some(50007)));
}

/// A channel the bot cannot see answers "Missing Access" (50001), to a read and to a post; one
/// it sees but may not post in, "Missing Permissions" (50013).
#[tokio::test]
async fn a_hidden_channel_is_missing_access() {
    let sim = Sim::start().await;
    let auth = format!("Bot {}", sim.token());
    let auth = ("Authorization", auth.as_str());
    let overwrite = |deny: u64| {
        sim.edit_guild(|g| {
            if let Some(c) = g.channels.iter_mut().find(|c| c.id == OFF_TOPIC) {
                c.overwrites = vec![Overwrite {
                    id: APP_ID,
                    member: true,
                    allow: 0,
                    deny,
                }];
            }
        })
    };
    let read = || async {
        let path = format!("/api/v10/channels/{OFF_TOPIC}");
        let (status, text) = http_request(sim.rest_port(), "GET", &path, &[UA, auth], None)
            .await
            .unwrap();
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["code"].as_u64());
        (status, code)
    };
    let posted = || async {
        let path = format!("/channels/{OFF_TOPIC}/messages");
        let (status, answer) = post(&sim, &path, &[UA, auth], &json!({"content": "hi"})).await;
        (status, answer["code"].as_u64())
    };
    assert_eq!(read().await.0, 200);
    overwrite(bits::SEND_MESSAGES);
    assert_eq!(read().await.0, 200);
    assert_eq!(posted().await, (403, Some(50013)));
    overwrite(bits::VIEW_CHANNEL);
    assert_eq!(read().await, (403, Some(50001)));
    assert_eq!(posted().await, (403, Some(50001)));
}

async fn patch(sim: &Sim, path: &str, body: &Value) -> u16 {
    let (status, _) = http_request(
        sim.rest_port(),
        "PATCH",
        &format!("/api/v10{path}"),
        &[UA],
        Some(body),
    )
    .await
    .expect("request the simulator");
    status
}

/// An interaction's token edits what was sent with it, once something was: not its original
/// response before there is one, and not another interaction's messages.
#[tokio::test]
async fn a_token_edits_only_its_own_messages() {
    let sim = Sim::start().await;
    let edit = json!({"content": "edited"});
    let first = sim.slash(BOB, GENERAL, "ping", json!([]));
    let original = format!("/webhooks/{APP_ID}/{}/messages/@original", first.token);
    assert_eq!(
        patch(&sim, &original, &edit).await,
        404,
        "edited before any response"
    );
    let callback = format!("/interactions/{}/{}/callback", first.id, first.token);
    let answer = json!({"type": 4, "data": {"content": "pong"}});
    assert_eq!(post(&sim, &callback, &[UA], &answer).await.0, 204);
    assert_eq!(patch(&sim, &original, &edit).await, 200);
    let (status, followup) = post(
        &sim,
        &format!("/webhooks/{APP_ID}/{}", first.token),
        &[UA],
        &json!({"content": "more"}),
    )
    .await;
    assert_eq!(status, 200);
    let followup_id = followup["id"].as_str().unwrap().to_owned();

    let second = sim.slash(CAROL, GENERAL, "ping", json!([]));
    let callback = format!("/interactions/{}/{}/callback", second.id, second.token);
    assert_eq!(post(&sim, &callback, &[UA], &answer).await.0, 204);
    let theirs = format!("/webhooks/{APP_ID}/{}/messages/{followup_id}", second.token);
    assert_eq!(
        patch(&sim, &theirs, &edit).await,
        404,
        "another token's message"
    );
    let own = format!("/webhooks/{APP_ID}/{}/messages/{followup_id}", first.token);
    assert_eq!(patch(&sim, &own, &edit).await, 200);
}

#[tokio::test]
async fn a_missing_user_agent_and_an_invalid_body_are_violations() {
    let sim = Sim::start().await;
    let ping = sim.slash(BOB, GENERAL, "ping", json!([]));
    let path = format!("/interactions/{}/{}/callback", ping.id, ping.token);
    let (status, error) = post(
        &sim,
        &path,
        &[],
        &json!({"type": 4, "data": {"content": 1}}),
    )
    .await;
    // Refused as Discord refuses it, so the interaction is still unanswered.
    assert_eq!((status, error["code"].as_u64()), (400, Some(50035)));
    let fine = json!({"type": 4, "data": {"content": "pong"}});
    assert_eq!(post(&sim, &path, &[UA], &fine).await.0, 204);
    let violations = sim.violations().join("\n");
    assert!(violations.contains("User-Agent"), "{violations}");
    assert!(violations.contains("OpenAPI"), "{violations}");
    assert!(
        !violations.contains(&ping.token),
        "a violation never shows an interaction's token: {violations}"
    );
}

/// The documented limits the spec lacks are kept as Discord keeps them: a 400 and nothing
/// posted.
#[tokio::test]
async fn bodies_past_discords_documented_limits_are_refused() {
    let sim = Sim::start().await;
    let auth = format!("Bot {}", sim.token());
    let path = format!("/channels/{GENERAL}/messages");
    let headers = [UA, ("Authorization", auth.as_str())];
    for body in [
        json!({"content": "x".repeat(2001)}),
        json!({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": [BOB.to_string()]}}),
    ] {
        let (status, error) = post(&sim, &path, &headers, &body).await;
        assert_eq!(
            (status, error["code"].as_u64()),
            (400, Some(50035)),
            "{body}"
        );
    }
    assert!(sim.bot_messages().is_empty(), "nothing was posted");
    assert_eq!(sim.violations().len(), 2, "{:?}", sim.violations());
    let (status, _) = post(&sim, &path, &headers, &json!({"content": "x".repeat(2000)})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rest_calls_need_the_bot_token_and_channel_rules_hold() {
    let sim = Sim::start().await;
    let auth = format!("Bot {}", sim.token());
    let body = json!({"content": "hello"});
    let path = format!("/channels/{GENERAL}/messages");
    assert_eq!(post(&sim, &path, &[UA], &body).await.0, 401);
    assert_eq!(
        post(&sim, &path, &[UA, ("Authorization", &auth)], &body)
            .await
            .0,
        200
    );
    sim.forbid_channel(GENERAL);
    let (status, error) = post(&sim, &path, &[UA, ("Authorization", &auth)], &body).await;
    assert_eq!((status, error["code"].as_u64()), (403, Some(50013)));
    let (status, error) = post(
        &sim,
        "/channels/42/messages",
        &[UA, ("Authorization", &auth)],
        &body,
    )
    .await;
    assert_eq!((status, error["code"].as_u64()), (404, Some(10003)));
    // A role given in another guild's route: that guild is unknown here.
    let (status, _) = http_request(
        sim.rest_port(),
        "PUT",
        &format!("/api/v10/guilds/42/members/{BOB}/roles/{STAFF_ROLE}"),
        &[UA, ("Authorization", &auth)],
        None,
    )
    .await
    .expect("request the simulator");
    assert_eq!(status, 404);
    assert!(sim.role_changes().is_empty(), "{:?}", sim.role_changes());
    sim.assert_clean().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the gateway sends next on `ws`: a payload, or the code of its close frame.
async fn next_from(ws: &mut Socket) -> Result<Value, u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the gateway says something within 5 s");
        match next {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(0, |f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            _ => return Err(0),
        }
    }
}

/// A connection to `sim`'s gateway that has sent `opening` (IDENTIFY or RESUME) after HELLO.
async fn open_gateway(sim: &Sim, opening: Value) -> Socket {
    use futures_util::SinkExt;
    let auth = format!("Bot {}", sim.token());
    let headers = [UA, ("Authorization", auth.as_str())];
    let (_, text) = http_request(sim.rest_port(), "GET", "/api/v10/gateway", &headers, None)
        .await
        .expect("GET /gateway");
    let url: Value = serde_json::from_str(&text).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(url["url"].as_str().unwrap())
        .await
        .expect("connect to the gateway");
    let hello = next_from(&mut ws).await.expect("HELLO");
    assert_eq!(hello["op"], 10);
    let text = opening.to_string();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text))
        .await
        .unwrap();
    ws
}

/// An edit may set or unset only SUPPRESS_EMBEDS among a message's flags: a public message does
/// not become ephemeral.
#[tokio::test]
async fn an_edit_changes_only_the_suppress_embeds_flag() {
    let sim = Sim::start().await;
    let auth = format!("Bot {}", sim.token());
    let path = format!("/channels/{GENERAL}/messages");
    let (status, message) = post(
        &sim,
        &path,
        &[UA, ("Authorization", auth.as_str())],
        &json!({"content": "hi"}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    let id = message["id"].as_str().unwrap().to_owned();
    let edit = format!("/api/v10{path}/{id}");
    let patch = |body: Value| {
        let (edit, auth) = (&edit, &auth);
        let headers = [UA, ("Authorization", auth.as_str())];
        let port = sim.rest_port();
        async move {
            let answer = http_request(port, "PATCH", edit, &headers, Some(&body)).await;
            answer.expect("request the simulator").0
        }
    };
    assert_eq!(patch(json!({"flags": 64 | 4})).await, 200);
    let flags = || {
        let now = sim
            .bot_messages()
            .into_iter()
            .find(|m| m["id"] == id.as_str());
        now.and_then(|m| m["flags"].as_u64()).unwrap_or(0)
    };
    assert_eq!(flags(), 4);
    assert_eq!(patch(json!({"flags": 0})).await, 200);
    assert_eq!(flags(), 0);
}

/// The gateway closes a client that breaks its protocol with Discord's code for it, and
/// records it: a second IDENTIFY (4005), an unknown opcode (4001), a payload that is not JSON
/// (4002), anything but a heartbeat before IDENTIFY (4003), over 120 payloads a minute (4008).
#[tokio::test]
async fn protocol_errors_close_the_connection_with_discords_codes() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let sim = Sim::start().await;
    let token = format!("Bot {}", sim.token());
    let identify = json!({"op": 2, "d": {"token": token, "intents": 513,
        "properties": {"os": "linux", "browser": "t", "device": "t"}}});
    let closed_by = |mut ws: Socket, then: Message| async move {
        ws.send(then).await.unwrap();
        loop {
            if let Err(code) = next_from(&mut ws).await {
                return code;
            }
        }
    };
    let ws = open_gateway(&sim, identify.clone()).await;
    let again = Message::Text(identify.to_string());
    assert_eq!(closed_by(ws, again).await, 4005);
    // Each connection stands for a client of its own (the 5 s between IDENTIFYs is theirs).
    sim.new_client();
    let ws = open_gateway(&sim, identify.clone()).await;
    let unknown = Message::Text(json!({"op": 42, "d": null}).to_string());
    assert_eq!(closed_by(ws, unknown).await, 4001);
    sim.new_client();
    let ws = open_gateway(&sim, identify.clone()).await;
    let garbled = Message::Text("{not json".into());
    assert_eq!(closed_by(ws, garbled).await, 4002);
    // Before IDENTIFY: a presence update is not allowed, a heartbeat is.
    let presence =
        json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}});
    let ws = open_gateway(&sim, json!({"op": 1, "d": null})).await;
    assert_eq!(
        closed_by(ws, Message::Text(presence.to_string())).await,
        4003
    );
    // 121 payloads within a minute: the 121st closes the connection.
    sim.new_client();
    let mut ws = open_gateway(&sim, identify.clone()).await;
    for _ in 0..119 {
        ws.send(Message::Text(json!({"op": 1, "d": null}).to_string()))
            .await
            .unwrap();
    }
    let beat = Message::Text(json!({"op": 1, "d": null}).to_string());
    assert_eq!(closed_by(ws, beat).await, 4008);
    let violations = sim.violations();
    assert_eq!(violations.len(), 5, "{violations:?}");
    assert!(
        violations.iter().all(|v| v.starts_with("gateway: ")),
        "{violations:?}"
    );
}

/// A client that stops heartbeating is closed (it may resume), and one that closes with 1000
/// has ended its session: it may not resume. On the way, a GUILD_CREATE as a bot without the
/// presence intent gets it.
#[tokio::test]
async fn a_silent_client_is_closed_and_a_normal_close_ends_the_session() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let sim = Sim::with_options(SimOptions {
        heartbeat_ms: 500,
        ..SimOptions::default()
    })
    .await;
    let token = format!("Bot {}", sim.token());
    let identify = json!({"op": 2, "d": {"token": token, "intents": 513,
        "properties": {"os": "linux", "browser": "t", "device": "t"}}});
    let mut ws = open_gateway(&sim, identify).await;
    let ready = next_from(&mut ws).await.expect("READY");
    assert_eq!(ready["t"], "READY");
    let session = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let started = tokio::time::Instant::now();
    // Without the presence intent, the guild comes with the bot as its only member listed.
    let guild = next_from(&mut ws).await.expect("GUILD_CREATE");
    assert_eq!(guild["t"], "GUILD_CREATE");
    let members = guild["d"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["user"]["id"], APP_ID.to_string());
    assert!(guild["d"]["member_count"].as_u64().unwrap() > 1);
    let code = loop {
        if let Err(code) = next_from(&mut ws).await {
            break code;
        }
    };
    assert_eq!(code, 4000, "closed for the missed heartbeat");
    let after = started.elapsed();
    assert!(
        (Duration::from_millis(1_700)..Duration::from_secs(5)).contains(&after),
        "closed {after:?} after READY"
    );
    assert!(sim.violations().iter().any(|v| v.contains("no heartbeat")));

    let resume = json!({"op": 6, "d": {"token": token, "session_id": session, "seq": 2}});
    let mut ws = open_gateway(&sim, resume.clone()).await;
    let resumed = loop {
        let payload = next_from(&mut ws).await.expect("a dispatch");
        if payload["t"] == "RESUMED" {
            break payload;
        }
    };
    assert_eq!(resumed["op"], 0);
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.send(tokio_tungstenite::tungstenite::Message::Close(Some(normal)))
        .await
        .unwrap();
    let _ = next_from(&mut ws).await;
    let mut ws = open_gateway(&sim, resume).await;
    let refused = next_from(&mut ws).await.expect("INVALID_SESSION");
    assert_eq!(
        (refused["op"].as_u64(), refused["d"].as_bool()),
        (Some(9), Some(false))
    );
}
