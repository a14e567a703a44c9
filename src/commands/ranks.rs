//! The rank role: carried by the top members of the rankings (`/settings rank_role`,
//! `rank_top`, 10 by default), kept in step after every value change.
//!
//! The bot remembers whom it gave the role to ([`crate::db::Db::rank_holders`]); after a
//! change it compares that with the new top and adds or removes the role only for members who
//! crossed the boundary, never sweeping every member. When the role may not be given (it is
//! above the bot's highest, it carries moderator permissions, or the bot lost Manage Roles),
//! staff are told once in the staff channel and the role is paused until they set it again:
//! nothing is retried in a loop.

use std::collections::HashSet;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, GuildId, Http, RoleId, UserId};

use crate::db::{GuildSettings, DEFAULT_RANK_TOP};
use crate::state::AppState;
use crate::types::serenity_status;

/// Discord's "Unknown Member": the member left; they hold nothing any more.
const UNKNOWN_MEMBER: isize = 10007;

/// Brings the rank role in step with the rankings of `guild`. Errors are logged: a value
/// change never fails because of its role.
pub async fn sync(http: &Http, state: &AppState, guild: GuildId) {
    if let Err(err) = try_sync(http, state, guild).await {
        tracing::warn!(error = format!("{err:#}"), "could not update the rank role");
    }
}

async fn try_sync(http: &Http, state: &AppState, guild: GuildId) -> anyhow::Result<()> {
    let settings = state.db.settings(guild).await?;
    let Some(role) = settings.rank_role.map(RoleId::new) else {
        return Ok(());
    };
    // One sync at a time: two changes at once would otherwise both move the same role.
    let _turn = state.rank_sync.lock().await;
    if state.db.rank_role_paused(guild).await? {
        return Ok(());
    }
    let top = settings.rank_top.unwrap_or(DEFAULT_RANK_TOP).max(1);
    let (leaders, _) = state.db.leaderboard(guild, 0, top).await?;
    let leaders: HashSet<UserId> = leaders
        .into_iter()
        .filter(|(_, value)| *value > 0)
        .map(|(user, _)| user)
        .collect();
    // Members who hold an earlier rank role lose it: staff changed the role since.
    let holders = state.db.rank_holders(guild).await?;
    let mut leaving: Vec<(UserId, RoleId)> = holders
        .iter()
        .filter(|(user, held)| *held != role || !leaders.contains(user))
        .copied()
        .collect();
    let mut entering: Vec<UserId> = leaders
        .iter()
        .filter(|user| !holders.contains(&(**user, role)))
        .copied()
        .collect();
    entering.sort_unstable();
    leaving.sort_unstable();
    for (user, held) in leaving {
        match http
            .remove_member_role(guild, user, held, Some("rank role"))
            .await
        {
            Ok(()) => state.db.set_rank_holder(guild, user, held, false).await?,
            Err(err) if is_unknown_member(&err) => {
                state.db.set_rank_holder(guild, user, held, false).await?
            }
            Err(err) => return refused(http, state, guild, &settings, held, &err).await,
        }
    }
    if !entering.is_empty() {
        // The role may have gained moderator permissions or moved since it was set.
        if let Some(why) = super::roles::refusal(http, guild, role).await? {
            return pause(http, state, guild, &settings, role, &why).await;
        }
    }
    for user in entering {
        match http
            .add_member_role(guild, user, role, Some("rank role"))
            .await
        {
            Ok(()) => state.db.set_rank_holder(guild, user, role, true).await?,
            Err(err) if is_unknown_member(&err) => {}
            Err(err) => return refused(http, state, guild, &settings, role, &err).await,
        }
    }
    Ok(())
}

fn is_unknown_member(err: &serenity::Error) -> bool {
    matches!(
        err,
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r))
            if r.error.code == UNKNOWN_MEMBER
    )
}

/// Discord refused the role: a refusal it will repeat (403) pauses the role and tells staff
/// once; anything else is left for the next change.
async fn refused(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    settings: &GuildSettings,
    role: RoleId,
    err: &serenity::Error,
) -> anyhow::Result<()> {
    tracing::warn!(error = %err, "Discord refused the rank role");
    if serenity_status(err) != Some(403) {
        return Ok(());
    }
    let why = "my highest role must be above it and I need Manage Roles";
    pause(http, state, guild, settings, role, why).await
}

/// Pauses the rank role and tells staff why, once.
async fn pause(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    settings: &GuildSettings,
    role: RoleId,
    why: &str,
) -> anyhow::Result<()> {
    if !state.db.pause_rank_role(guild).await? {
        return Ok(());
    }
    let note = format!(
        "I can't give or take the rank role <@&{role}>: {why}. Rank roles are paused until \
         staff set `/settings rank_role` again."
    );
    match settings.staff_channel.map(ChannelId::new) {
        Some(channel) => {
            let message = CreateMessage::new()
                .content(note)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(err) = channel.send_message(http, message).await {
                tracing::warn!(error = %err, "could not tell staff about the rank role");
            }
        }
        None => tracing::warn!("{note}"),
    }
    Ok(())
}
