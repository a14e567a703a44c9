//! Gateway and REST objects shaped as Discord documents them, with every field Discord sends
//! (serenity silently drops an event it cannot deserialize, so a missing field would make an
//! event vanish rather than fail).

use serde_json::{json, Value};

/// The simulated application's id, which is also the bot user's id.
pub const APP_ID: u64 = 1_100_000_000_000_000_001;
/// The test guild.
pub const GUILD_ID: u64 = 1_100_000_000_000_000_010;
/// `#general`, a text channel everyone can use.
pub const GENERAL: u64 = 1_100_000_000_000_000_020;
/// `#off-topic`, another text channel.
pub const OFF_TOPIC: u64 = 1_100_000_000_000_000_021;
/// `#announcements`, an announcement channel.
pub const ANNOUNCEMENTS: u64 = 1_100_000_000_000_000_022;
/// The `@everyone` role (same id as the guild, as on Discord).
pub const EVERYONE_ROLE: u64 = GUILD_ID;
/// A `Staff` role.
pub const STAFF_ROLE: u64 = 1_100_000_000_000_000_030;
/// Alice, the guild's owner, with the Staff role.
pub const ALICE: u64 = 1_100_000_000_000_000_101;
/// Bob, a plain member.
pub const BOB: u64 = 1_100_000_000_000_000_102;
/// Carol, a plain member.
pub const CAROL: u64 = 1_100_000_000_000_000_103;

/// Every permission bit, for an administrator.
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;
/// What `@everyone` may do in the test guild: view, send, read history, use commands.
pub const MEMBER_PERMISSIONS: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31);

/// The bot's user object.
pub fn bot_user() -> Value {
    json!({
        "id": APP_ID.to_string(), "username": "Novera", "discriminator": "0",
        "global_name": null, "avatar": null, "bot": true, "system": false,
        "mfa_enabled": true, "verified": true, "flags": 0, "public_flags": 0,
        "banner": null, "accent_color": null, "avatar_decoration_data": null,
        "locale": "en-US", "email": null, "premium_type": 0,
    })
}

/// A human's user object.
pub fn user(id: u64) -> Value {
    let name = match id {
        ALICE => "alice",
        BOB => "bob",
        CAROL => "carol",
        _ => "someone",
    };
    json!({
        "id": id.to_string(), "username": name, "discriminator": "0", "global_name": name,
        "avatar": null, "bot": false, "system": false, "public_flags": 0, "flags": 0,
        "banner": null, "accent_color": null, "avatar_decoration_data": null,
    })
}

/// A guild member object (without `user` when `with_user` is false, as in MESSAGE_CREATE),
/// without roles: `Guild::member_json` (in `guild`) adds the member's roles.
pub fn member(id: u64, with_user: bool) -> Value {
    let mut member = json!({
        "roles": [],
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "premium_since": null,
        "deaf": false, "mute": false, "flags": 0, "pending": false, "nick": null,
        "avatar": null, "banner": null, "communication_disabled_until": null,
    });
    if with_user {
        member["user"] = user(id);
    }
    member
}

/// The application object (`GET /oauth2/applications/@me`).
pub fn application() -> Value {
    json!({
        "id": APP_ID.to_string(), "name": "Novera", "icon": null, "description": "",
        "summary": "", "type": null, "bot_public": true, "bot_require_code_grant": false,
        "verify_key": "0".repeat(64), "flags": 0, "team": null, "owner": user(ALICE),
        "bot": bot_user(), "rpc_origins": [], "redirect_uris": [],
        "interactions_endpoint_url": null, "role_connections_verification_url": null,
        "tags": [], "install_params": null, "integration_types_config": {},
        "approximate_guild_count": 1, "cover_image": null, "custom_install_url": null,
    })
}

/// READY, as sent after IDENTIFY.
pub fn ready(session_id: &str, resume_url: &str) -> Value {
    json!({
        "v": 10, "user": bot_user(), "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
        "session_id": session_id, "resume_gateway_url": resume_url, "shard": [0, 1],
        "application": {"id": APP_ID.to_string(), "flags": 0},
        "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
        "guild_join_requests": [], "geo_ordered_rtc_regions": [],
    })
}

/// A guild channel object: type 0 text, 5 announcement.
pub fn channel(id: u64, name: &str, kind: u8, position: u64) -> Value {
    json!({
        "id": id.to_string(), "type": kind, "guild_id": GUILD_ID.to_string(), "name": name,
        "position": position, "permission_overwrites": [], "topic": null, "nsfw": false,
        "last_message_id": null, "rate_limit_per_user": 0, "parent_id": null,
        "last_pin_timestamp": null, "flags": 0,
    })
}

/// A message object as MESSAGE_CREATE carries it.
pub fn message(
    id: u64,
    channel_id: u64,
    guild: bool,
    author: Value,
    member_of: Option<u64>,
    body: &Value,
) -> Value {
    let mut msg = json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(), "type": 0,
        "author": author, "content": body.get("content").cloned().unwrap_or(json!("")),
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "mention_channels": [], "attachments": [],
        "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "components": body.get("components").cloned().unwrap_or(json!([])),
        "pinned": false, "flags": body.get("flags").cloned().unwrap_or(json!(0)),
        "nonce": null, "webhook_id": null, "reactions": [],
    });
    if guild {
        msg["guild_id"] = json!(GUILD_ID.to_string());
        if let Some(id) = member_of {
            msg["member"] = member(id, false);
        }
    }
    msg
}
