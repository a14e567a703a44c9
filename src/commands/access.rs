//! Who may do what: the rules, stated once, and the fresh data they are checked on.
//!
//! Checked inside each command, not only through Discord's default member permissions,
//! because guild admins can override those per command. An action that writes — a post, a
//! saved evaluation, a setting that lets the bot hand out a role — is decided at that moment,
//! for the object acted on (the destination channel, the role), from a [`Standing`] read from
//! Discord then, never from a check made earlier or in another channel.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, GuildId, Http, Permissions, Role, RoleId, UserId};

use crate::types::{Context, Error, UserError};

/// Permissions a role the bot hands out (or takes away) after a tryout must not carry: a
/// tryout must never make anyone a moderator.
pub const DANGEROUS: Permissions = Permissions::ADMINISTRATOR
    .union(Permissions::MANAGE_GUILD)
    .union(Permissions::MANAGE_ROLES)
    .union(Permissions::MANAGE_CHANNELS)
    .union(Permissions::MANAGE_MESSAGES)
    .union(Permissions::MANAGE_WEBHOOKS)
    .union(Permissions::MANAGE_NICKNAMES)
    .union(Permissions::MANAGE_GUILD_EXPRESSIONS)
    .union(Permissions::MANAGE_EVENTS)
    .union(Permissions::MANAGE_THREADS)
    .union(Permissions::BAN_MEMBERS)
    .union(Permissions::KICK_MEMBERS)
    .union(Permissions::MODERATE_MEMBERS)
    .union(Permissions::MENTION_EVERYONE)
    .union(Permissions::MUTE_MEMBERS)
    .union(Permissions::DEAFEN_MEMBERS)
    .union(Permissions::MOVE_MEMBERS)
    .union(Permissions::VIEW_AUDIT_LOG);

/// Whether the invoker has Manage Server, or `role` when one is configured, according to the
/// interaction being handled (fresh for an action taken at once); never while in timeout.
pub async fn has_manage_or_role(ctx: Context<'_>, role: Option<u64>) -> bool {
    has_permission_or_role(ctx, Permissions::MANAGE_GUILD, role).await
}

/// Whether the invoker has `permission` in the channel the command ran in, or `role` when one
/// is configured, according to the interaction being handled; never while in timeout.
pub async fn has_permission_or_role(
    ctx: Context<'_>,
    permission: Permissions,
    role: Option<u64>,
) -> bool {
    ctx.author_member()
        .await
        .is_some_and(|member| member_may(&member, permission, role))
}

/// What a member in timeout is told; `what` completes "you can't … until it ends".
pub fn timeout_refusal(what: &str) -> String {
    format!("You're in timeout, so you can't {what} until it ends. Nothing changed.")
}

/// Whether the member behind a click is in timeout now (as the click carries them).
pub fn clicker_in_timeout(member: Option<&serenity::Member>) -> bool {
    member.is_some_and(timed_out)
}

/// Refuses politely while the invoker is in timeout: until it ends they take part in nothing.
/// `what` completes "you can't … until it ends".
pub async fn not_in_timeout(ctx: Context<'_>, what: &str) -> Result<(), Error> {
    if ctx.author_member().await.is_some_and(|m| timed_out(&m)) {
        return Err(UserError(timeout_refusal(what)).into());
    }
    Ok(())
}

/// Whether `member` is in timeout now: a member in timeout acts on nothing (Discord's own rule
/// for permissions), by slash command, click or wizard. Discord times out neither the owner
/// nor Administrators, so only [`Standing`], which computes permissions itself, exempts them.
fn timed_out(member: &serenity::Member) -> bool {
    member
        .communication_disabled_until
        .is_some_and(|until| until.unix_timestamp() > crate::db::now())
}

/// Whether the member behind a click has Manage Server (as Discord computed it for that
/// click, so fresh) or `role`; never while in timeout.
pub fn clicker_manages_or_has(member: Option<&serenity::Member>, role: Option<u64>) -> bool {
    member.is_some_and(|member| member_may(member, Permissions::MANAGE_GUILD, role))
}

/// Whether `member`, as an interaction carries them (with the permissions Discord computed for
/// its channel, Administrator implying all), has `permission` or `role`; never while in
/// timeout.
fn member_may(member: &serenity::Member, permission: Permissions, role: Option<u64>) -> bool {
    let has = member.permissions.is_some_and(|p| p.contains(permission));
    !timed_out(member) && (has || holds(member, role))
}

