//! `/settings`: where tryout results and values go, and who may run tryouts and change values.

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::access;
use crate::bot::{Context, Error};
use crate::db::{GuildSettings, SettingsUpdate};

/// Show or change this server's tryout and value settings
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
#[tracing::instrument(name = "command", skip_all, fields(command = "settings", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
#[allow(clippy::too_many_arguments)] // One optional argument per setting is the command's shape.
pub async fn settings(
    ctx: Context<'_>,
    #[description = "Channel for tryout results"]
    #[channel_types("Text", "News")]
    results_channel: Option<serenity::ChannelId>,
    #[description = "Channel for value announcements"]
    #[channel_types("Text", "News")]
    values_channel: Option<serenity::ChannelId>,
    #[description = "Role that may run tryouts"] evaluator_role: Option<serenity::RoleId>,
    #[description = "Role that may change values"] staff_role: Option<serenity::RoleId>,
    #[description = "Role given to a player after a tryout"] add_role: Option<serenity::RoleId>,
    #[description = "Role taken from a player after a tryout"] remove_role: Option<
        serenity::RoleId,
    >,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    access::require(ctx, None, "change the settings").await?;
    let update = SettingsUpdate {
        results_channel: results_channel.map(|c| c.get()),
        values_channel: values_channel.map(|c| c.get()),
        evaluator_role: evaluator_role.map(|r| r.get()),
        staff_role: staff_role.map(|r| r.get()),
        add_role: add_role.map(|r| r.get()),
        remove_role: remove_role.map(|r| r.get()),
    };
    let db = &ctx.data().db;
    let (title, settings) = if update == SettingsUpdate::default() {
        ("Current settings", db.settings(guild).await?)
    } else {
        ("Settings saved", db.update_settings(guild, &update).await?)
    };
    ctx.send(
        CreateReply::default()
            .content(describe(title, &settings))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// The settings as text, mentions rendered (they ping nobody: no mentions are allowed).
pub fn describe(title: &str, s: &GuildSettings) -> String {
    let channel = |c: Option<u64>| c.map_or("not set".to_owned(), |c| format!("<#{c}>"));
    let role = |r: Option<u64>| r.map_or("not set".to_owned(), |r| format!("<@&{r}>"));
    format!(
        "**{title}**\nResults channel: {}\nValues channel: {}\nEvaluator role: {}\nStaff role: {}\n\
         Role added after a tryout: {}\nRole removed after a tryout: {}",
        channel(s.results_channel),
        channel(s.values_channel),
        role(s.evaluator_role),
        role(s.staff_role),
        role(s.add_role),
        role(s.remove_role),
    )
}
