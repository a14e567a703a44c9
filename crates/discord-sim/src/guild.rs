//! The simulated league server as Discord keeps it: roles with positions, members' roles,
//! channels with permission overwrites, and the permissions Discord computes from them
//! (documented in "Permissions", "Permission Overwrites" and "Permission Hierarchy").
//!
//! Tests change it while the bot runs (an overwrite, a role taken away) and every interaction,
//! REST answer and refusal that follows is computed from it, so a permission check made on
//! stale or wrong data shows up as a wrong outcome.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::payloads::{
    self, ALICE, ALL_PERMISSIONS, ANNOUNCEMENTS, APP_ID, BOB, CAROL, GENERAL, GUILD_ID,
    MEMBER_PERMISSIONS, OFF_TOPIC, STAFF_ROLE,
};

/// Permission bits used by the scenarios (Discord's values).
pub mod bits {
    /// Kick Members.
    pub const KICK_MEMBERS: u64 = 1 << 1;
    /// Administrator.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// Manage Server.
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// View Channel.
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    /// Send Messages.
    pub const SEND_MESSAGES: u64 = 1 << 11;
    /// Manage Messages.
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    /// Mention @everyone, @here and all roles.
    pub const MENTION_EVERYONE: u64 = 1 << 17;
    /// Manage Roles.
    pub const MANAGE_ROLES: u64 = 1 << 28;
    /// Read Message History.
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    /// Embed Links.
    pub const EMBED_LINKS: u64 = 1 << 14;
    /// Attach Files.
    pub const ATTACH_FILES: u64 = 1 << 15;
    /// Send TTS Messages.
    pub const SEND_TTS_MESSAGES: u64 = 1 << 12;
    /// Send Messages in Threads.
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// Manage Threads.
    pub const MANAGE_THREADS: u64 = 1 << 34;
}

/// The bot's own managed role (Discord creates one when a bot is invited with permissions).
pub const BOT_ROLE: u64 = 1_100_000_000_000_000_031;
/// An `Evaluator` role, mentionable, without permissions.
pub const EVALUATOR_ROLE: u64 = 1_100_000_000_000_000_032;
/// A `Moderator` role: Manage Server and Manage Messages, not Manage Roles.
pub const MODERATOR_ROLE: u64 = 1_100_000_000_000_000_033;
/// A `Tryout Passed` role, without permissions, low in the list.
pub const PLAYER_ROLE: u64 = 1_100_000_000_000_000_034;
/// A `Role Manager` role: Manage Server and Manage Roles, below the Moderator role.
pub const ROLE_MANAGER_ROLE: u64 = 1_100_000_000_000_000_035;
/// A public thread under `#general`.
pub const THREAD: u64 = 1_100_000_000_000_000_025;
/// A channel of another guild the bot is also in.
pub const FOREIGN_CHANNEL: u64 = 1_200_000_000_000_000_020;
/// That other guild.
pub const FOREIGN_GUILD: u64 = 1_200_000_000_000_000_010;

/// A role.
#[derive(Clone, Debug)]
pub struct Role {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its guild-wide permissions.
    pub permissions: u64,
    /// Its position (higher is above; @everyone is 0).
    pub position: u64,
    /// Whether anyone may mention it.
    pub mentionable: bool,
    /// Whether an integration (a bot) owns it: nobody can assign it.
    pub managed: bool,
}

/// A channel permission overwrite, for a role or a member.
#[derive(Clone, Debug)]
pub struct Overwrite {
    /// The role or member it applies to.
    pub id: u64,
    /// True for a member overwrite, false for a role overwrite.
    pub member: bool,
    /// Permissions allowed.
    pub allow: u64,
    /// Permissions denied.
    pub deny: u64,
}

/// A channel.
#[derive(Clone, Debug)]
pub struct Channel {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// 0 text, 5 announcement, 11 public thread.
    pub kind: u8,
    /// A thread's parent channel, whose overwrites it follows.
    pub parent: Option<u64>,
    /// Whether a thread is locked (only Manage Threads may post).
    pub locked: bool,
    /// The guild it belongs to.
    pub guild: u64,
    /// Its permission overwrites.
    pub overwrites: Vec<Overwrite>,
}

