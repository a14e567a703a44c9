//! What Discord's users do, as a test (or a page) asks: slash commands, clicks, selects,
//! modal submissions and messages, each sent to the bot as Discord would.

use std::time::Instant;

use serde_json::{json, Value};

use crate::guild::Guild;
use crate::payloads::{self, APP_ID, GUILD_ID};

use crate::sim::Sim;
use crate::world::*;

impl Sim {
    // ---- Users' actions -----------------------------------------------------------------------

    /// Sends a dispatch on the session (kept for RESUME replay while disconnected).
    pub fn dispatch(&self, event: &str, data: Value) {
        dispatch(&self.inner, event, data);
    }

    /// The intents of the bot's last IDENTIFY.
    pub fn intents(&self) -> u64 {
        self.world().intents
    }

    /// `user` joins the server as `name`, without roles. The bot hears of it
    /// (GUILD_MEMBER_ADD) only if it asked for the GUILD_MEMBERS intent, as on Discord.
    pub fn member_joins(&self, user: u64, name: &str) {
        self.join(user, name, false);
    }

    /// As [`Sim::member_joins`] on a server with membership screening: the member arrives
    /// `pending` until they accept the rules ([`Sim::member_passes_screening`]).
    pub fn member_joins_screened(&self, user: u64, name: &str) {
        self.join(user, name, true);
    }

    /// `user` accepted the server's rules: GUILD_MEMBER_UPDATE with `pending: false`.
    pub fn member_passes_screening(&self, user: u64) {
        self.world().guild.pending.remove(&user);
        if let Some(member) = self.member_event(user) {
            self.dispatch("GUILD_MEMBER_UPDATE", member);
        }
    }

    /// `user` leaves the server (or is kicked): Discord takes their roles, and sends
    /// GUILD_MEMBER_REMOVE (`guild_id`, `user`) to a bot with the Server Members intent.
    pub fn member_leaves(&self, user: u64) {
        let event = {
            let mut world = self.world();
            let user_json = world.guild.user_json(user);
            world.guild.members.remove(&user);
            world.guild.pending.remove(&user);
            (world.intents & GUILD_MEMBERS_INTENT != 0)
                .then(|| json!({"guild_id": GUILD_ID.to_string(), "user": user_json}))
        };
        if let Some(event) = event {
            self.dispatch("GUILD_MEMBER_REMOVE", event);
        }
    }

    fn join(&self, user: u64, name: &str, pending: bool) {
        {
            let mut world = self.world();
            world.guild.members.insert(user, Vec::new());
            world.guild.names.insert(user, name.to_owned());
            if pending {
                world.guild.pending.insert(user);
            }
        }
        if let Some(member) = self.member_event(user) {
            self.dispatch("GUILD_MEMBER_ADD", member);
        }
    }

    /// A member event's payload, or `None` when the bot did not ask for member events.
    fn member_event(&self, user: u64) -> Option<Value> {
        let world = self.world();
        if world.intents & GUILD_MEMBERS_INTENT == 0 {
            return None;
        }
        let mut member = world.guild.member_json(user, true);
        member["guild_id"] = json!(GUILD_ID.to_string());
        Some(member)
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
        // Options of a subcommand (type 1) or a group's subcommand (type 2) are nested.
        let mut flat = Vec::new();
        let mut stack: Vec<&Value> = options.as_array().into_iter().flatten().collect();
        while let Some(option) = stack.pop() {
            match option["type"].as_u64() {
                Some(1 | 2) => stack.extend(option["options"].as_array().into_iter().flatten()),
                _ => flat.push(option),
            }
        }
        for option in flat {
            let id = id_of(&option["value"]);
            let key = id.to_string();
            match option["type"].as_u64() {
                Some(6) => {
                    let world = self.world();
                    resolved["users"][&key] = world.guild.user_json(id);
                    // Discord resolves a member object only for members of the guild.
                    if world.guild.members.contains_key(&id) {
                        let mut member = world.guild.member_json(id, false);
                        member["permissions"] =
                            json!(world.guild.permissions_in(id, channel).to_string());
                        resolved["members"][&key] = member;
                    }
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
            let is_role = self.world().guild.role(id).is_some();
            match component_type {
                6 => resolved["roles"][*value] = self.world().guild.role_json(id),
                8 => resolved["channels"][*value] = self.resolved_channel(user, id),
                7 if is_role => resolved["roles"][*value] = self.world().guild.role_json(id),
                5 | 7 => {
                    let world = self.world();
                    resolved["users"][*value] = world.guild.user_json(id);
                    if world.guild.members.contains_key(&id) {
                        let mut member = world.guild.member_json(id, false);
                        member["permissions"] =
                            json!(world.guild.permissions_in(id, channel).to_string());
                        resolved["members"][*value] = member;
                    }
                }
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
        self.submit_modal_in(user, channel, Some(message), custom_id, fields)
    }

    /// `user` submits the modal `custom_id` in `channel`; `message` is the message whose
    /// component opened it (none when a slash command opened it: Discord then sends no
    /// `message`).
    pub fn submit_modal_in(
        &self,
        user: u64,
        channel: u64,
        message: Option<&Value>,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> Interaction {
        let rows: Vec<Value> = fields
            .iter()
            .map(|(id, value)| {
                json!({"type": 1, "components": [
                    {"type": 4, "custom_id": id, "value": value}
                ]})
            })
            .collect();
        let data = json!({"custom_id": custom_id, "components": rows});
        self.interaction(user, channel, 5, data, message.cloned())
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

    /// Requests are answered again, and those hanging are answered now, as when the network
    /// comes back.
    pub fn answer_hung_requests(&self) {
        {
            let mut world = self.world();
            world.hung_paths.clear();
            world.hangs_answered += 1;
        }
        self.inner.changed.notify_waiters();
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
            payload["user"] = self.world().guild.user_json(user);
            payload["app_permissions"] = json!(payloads::ALL_PERMISSIONS.to_string());
            payload["channel"] = json!({"id": channel.to_string(), "type": 1});
        }
        let message_id = message.as_ref().map(|m| m["id"].clone());
        let data_name = payload["data"]["name"].as_str().map(str::to_owned);
        if let Some(message) = message {
            payload["message"] = message;
        }
        self.world().interactions.insert(
            id,
            InteractionState {
                user,
                kind: u64::from(kind),
                command: (kind == 2).then(|| data_name.clone()).flatten(),
                message_id,
                token: token.clone(),
                channel,
                created: Instant::now(),
                responded: false,
                original: None,
                loading: false,
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
            self.world().guild.user_json(user),
            Some(user),
            &json!({"content": content}),
        );
        if in_guild {
            msg["member"] = self.world().guild.member_json(user, false);
        }
        let has_content_intent = self.world().intents & MESSAGE_CONTENT_INTENT != 0;
        // Without MESSAGE_CONTENT, guild messages reach a bot with empty content (DMs exempt).
        self.world().member_messages.push(msg.clone());
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
