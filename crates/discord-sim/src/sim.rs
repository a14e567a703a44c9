//! A local Discord: REST (axum) and gateway (tokio-tungstenite) on loopback, one pair of ports
//! per instance, following Discord's documented protocol. Tests drive users through its API and
//! read back every REST call the bot made.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::guild::{bits, Guild};
use crate::payloads::{self, APP_ID, GUILD_ID};
use crate::ratelimit::{self, Buckets, RateLimits, Verdict};
use crate::schema;

/// The gateway intent that unlocks message content.
const MESSAGE_CONTENT_INTENT: u64 = 1 << 15;
/// Discord's deadline for the first response to an interaction.
const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);

/// How the simulator is set up.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The token the bot must present.
    pub token: String,
    /// HELLO's heartbeat interval.
    pub heartbeat_ms: u64,
    /// When false, the gateway closes IDENTIFY with 4004 even though REST accepts the token.
    pub gateway_accepts_token: bool,
    /// Validate REST bodies against the OpenAPI spec (benchmarks turn it off: it costs more
    /// CPU than the bot spends on a request).
    pub validate: bool,
    /// With `compress: true` in IDENTIFY, payloads longer than this many bytes are sent
    /// zlib-compressed. Discord compresses "some events" and "not all payloads" (Gateway docs,
    /// Payload Compression) without saying which: like Discord in practice, the default
    /// compresses the large ones (READY, GUILD_CREATE of real guilds) and sends small events
    /// such as an interaction as text. 0 compresses every payload.
    pub compress_above: usize,
    /// Discord's REST rate limits: headers on every response, 429s past a limit.
    pub rate_limits: RateLimits,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            token: "sim-token.Zm9vYmFy.c2VjcmV0LXZhbHVlLW5ldmVyLWxvZ2dlZA".into(),
            heartbeat_ms: 5_000,
            gateway_accepts_token: true,
            validate: true,
            compress_above: 4096,
            rate_limits: RateLimits::default(),
        }
    }
}

/// One REST call the bot made.
#[derive(Clone, Debug)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path after `/api/v10`.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// Status the simulator answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// An interaction the simulator created, for follow-ups and deadline checks.
#[derive(Clone, Debug)]
pub struct Interaction {
    /// Interaction id.
    pub id: u64,
    /// Interaction token.
    pub token: String,
    /// Channel it happened in.
    pub channel: u64,
}

struct InteractionState {
    /// For component clicks, the id of the message the component is on.
    message_id: Option<Value>,
    token: String,
    channel: u64,
    created: Instant,
    responded: bool,
    original: Option<Value>,
}

/// What the test asks the live gateway connection to do.
enum Ctl {
    Send(Value),
    Reconnect,
    InvalidSession(bool),
    Drop { close: Option<u16> },
    Reset,
}

struct Session {
    id: String,
    seq: u64,
    log: Vec<Value>,
}

/// A REST fault to inject.
struct Fault {
    status: u16,
    /// For a 429: the global limit rather than the route's.
    global: bool,
    path_contains: String,
    remaining: u32,
}

#[derive(Default)]
struct World {
    /// Dispatches sent zlib-compressed.
    compressed_dispatches: u64,
    next_id: u64,
    requests: Vec<Request>,
    violations: Vec<String>,
    faults: Vec<Fault>,
    /// Rate-limit windows, per bucket and global.
    buckets: Buckets,
    /// Requests refused by the rate limits (injected 429s are not counted).
    rate_limited: Vec<String>,
    global_commands: Option<Vec<Value>>,
    guild_commands: HashMap<u64, Vec<Value>>,
    command_puts: u32,
    interactions: HashMap<u64, InteractionState>,
    /// When each interaction got its first response (for latency figures).
    answered_at: HashMap<u64, Instant>,
    /// Follow-ups by interaction token: (when, content).
    followups: HashMap<String, Vec<(Instant, String)>>,
    messages: Vec<Value>,
    dm_channels: HashMap<u64, u64>,
    dms_closed: HashSet<u64>,
    forbidden_channels: HashSet<u64>,
    roles_forbidden: bool,
    role_changes: Vec<(String, u64, u64)>,
    /// The league server: roles, members' roles, channels and their overwrites.
    guild: Guild,
    /// Requests to these paths are accepted and never answered.
    hung_paths: Vec<String>,
    // Gateway.
    session: Option<Session>,
    conn: Option<(u64, mpsc::UnboundedSender<Ctl>)>,
    conn_counter: u64,
    intents: u64,
    compress: bool,
    identifies: u32,
    resumes: Vec<(String, u64)>,
    close_codes: Vec<u16>,
    heartbeats: u32,
    withhold_acks: bool,
    refuse_until: Option<Instant>,
    connections: u32,
}

struct Inner {
    options: SimOptions,
    world: Mutex<World>,
    changed: Notify,
    rest_addr: SocketAddr,
    gateway_addr: SocketAddr,
}

impl Inner {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator. Dropping it stops its servers.
pub struct Sim {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Sim {
    /// Starts a simulator with default options.
    pub async fn start() -> Sim {
        Self::with_options(SimOptions::default()).await
    }