/// The league server.
#[derive(Clone, Debug)]
pub struct Guild {
    /// The guild's name.
    pub name: String,
    /// Members' usernames (a member without one gets the test names: alice, bob, carol).
    pub names: HashMap<u64, String>,
    /// The guild's owner: every permission, whatever the roles say.
    pub owner: u64,
    /// Every role, @everyone included.
    pub roles: Vec<Role>,
    /// Each member's roles (without @everyone).
    pub members: HashMap<u64, Vec<u64>>,
    /// Every channel the bot can see, the other guild's included.
    pub channels: Vec<Channel>,
    /// Members in timeout: only View Channel and Read Message History (Discord's rule).
    pub timed_out: HashSet<u64>,
    /// Members who have not yet passed membership screening (`pending` in their member object).
    pub pending: HashSet<u64>,
}

impl Role {
    /// A role nobody may mention and no integration manages.
    pub fn new(id: u64, name: &str, permissions: u64, position: u64) -> Role {
        Role {
            id,
            name: name.to_owned(),
            permissions,
            position,
            mentionable: false,
            managed: false,
        }
    }
}

fn role(id: u64, name: &str, permissions: u64, position: u64) -> Role {
    Role::new(id, name, permissions, position)
}

impl Guild {
    /// The test league: Alice owns it and has Staff (a role without permissions of its own); Bob and Carol are plain members; the bot
    /// has its managed role at the top. `#announcements` is read-only for @everyone, as
    /// announcement channels usually are.
    pub fn league() -> Guild {
        let roles = vec![
            role(GUILD_ID, "@everyone", MEMBER_PERMISSIONS, 0),
            role(PLAYER_ROLE, "Tryout Passed", 0, 1),
            Role {
                mentionable: true,
                ..role(EVALUATOR_ROLE, "Evaluator", 0, 2)
            },
            role(STAFF_ROLE, "Staff", 0, 3),
            role(
                ROLE_MANAGER_ROLE,
                "Role Manager",
                bits::MANAGE_GUILD | bits::MANAGE_ROLES,
                4,
            ),
            role(
                MODERATOR_ROLE,
                "Moderator",
                bits::MANAGE_GUILD | bits::MANAGE_MESSAGES,
                5,
            ),
            Role {
                managed: true,
                ..role(
                    BOT_ROLE,
                    "Novera",
                    ALL_PERMISSIONS & !bits::ADMINISTRATOR,
                    6,
                )
            },
        ];
        let members = HashMap::from([
            (ALICE, vec![STAFF_ROLE]),
            (BOB, Vec::new()),
            (CAROL, Vec::new()),
            (APP_ID, vec![BOT_ROLE]),
        ]);
        let channel = |id, name: &str, kind| Channel {
            id,
            name: name.to_owned(),
            kind,
            parent: None,
            locked: false,
            guild: GUILD_ID,
            overwrites: Vec::new(),
        };
        let mut thread = channel(THREAD, "match-thread", 11);
        thread.parent = Some(GENERAL);
        let mut announcements = channel(ANNOUNCEMENTS, "announcements", 5);
        announcements.overwrites.push(Overwrite {
            id: GUILD_ID,
            member: false,
            allow: 0,
            deny: bits::SEND_MESSAGES,
        });
        let mut foreign = channel(FOREIGN_CHANNEL, "elsewhere", 0);
        foreign.guild = FOREIGN_GUILD;
        Guild {
            name: "Novera Test League".to_owned(),
            names: HashMap::new(),
            owner: ALICE,
            roles,
            members,
            channels: vec![
                channel(GENERAL, "general", 0),
                channel(OFF_TOPIC, "off-topic", 0),
                announcements,
                thread,
                foreign,
            ],
            timed_out: HashSet::new(),
            pending: HashSet::new(),
        }
    }

