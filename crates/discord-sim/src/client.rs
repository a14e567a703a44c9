//! What a member's Discord client shows and lets them do, for the web client in [`crate::web`]:
//! the channels they can see with their messages (ephemeral ones only for whom they are),
//! the commands registered, the modal open for them, interactions left unanswered, and the
//! checks Discord's client makes before it sends anything (required options, lengths, choices,
//! select bounds, disabled components). A refusal is a sentence for the member, never a panic.

use serde_json::{json, Value};

use crate::guild::bits;
use crate::payloads::{APP_ID, GUILD_ID};
use crate::sim::Sim;
use crate::world::*;

/// How many messages of each channel the view carries (the newest).
const HISTORY: usize = 100;
/// Discord's longest message a member may type.
const MAX_CONTENT: usize = crate::limits::CONTENT_LIMIT;

/// Discord's application command option types the client fills in.
mod option_type {
    pub const STRING: u64 = 3;
    pub const INTEGER: u64 = 4;
    pub const BOOLEAN: u64 = 5;
    pub const USER: u64 = 6;
    pub const CHANNEL: u64 = 7;
    pub const ROLE: u64 = 8;
    pub const MENTIONABLE: u64 = 9;
    pub const NUMBER: u64 = 10;
}

impl Sim {
    /// Everything `user`'s client shows, as one JSON object (see the module doc).
    pub fn client_view(&self, user: u64) -> Value {
        let world = self.world();
        let g = &world.guild;
        let mut ids: Vec<&u64> = g.members.keys().collect();
        ids.sort_unstable();
        let members: Vec<Value> = ids
            .into_iter()
            .map(|id| {
                let user = g.user_json(*id);
                json!({
                    "id": id.to_string(),
                    "name": user["global_name"].as_str().or(user["username"].as_str()),
                    "bot": *id == APP_ID,
                    "owner": *id == g.owner,
                    "roles": g.roles_of(*id).iter().filter_map(|r| g.role(*r)).map(|r| r.name.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let roles: Vec<Value> = g
            .roles
            .iter()
            .map(|r| json!({"id": r.id.to_string(), "name": r.name, "position": r.position}))
            .collect();
        let visible: Vec<u64> = g
            .channels
            .iter()
            .filter(|c| c.guild == GUILD_ID)
            .filter(|c| g.permissions_in(user, c.id) & bits::VIEW_CHANNEL != 0)
            .map(|c| c.id)
            .collect();
        let channels: Vec<Value> = visible
            .iter()
            .filter_map(|id| g.channel(*id))
            .map(|c| {
                let can_send = g.may_send(user, c.id);
                json!({
                    "id": c.id.to_string(), "name": c.name, "kind": c.kind,
                    "parent": c.parent.map(|p| p.to_string()), "can_send": can_send,
                })
            })
            .collect();
        let dm = world.dm_channels.get(&user).copied();
        let mut messages = serde_json::Map::new();
        for channel in visible.iter().copied().chain(dm) {
            messages.insert(
                channel.to_string(),
                Value::Array(channel_messages(&world, user, channel)),
            );
        }
        let commands: Vec<Value> = world
            .guild_commands
            .get(&GUILD_ID)
            .into_iter()
            .flatten()
            .chain(world.global_commands.iter().flatten())
            .filter(|c| may_use(g, user, c))
            .cloned()
            .collect();
        let unanswered: Vec<Value> = world
            .interactions
            .values()
            .filter(|i| i.user == user && !i.responded)
            .filter(|i| i.created.elapsed() > INTERACTION_DEADLINE)
            .map(|i| {
                let note = match &i.command {
                    Some(name) => format!("/{name}: the application did not respond"),
                    None => "This interaction failed".to_owned(),
                };
                json!({"channel": i.channel.to_string(), "note": note})
            })
            .collect();
        let modal = world.open_modals.get(&user).map(|m| m.data.clone());
        json!({
            "me": user.to_string(),
            "bot": APP_ID.to_string(),
            "guild": {"id": GUILD_ID.to_string(), "name": g.name},
            "members": members,
            "roles": roles,
            "channels": channels,
            "dm": dm.map(|c| c.to_string()),
            "messages": messages,
            "commands": commands,
            "modal": modal,
            "unanswered": unanswered,
            "violations": world.violations,
            "gateway": {
                "connected": world.conn.is_some(),
                "connections": world.connections,
                "identifies": world.identifies,
                "resumes": world.resumes.len(),
            },
        })
    }

    /// `user` opens their DM with the bot (Discord keeps one DM channel per pair).
    pub fn open_dm(&self, user: u64) -> Result<u64, String> {
        self.check_member(user)?;
        let mut world = self.world();
        if let Some(channel) = world.dm_channels.get(&user) {
            return Ok(*channel);
        }
        world.next_id += 1;
        let channel = world.next_id;
        world.dm_channels.insert(user, channel);
        Ok(channel)
    }

    /// `user` types `content` in `channel`, checked as Discord's client and API check it.
    pub fn client_say(&self, user: u64, channel: u64, content: &str) -> Result<u64, String> {
        self.check_member(user)?;
        let length = content.chars().count();
        if content.trim().is_empty() {
            return Err("A message can't be empty.".into());
        }
        if length > MAX_CONTENT {
            return Err(format!(
                "Messages are limited to {MAX_CONTENT} characters; this one has {length}."
            ));
        }
        self.check_can_send(user, channel)?;
        Ok(self.say(user, channel, content))
    }

    /// `user` runs `/name` in `channel` with `options` (`[{name, value}]`, values as typed),
    /// checked as Discord's client checks them: the command exists, required options are given,
    /// numbers parse and respect their bounds, strings their lengths and choices.
    pub fn client_slash(
        &self,
        user: u64,
        channel: u64,
        name: &str,
        options: &[(String, String)],
    ) -> Result<Interaction, String> {
        self.check_member(user)?;
        self.check_can_see(user, channel)?;
        let mut words = name.split_whitespace();
        let top = words.next().unwrap_or_default().to_owned();
        let sub = words.next().map(str::to_owned);
        let name = top.as_str();
        // In a DM only global commands that allow DMs exist (guild commands never do).
        let in_dm = self.is_dm(channel);
        let command = {
            let world = self.world();
            let guild = world.guild_commands.get(&GUILD_ID).into_iter().flatten();
            let global = world.global_commands.iter().flatten().filter(|c| {
                !in_dm
                    || c["contexts"]
                        .as_array()
                        .is_none_or(|c| c.contains(&json!(1)))
            });
            let found = if in_dm {
                global.into_iter().find(|c| c["name"] == name)
            } else {
                guild.chain(global).find(|c| c["name"] == name)
            };
            found.cloned()
        };
        let Some(command) = command else {
            return Err(format!("There is no /{name} command here."));
        };
        if !may_use(&self.world().guild, user, &command) {
            return Err(format!("You don't have permission to use /{name}."));
        }
        // `/match create`: the subcommand's options are checked, and sent nested in it.
        let (spec, wrap) = match sub.as_deref() {
            None => (command.clone(), None),
            Some(sub) => {
                let found = command["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|o| o["type"] == 1 && o["name"] == sub)
                    .cloned();
                match found {
                    Some(found) => (found, Some(sub.to_owned())),
                    None => return Err(format!("There is no /{top} {sub} command here.")),
                }
            }
        };
        let has_subcommands = spec["options"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["type"] == 1 || o["type"] == 2));
        if has_subcommands {
            return Err(format!("Pick one of /{top}'s subcommands."));
        }
        let command = spec;
        let mut sent = Vec::new();
        for spec in command["options"].as_array().into_iter().flatten() {
            let option = spec["name"].as_str().unwrap_or_default();
            let typed = options
                .iter()
                .find(|(n, _)| n == option)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty());
            let Some(typed) = typed else {
                if spec["required"] == true {
                    return Err(format!("/{name} needs the option `{option}`."));
                }
                continue;
            };
            let kind = spec["type"].as_u64().unwrap_or(option_type::STRING);
            let value = self.option_value(spec, kind, typed)?;
            sent.push(json!({"name": option, "type": kind, "value": value}));
        }
        if let Some((unknown, _)) = options.iter().find(|(n, v)| {
            !v.trim().is_empty()
                && !command["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["name"] == n.as_str())
        }) {
            return Err(format!("/{name} has no option `{unknown}`."));
        }
        let options = match wrap {
            Some(sub) => json!([{"name": sub, "type": 1, "options": sent}]),
            None => Value::Array(sent),
        };
        Ok(self.slash(user, channel, name, options))
    }

    /// One option's value as Discord sends it, or why the client refuses it.
    fn option_value(&self, spec: &Value, kind: u64, typed: &str) -> Result<Value, String> {
        let option = spec["name"].as_str().unwrap_or_default();
        let value = match kind {
            option_type::INTEGER => {
                let n: i64 = typed
                    .parse()
                    .map_err(|_| format!("`{option}` must be a whole number."))?;
                check_bounds(spec, option, n as f64)?;
                json!(n)
            }
            option_type::NUMBER => {
                let n: f64 = typed
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("`{option}` must be a number."))?;
                check_bounds(spec, option, n)?;
                json!(n)
            }
            option_type::BOOLEAN => match typed {
                "true" | "True" | "yes" => json!(true),
                "false" | "False" | "no" => json!(false),
                _ => return Err(format!("`{option}` must be true or false.")),
            },
            option_type::USER | option_type::MENTIONABLE => {
                let id: u64 = typed.parse().unwrap_or(0);
                if !self.world().guild.members.contains_key(&id) {
                    return Err(format!("`{option}` must be a member of this server."));
                }
                json!(id.to_string())
            }
            option_type::CHANNEL => {
                let id: u64 = typed.parse().unwrap_or(0);
                if self.world().guild.channel(id).is_none() {
                    return Err(format!("`{option}` must be a channel of this server."));
                }
                json!(id.to_string())
            }
            option_type::ROLE => {
                let id: u64 = typed.parse().unwrap_or(0);
                if self.world().guild.role(id).is_none() {
                    return Err(format!("`{option}` must be a role of this server."));
                }
                json!(id.to_string())
            }
            _ => {
                let length = typed.chars().count() as u64;
                if let Some(max) = spec["max_length"].as_u64().filter(|max| length > *max) {
                    return Err(format!("`{option}` takes at most {max} characters."));
                }
                if let Some(min) = spec["min_length"].as_u64().filter(|min| length < *min) {
                    return Err(format!("`{option}` takes at least {min} characters."));
                }
                json!(typed)
            }
        };
        if let Some(choices) = spec["choices"].as_array().filter(|c| !c.is_empty()) {
            if !choices.iter().any(|c| c["value"] == value) {
                return Err(format!("Pick `{option}` from its list."));
            }
        }
        Ok(value)
    }

    /// `user` clicks the button `custom_id` on the bot's message `message_id`.
    pub fn client_click(
        &self,
        user: u64,
        message_id: &str,
        custom_id: &str,
    ) -> Result<Interaction, String> {
        let (message, component) = self.component(user, message_id, custom_id)?;
        if component["type"] != 2 {
            return Err("That isn't a button.".into());
        }
        Ok(self.click(user, &message, custom_id))
    }

    /// `user` picks `values` in the select `custom_id` on the bot's message `message_id`.
    pub fn client_select(
        &self,
        user: u64,
        message_id: &str,
        custom_id: &str,
        values: &[String],
    ) -> Result<Interaction, String> {
        let (message, component) = self.component(user, message_id, custom_id)?;
        let kind = component["type"].as_u64().unwrap_or(0);
        if !(3..=8).contains(&kind) {
            return Err("That isn't a menu.".into());
        }
        let min = component["min_values"].as_u64().unwrap_or(1) as usize;
        let max = component["max_values"].as_u64().unwrap_or(1) as usize;
        if values.len() < min || values.len() > max {
            return Err(if min == max {
                format!("Pick {min}.")
            } else {
                format!("Pick between {min} and {max}.")
            });
        }
        if kind == 3 {
            let offered = component["options"].as_array().cloned().unwrap_or_default();
            if values
                .iter()
                .any(|v| !offered.iter().any(|o| o["value"] == v.as_str()))
            {
                return Err("Pick from the menu's options.".into());
            }
        } else {
            let world = self.world();
            let g = &world.guild;
            let allowed_types = component["channel_types"].as_array();
            for value in values {
                let id: u64 = value.parse().unwrap_or(0);
                let is_member = g.members.contains_key(&id);
                let is_role = g.role(id).is_some();
                let ok = match kind {
                    5 => is_member,
                    6 => is_role,
                    7 => is_member || is_role,
                    _ => g.channel(id).is_some_and(|c| {
                        c.guild == GUILD_ID
                            && g.permissions_in(user, id) & bits::VIEW_CHANNEL != 0
                            && allowed_types.is_none_or(|t| t.contains(&json!(c.kind)))
                    }),
                };
                if !ok {
                    return Err("Pick from the menu's list.".into());
                }
            }
        }
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        Ok(self.select(user, &message, custom_id, kind as u8, &values))
    }

    /// `user` submits the modal open for them with `fields` (`(custom_id, value)`), checked
    /// against the modal's required fields and length limits. The modal stays open on a refusal.
    pub fn client_submit_modal(
        &self,
        user: u64,
        fields: &[(String, String)],
    ) -> Result<Interaction, String> {
        self.check_member(user)?;
        let Some(modal) = self.world().open_modals.get(&user).cloned() else {
            return Err("No form is open.".into());
        };
        let inputs: Vec<Value> = modal.data["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .collect();
        let mut submitted = Vec::new();
        for input in &inputs {
            let id = input["custom_id"].as_str().unwrap_or_default();
            let label = input["label"].as_str().unwrap_or(id);
            let value = fields
                .iter()
                .find(|(f, _)| f == id)
                .map_or("", |(_, v)| v.as_str());
            let length = value.chars().count() as u64;
            let required = input["required"].as_bool().unwrap_or(true);
            if required && value.is_empty() {
                return Err(format!("“{label}” is required."));
            }
            if let Some(max) = input["max_length"].as_u64().filter(|max| length > *max) {
                return Err(format!(
                    "“{label}” takes at most {max} characters ({length} now)."
                ));
            }
            let min = input["min_length"].as_u64().unwrap_or(0);
            if (required || !value.is_empty()) && length < min {
                return Err(format!("“{label}” takes at least {min} characters."));
            }
            submitted.push((id.to_owned(), value.to_owned()));
        }
        let message = {
            let mut world = self.world();
            world.open_modals.remove(&user);
            modal
                .message_id
                .as_ref()
                .and_then(|id| world.messages.iter().find(|m| m["id"] == *id).cloned())
        };
        let custom_id = modal.data["custom_id"].as_str().unwrap_or_default();
        let pairs: Vec<(&str, &str)> = submitted
            .iter()
            .map(|(id, value)| (id.as_str(), value.as_str()))
            .collect();
        Ok(self.submit_modal_in(user, modal.channel, message.as_ref(), custom_id, &pairs))
    }

    /// `user` closes the modal open for them without submitting it (the bot is not told).
    pub fn dismiss_modal(&self, user: u64) {
        self.world().open_modals.remove(&user);
        self.inner.changed.notify_waiters();
    }

    /// The bot message `message_id` as `user` sees it, and its component `custom_id`.
    fn component(
        &self,
        user: u64,
        message_id: &str,
        custom_id: &str,
    ) -> Result<(Value, Value), String> {
        self.check_member(user)?;
        let message = {
            let world = self.world();
            let found = world
                .messages
                .iter()
                .find(|m| m["id"] == message_id)
                .cloned();
            found.filter(|m| visible_to(&world, user, m))
        };
        let Some(message) = message else {
            return Err("That message is gone.".into());
        };
        self.check_can_see(user, id_of(&message["channel_id"]))?;
        let component = message["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .find(|c| c["custom_id"] == custom_id);
        match component {
            Some(c) if c["disabled"] == true => Err("That control is disabled.".into()),
            Some(c) => Ok((message, c)),
            None => Err("That control is gone.".into()),
        }
    }

    /// Refuses anyone but a member of the server (the bot included: nobody acts as it).
    fn check_member(&self, user: u64) -> Result<(), String> {
        let world = self.world();
        if user == APP_ID || !world.guild.members.contains_key(&user) {
            return Err("Pick a member of the server to act as.".into());
        }
        Ok(())
    }

    /// Whether `user` is a member other than the bot (whose view a client may show).
    pub fn is_member(&self, user: u64) -> bool {
        self.check_member(user).is_ok()
    }

    fn is_dm(&self, channel: u64) -> bool {
        self.world().dm_channels.values().any(|c| *c == channel)
    }

    fn check_can_see(&self, user: u64, channel: u64) -> Result<(), String> {
        let world = self.world();
        if world.dm_channels.get(&user) == Some(&channel) {
            return Ok(());
        }
        let sees = world
            .guild
            .channel(channel)
            .is_some_and(|c| c.guild == GUILD_ID)
            && world.guild.permissions_in(user, channel) & bits::VIEW_CHANNEL != 0;
        if sees {
            Ok(())
        } else {
            Err("You can't see that channel.".into())
        }
    }

    fn check_can_send(&self, user: u64, channel: u64) -> Result<(), String> {
        self.check_can_see(user, channel)?;
        let world = self.world();
        if world.dm_channels.get(&user) == Some(&channel) {
            return Ok(());
        }
        if !world.guild.may_send(user, channel) {
            return Err("You do not have permission to send messages in this channel.".into());
        }
        Ok(())
    }
}

/// Whether `user` may use `command`: its `default_member_permissions` (a permission bit set
/// as a string; "0" for administrators only) against the member's server permissions.
fn may_use(g: &crate::guild::Guild, user: u64, command: &Value) -> bool {
    let Some(required) = command["default_member_permissions"]
        .as_str()
        .and_then(|p| p.parse::<u64>().ok())
    else {
        return true;
    };
    let has = g.base_permissions(user);
    if has & bits::ADMINISTRATOR != 0 {
        return true;
    }
    required != 0 && has & required == required
}

/// Whether `user` sees the bot message `message` (an ephemeral one only its invoker sees).
fn visible_to(world: &World, user: u64, message: &Value) -> bool {
    match world.origins.get(&id_of(&message["id"]).to_string()) {
        Some(origin) if origin.ephemeral => origin.user == user,
        _ => true,
    }
}

/// `channel`'s newest messages as `user` sees them, oldest first, each marked with who
/// invoked it (`invoker`, `command`) and whether only they see it (`ephemeral`).
fn channel_messages(world: &World, user: u64, channel: u64) -> Vec<Value> {
    let in_channel = |m: &&Value| id_of(&m["channel_id"]) == channel;
    let mut list: Vec<Value> = world
        .messages
        .iter()
        .filter(in_channel)
        .filter(|m| visible_to(world, user, m))
        .map(|m| {
            let mut m = m.clone();
            if let Some(origin) = world.origins.get(&id_of(&m["id"]).to_string()) {
                m["ephemeral"] = json!(origin.ephemeral);
                m["invoker"] = json!(origin.user.to_string());
                m["command"] = json!(origin.command);
            }
            m
        })
        .chain(world.member_messages.iter().filter(in_channel).cloned())
        .collect();
    list.sort_by_key(|m| id_of(&m["id"]));
    let skip = list.len().saturating_sub(HISTORY);
    list.drain(..skip);
    list
}

fn check_bounds(spec: &Value, option: &str, n: f64) -> Result<(), String> {
    if let Some(min) = spec["min_value"].as_f64().filter(|min| n < *min) {
        return Err(format!("`{option}` must be at least {min}."));
    }
    if let Some(max) = spec["max_value"].as_f64().filter(|max| n > *max) {
        return Err(format!("`{option}` must be at most {max}."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payloads::{ALICE, ANNOUNCEMENTS, BOB, GENERAL};

    /// A simulator with one guild command, `/setvalue member amount(0..=100) [reason<=10]
    /// [mode: fast|slow]`.
    async fn sim_with_command() -> Sim {
        let sim = Sim::start().await;
        sim.world().guild_commands.insert(
            GUILD_ID,
            vec![json!({"name": "setvalue", "id": "5", "options": [
                {"name": "member", "type": 6, "required": true},
                {"name": "amount", "type": 4, "required": true, "min_value": 0, "max_value": 100},
                {"name": "reason", "type": 3, "max_length": 10},
                {"name": "mode", "type": 3, "choices": [
                    {"name": "Fast", "value": "fast"}, {"name": "Slow", "value": "slow"}]},
            ]})],
        );
        sim
    }

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_slash_command_is_checked_as_discords_client_checks_it() {
        let sim = sim_with_command().await;
        let bob = BOB.to_string();
        let refused = |opts: &[(&str, &str)]| {
            sim.client_slash(ALICE, GENERAL, "setvalue", &options(opts))
                .unwrap_err()
        };
        assert!(refused(&[("amount", "5")]).contains("needs the option `member`"));
        assert!(refused(&[("member", &bob), ("amount", "five")]).contains("whole number"));
        assert!(refused(&[("member", &bob), ("amount", "101")]).contains("at most 100"));
        assert!(refused(&[("member", &bob), ("amount", "-1")]).contains("at least 0"));
        assert!(refused(&[("member", "42"), ("amount", "1")]).contains("member of this server"));
        let long = [
            ("member", bob.as_str()),
            ("amount", "1"),
            ("reason", "elevenchars"),
        ];
        assert!(refused(&long).contains("at most 10 characters"));
        let choice = [("member", bob.as_str()), ("amount", "1"), ("mode", "warp")];
        assert!(refused(&choice).contains("from its list"));
        let unknown = [("member", bob.as_str()), ("amount", "1"), ("colour", "red")];
        assert!(refused(&unknown).contains("no option `colour`"));
        let missing = sim.client_slash(ALICE, GENERAL, "nope", &[]).unwrap_err();
        assert!(missing.contains("no /nope command"));
        let dm = sim.open_dm(ALICE).unwrap();
        let in_dm = sim.client_slash(ALICE, dm, "setvalue", &[]).unwrap_err();
        assert!(
            in_dm.contains("no /setvalue command"),
            "guild commands are not in DMs"
        );
        let ok = [
            ("member", bob.as_str()),
            ("amount", "100"),
            ("mode", "slow"),
        ];
        sim.client_slash(ALICE, GENERAL, "setvalue", &options(&ok))
            .expect("a valid command is sent");
    }

    #[tokio::test]
    async fn a_modal_keeps_its_limits_and_stays_open_on_a_refusal() {
        let sim = Sim::start().await;
        let modal = json!({"custom_id": "m", "title": "Compose", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "title", "label": "Title",
                "style": 1, "max_length": 5, "required": false}]},
            {"type": 1, "components": [{"type": 4, "custom_id": "body", "label": "Body",
                "style": 2, "min_length": 2, "required": true}]},
        ]});
        sim.world().open_modals.insert(
            ALICE,
            OpenModal {
                channel: GENERAL,
                message_id: None,
                data: modal,
            },
        );
        let submit = |fields: &[(&str, &str)]| sim.client_submit_modal(ALICE, &options(fields));
        assert!(submit(&[("title", "toolong"), ("body", "ok")])
            .unwrap_err()
            .contains("at most 5"));
        assert!(submit(&[("body", "")]).unwrap_err().contains("required"));
        assert!(submit(&[("body", "x")]).unwrap_err().contains("at least 2"));
        assert!(sim.client_view(ALICE)["modal"].is_object(), "still open");
        assert!(
            sim.client_submit_modal(BOB, &[]).is_err(),
            "not Bob's modal"
        );
        submit(&[("body", "fine")]).expect("a valid form is sent");
        assert!(
            sim.client_view(ALICE)["modal"].is_null(),
            "closed once sent"
        );
    }

    #[tokio::test]
    async fn an_ephemeral_message_is_seen_only_by_its_invoker() {
        let sim = Sim::start().await;
        {
            let mut world = sim.world();
            let public =
                crate::rest::new_bot_message(&mut world, GENERAL, &json!({"content": "all"}));
            let secret = crate::rest::new_bot_message(
                &mut world,
                GENERAL,
                &json!({"content": "secret", "flags": 64, "components": [{"type": 1,
                    "components": [{"type": 2, "style": 1, "custom_id": "b", "label": "B"},
                                   {"type": 2, "style": 1, "custom_id": "off", "label": "Off",
                                    "disabled": true}]}]}),
            );
            let origin = |ephemeral| Origin {
                user: ALICE,
                ephemeral,
                command: Some("x".into()),
                token: "t".into(),
            };
            world
                .origins
                .insert(id_of(&public["id"]).to_string(), origin(false));
            world
                .origins
                .insert(id_of(&secret["id"]).to_string(), origin(true));
        }
        let contents = |user: u64| -> Vec<String> {
            sim.client_view(user)["messages"][GENERAL.to_string()]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(contents(ALICE), ["all", "secret"]);
        assert_eq!(contents(BOB), ["all"]);
        let secret = sim.client_view(ALICE)["messages"][GENERAL.to_string()][1].clone();
        let id = secret["id"].as_str().unwrap().to_owned();
        assert_eq!(secret["ephemeral"], true);
        assert!(sim
            .client_click(BOB, &id, "b")
            .unwrap_err()
            .contains("gone"));
        assert!(sim
            .client_click(ALICE, &id, "off")
            .unwrap_err()
            .contains("disabled"));
        sim.client_click(ALICE, &id, "b")
            .expect("the invoker's click");
    }

    #[tokio::test]
    async fn members_type_only_where_they_may_and_within_discords_length() {
        let sim = Sim::start().await;
        let refused = sim.client_say(BOB, ANNOUNCEMENTS, "hi").unwrap_err();
        assert!(refused.contains("permission"), "{refused}");
        let long = "x".repeat(2001);
        assert!(sim
            .client_say(BOB, GENERAL, &long)
            .unwrap_err()
            .contains("2000"));
        assert!(sim
            .client_say(BOB, GENERAL, "  ")
            .unwrap_err()
            .contains("empty"));
        sim.client_say(BOB, GENERAL, "hello")
            .expect("Bob may talk in #general");
        let seen = &sim.client_view(ALICE)["messages"][GENERAL.to_string()];
        assert_eq!(seen[0]["content"], "hello");
    }
}