/// Whether `member` has `role` (false when none is configured).
fn holds(member: &serenity::Member, role: Option<u64>) -> bool {
    role.is_some_and(|role| member.roles.iter().any(|r| r.get() == role))
}

/// Refuses politely unless the invoker has Manage Server or `role`, and is not in timeout.
/// `what` completes "Only … may …".
pub async fn require(ctx: Context<'_>, role: Option<u64>, what: &str) -> Result<(), Error> {
    if has_manage_or_role(ctx, role).await {
        return Ok(());
    }
    not_in_timeout(ctx, what).await?;
    Err(UserError(format!("Sorry, only {} may {what}.", who(role))).into())
}

/// "members with <@&role> or Manage Server", for refusals.
pub fn who(role: Option<u64>) -> String {
    match role {
        Some(role) => format!("members with <@&{role}> or Manage Server"),
        None => "members with Manage Server".to_owned(),
    }
}

/// "staff (members with <@&role> or Manage Server)", for refusals.
pub fn staff(staff_role: Option<u64>) -> String {
    format!("staff ({})", who(staff_role))
}

/// Whether `user`, given in a user option of the slash command being handled, is a member of
/// the server. Discord resolves a member object for members only, and a user picked by id may
/// be anyone. The bot has slash commands only: a prefix command would have no such data, and
/// counts as not a member.
pub fn option_is_member(ctx: Context<'_>, user: serenity::UserId) -> bool {
    match ctx {
        poise::Context::Application(app) => {
            app.interaction.data.resolved.members.contains_key(&user)
        }
        poise::Context::Prefix(_) => false,
    }
}

/// The guild a guild-only command runs in.
pub fn guild(ctx: Context<'_>) -> Result<serenity::GuildId, Error> {
    ctx.guild_id()
        .ok_or_else(|| UserError("This command only works in a server.".into()).into())
}

/// A member's standing in a guild, read from Discord when asked: the guild's owner and roles
/// and the member's roles.
pub struct Standing {
    /// The guild, with its roles.
    guild: serenity::PartialGuild,
    /// The member.
    member: serenity::Member,
}

impl Standing {
    /// Reads `user`'s standing in `guild` now. `None` when they are no longer a member.
    pub async fn fetch(http: &Http, guild: GuildId, user: UserId) -> Result<Option<Self>, Error> {
        use anyhow::Context as _;
        let member = match http.get_member(guild, user).await {
            Ok(member) => member,
            Err(err) if crate::types::serenity_status(&err) == Some(404) => return Ok(None),
            Err(err) => return Err(anyhow::Error::new(err).context("reading a member's roles")),
        };
        let guild = http
            .get_guild(guild)
            .await
            .context("reading the server's roles")?;
        Ok(Some(Self { guild, member }))
    }

    /// Guild-wide permissions (the owner and Administrator have all; a member in timeout
    /// only View Channel and Read Message History).
    pub fn permissions(&self) -> Permissions {
        self.limited(self.guild.member_permissions(&self.member))
    }

    /// `permissions` as Discord applies them to this member: a timeout leaves only View Channel
    /// and Read Message History (the owner and Administrator excepted), and serenity's
    /// computation does not apply it.
    fn limited(&self, permissions: Permissions) -> Permissions {
        if self.in_timeout(permissions) {
            permissions & (Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY)
        } else {
            permissions
        }
    }

    /// Whether a timeout holds this member back, given their `permissions` before it.
    fn in_timeout(&self, permissions: Permissions) -> bool {
        timed_out(&self.member)
            && !permissions.administrator()
            && self.member.user.id != self.guild.owner_id
    }

    /// Whether the member has `role` (false when none is configured).
    pub fn has_role(&self, role: Option<u64>) -> bool {
        holds(&self.member, role)
    }

    /// Manage Server, or the configured `role`; the role counts for nothing in timeout.
    pub fn manages_or_has(&self, role: Option<u64>) -> bool {
        let permissions = self.guild.member_permissions(&self.member);
        !self.in_timeout(permissions) && (permissions.manage_guild() || self.has_role(role))
    }

    /// A role of the guild, as it is now.
    pub fn role(&self, id: RoleId) -> Option<&Role> {
        self.guild.roles.get(&id)
    }

