//! The simulator's state: everything Discord knows (the guild, sessions, interactions,
//! messages, commands) and what the tests asked it to do (faults), behind one lock, plus the
//! options it starts with.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::guild::Guild;
use crate::ratelimit::{Buckets, RateLimits};

/// Discord's spacing between IDENTIFYs for a bot whose `max_concurrency` is 1
/// (`GET /gateway/bot`'s `session_start_limit`).
pub(crate) const IDENTIFY_SPACING: Duration = Duration::from_secs(5);
/// The gateway intent that unlocks message content.
pub(crate) const MESSAGE_CONTENT_INTENT: u64 = 1 << 15;
/// The GUILD_MEMBERS intent (privileged): member joins, updates and leaves.
pub const GUILD_MEMBERS_INTENT: u64 = 1 << 1;
/// The GUILD_PRESENCES intent (privileged).
pub const GUILD_PRESENCES_INTENT: u64 = 1 << 8;
/// Every privileged intent: Discord refuses an IDENTIFY asking for one the application was not
/// granted.
pub const PRIVILEGED_INTENTS: u64 =
    GUILD_MEMBERS_INTENT | GUILD_PRESENCES_INTENT | MESSAGE_CONTENT_INTENT;
/// Discord's deadline for the first response to an interaction.
pub(crate) const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);

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
    /// The privileged intents the application was granted (the Developer Portal's switches).
    /// An IDENTIFY asking for another is closed with 4014. Default: Message Content and
    /// Server Members, not Presence.
    pub privileged_intents: u64,
    /// How long an interaction's token works for follow-ups and edits: "Interaction tokens
    /// are valid for 15 minutes" (docs/interactions/receiving-and-responding.mdx). Tests
    /// shorten it to see what a bot does past it.
    pub token_lifetime: Duration,
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
            privileged_intents: MESSAGE_CONTENT_INTENT | GUILD_MEMBERS_INTENT,
            token_lifetime: Duration::from_secs(15 * 60),
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

pub(crate) struct InteractionState {
    /// Who caused it.
    pub(crate) user: u64,
    /// Its type: 2 a command, 3 a component, 5 a modal submit.
    pub(crate) kind: u64,
    /// For a slash command, its name (shown above the response, as Discord does).
    pub(crate) command: Option<String>,
    /// For component clicks, the id of the message the component is on.
    pub(crate) message_id: Option<Value>,
    pub(crate) token: String,
    pub(crate) channel: u64,
    pub(crate) created: Instant,
    pub(crate) responded: bool,
    pub(crate) original: Option<Value>,
    /// Answered with a deferral (type 5) whose loading message no follow-up or edit has
    /// replaced yet: the first follow-up edits it (Discord's documented behaviour).
    pub(crate) loading: bool,
}

/// Who caused a bot message that answers an interaction, and whether only they see it.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) user: u64,
    pub(crate) ephemeral: bool,
    pub(crate) command: Option<String>,
    /// The interaction token it was sent with: only that token edits it.
    pub(crate) token: String,
}

/// A modal the bot opened for a member, until they submit or dismiss it.
#[derive(Clone, Debug)]
pub(crate) struct OpenModal {
    pub(crate) channel: u64,
    /// The message whose component opened it, if a component did.
    pub(crate) message_id: Option<Value>,
    /// The modal as the bot sent it (`custom_id`, `title`, `components`).
    pub(crate) data: Value,
}

/// What the test asks the live gateway connection to do.
pub(crate) enum Ctl {
    Send(Value),
    Reconnect,
    InvalidSession(bool),
    Drop { close: Option<u16> },
    Reset,
}

pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) log: Vec<Value>,
}

/// A REST fault to inject.
pub(crate) struct Fault {
    pub(crate) status: u16,
    /// For a 429: the global limit rather than the route's.
    pub(crate) global: bool,
    /// The call is carried out and only its answer replaced: an answer lost on its way back.
    pub(crate) carried_out: bool,
    pub(crate) path_contains: String,
    pub(crate) remaining: u32,
}