    /// Gives `member` the permissions `allow` in `channel` (a member overwrite).
    pub fn allow_in(&mut self, channel: u64, member: u64, allow: u64) {
        let Some(channel) = self.channel_mut(channel) else {
            return;
        };
        // One overwrite per member, as on Discord: a second grant adds to the first.
        match channel
            .overwrites
            .iter_mut()
            .find(|o| o.member && o.id == member)
        {
            Some(overwrite) => overwrite.allow |= allow,
            None => channel.overwrites.push(Overwrite {
                id: member,
                member: true,
                allow,
                deny: 0,
            }),
        }
    }

    /// The roles `user` has (empty for a non-member).
    pub fn roles_of(&self, user: u64) -> Vec<u64> {
        self.members.get(&user).cloned().unwrap_or_default()
    }

    /// A role by id.
    pub fn role(&self, id: u64) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// A channel by id.
    pub fn channel(&self, id: u64) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// A channel by id, to change its overwrites.
    pub fn channel_mut(&mut self, id: u64) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    /// The position of `user`'s highest role (0 with none).
    pub fn highest_position(&self, user: u64) -> u64 {
        self.roles_of(user)
            .iter()
            .filter_map(|id| self.role(*id))
            .map(|r| r.position)
            .max()
            .unwrap_or(0)
    }

    /// `user`'s guild-wide permissions: the owner and Administrator get everything.
    pub fn base_permissions(&self, user: u64) -> u64 {
        if user == self.owner {
            return ALL_PERMISSIONS;
        }
        let everyone = self.role(GUILD_ID).map_or(0, |r| r.permissions);
        let permissions = self
            .roles_of(user)
            .iter()
            .filter_map(|id| self.role(*id))
            .fold(everyone, |p, r| p | r.permissions);
        if permissions & bits::ADMINISTRATOR != 0 {
            ALL_PERMISSIONS
        } else {
            permissions
        }
    }

    /// `user`'s permissions in `channel`, overwrites applied in Discord's order: @everyone,
    /// then the member's roles (denies, then allows), then the member; a thread follows its
    /// parent's. Then what Discord implies: a timeout leaves View Channel and Read Message
    /// History; without View Channel nothing is left; without Send Messages no mentions,
    /// embeds, files or TTS.
    pub fn permissions_in(&self, user: u64, channel: u64) -> u64 {
        let base = self.base_permissions(user);
        if base & bits::ADMINISTRATOR != 0 || user == self.owner {
            return ALL_PERMISSIONS;
        }
        let channel = self
            .channel(channel)
            .and_then(|c| c.parent.and_then(|p| self.channel(p)).or(Some(c)));
        let Some(channel) = channel.filter(|c| c.guild == GUILD_ID) else {
            return base;
        };
        let mut permissions = self.overwritten(user, channel, base);
        if self.timed_out.contains(&user) {
            permissions &= bits::VIEW_CHANNEL | bits::READ_MESSAGE_HISTORY;
        }
        if permissions & bits::VIEW_CHANNEL == 0 {
            return 0;
        }
        if permissions & bits::SEND_MESSAGES == 0 {
            permissions &= !(bits::MENTION_EVERYONE
                | bits::EMBED_LINKS
                | bits::ATTACH_FILES
                | bits::SEND_TTS_MESSAGES);
        }
        permissions
    }

    /// Whether `user` sees `channel` (View Channel, overwrites and timeouts applied).
    pub fn may_view(&self, user: u64, channel: u64) -> bool {
        self.permissions_in(user, channel) & bits::VIEW_CHANNEL != 0
    }

    /// Whether `user` may post in `channel`: View Channel, and Send Messages, or in a thread
    /// Send Messages in Threads ("The `SEND_MESSAGES` permission is not inherited; users must
    /// have `SEND_MESSAGES_IN_THREADS`", docs/topics/permissions.md); in a locked thread,
    /// Manage Threads as well.
    pub fn may_send(&self, user: u64, channel: u64) -> bool {
        let thread = self.channel(channel).filter(|c| c.parent.is_some());
        let send = match thread {
            // A locked thread takes Manage Threads too (docs/topics/threads.mdx).
            Some(thread) if thread.locked => bits::SEND_MESSAGES_IN_THREADS | bits::MANAGE_THREADS,
            Some(_) => bits::SEND_MESSAGES_IN_THREADS,
            None => bits::SEND_MESSAGES,
        };
        let needed = bits::VIEW_CHANNEL | send;
        self.permissions_in(user, channel) & needed == needed
    }

