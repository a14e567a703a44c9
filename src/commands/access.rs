//! Who may run what. Checked inside each command, not only through Discord's default member
//! permissions, because guild admins can override those per command.

use poise::serenity_prelude as serenity;

use crate::bot::{Context, Error, UserError};

/// Whether the invoker has Manage Server, or `role` when one is configured.
pub async fn has_manage_or_role(ctx: Context<'_>, role: Option<u64>) -> bool {
    has_permission_or_role(ctx, serenity::Permissions::MANAGE_GUILD, role).await
}

/// Whether the invoker has `permission`, or `role` when one is configured.
pub async fn has_permission_or_role(
    ctx: Context<'_>,
    permission: serenity::Permissions,
    role: Option<u64>,
) -> bool {
    let Some(member) = ctx.author_member().await else {
        return false;
    };
    // Interactions carry the member's computed permissions (Administrator implies all).
    let manages = member.permissions.is_some_and(|p| p.contains(permission));
    let has_role = role.is_some_and(|role| member.roles.iter().any(|r| r.get() == role));
    manages || has_role
}

/// Refuses politely unless the invoker has Manage Server or `role`. `what` completes
/// "Only … may …".
pub async fn require(ctx: Context<'_>, role: Option<u64>, what: &str) -> Result<(), Error> {
    if has_manage_or_role(ctx, role).await {
        return Ok(());
    }
    let who = match role {
        Some(role) => format!("members with <@&{role}> or Manage Server"),
        None => "members with Manage Server".to_owned(),
    };
    Err(UserError(format!("Sorry, only {who} may {what}.")).into())
}

/// The guild a guild-only command runs in.
pub fn guild(ctx: Context<'_>) -> Result<serenity::GuildId, Error> {
    ctx.guild_id()
        .ok_or_else(|| UserError("This command only works in a server.".into()).into())
}