    /// Whether the member's highest role is above `role` (the owner is above every role).
    pub fn outranks(&self, role: &Role) -> bool {
        if self.member.user.id == self.guild.owner_id {
            return true;
        }
        self.member
            .roles
            .iter()
            .filter_map(|id| self.guild.roles.get(id))
            .any(|mine| mine.position > role.position)
    }

    /// The member's permissions in `channel`, read now. `None` when the channel is not one of
    /// this guild's (another guild's, a DM, or gone).
    pub async fn permissions_in(
        &self,
        http: &Http,
        channel: ChannelId,
    ) -> Result<Option<Permissions>, Error> {
        let channel = match http.get_channel(channel).await {
            Ok(serenity::Channel::Guild(channel)) => channel,
            Ok(_) => return Ok(None),
            Err(err) if crate::types::serenity_status(&err) == Some(404) => return Ok(None),
            Err(err) => return Err(anyhow::Error::new(err).context("reading a channel")),
        };
        if channel.guild_id != self.guild.id {
            return Ok(None);
        }
        let permissions = self.guild.user_permissions_in(&channel, &self.member);
        Ok(Some(implied(self.limited(permissions))))
    }
}

/// `permissions` in a channel with what Discord implies: without View Channel nothing in it is
/// allowed; without Send Messages neither are mentions, embeds or files.
pub fn implied(permissions: Permissions) -> Permissions {
    if !permissions.view_channel() {
        Permissions::empty()
    } else if !permissions.send_messages() {
        permissions
            - (Permissions::MENTION_EVERYONE
                | Permissions::SEND_TTS_MESSAGES
                | Permissions::EMBED_LINKS
                | Permissions::ATTACH_FILES)
    } else {
        permissions
    }
}

/// Why a member with `permissions` in a channel may not post an announcement there (`None`
/// if they may). `staff`: the staff role or Manage Server.
pub fn may_announce_in(permissions: Permissions, staff: bool) -> Option<&'static str> {
    if !permissions.contains(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES) {
        Some("you can't send messages there yourself")
    } else if !staff && !permissions.manage_messages() {
        Some("you need Manage Messages there (or the staff role)")
    } else {
        None
    }
}

/// Why a role may not be the one given or taken after a tryout (`None` if it may).
pub fn role_for_tryouts(role: &Role, guild: GuildId) -> Option<String> {
    if role.id.get() == guild.get() {
        Some("@everyone can't be given or taken".to_owned())
    } else if role.managed {
        Some(format!(
            "<@&{}> is managed by an integration, so nobody can give it",
            role.id
        ))
    } else if role.permissions.intersects(DANGEROUS) {
        Some(format!(
            "<@&{}> carries moderator permissions ({}); a tryout must never hand those out",
            role.id,
            role.permissions & DANGEROUS
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: u64, permissions: Permissions, managed: bool) -> Role {
        let json = serde_json::json!({
            "id": id.to_string(), "name": "r", "color": 0, "hoist": false, "position": 1,
            "permissions": permissions.bits().to_string(), "managed": managed,
            "mentionable": false,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        });
        serde_json::from_value(json).expect("a role")
    }

    #[test]
    fn posting_needs_view_and_send_and_manage_messages_unless_staff() {
        let member = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        assert!(may_announce_in(member, false).is_some());
        assert!(may_announce_in(member, true).is_none());
        assert!(may_announce_in(member | Permissions::MANAGE_MESSAGES, false).is_none());
        // Staff in a read-only channel, or a moderator who can't see it: refused.
        assert!(may_announce_in(Permissions::VIEW_CHANNEL, true).is_some());
        assert!(may_announce_in(Permissions::MANAGE_MESSAGES, false).is_some());
    }

    #[test]
    fn tryout_roles_refuse_everyone_managed_and_moderator_roles() {
        let guild = GuildId::new(5);
        assert!(role_for_tryouts(&role(9, Permissions::empty(), false), guild).is_none());
        assert!(role_for_tryouts(&role(5, Permissions::empty(), false), guild).is_some());
        assert!(role_for_tryouts(&role(9, Permissions::empty(), true), guild).is_some());
        for dangerous in [
            Permissions::ADMINISTRATOR,
            Permissions::MANAGE_ROLES,
            Permissions::BAN_MEMBERS,
            Permissions::KICK_MEMBERS,
            Permissions::MENTION_EVERYONE,
        ] {
            let refused = role_for_tryouts(&role(9, dangerous, false), guild);
            assert!(refused.is_some(), "{dangerous:?}");
        }
    }
}