/// A header to mangle in the answers to some REST calls.
pub(crate) struct Garble {
    /// Calls whose path contains this.
    pub(crate) path_contains: String,
    /// The header, lower-case.
    pub(crate) header: String,
    /// What it says instead.
    pub(crate) value: String,
    /// How many answers are still to be mangled.
    pub(crate) remaining: u32,
}

#[derive(Default)]
pub(crate) struct World {
    /// Dispatches sent zlib-compressed.
    pub(crate) compressed_dispatches: u64,
    pub(crate) next_id: u64,
    pub(crate) requests: Vec<Request>,
    pub(crate) violations: Vec<String>,
    pub(crate) faults: Vec<Fault>,
    /// How many events of each type were sent (or queued for a resume), over all sessions.
    pub(crate) dispatched: std::collections::HashMap<String, usize>,
    /// Headers to mangle in answers, as a proxy might.
    pub(crate) garbled_headers: Vec<Garble>,
    /// Rate-limit windows, per bucket and global.
    pub(crate) buckets: Buckets,
    /// Requests refused by the rate limits (injected 429s are not counted).
    pub(crate) rate_limited: Vec<String>,
    pub(crate) global_commands: Option<Vec<Value>>,
    pub(crate) guild_commands: HashMap<u64, Vec<Value>>,
    pub(crate) command_puts: u32,
    pub(crate) interactions: HashMap<u64, InteractionState>,
    /// When each interaction got its first response (for latency figures).
    pub(crate) answered_at: HashMap<u64, Instant>,
    /// Follow-ups by interaction token: (when, content).
    pub(crate) followups: HashMap<String, Vec<(Instant, String)>>,
    pub(crate) messages: Vec<Value>,
    /// Messages members posted (MESSAGE_CREATE from a user), for a client's view.
    pub(crate) member_messages: Vec<Value>,
    /// The bot messages that answer an interaction, by message id.
    pub(crate) origins: HashMap<String, Origin>,
    /// Modals open, by member.
    pub(crate) open_modals: HashMap<u64, OpenModal>,
    pub(crate) dm_channels: HashMap<u64, u64>,
    pub(crate) dms_closed: HashSet<u64>,
    pub(crate) forbidden_channels: HashSet<u64>,
    pub(crate) roles_forbidden: bool,
    pub(crate) role_changes: Vec<(String, u64, u64)>,
    /// The league server: roles, members' roles, channels and their overwrites.
    pub(crate) guild: Guild,
    /// Requests to these paths are accepted and never answered.
    pub(crate) hung_paths: Vec<String>,
    /// How many times the requests hanging were answered: a hanging request waits for this to
    /// grow.
    pub(crate) hangs_answered: u64,
    /// Paths of the requests being held now (`Sim::hang_requests`), as they came in.
    pub(crate) hanging: Vec<String>,
    // Gateway.
    pub(crate) session: Option<Session>,
    pub(crate) conn: Option<(u64, mpsc::UnboundedSender<Ctl>)>,
    pub(crate) conn_counter: u64,
    pub(crate) intents: u64,
    pub(crate) compress: bool,
    pub(crate) identifies: u32,
    /// When the last IDENTIFY came (Discord allows one per 5 s at `max_concurrency` 1).
    pub(crate) last_identify: Option<Instant>,
    pub(crate) resumes: Vec<(String, u64)>,
    pub(crate) close_codes: Vec<u16>,
    pub(crate) heartbeats: u32,
    pub(crate) withhold_acks: bool,
    pub(crate) refuse_until: Option<Instant>,
    pub(crate) connections: u32,
}

pub(crate) struct Inner {
    pub(crate) options: SimOptions,
    pub(crate) world: Mutex<World>,
    pub(crate) changed: Notify,
    pub(crate) rest_addr: SocketAddr,
    pub(crate) gateway_addr: SocketAddr,
}