    /// Starts a simulator on two fresh loopback ports.
    pub async fn with_options(options: SimOptions) -> Sim {
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind REST");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let inner = Arc::new(Inner {
            options,
            world: Mutex::new(World {
                next_id: 1_200_000_000_000_000_000,
                ..World::default()
            }),
            changed: Notify::new(),
            rest_addr: rest.local_addr().expect("REST addr"),
            gateway_addr: gateway.local_addr().expect("gateway addr"),
        });
        let app = Router::new()
            .fallback(rest_handler)
            .with_state(inner.clone());
        let rest_task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let rest = rest.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(rest, app).await;
        });
        let gw_inner = inner.clone();
        let gateway_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = gateway.accept().await else {
                    continue;
                };
                let refused = {
                    let mut world = gw_inner.world();
                    world.connections += 1;
                    world.refuse_until.is_some_and(|t| Instant::now() < t)
                };
                if refused {
                    drop(stream);
                    continue;
                }
                tokio::spawn(gateway_connection(gw_inner.clone(), stream));
            }
        });
        Sim {
            inner,
            tasks: vec![rest_task, gateway_task],
        }
    }

    /// The base URL for `DISCORD_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.rest_addr)
    }

    /// The REST port.
    pub fn rest_port(&self) -> u16 {
        self.inner.rest_addr.port()
    }

    /// The token the bot must use.
    pub fn token(&self) -> &str {
        &self.inner.options.token
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world()
    }

    fn next_id(&self) -> u64 {
        let mut world = self.world();
        world.next_id += 1;
        world.next_id
    }

    // ---- Waiting ------------------------------------------------------------------------------

    /// Waits until `check` returns `Some`, re-checking after every change; panics with
    /// `what` and the REST log when `deadline` passes.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut check: impl FnMut(&SimView<'_>) -> Option<T>,
    ) -> T {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let world = self.world();
                if let Some(found) = check(&SimView { world: &world }) {
                    return found;
                }
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                let log = self.request_log();
                panic!(
                    "timed out after {deadline:?} waiting for {what}.\nREST calls so far:\n{log}"
                );
            }
        }
    }

    /// A mark in the REST log; [`Sim::wait_request`] looks only after it.
    pub fn mark(&self) -> usize {
        self.world().requests.len()
    }

    /// Waits for a REST call after `since` that satisfies `pred`.
    pub async fn wait_request(
        &self,
        what: &str,
        since: usize,
        deadline: Duration,
        pred: impl Fn(&Request) -> bool,
    ) -> Request {
        self.wait_for(what, deadline, |view| {
            view.world.requests[since.min(view.world.requests.len())..]
                .iter()
                .find(|r| pred(r))
                .cloned()
        })
        .await
    }

    /// When interaction `id` was created and when it got its first response.
    pub fn interaction_timing(&self, id: u64) -> (Option<Instant>, Option<Instant>) {
        let world = self.world();
        (
            world.interactions.get(&id).map(|i| i.created),
            world.answered_at.get(&id).copied(),
        )
    }

    /// How many interactions got their first response.
    pub fn answered_count(&self) -> usize {
        self.world().answered_at.len()
    }

    /// Follow-ups sent on the interaction with `token`: (when, content).
    pub fn followups(&self, token: &str) -> Vec<(Instant, String)> {
        self.world()
            .followups
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// How many follow-ups were sent in all.
    pub fn followup_count(&self) -> usize {
        self.world().followups.values().map(Vec::len).sum()
    }

    /// How many REST calls were made.
    pub fn request_count(&self) -> usize {
        self.world().requests.len()
    }

    /// Every REST call so far.
    pub fn requests(&self) -> Vec<Request> {
        self.world().requests.clone()
    }

    /// Every REST call after the mark `since`.
    pub fn requests_since(&self, since: usize) -> Vec<Request> {
        let world = self.world();
        world.requests[since.min(world.requests.len())..].to_vec()
    }

    /// The REST log as text, for failure messages.
    pub fn request_log(&self) -> String {
        let world = self.world();
        let mut text = String::new();
        for r in &world.requests {
            let body = r.body.as_ref().map(Value::to_string).unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            text.push_str(&format!(
                "  {} {} -> {} {}\n",
                r.method, r.path, r.status, body
            ));
        }
        if text.is_empty() {
            text.push_str("  (none)\n");
        }
        text
    }

    /// Fails the test if any request broke Discord's rules or the OpenAPI spec.
    pub fn assert_clean(&self) {
        let violations = self.world().violations.clone();
        assert!(
            violations.is_empty(),
            "the bot broke Discord's rules:\n{}",
            violations.join("\n")
        );
        let limited = self.rate_limited();
        assert!(
            limited.is_empty(),
            "the bot exceeded Discord's rate limits:\n{}",
            limited.join("\n")
        );
    }

    /// Violations recorded so far.
    pub fn violations(&self) -> Vec<String> {
        self.world().violations.clone()
    }

    // ---- Gateway state ------------------------------------------------------------------------

    /// Number of IDENTIFYs received.
    pub fn identifies(&self) -> u32 {
        self.world().identifies
    }

    /// RESUMEs received: (session id, sequence).
    pub fn resumes(&self) -> Vec<(String, u64)> {
        self.world().resumes.clone()
    }

    /// The current session id, if any.
    pub fn session_id(&self) -> Option<String> {
        self.world().session.as_ref().map(|s| s.id.clone())
    }

    /// The current session's last sequence number.
    pub fn seq(&self) -> u64 {
        self.world().session.as_ref().map_or(0, |s| s.seq)
    }

    /// Close codes the bot sent in close frames.
    pub fn close_codes(&self) -> Vec<u16> {
        self.world().close_codes.clone()
    }

    /// Heartbeats received.
    pub fn heartbeats(&self) -> u32 {
        self.world().heartbeats
    }

    /// Gateway TCP connections accepted (refused ones included).
    pub fn connections(&self) -> u32 {
        self.world().connections
    }

    /// Dispatches sent zlib-compressed (live ones, not replays).
    pub fn compressed_dispatches(&self) -> u64 {
        self.world().compressed_dispatches
    }

    /// Whether a gateway connection is live.
    pub fn connected(&self) -> bool {
        self.world().conn.is_some()
    }

    /// Commands stored by bulk overwrite: guild ones when `guild` is set.
    pub fn commands(&self, guild: Option<u64>) -> Option<Vec<Value>> {
        let world = self.world();
        match guild {
            Some(g) => world.guild_commands.get(&g).cloned(),
            None => world.global_commands.clone(),
        }
    }

    /// How many bulk-overwrite PUTs were made.
    pub fn command_puts(&self) -> u32 {
        self.world().command_puts
    }

    // ---- Faults -------------------------------------------------------------------------------

    /// Answers the next `n` REST calls whose path contains `path_contains` with `status`
    /// (429 carries Discord's documented rate-limit body and `Retry-After`).
    pub fn fail_next(&self, n: u32, status: u16, path_contains: &str) {
        self.world().faults.push(Fault {
            status,
            global: false,
            path_contains: path_contains.to_owned(),
            remaining: n,
        });
    }

    /// Answers the next REST call whose path contains `path_contains` with a 429 of the global
    /// rate limit (`X-RateLimit-Global`, scope `global`).
    pub fn fail_next_globally(&self, path_contains: &str) {
        self.world().faults.push(Fault {
            status: 429,
            global: true,
            path_contains: path_contains.to_owned(),
            remaining: 1,
        });
    }

    /// The requests the simulator's rate limits refused with a 429 (injected ones excluded).
    pub fn rate_limited(&self) -> Vec<String> {
        self.world().rate_limited.clone()
    }

    /// Makes DMs to `user` fail with 50007, as when they closed their DMs.
    pub fn close_dms(&self, user: u64) {
        self.world().dms_closed.insert(user);
    }

    /// Makes posts to `channel` fail with 403 / 50013 (missing permissions).
    pub fn forbid_channel(&self, channel: u64) {
        self.world().forbidden_channels.insert(channel);
    }

    /// Makes role changes fail with 403 / 50013, as when the bot lacks Manage Roles.
    pub fn forbid_roles(&self) {
        self.world().roles_forbidden = true;
    }

    /// Role changes made: (method, user, role).
    pub fn role_changes(&self) -> Vec<(String, u64, u64)> {
        self.world().role_changes.clone()
    }

    /// The DM channel the bot opened with `user`, if any.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.world().dm_channels.get(&user).copied()
    }

    fn control(&self, ctl: Ctl) -> bool {
        match &self.world().conn {
            Some((_, tx)) => tx.send(ctl).is_ok(),
            None => false,
        }
    }

    /// Drops the gateway connection: with a close frame (`Some(code)`) or without (`None`).
    pub fn drop_connection(&self, close: Option<u16>) -> bool {
        self.control(Ctl::Drop { close })
    }

    /// Resets the gateway's TCP connection (RST, no close frame, no FIN).
    pub fn reset_connection(&self) -> bool {
        self.control(Ctl::Reset)
    }

    /// Sends op 7 RECONNECT.
    pub fn request_reconnect(&self) -> bool {
        self.control(Ctl::Reconnect)
    }

    /// Sends op 9 INVALID_SESSION; when not resumable the session is forgotten.
    pub fn invalidate_session(&self, resumable: bool) -> bool {
        if !resumable {
            self.world().session = None;
        }
        self.control(Ctl::InvalidSession(resumable))
    }

    /// Stops (or resumes) answering heartbeats with ACKs.
    pub fn withhold_acks(&self, withhold: bool) {
        self.world().withhold_acks = withhold;
    }

    /// Refuses new gateway connections for `duration`.
    pub fn refuse_connections(&self, duration: Duration) {
        self.world().refuse_until = Some(Instant::now() + duration);
    }

    // ---- Users' actions -----------------------------------------------------------------------

    /// Sends a dispatch on the session (kept for RESUME replay while disconnected).
    pub fn dispatch(&self, event: &str, data: Value) {
        dispatch(&self.inner, event, data);
    }

    /// `user` invokes slash command `name` with `options` in `channel` (guild channel, or a DM
    /// channel when `channel` is one of the DM channels).
    pub fn slash(&self, user: u64, channel: u64, name: &str, options: Value) -> Interaction {
        let command_id = {
            let world = self.world();
            world
                .guild_commands
                .values()
                .chain(world.global_commands.iter())
                .flatten()
                .find(|c| c["name"] == name)
                .and_then(|c| c["id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "1".to_owned())
        };
        let mut data = json!({
            "id": command_id, "name": name, "type": 1, "options": options,
            "guild_id": GUILD_ID.to_string(),
        });
        // Discord resolves user, channel and role options into `resolved`.
        let mut resolved = json!({});
        for option in options.as_array().into_iter().flatten() {
            let id = id_of(&option["value"]);
            let key = id.to_string();
            match option["type"].as_u64() {
                Some(6) => {
                    resolved["users"][&key] = payloads::user(id);
                    let world = self.world();
                    let mut member = world.guild.member_json(id, false);
                    member["permissions"] =
                        json!(world.guild.permissions_in(id, channel).to_string());
                    resolved["members"][&key] = member;
                }
                Some(7) => resolved["channels"][&key] = self.resolved_channel(user, id),
                Some(8) => resolved["roles"][&key] = self.world().guild.role_json(id),
                _ => {}
            }
        }
        if resolved.as_object().is_some_and(|r| !r.is_empty()) {
            data["resolved"] = resolved;
        }
        self.interaction(user, channel, 2, data, None)
    }

    /// `user` clicks the button `custom_id` on `message` (a message object the bot sent).
    pub fn click(&self, user: u64, message: &Value, custom_id: &str) -> Interaction {
        let channel = id_of(&message["channel_id"]);
        let data = json!({"custom_id": custom_id, "component_type": 2});
        self.interaction(user, channel, 3, data, Some(message.clone()))
    }

    /// `user` picks `values` in the select `custom_id` (of `component_type`) on `message`.
    pub fn select(
        &self,
        user: u64,
        message: &Value,
        custom_id: &str,
        component_type: u8,
        values: &[&str],
    ) -> Interaction {
        let channel = id_of(&message["channel_id"]);
        let mut data = json!({
            "custom_id": custom_id, "component_type": component_type, "values": values,
        });
        // User, role and channel selects carry the picked objects in `resolved`.
        let mut resolved = json!({});
        for value in values {
            let id = value.parse::<u64>().unwrap_or(0);
            match component_type {
                6 => resolved["roles"][*value] = self.world().guild.role_json(id),
                8 => resolved["channels"][*value] = self.resolved_channel(user, id),
                5 => resolved["users"][*value] = payloads::user(id),
                _ => {}
            }
        }
        if resolved.as_object().is_some_and(|r| !r.is_empty()) {
            data["resolved"] = resolved;
        }
        self.interaction(user, channel, 3, data, Some(message.clone()))
    }

    /// `user` submits the modal `custom_id`, opened from a component on `message`, with
    /// `fields` as `(custom_id, value)` pairs.
    pub fn submit_modal(
        &self,
        user: u64,
        message: &Value,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> Interaction {
        let channel = id_of(&message["channel_id"]);
        let rows: Vec<Value> = fields
            .iter()
            .map(|(id, value)| {
                json!({"type": 1, "components": [
                    {"type": 4, "custom_id": id, "value": value}
                ]})
            })
            .collect();
        let data = json!({"custom_id": custom_id, "components": rows});
        self.interaction(user, channel, 5, data, Some(message.clone()))
    }

    /// A channel as an interaction's `resolved` carries it: with the invoker's permissions in
    /// that channel, as Discord computes them.
    fn resolved_channel(&self, user: u64, channel: u64) -> Value {
        let world = self.world();
        let (name, kind) = world
            .guild
            .channel(channel)
            .map_or(("unknown".to_owned(), 0), |c| (c.name.clone(), c.kind));
        json!({
            "id": channel.to_string(), "name": name, "type": kind,
            "permissions": world.guild.permissions_in(user, channel).to_string(),
        })
    }

    /// Changes the league server (roles, members' roles, overwrites). What follows sees it:
    /// interactions carry the new permissions and REST reads return the new state.
    pub fn edit_guild(&self, change: impl FnOnce(&mut Guild)) {
        change(&mut self.world().guild);
    }

    /// Reads the league server as it is now.
    pub fn with_guild<T>(&self, read: impl FnOnce(&Guild) -> T) -> T {
        read(&self.world().guild)
    }

    /// Requests whose path contains `path` are accepted and never answered.
    pub fn hang_requests(&self, path: &str) {
        self.world().hung_paths.push(path.to_owned());
    }

    /// Requests are answered again (those already hanging stay hung).
    pub fn stop_hanging(&self) {
        self.world().hung_paths.clear();
    }

    fn is_dm_channel(&self, channel: u64) -> bool {
        self.world().dm_channels.values().any(|c| *c == channel)
    }

    fn interaction(
        &self,
        user: u64,
        channel: u64,
        kind: u8,
        data: Value,
        message: Option<Value>,
    ) -> Interaction {
        let id = self.next_id();
        let token = format!("itoken-{id}");
        let in_guild = !self.is_dm_channel(channel);
        let (member, permissions, app_permissions, channel_object) = {
            let world = self.world();
            let g = &world.guild;
            (
                g.member_json(user, true),
                g.permissions_in(user, channel),
                g.permissions_in(APP_ID, channel),
                g.channel_json(channel)
                    .unwrap_or_else(|| payloads::channel(channel, "channel", 0, 0)),
            )
        };
        let mut payload = json!({
            "id": id.to_string(), "application_id": APP_ID.to_string(), "type": kind,
            "data": data, "channel_id": channel.to_string(), "token": token, "version": 1,
            "locale": "en-US", "entitlements": [], "attachment_size_limit": 10_485_760,
            "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
            "context": if in_guild { 0 } else { 1 },
        });
        if in_guild {
            let mut member = member;
            member["permissions"] = json!(permissions.to_string());
            payload["member"] = member;
            payload["app_permissions"] = json!(app_permissions.to_string());
            payload["guild_id"] = json!(GUILD_ID.to_string());
            payload["guild_locale"] = json!("en-US");
            payload["guild"] =
                json!({"id": GUILD_ID.to_string(), "locale": "en-US", "features": []});
            payload["channel"] = channel_object;
        } else {
            payload["user"] = payloads::user(user);
            payload["app_permissions"] = json!(payloads::ALL_PERMISSIONS.to_string());
            payload["channel"] = json!({"id": channel.to_string(), "type": 1});
        }
        let message_id = message.as_ref().map(|m| m["id"].clone());
        if let Some(message) = message {
            payload["message"] = message;
        }
        self.world().interactions.insert(
            id,
            InteractionState {
                message_id,
                token: token.clone(),
                channel,
                created: Instant::now(),
                responded: false,
                original: None,
            },
        );
        self.dispatch("INTERACTION_CREATE", payload);
        Interaction { id, token, channel }
    }

    /// `user` posts `content` in `channel` (a guild channel or a DM channel). Returns the id.
    pub fn say(&self, user: u64, channel: u64, content: &str) -> u64 {
        let id = self.next_id();
        let in_guild = !self.is_dm_channel(channel);
        let mut msg = payloads::message(
            id,
            channel,
            in_guild,
            payloads::user(user),
            Some(user),
            &json!({"content": content}),
        );
        if in_guild {
            msg["member"] = self.world().guild.member_json(user, false);
        }
        let has_content_intent = self.world().intents & MESSAGE_CONTENT_INTENT != 0;
        // Without MESSAGE_CONTENT, guild messages reach a bot with empty content (DMs exempt).
        if in_guild && !has_content_intent {
            msg["content"] = json!("");
        }
        self.dispatch("MESSAGE_CREATE", msg);
        id
    }

    /// The current version of an interaction's original response (for a slash command) or of
    /// the message its component is on.
    pub fn original(&self, interaction: &Interaction) -> Option<Value> {
        let world = self.world();
        let state = world.interactions.get(&interaction.id)?;
        let id = state
            .original
            .as_ref()
            .map(|m| m["id"].clone())
            .or_else(|| state.message_id.clone())?;
        world.messages.iter().find(|m| m["id"] == id).cloned()
    }

    /// Messages the bot created (channel posts, interaction responses and follow-ups).
    pub fn bot_messages(&self) -> Vec<Value> {
        self.world().messages.clone()
    }
}

/// Read access to the simulator's state inside [`Sim::wait_for`].
pub struct SimView<'a> {
    world: &'a World,
}

impl SimView<'_> {
    /// REST calls so far.
    pub fn requests(&self) -> &[Request] {
        &self.world.requests
    }

    /// The DM channel the bot opened with `user`, if any.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.world.dm_channels.get(&user).copied()
    }

    /// Messages the bot created.
    pub fn messages(&self) -> &[Value] {
        &self.world.messages
    }

    /// IDENTIFYs so far.
    pub fn identifies(&self) -> u32 {
        self.world.identifies
    }

    /// RESUMEs so far.
    pub fn resumes(&self) -> usize {
        self.world.resumes.len()
    }

    /// Gateway TCP connections accepted so far.
    pub fn connections(&self) -> u32 {
        self.world.connections
    }

    /// Close codes received.
    pub fn close_codes(&self) -> &[u16] {
        &self.world.close_codes
    }

    /// Whether a gateway connection is live and identified.
    pub fn connected(&self) -> bool {
        self.world.conn.is_some()
    }
}

