//! The gateway: one task per WebSocket connection, speaking Discord's protocol (HELLO,
//! IDENTIFY or RESUME, heartbeats, dispatches with zlib compression when asked, op 7, INVALID
//! SESSION, close codes) and obeying the faults a test injects.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::payloads::{self};

use crate::world::*;

// ---- Gateway ------------------------------------------------------------------------------------

/// Sends one payload; compressed when `compress_above` is set (the client asked for payload
/// compression) and the payload is longer than it. `Ok(true)` when it went compressed.
pub(crate) async fn send_payload(
    ws: &mut WebSocketStream<TcpStream>,
    payload: &Value,
    compress_above: Option<usize>,
) -> Result<bool, ()> {
    let text = payload.to_string();
    let compressed = compress_above.is_some_and(|min| text.len() > min);
    let frame = if compressed {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).map_err(|_| ())?;
        WsMessage::Binary(encoder.finish().map_err(|_| ())?)
    } else {
        WsMessage::Text(text)
    };
    ws.send(frame).await.map_err(|_| ())?;
    Ok(compressed)
}

pub(crate) async fn close_with(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
        .await;
}

pub(crate) async fn gateway_connection(inner: Arc<Inner>, stream: TcpStream) {
    // Dispatches are small frames: without this, Nagle and delayed ACKs add up to 40 ms.
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": inner.options.heartbeat_ms}});
    if send_payload(&mut ws, &hello, None).await.is_err() {
        return;
    }
    // The first payload must be IDENTIFY or RESUME (heartbeats may come first).
    let opening = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        let Ok(Some(Ok(msg))) = next else { return };
        if is_undecodable(&msg) {
            refuse(
                &inner,
                &mut ws,
                4002,
                "Decode error",
                "a payload that is not JSON",
            )
            .await;
            return;
        }
        let Some(payload) = parse_frame(&msg) else {
            if let WsMessage::Close(frame) = msg {
                record_close(&inner, frame.as_ref());
                // The close frame's echo, which the WebSocket layer queued, goes out.
                let _ = ws.flush().await;
            }
            return;
        };
        match payload["op"].as_u64() {
            Some(1) => {
                inner.world().heartbeats += 1;
                let _ = send_payload(&mut ws, &json!({"op": 11}), None).await;
            }
            Some(2) | Some(6) => break payload,
            op => {
                let why = format!("op {op:?} before IDENTIFY or RESUME");
                refuse(&inner, &mut ws, 4003, "Not authenticated.", &why).await;
                return;
            }
        }
    };

    let expected = &inner.options.token;
    let presented = opening["d"]["token"].as_str().unwrap_or_default();
    let token_ok = presented == format!("Bot {expected}") || presented == expected.as_str();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id;
    let compress;
    let mut backlog = Vec::new();
    if opening["op"] == 2 {
        if !token_ok || !inner.options.gateway_accepts_token {
            close_with(&mut ws, 4004, "Authentication failed.").await;
            return;
        }
        let asked = opening["d"]["intents"].as_u64().unwrap_or(0);
        if asked & PRIVILEGED_INTENTS & !inner.options.privileged_intents != 0 {
            close_with(&mut ws, 4014, "Disallowed intent(s).").await;
            return;
        }
        let session_id = format!("sess{:x}", rand_u64());
        {
            let mut world = inner.world();
            world.identifies += 1;
            let now = Instant::now();
            if let Some(last) = world.last_identify.replace(now) {
                // A client spaces the starts of its connections; the IDENTIFY follows each
                // start after a HELLO, a few milliseconds that vary.
                if now.duration_since(last) + Duration::from_millis(100) < IDENTIFY_SPACING {
                    let gap = now.duration_since(last);
                    world.violations.push(format!(
                        "IDENTIFY {gap:?} after the previous one: Discord allows one per {IDENTIFY_SPACING:?}"
                    ));
                }
            }
            world.intents = opening["d"]["intents"].as_u64().unwrap_or(0);
            world.compress = opening["d"]["compress"].as_bool().unwrap_or(false);
            compress = world.compress.then_some(inner.options.compress_above);
            world.conn_counter += 1;
            conn_id = world.conn_counter;
            world.session = Some(Session {
                id: session_id.clone(),
                seq: 0,
                log: Vec::new(),
            });
            world.conn = Some((conn_id, tx));
        }
        let resume_url = format!("ws://{}/", inner.gateway_addr);
        dispatch(&inner, "READY", payloads::ready(&session_id, &resume_url));
        let guild = {
            let world = inner.world();
            let presences = world.intents & GUILD_PRESENCES_INTENT != 0;
            crate::guild::guild_create(&world.guild, presences)
        };
        dispatch(&inner, "GUILD_CREATE", guild);
    } else {
        let session_id = opening["d"]["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let seq = opening["d"]["seq"].as_u64().unwrap_or(0);
        let resumable = {
            let mut world = inner.world();
            world.resumes.push((session_id.clone(), seq));
            token_ok && world.session.as_ref().is_some_and(|s| s.id == session_id)
        };
        if !resumable {
            inner.changed.notify_waiters();
            let _ = send_payload(&mut ws, &json!({"op": 9, "d": false}), None).await;
            // Discord closes the socket shortly after an INVALID_SESSION.
            tokio::time::sleep(Duration::from_millis(500)).await;
            close_with(&mut ws, 4009, "Session timed out").await;
            return;
        }
        {
            let mut world = inner.world();
            compress = world.compress.then_some(inner.options.compress_above);
            world.conn_counter += 1;
            conn_id = world.conn_counter;
            if let Some(session) = world.session.as_mut() {
                backlog.extend(
                    session
                        .log
                        .iter()
                        .filter(|p| p["s"].as_u64().unwrap_or(0) > seq)
                        .cloned(),
                );
                session.seq += 1;
                let resumed = json!({"op": 0, "t": "RESUMED", "s": session.seq, "d": {}});
                session.log.push(resumed.clone());
                backlog.push(resumed);
            }
            world.conn = Some((conn_id, tx));
        }
    }
    inner.changed.notify_waiters();
    for payload in &backlog {
        if send_payload(&mut ws, payload, compress).await.is_err() {
            break;
        }
    }

    // "If your app fails to send a heartbeat event in time, your connection will be closed and
    // you will be forced to Resume" (docs/events/gateway.mdx). The docs give no grace: a whole
    // missed beat and a second more is taken as too late, which a busy client never reaches
    // and a stalled one always does.
    let interval = Duration::from_millis(inner.options.heartbeat_ms);
    let allowance = 2 * interval + Duration::from_secs(1);
    let mut beat_due = tokio::time::Instant::now() + allowance;
    // The IDENTIFY or RESUME counts as the first payload.
    let mut sent = std::collections::VecDeque::from([tokio::time::Instant::now()]);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(beat_due) => {
                inner.world().violations.push(format!(
                    "no heartbeat within {allowance:?}: Discord closes the connection"
                ));
                close_with(&mut ws, 4000, "Heartbeat missed").await;
                break;
            }
            incoming = ws.next() => {
                let Some(Ok(msg)) = incoming else { break };
                if let WsMessage::Close(frame) = &msg {
                    record_close(&inner, frame.as_ref());
                    // Discord answers a close frame with its own (RFC 6455's closing
                    // handshake); the WebSocket layer queued it, and it goes out now.
                    let _ = ws.flush().await;
                    break;
                }
                if is_undecodable(&msg) {
                    refuse(&inner, &mut ws, 4002, "Decode error", "a payload that is not JSON").await;
                    break;
                }
                let Some(payload) = parse_frame(&msg) else { continue };
                // "Apps can send 120 gateway events per connection every 60 seconds".
                let now = tokio::time::Instant::now();
                sent.retain(|at| now.duration_since(*at) < SEND_WINDOW);
                sent.push_back(now);
                if sent.len() > SEND_LIMIT {
                    let why = format!("over {SEND_LIMIT} payloads in {SEND_WINDOW:?}");
                    refuse(&inner, &mut ws, 4008, "Rate limited.", &why).await;
                    break;
                }
                match payload["op"].as_u64() {
                    Some(1) => {}
                    // Presence, voice state, guild members and soundboard requests: accepted,
                    // not simulated.
                    Some(3 | 4 | 8 | 31) => continue,
                    Some(2 | 6) => {
                        let why = "a second IDENTIFY or RESUME on an open session";
                        refuse(&inner, &mut ws, 4005, "Already authenticated.", why).await;
                        break;
                    }
                    op => {
                        let why = format!("unknown opcode {op:?}");
                        refuse(&inner, &mut ws, 4001, "Unknown opcode.", &why).await;
                        break;
                    }
                }
                if payload["op"] == 1 {
                    beat_due = tokio::time::Instant::now() + allowance;
                    let withhold = {
                        let mut world = inner.world();
                        world.heartbeats += 1;
                        world.withhold_acks
                    };
                    inner.changed.notify_waiters();
                    if !withhold && send_payload(&mut ws, &json!({"op": 11}), compress).await.is_err() {
                        break;
                    }
                }
            }
            ctl = rx.recv() => {
                match ctl {
                    Some(Ctl::Send(payload)) => match send_payload(&mut ws, &payload, compress).await {
                        Err(()) => break,
                        Ok(true) => inner.world().compressed_dispatches += 1,
                        Ok(false) => {}
                    },
                    Some(Ctl::Reconnect) => {
                        let _ = send_payload(&mut ws, &json!({"op": 7, "d": null}), compress).await;
                        // After op 7 Discord sends nothing more on this socket: later dispatches
                        // wait in the session log for the RESUME.
                        let mut world = inner.world();
                        if world.conn.as_ref().is_some_and(|(id, _)| *id == conn_id) {
                            world.conn = None;
                        }
                    }
                    Some(Ctl::InvalidSession(resumable)) => {
                        let _ = send_payload(&mut ws, &json!({"op": 9, "d": resumable}), compress).await;
                    }
                    Some(Ctl::Drop { close: Some(code) }) => {
                        close_with(&mut ws, code, "simulated").await;
                        break;
                    }
                    Some(Ctl::Drop { close: None }) | None => break,
                    Some(Ctl::Reset) => {
                        let _ = socket2::SockRef::from(ws.get_ref()).set_linger(Some(Duration::ZERO));
                        break;
                    }
                }
            }
        }
    }
    {
        let mut world = inner.world();
        if world.conn.as_ref().is_some_and(|(id, _)| *id == conn_id) {
            world.conn = None;
        }
    }
    inner.changed.notify_waiters();
    drop(ws);
}