    /// `base` with `channel`'s overwrites for `user` applied.
    fn overwritten(&self, user: u64, channel: &Channel, base: u64) -> u64 {
        let roles = self.roles_of(user);
        let mut permissions = base;
        let everyone = channel
            .overwrites
            .iter()
            .find(|o| !o.member && o.id == GUILD_ID);
        if let Some(o) = everyone {
            permissions = (permissions & !o.deny) | o.allow;
        }
        let (mut allow, mut deny) = (0, 0);
        for o in &channel.overwrites {
            if !o.member && o.id != GUILD_ID && roles.contains(&o.id) {
                allow |= o.allow;
                deny |= o.deny;
            }
        }
        permissions = (permissions & !deny) | allow;
        if let Some(o) = channel.overwrites.iter().find(|o| o.member && o.id == user) {
            permissions = (permissions & !o.deny) | o.allow;
        }
        permissions
    }

    /// A role object as Discord sends it.
    pub fn role_json(&self, id: u64) -> Value {
        let r = self
            .role(id)
            .cloned()
            .unwrap_or_else(|| role(id, "unknown", 0, 1));
        json!({
            "id": r.id.to_string(), "name": r.name, "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false, "icon": null, "unicode_emoji": null, "position": r.position,
            "permissions": r.permissions.to_string(), "managed": r.managed,
            "mentionable": r.mentionable, "flags": 0,
            "tags": if r.managed { json!({"bot_id": APP_ID.to_string()}) } else { json!({}) },
        })
    }

    /// A guild channel object as Discord sends it (`GET /channels/{id}`, GUILD_CREATE).
    pub fn channel_json(&self, id: u64) -> Option<Value> {
        let c = self.channel(id)?;
        let position = self.channels.iter().position(|x| x.id == id).unwrap_or(0);
        let mut value = payloads::channel(c.id, &c.name, c.kind, position as u64);
        value["guild_id"] = json!(c.guild.to_string());
        if let Some(parent) = c.parent {
            value["parent_id"] = json!(parent.to_string());
            value["thread_metadata"] = json!({
                "archived": false, "auto_archive_duration": 1440, "locked": c.locked,
                "archive_timestamp": "2026-01-01T00:00:00.000000+00:00",
                "create_timestamp": "2026-01-01T00:00:00.000000+00:00",
            });
            value["permission_overwrites"] = json!([]);
        }
        value["permission_overwrites"] = c
            .overwrites
            .iter()
            .map(|o| {
                json!({
                    "id": o.id.to_string(), "type": u8::from(o.member),
                    "allow": o.allow.to_string(), "deny": o.deny.to_string(),
                })
            })
            .collect();
        Some(value)
    }

    /// A user object, with the name this guild knows the user by.
    pub fn user_json(&self, id: u64) -> Value {
        if id == APP_ID {
            return payloads::bot_user();
        }
        let mut user = payloads::user(id);
        if let Some(name) = self.names.get(&id) {
            user["username"] = json!(name);
            user["global_name"] = json!(name);
        }
        user
    }

    /// A member object, with `user` when `with_user`.
    pub fn member_json(&self, user: u64, with_user: bool) -> Value {
        let mut member = payloads::member(user, false);
        if with_user {
            member["user"] = self.user_json(user);
        }
        member["roles"] = self
            .roles_of(user)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .into();
        if self.timed_out.contains(&user) {
            member["communication_disabled_until"] = json!("2099-01-01T00:00:00.000000+00:00");
        }
        member["pending"] = json!(self.pending.contains(&user));
        member
    }