impl Inner {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn id_of(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
        .unwrap_or(0)
}

/// The GUILDS intent: guilds, their roles, channels and threads.
const GUILDS_INTENT: u64 = 1 << 0;
/// The GUILD_MESSAGES intent: messages in guild channels.
const GUILD_MESSAGES_INTENT: u64 = 1 << 9;
/// The DIRECT_MESSAGES intent: messages in DMs.
const DIRECT_MESSAGES_INTENT: u64 = 1 << 12;

/// Whether a bot that identified with `intents` receives `event` carrying `data`: "If you do
/// not specify an intent when identifying, you will not receive any of the Gateway events
/// associated with that intent" (`docs/events/gateway.mdx`). Events of no intent (READY,
/// INTERACTION_CREATE) always arrive.
///
/// Only the events the simulator sends are listed: an event it does not know panics, so a new
/// one is given its intent when it is added.
pub(crate) fn intended(intents: u64, event: &str, data: &Value) -> bool {
    let needed = match event {
        "READY" | "RESUMED" | "INTERACTION_CREATE" => return true,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => {
            if data.get("guild_id").is_some_and(|g| !g.is_null()) {
                GUILD_MESSAGES_INTENT
            } else {
                DIRECT_MESSAGES_INTENT
            }
        }
        // "sent for current-user updates regardless of whether the GUILD_MEMBERS intent is set"
        "GUILD_MEMBER_UPDATE" if id_of(&data["user"]["id"]) == crate::payloads::APP_ID => {
            return true
        }
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" | "GUILD_MEMBER_REMOVE" => GUILD_MEMBERS_INTENT,
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE" | "GUILD_ROLE_DELETE" | "CHANNEL_CREATE" | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE" | "THREAD_CREATE" | "THREAD_UPDATE" | "THREAD_DELETE" => GUILDS_INTENT,
        other => panic!("the simulator does not know which intent {other} needs"),
    };
    intents & needed != 0
}

pub(crate) fn dispatch(inner: &Inner, event: &str, data: Value) {
    {
        let mut world = inner.world();
        if !intended(world.intents, event, &data) {
            return;
        }
        let world = &mut *world;
        let Some(session) = world.session.as_mut() else {
            return;
        };
        session.seq += 1;
        let payload = json!({"op": 0, "t": event, "s": session.seq, "d": data});
        session.log.push(payload.clone());
        *world.dispatched.entry(event.to_owned()).or_default() += 1;
        if let Some((_, tx)) = &world.conn {
            let _ = tx.send(Ctl::Send(payload));
        }
    }
    inner.changed.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_a_bot_that_asked_for_their_intent() {
        let guild_message = json!({"guild_id": "1", "content": "hi"});
        let dm = json!({"content": "hi"});
        let all =
            GUILDS_INTENT | GUILD_MESSAGES_INTENT | DIRECT_MESSAGES_INTENT | GUILD_MEMBERS_INTENT;
        for (event, data) in [
            ("MESSAGE_CREATE", &guild_message),
            ("MESSAGE_CREATE", &dm),
            ("GUILD_CREATE", &dm),
            ("GUILD_MEMBER_REMOVE", &dm),
        ] {
            assert!(intended(all, event, data), "{event}");
            assert!(!intended(0, event, data), "{event}");
        }
        assert!(!intended(
            DIRECT_MESSAGES_INTENT,
            "MESSAGE_CREATE",
            &guild_message
        ));
        assert!(!intended(GUILD_MESSAGES_INTENT, "MESSAGE_CREATE", &dm));
        assert!(intended(0, "INTERACTION_CREATE", &dm));
        assert!(intended(0, "READY", &dm));
        let own = json!({"user": {"id": crate::payloads::APP_ID.to_string()}});
        assert!(intended(GUILDS_INTENT, "GUILD_MEMBER_UPDATE", &own));
        assert!(!intended(GUILDS_INTENT, "GUILD_MEMBER_UPDATE", &dm));
    }
}
