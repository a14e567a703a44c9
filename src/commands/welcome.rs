//! Welcomes: a message in the welcome channel and the welcome role for every member who joins
//! (`/settings welcome_channel`, `welcome_role`, `welcome_message`; off until set).
//!
//! Discord tells a bot about joins only with the privileged Server Members intent
//! (`GUILD_MEMBERS_INTENT=on`); without it nothing here runs and `/settings` says so. The
//! message may ping the newcomer and nobody else, whatever staff wrote. A role the bot may not
//! give (above its highest, or carrying moderator permissions since it was set) is reported to
//! staff once and paused until staff set it again: never retried on every join.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http, Member, RoleId};

use crate::state::AppState;

/// The text used when staff set a channel but no message.
pub const DEFAULT_WELCOME: &str = "Welcome to the league, {member}!";

/// Greets `member`, who just joined. Failures are logged: a join never fails.
pub async fn greet(http: &Http, state: &AppState, member: Member) {
    if member.user.bot {
        return;
    }
    let settings = match state.db.settings(member.guild_id).await {
        Ok(settings) => settings,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not read the welcome settings"
            );
            return;
        }
    };
    if let Some(channel) = settings.welcome_channel.map(ChannelId::new) {
        let template = settings
            .welcome_message
            .as_deref()
            .unwrap_or(DEFAULT_WELCOME);
        let message = CreateMessage::new()
            .content(welcome_text(template, &member))
            .allowed_mentions(CreateAllowedMentions::new().users([member.user.id]));
        if let Err(err) = channel.send_message(http, message).await {
            tracing::warn!(error = %err, "could not post a welcome");
        }
    }
    if let Some(role) = settings.welcome_role.map(RoleId::new) {
        give_role(http, state, &member, role, settings.staff_channel).await;
    }
}

/// The welcome for `member`: `{member}` becomes their mention.
fn welcome_text(template: &str, member: &Member) -> String {
    template.replace("{member}", &format!("<@{}>", member.user.id))
}

async fn give_role(
    http: &Http,
    state: &AppState,
    member: &Member,
    role: RoleId,
    staff: Option<u64>,
) {
    let guild = member.guild_id;
    match state.db.welcome_role_paused(guild).await {
        Ok(false) => {}
        Ok(true) => return,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not read the welcome role's pause"
            );
            return;
        }
    }
    let why = match super::roles::refusal(http, guild, role).await {
        Ok(None) => match http
            .add_member_role(guild, member.user.id, role, Some("welcome"))
            .await
        {
            Ok(()) => return,
            Err(err) if crate::types::serenity_status(&err) == Some(403) => {
                "my highest role must be above it and I need Manage Roles".to_owned()
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not give the welcome role");
                return;
            }
        },
        Ok(Some(why)) => why,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not check the welcome role"
            );
            return;
        }
    };
    match state.db.pause_welcome_role(guild).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not pause the welcome role"
            );
            return;
        }
    }
    let note = format!(
        "I can't give the welcome role <@&{role}>: {why}. Members who join won't get it until \
         staff set `/settings welcome_role` again."
    );
    match staff.map(ChannelId::new) {
        Some(channel) => {
            let message = CreateMessage::new()
                .content(note)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(err) = channel.send_message(http, message).await {
                tracing::warn!(error = %err, "could not tell staff about the welcome role");
            }
        }
        None => tracing::warn!("{note}"),
    }
}