    /// Every role, as GUILD_CREATE and `GET /guilds/{id}` carry them.
    pub fn roles_json(&self) -> Vec<Value> {
        self.roles.iter().map(|r| self.role_json(r.id)).collect()
    }

    /// This guild's channels (not the other guild's).
    pub fn channels_json(&self) -> Vec<Value> {
        self.channels
            .iter()
            .filter(|c| c.guild == GUILD_ID && c.parent.is_none())
            .filter_map(|c| self.channel_json(c.id))
            .collect()
    }
}

impl Default for Guild {
    fn default() -> Self {
        Self::league()
    }
}

// ---- Guild payloads ----------------------------------------------------------------------

/// GUILD_CREATE for the test guild, with its channels, roles and members as `g` has them.
///
/// Without the presence intent its members are the bot alone: "Without the `GUILD_PRESENCES`
/// intent, … `members` will only contain your bot and users in voice channels"
/// (docs/events/gateway-events.mdx), and nobody here is in a voice channel.
pub fn guild_create(g: &Guild, presences: bool) -> Value {
    let mut ids: Vec<u64> = g
        .members
        .keys()
        .copied()
        .filter(|id| presences || *id == APP_ID)
        .collect();
    ids.sort_unstable();
    let members: Vec<Value> = ids.into_iter().map(|id| g.member_json(id, true)).collect();
    let extra = json!({
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "large": false,
        "unavailable": false, "member_count": g.members.len(), "voice_states": [],
        "members": members, "channels": g.channels_json(), "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [],
        "soundboard_sounds": [], "incidents_data": null,
    });
    merge(guild_object(g), extra)
}

/// The test guild object (`GET /guilds/{id}`): the top part of GUILD_CREATE.
pub fn guild_object(g: &Guild) -> Value {
    json!({
        "id": GUILD_ID.to_string(), "name": g.name, "icon": null,
        "icon_hash": null, "splash": null, "discovery_splash": null,
        "owner_id": g.owner.to_string(), "afk_channel_id": null, "afk_timeout": 300,
        "widget_enabled": false, "widget_channel_id": null, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0,
        "roles": g.roles_json(),
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "max_presences": null, "max_members": 500000, "vanity_url_code": null,
        "description": null, "banner": null, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US",
        "public_updates_channel_id": null, "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50, "nsfw_level": 0, "stickers": [],
        "premium_progress_bar_enabled": false, "safety_alerts_channel_id": null,
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base_map), Value::Object(extra_map)) = (base.as_object_mut(), extra) {
        base_map.extend(extra_map);
    }
    base
}

/// A synthetic GUILD_CREATE: guild `id` with `members` members (ids from `first_member`), a
/// text channel and the @everyone role. For memory figures.
pub fn synthetic_guild(id: u64, members: u64, first_member: u64) -> Value {
    let league = Guild::league();
    let mut guild = guild_create(&league, true);
    guild["id"] = json!(id.to_string());
    guild["name"] = json!(format!("Guild {id}"));
    let mut everyone = league.role_json(GUILD_ID);
    everyone["id"] = json!(id.to_string());
    guild["roles"] = json!([everyone]);
    let mut channel = payloads::channel(id + 1, "general", 0, 0);
    channel["guild_id"] = json!(id.to_string());
    guild["channels"] = json!([channel]);
    let members: Vec<Value> = (0..members)
        .map(|i| payloads::member(first_member + i, true))
        .collect();
    guild["member_count"] = json!(members.len());
    guild["members"] = Value::Array(members);
    guild
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_needs_send_messages_in_threads_not_send_messages() {
        let mut guild = Guild::league();
        assert!(guild.may_send(BOB, GENERAL));
        assert!(
            !guild.may_send(BOB, THREAD),
            "Send Messages is not inherited"
        );
        guild.allow_in(GENERAL, BOB, bits::SEND_MESSAGES_IN_THREADS);
        assert!(guild.may_send(BOB, THREAD));
        assert!(
            !guild.may_send(BOB, ANNOUNCEMENTS),
            "read-only for @everyone"
        );
    }
}
