//! Welcomes: a message in the welcome channel and the welcome role for every member who joins
//! (`/settings welcome_channel`, `welcome_role`, `welcome_message`; off until set).
//!
//! Discord tells a bot about joins only with the privileged Server Members intent
//! (`GUILD_MEMBERS_INTENT=on`); without it nothing here runs and `/settings` says so. The
//! message may ping the newcomer and nobody else, whatever staff wrote. A role the bot may not
//! give (above its highest, or carrying moderator permissions since it was set) is reported to
//! staff once and paused until staff set it again: never retried on every join. On a server
//! with membership screening the role waits until the member accepts the rules, and so does the
//! place in the rankings of a member who was found gone and comes back.

use poise::serenity_prelude as serenity;
use serenity::{
    ChannelId, CreateAllowedMentions, CreateMessage, GuildId, Http, Member, RoleId, UserId,
};

use crate::db::GuildSettings;
use crate::state::AppState;

/// The text used when staff set a channel but no message.
pub const DEFAULT_WELCOME: &str = "Welcome to the league, {member}!";

/// Greets `member`, who just joined, then counts them for the rank role again if they had
/// left. Failures are logged: a join never fails.
pub async fn greet(http: &Http, state: &AppState, member: Member) {
    if member.user.bot {
        return;
    }
    let (guild, user) = (member.guild_id, member.user.id);
    welcome(http, state, &member).await;
    // Like the welcome role, a place in the rankings waits for the server's rules to be
    // accepted: `passed_screening` gives it back then.
    if member.pending && still_pending(http, guild, user).await {
        return;
    }
    back_in_rankings(http, state, guild, user).await;
}

/// `user` is back in `guild`: they count for the rank role again. Outside the welcome's turn:
/// a rank sync (reading members, moving a role) must not hold up the welcomes of the members
/// who join meanwhile.
async fn back_in_rankings(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    match state.db.set_rank_absent(guild, user, false).await {
        Ok(true) => super::ranks::sync(http, state, guild).await,
        Ok(false) => {}
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not clear an absence"),
    }
}

/// The welcome message and role for `member`, if staff set them.
async fn welcome(http: &Http, state: &AppState, member: &Member) {
    // One welcome at a time: a wave of joins is greeted in turn, inside Discord's rate limits,
    // instead of all at once.
    let _turn = state.welcome_turn.lock().await;
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
            .content(welcome_text(template, member))
            .allowed_mentions(CreateAllowedMentions::new().users([member.user.id]));
        if let Err(err) = channel.send_message(http, message).await {
            tracing::warn!(error = %err, "could not post a welcome");
        }
    }
    let Some(role) = settings.welcome_role.map(RoleId::new) else {
        return;
    };
    let (guild, user) = (member.guild_id, member.user.id);
    // Membership screening: a role now would let them around the server's rules. Read again
    // now: they may have passed it since the join was sent (the update, handled in turn after
    // this, would then find nothing held).
    if member.pending && still_pending(http, guild, user).await {
        if let Err(err) = state.db.hold_welcome_role(guild, user).await {
            tracing::warn!(error = format!("{err:#}"), "could not hold a welcome role");
        }
        return;
    }
    give_role(http, state, guild, user, role, &settings).await;
}

/// Whether `user` is still pending screening, read from Discord (pending when unsure: the role
/// then waits for the update that says they passed).
async fn still_pending(http: &Http, guild: GuildId, user: UserId) -> bool {
    match http.get_member(guild, user).await {
        Ok(member) => member.pending,
        Err(err) => {
            tracing::warn!(error = %err, "could not read a new member");
            true
        }
    }
}

/// A member was updated with `pending: false`: what waited for them to pass screening (their
/// welcome role, their place in the rankings if they came back) is given once Discord confirms
/// they passed it.
pub async fn passed_screening(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    release_welcome_role(http, state, guild, user).await;
    let absent = match state.db.is_rank_absent(guild, user).await {
        Ok(absent) => absent,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not read the absences");
            return;
        }
    };
    if absent && !still_pending(http, guild, user).await {
        back_in_rankings(http, state, guild, user).await;
    }
}

/// Gives `user` the welcome role held for them while they were screening, if Discord confirms
/// they passed it.
async fn release_welcome_role(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    // In turn: a welcome still being made may be about to hold this member's role.
    let _turn = state.welcome_turn.lock().await;
    match state.db.welcome_role_held(guild, user).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not read a pending member"
            );
            return;
        }
    }
    // `pending` is optional in the update's payload: Discord's word is read again.
    if still_pending(http, guild, user).await {
        return;
    }
    match state.db.release_welcome_role(guild, user).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not release a welcome role"
            );
            return;
        }
    }
    match state.db.settings(guild).await {
        Ok(settings) => {
            if let Some(role) = settings.welcome_role.map(RoleId::new) {
                give_role(http, state, guild, user, role, &settings).await;
            }
        }
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not read the settings"),
    }
}

/// The welcome for `member`: `{member}` becomes their mention.
fn welcome_text(template: &str, member: &Member) -> String {
    template.replace("{member}", &format!("<@{}>", member.user.id))
}

/// The longest a welcome's text may be once every `{member}` is a mention (at most 23
/// characters each), within Discord's 2,000.
pub fn rendered_length(template: &str) -> usize {
    template.chars().count() + template.matches("{member}").count() * (23 - "{member}".len())
}

async fn give_role(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    user: UserId,
    role: RoleId,
    settings: &GuildSettings,
) {
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
    let why = match super::roles::refusal(http, state.bot_user, settings, guild, role).await {
        Ok(None) => match http
            .add_member_role(guild, user, role, Some("welcome"))
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
    super::replies::staff_note(http, settings, &note).await;
}