fn id_of(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
        .unwrap_or(0)
}

fn dispatch(inner: &Inner, event: &str, data: Value) {
    {
        let mut world = inner.world();
        let Some(session) = world.session.as_mut() else {
            return;
        };
        session.seq += 1;
        let payload = json!({"op": 0, "t": event, "s": session.seq, "d": data});
        session.log.push(payload.clone());
        if let Some((_, tx)) = &world.conn {
            let _ = tx.send(Ctl::Send(payload));
        }
    }
    inner.changed.notify_waiters();
}

// ---- Gateway ------------------------------------------------------------------------------------

/// Sends one payload; compressed when `compress_above` is set (the client asked for payload
/// compression) and the payload is longer than it. `Ok(true)` when it went compressed.
async fn send_payload(
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

async fn close_with(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
        .await;
}

async fn gateway_connection(inner: Arc<Inner>, stream: TcpStream) {
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
        let Some(payload) = parse_frame(&msg) else {
            if let WsMessage::Close(frame) = msg {
                record_close(&inner, frame.as_ref());
            }
            return;
        };
        match payload["op"].as_u64() {
            Some(1) => {
                inner.world().heartbeats += 1;
                let _ = send_payload(&mut ws, &json!({"op": 11}), None).await;
            }
            Some(2) | Some(6) => break payload,
            _ => {
                close_with(&mut ws, 4002, "Decode error").await;
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
        let session_id = format!("sess{:x}", rand_u64());
        {
            let mut world = inner.world();
            world.identifies += 1;
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
        let guild = payloads::guild_create(&inner.world().guild);
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

    loop {
        tokio::select! {
            incoming = ws.next() => {
                let Some(Ok(msg)) = incoming else { break };
                if let WsMessage::Close(frame) = &msg {
                    record_close(&inner, frame.as_ref());
                    break;
                }
                let Some(payload) = parse_frame(&msg) else { continue };
                if payload["op"] == 1 {
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

fn record_close(inner: &Inner, frame: Option<&CloseFrame<'_>>) {
    if let Some(frame) = frame {
        inner.world().close_codes.push(u16::from(frame.code));
    }
    inner.changed.notify_waiters();
}

fn parse_frame(msg: &WsMessage) -> Option<Value> {
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

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}

// ---- REST ---------------------------------------------------------------------------------------

fn discord_error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

async fn rest_handler(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full_path = uri.path().to_owned();
    let path = full_path
        .strip_prefix("/api/v10")
        .unwrap_or(&full_path)
        .to_owned();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let mut violations = Vec::new();
    if !full_path.starts_with("/api/v10/") {
        violations.push(format!("{method} {full_path}: not under /api/v10"));
    }
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !agent.starts_with("DiscordBot (") {
        violations.push(format!(
            "{method} {path}: User-Agent must be `DiscordBot (url, version)`, got {agent:?}"
        ));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !body.is_empty() && inner.options.validate {
        match &json_body {
            Some(value) if content_type.starts_with("application/json") => {
                if let Err(err) = schema::validate(method.as_str(), &path, value) {
                    violations.push(err);
                }
            }
            _ => violations.push(format!(
                "{method} {path}: body is not JSON (content-type {content_type:?})"
            )),
        }
    }

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let verdict = {
        let mut world = inner.world();
        let verdict = world
            .buckets
            .check(&inner.options.rate_limits, &segments, Instant::now());
        if verdict.limited.is_some() {
            world.rate_limited.push(format!("{method} {path}"));
        }
        verdict
    };
    let mut response = match verdict.limited {
        Some((retry_after, global)) => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(Verdict::body(retry_after, global)),
        )
            .into_response(),
        None => route(&inner, &method, &path, &headers, json_body.as_ref()).await,
    };
    // A global 429 carries the global headers only.
    if !response.headers().contains_key("x-ratelimit-global") {
        for (name, value) in verdict.headers {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                response.headers_mut().entry(name).or_insert(value);
            }
        }
    }
    {
        let mut world = inner.world();
        world.violations.extend(violations);
        world.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            body: json_body,
            status: response.status().as_u16(),
            at: Instant::now(),
        });
    }
    inner.changed.notify_waiters();
    response
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let expected = format!("Bot {}", inner.options.token);
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Response {
    // Injected faults come first, as from an overloaded Discord.
    let fault = {
        let mut world = inner.world();
        let found = world
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.contains(&f.path_contains));
        found.map(|f| {
            f.remaining -= 1;
            (f.status, f.global)
        })
    };
    if let Some((status, global)) = fault {
        if status == 429 {
            let retry_after = Duration::from_millis(250);
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", ratelimit::whole_seconds(retry_after))],
                axum::Json(Verdict::body(retry_after, global)),
            )
                .into_response();
            let headers = response.headers_mut();
            let scope = if global { "global" } else { "user" };
            headers.insert("x-ratelimit-scope", scope.parse().expect("a header value"));
            if global {
                headers.insert(
                    "x-ratelimit-global",
                    "true".parse().expect("a header value"),
                );
            }
            return response;
        }
        return discord_error(status, 0, "simulated failure");
    }
    let hung = inner
        .world()
        .hung_paths
        .iter()
        .any(|p| path.contains(p.as_str()));
    if hung {
        // A connection Discord (or the network) silently dropped: no answer, ever.
        std::future::pending::<()>().await;
    }

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let interaction_route =
        segments.first() == Some(&"interactions") || segments.first() == Some(&"webhooks");
    if !interaction_route && !authorized(inner, headers) {
        return discord_error(401, 0, "401: Unauthorized");
    }
    let m = method.as_str();
    match (m, segments.as_slice()) {
        ("GET", ["gateway"]) => {
            axum::Json(json!({"url": format!("ws://{}/", inner.gateway_addr)})).into_response()
        }
        ("GET", ["gateway", "bot"]) => axum::Json(json!({
            "url": format!("ws://{}/", inner.gateway_addr), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        }))
        .into_response(),
        ("GET", ["users", "@me"]) => axum::Json(payloads::bot_user()).into_response(),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            axum::Json(payloads::application()).into_response()
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(inner, app, None, body),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            put_commands(inner, app, guild.parse().ok(), body)
        }
        ("POST", ["interactions", id, token, "callback"]) => callback(inner, id, token, body),
        ("POST", ["webhooks", app, token]) => followup(inner, app, token, body),
        ("GET", ["webhooks", _app, token, "messages", "@original"]) => {
            let world = inner.world();
            match world.interactions.values().find(|i| i.token == *token).and_then(|i| i.original.clone()) {
                Some(original) => axum::Json(original).into_response(),
                None => discord_error(404, 10008, "Unknown Message"),
            }
        }
        ("PATCH", ["webhooks", _app, token, "messages", target]) => edit_webhook_message(inner, token, target, body),
        ("DELETE", ["webhooks", _app, _token, "messages", _target]) => StatusCode::NO_CONTENT.into_response(),
        ("POST", ["channels", channel, "messages"]) => create_message(inner, channel, body),
        ("GET", ["channels", channel]) => {
            let world = inner.world();
            match channel.parse().ok().and_then(|c| world.guild.channel_json(c)) {
                Some(channel) => axum::Json(channel).into_response(),
                None => discord_error(404, 10003, "Unknown Channel"),
            }
        }
        ("GET", ["guilds", guild]) if *guild == GUILD_ID.to_string() => {
            axum::Json(payloads::guild(&inner.world().guild)).into_response()
        }
        ("GET", ["guilds", guild, "roles"]) if *guild == GUILD_ID.to_string() => {
            axum::Json(inner.world().guild.roles_json()).into_response()
        }
        ("GET", ["guilds", guild, "members", user]) if *guild == GUILD_ID.to_string() => {
            let world = inner.world();
            let user: u64 = user.parse().unwrap_or(0);
            if world.guild.members.contains_key(&user) {
                axum::Json(world.guild.member_json(user, true)).into_response()
            } else {
                discord_error(404, 10007, "Unknown Member")
            }
        }
        ("PATCH", ["channels", channel, "messages", message]) => edit_message(inner, channel, message, body),
        ("POST", ["users", "@me", "channels"]) => create_dm(inner, body),
        ("PUT" | "DELETE", ["guilds", _guild, "members", user, "roles", role]) => {
            let mut world = inner.world();
            let (user, role) = (id_of(&json!(user)), id_of(&json!(role)));
            // Discord: Manage Roles, and only roles below the bot's highest, never managed ones.
            let g = &world.guild;
            let allowed = g.base_permissions(APP_ID) & bits::MANAGE_ROLES != 0
                && g.role(role).is_some_and(|r| !r.managed && r.position < g.highest_position(APP_ID));
            if world.roles_forbidden || !allowed {
                return discord_error(403, 50013, "Missing Permissions");
            }
            let roles = world.guild.members.entry(user).or_default();
            if m == "PUT" && !roles.contains(&role) {
                roles.push(role);
            } else if m == "DELETE" {
                roles.retain(|r| *r != role);
            }
            world.role_changes.push((m.to_owned(), user, role));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => {
            inner
                .world()
                .violations
                .push(format!("{m} {path}: the simulator does not implement this route"));
            discord_error(404, 0, "404: Not Found")
        }
    }
}

fn put_commands(inner: &Inner, app: &str, guild: Option<u64>, body: Option<&Value>) -> Response {
    if app != APP_ID.to_string() {
        return discord_error(403, 50001, "Missing Access");
    }
    let mut world = inner.world();
    let mut stored = Vec::new();
    for command in body.and_then(Value::as_array).cloned().unwrap_or_default() {
        world.next_id += 1;
        let mut command = command;
        command["id"] = json!(world.next_id.to_string());
        command["application_id"] = json!(APP_ID.to_string());
        command["version"] = json!(world.next_id.to_string());
        command["default_member_permissions"] = command
            .get("default_member_permissions")
            .cloned()
            .unwrap_or(Value::Null);
        command["type"] = command.get("type").cloned().unwrap_or(json!(1));
        command["description"] = command.get("description").cloned().unwrap_or(json!(""));
        if let Some(g) = guild {
            command["guild_id"] = json!(g.to_string());
        }
        stored.push(command);
    }
    world.command_puts += 1;
    match guild {
        Some(g) => {
            world.guild_commands.insert(g, stored.clone());
        }
        None => world.global_commands = Some(stored.clone()),
    }
    axum::Json(Value::Array(stored)).into_response()
}

fn new_bot_message(world: &mut World, channel: u64, body: &Value) -> Value {
    world.next_id += 1;
    let in_guild = !world.dm_channels.values().any(|c| *c == channel);
    let msg = payloads::message(
        world.next_id,
        channel,
        in_guild,
        payloads::bot_user(),
        Some(APP_ID),
        body,
    );
    world.messages.push(msg.clone());
    msg
}

fn is_ephemeral(body: &Value) -> bool {
    body["flags"].as_u64().unwrap_or(0) & 64 != 0
}

fn callback(inner: &Arc<Inner>, id: &str, token: &str, body: Option<&Value>) -> Response {
    let id: u64 = id.parse().unwrap_or(0);
    let body = body.cloned().unwrap_or(Value::Null);
    let echo;
    {
        let mut world = inner.world();
        let Some(state) = world.interactions.get(&id) else {
            return discord_error(404, 10062, "Unknown interaction");
        };
        if state.token != token {
            return discord_error(401, 50027, "Invalid Webhook Token");
        }
        if state.responded {
            return discord_error(400, 40060, "Interaction has already been acknowledged.");
        }
        if state.created.elapsed() > INTERACTION_DEADLINE {
            return discord_error(404, 10062, "Unknown interaction");
        }
        let channel = state.channel;
        let kind = body["type"].as_u64().unwrap_or(0);
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        if kind == 7 {
            // UPDATE_MESSAGE edits the message the clicked component is on.
            let target = state.message_id.clone();
            if let Some(message) = world
                .messages
                .iter_mut()
                .find(|m| Some(&m["id"]) == target.as_ref())
            {
                merge_edit(message, Some(&data));
            }
        }
        let original = match kind {
            4 => Some(new_bot_message(&mut world, channel, &data)),
            5 => Some(new_bot_message(
                &mut world,
                channel,
                &json!({"content": "", "flags": data["flags"].clone()}),
            )),
            _ => None,
        };
        echo = original
            .clone()
            .filter(|_| kind == 4 && !is_ephemeral(&data));
        world.answered_at.insert(id, Instant::now());
        if let Some(state) = world.interactions.get_mut(&id) {
            state.responded = true;
            if original.is_some() {
                state.original = original;
            }
        }
    }
    if let Some(msg) = echo {
        dispatch(inner, "MESSAGE_CREATE", msg);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn followup(inner: &Arc<Inner>, app: &str, token: &str, body: Option<&Value>) -> Response {
    if app != APP_ID.to_string() {
        return discord_error(404, 10015, "Unknown Webhook");
    }
    let body = body.cloned().unwrap_or(Value::Null);
    let msg = {
        let mut world = inner.world();
        let Some(state) = world.interactions.values().find(|i| i.token == token) else {
            return discord_error(404, 10015, "Unknown Webhook");
        };
        if !state.responded {
            return discord_error(404, 10015, "Unknown Webhook");
        }
        let channel = state.channel;
        let content = body["content"].as_str().unwrap_or_default().to_owned();
        world
            .followups
            .entry(token.to_owned())
            .or_default()
            .push((Instant::now(), content));
        new_bot_message(&mut world, channel, &body)
    };
    if !is_ephemeral(&body) {
        dispatch(inner, "MESSAGE_CREATE", msg.clone());
    }
    axum::Json(msg).into_response()
}

fn merge_edit(target: &mut Value, edit: Option<&Value>) {
    if let Some(edit) = edit.and_then(Value::as_object) {
        for (key, value) in edit {
            if ["content", "embeds", "components", "flags"].contains(&key.as_str()) {
                target[key] = value.clone();
            }
        }
    }
}

fn edit_webhook_message(
    inner: &Inner,
    token: &str,
    target: &str,
    body: Option<&Value>,
) -> Response {
    let mut world = inner.world();
    let Some((_, state)) = world.interactions.iter().find(|(_, i)| i.token == token) else {
        return discord_error(404, 10015, "Unknown Webhook");
    };
    // For a component or modal interaction, @original is the message the component is on.
    let original_id = state
        .original
        .as_ref()
        .map(|m| m["id"].clone())
        .or_else(|| state.message_id.clone());
    let wanted = if target == "@original" {
        match original_id {
            Some(id) => id,
            None => return discord_error(404, 10008, "Unknown Message"),
        }
    } else {
        json!(target)
    };
    let Some(message) = world.messages.iter_mut().find(|m| m["id"] == wanted) else {
        return discord_error(404, 10008, "Unknown Message");
    };
    merge_edit(message, body);
    let updated = message.clone();
    axum::Json(updated).into_response()
}

fn create_message(inner: &Arc<Inner>, channel: &str, body: Option<&Value>) -> Response {
    let Ok(channel) = channel.parse::<u64>() else {
        return discord_error(404, 10003, "Unknown Channel");
    };
    let msg = {
        let mut world = inner.world();
        let is_dm = world
            .dm_channels
            .iter()
            .find(|(_, c)| **c == channel)
            .map(|(u, _)| *u);
        let known = is_dm.is_some() || world.guild.channel(channel).is_some();
        if !known {
            return discord_error(404, 10003, "Unknown Channel");
        }
        let needed = bits::VIEW_CHANNEL | bits::SEND_MESSAGES;
        if is_dm.is_none() && world.guild.permissions_in(APP_ID, channel) & needed != needed {
            return discord_error(403, 50013, "Missing Permissions");
        }
        // With enforce_nonce, a nonce the bot already used in this channel returns that
        // message and creates none (Discord keeps nonces a few minutes; the simulator, always).
        let body_nonce = body.and_then(|b| b.get("nonce")).filter(|n| !n.is_null());
        let enforce = body.is_some_and(|b| b["enforce_nonce"] == true);
        if let (Some(nonce), true) = (body_nonce, enforce) {
            let earlier = world
                .messages
                .iter()
                .find(|m| m["nonce"] == *nonce && id_of(&m["channel_id"]) == channel)
                .cloned();
            if let Some(earlier) = earlier {
                return axum::Json(earlier).into_response();
            }
        }
        if let Some(user) = is_dm {
            if world.dms_closed.contains(&user) {
                return discord_error(403, 50007, "Cannot send messages to this user");
            }
        }
        if world.forbidden_channels.contains(&channel) {
            return discord_error(403, 50013, "Missing Permissions");
        }
        let mut msg = new_bot_message(&mut world, channel, body.unwrap_or(&Value::Null));
        if let Some(nonce) = body_nonce {
            msg["nonce"] = nonce.clone();
            if let Some(stored) = world.messages.last_mut() {
                stored["nonce"] = nonce.clone();
            }
        }
        msg
    };
    dispatch(inner, "MESSAGE_CREATE", msg.clone());
    // Discord's create-message response carries no guild id (its MESSAGE_CREATE does).
    let mut response = msg;
    if let Some(fields) = response.as_object_mut() {
        fields.remove("guild_id");
        fields.remove("member");
    }
    axum::Json(response).into_response()
}

fn edit_message(inner: &Inner, channel: &str, message: &str, body: Option<&Value>) -> Response {
    let mut world = inner.world();
    let Some(found) = world
        .messages
        .iter_mut()
        .find(|m| m["id"] == message && m["channel_id"] == channel)
    else {
        return discord_error(404, 10008, "Unknown Message");
    };
    merge_edit(found, body);
    axum::Json(found.clone()).into_response()
}

fn create_dm(inner: &Inner, body: Option<&Value>) -> Response {
    let Some(user) = body.map(|b| id_of(&b["recipient_id"])).filter(|u| *u != 0) else {
        return discord_error(400, 50035, "Invalid Form Body");
    };
    let mut world = inner.world();
    let channel = match world.dm_channels.get(&user) {
        Some(channel) => *channel,
        None => {
            world.next_id += 1;
            let channel = world.next_id;
            world.dm_channels.insert(user, channel);
            channel
        }
    };
    axum::Json(json!({
        "id": channel.to_string(), "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [payloads::user(user)],
    }))
    .into_response()
}