pub(crate) fn record_close(inner: &Inner, frame: Option<&CloseFrame<'_>>) {
    if let Some(frame) = frame {
        let code = u16::from(frame.code);
        let mut world = inner.world();
        world.close_codes.push(code);
        // "If you close with code 1000 or 1001, your session will be invalidated and your bot
        // will appear offline" (docs/events/gateway.mdx): no RESUME after it.
        if matches!(code, 1000 | 1001) {
            world.session = None;
        }
    }
    inner.changed.notify_waiters();
}

/// How many payloads a client may send per connection in [`SEND_WINDOW`]
/// (docs/events/gateway.mdx, Rate Limiting).
const SEND_LIMIT: usize = 120;
/// The window of [`SEND_LIMIT`].
const SEND_WINDOW: Duration = Duration::from_secs(60);

/// Whether `msg` is a data frame that holds no JSON payload.
fn is_undecodable(msg: &WsMessage) -> bool {
    matches!(msg, WsMessage::Text(_) | WsMessage::Binary(_)) && parse_frame(msg).is_none()
}

/// Records that the client broke the gateway's protocol (`why`), and closes the connection with
/// Discord's `code` and `reason` for it.
async fn refuse(
    inner: &Inner,
    ws: &mut WebSocketStream<TcpStream>,
    code: u16,
    reason: &str,
    why: &str,
) {
    inner
        .world()
        .violations
        .push(format!("gateway: {why}: Discord closes with {code}"));
    inner.changed.notify_waiters();
    close_with(ws, code, reason).await;
}

pub(crate) fn parse_frame(msg: &WsMessage) -> Option<Value> {
    match msg {
        WsMessage::Text(text) => serde_json::from_str(text).ok(),
        WsMessage::Binary(bytes) => {
            let mut decoder = flate2::read::ZlibDecoder::new(&bytes[..]);
            let mut text = String::new();
            std::io::Read::read_to_string(&mut decoder, &mut text).ok()?;
            serde_json::from_str(&text).ok()
        }
        _ => None,
    }
}

pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
