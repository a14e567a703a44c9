//! The rank role: carried by the top members of the rankings (`/settings rank_role`,
//! `rank_top`, 10 by default), kept in step after every value change.
//!
//! The bot remembers whom it gave the role to ([`crate::db::Db::rank_holders`]); after a
//! change it compares that with the new top and adds or removes the role only for members who
//! crossed the boundary, never sweeping every member. A grant is recorded before it is asked
//! for, so one whose answer was lost (or cut short by a stop) is settled by the next sync:
//! asked again while the member is in the top, taken back once they are not. When the role may
//! not be given (it is above the bot's highest, it carries moderator permissions, or the bot
//! lost Manage Roles),
//! staff are told once in the staff channel and the role is paused until they set it again:
//! nothing is retried in a loop. A member who left is remembered as absent (their place goes
//! to the next one down) until they are seen again: a value change of theirs (a value set, a
//! tryout, a match settled or undone; a season's reset is nobody's own), or their join.
//! With the Server Members intent the bot hears of departures and returns as they happen;
//! without it, a member who left is found when the bot next tries to give them the role, and a
//! holder who left keeps their place until they drop out of the top.
//! A member is read from Discord before they are given the role: one still in membership
//! screening has no place until they pass it, whatever their value.

use std::collections::HashSet;

use anyhow::Context as _;

use poise::serenity_prelude as serenity;
use serenity::{GuildId, Http, RoleId, UserId};

use super::replies::staff_note;
use super::roles::{read_membership, Membership};
use crate::db::{GuildSettings, Holding, DEFAULT_RANK_TOP};
use crate::slots::away;
use crate::state::AppState;
use crate::types::{discord_code, serenity_status, UNKNOWN_MEMBER};

/// Discord's "Unknown Role": the role was deleted.
const UNKNOWN_ROLE: isize = 10011;

/// Brings the rank role in step with the rankings of `guild`. Errors are logged: a value
/// change never fails because of its role. It may take seconds (a member read and a role call
/// per member who moved), so a command or click answers (or defers) before it calls this.
pub async fn sync(http: &Http, state: &AppState, guild: GuildId) {
    if let Err(err) = try_sync(http, state, guild, &[]).await {
        tracing::warn!(error = format!("{err:#}"), "could not update the rank role");
    }
}

/// [`sync`] after the values of `users` changed (a value set by staff, a tryout, a settled or
/// undone match): an absence recorded before no longer holds for them, so the sync reads them
/// from Discord again, and gives them the role if they are back. Cleared in the same turn as
/// the sync that follows.
pub async fn sync_present(http: &Http, state: &AppState, guild: GuildId, users: &[UserId]) {
    if let Err(err) = try_sync(http, state, guild, users).await {
        tracing::warn!(error = format!("{err:#}"), "could not update the rank role");
    }
}

/// `user` left `guild`, and Discord took their roles with them: the bot forgets any rank role
/// it gave them, and the next sync fills their place. That sync reads them from Discord like
/// any member who does not hold the role: gone, they are recorded absent; back already, they
/// get it again.
pub async fn member_left(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    // In turn with the syncs: one giving them the role now must not record it after this.
    let forgotten = in_turn(state, guild, state.db.forget_rank_holder(guild, user)).await;
    match forgotten {
        Ok(true) => sync(http, state, guild).await,
        Ok(false) => {}
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not record a departure"),
    }
}

/// `user` joined `guild` (again, perhaps): they hold none of the rank roles the bot gave them
/// before (Discord took them when they left), and they count for a place again. The sync reads
/// them from Discord, so a member still screening stays out of it.
pub async fn member_joined(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    let changed = in_turn(state, guild, async {
        let held = state.db.forget_rank_holder(guild, user).await?;
        let absent = state.db.set_rank_absent(guild, user, false).await?;
        anyhow::Ok(held || absent)
    })
    .await;
    match changed {
        Ok(true) => sync(http, state, guild).await,
        Ok(false) => {}
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not record a return"),
    }
}

/// `user` is here (they passed screening): an absence recorded
/// before no longer holds. In turn with the syncs, so one that found them gone a moment ago
/// cannot record it after this.
pub async fn member_present(state: &AppState, guild: GuildId, user: UserId) {
    let cleared = in_turn(state, guild, state.db.set_rank_absent(guild, user, false)).await;
    if let Err(err) = cleared {
        tracing::warn!(error = format!("{err:#}"), "could not clear an absence");
    }
}

/// Runs `work` in `guild`'s rank turn: one sync (or change to whom the role is owed) at a time
/// per server. The turn is waited for and held without the caller's command slot, taken again
/// once the turn is over: a long sync of one server never holds the slots every server's
/// commands need, and a task holding the turn never waits for a slot.
async fn in_turn<F: std::future::Future>(state: &AppState, guild: GuildId, work: F) -> F::Output {
    away(async {
        let _turn = state.rank_syncs.take(guild).await;
        work.await
    })
    .await
}

/// One sync, after clearing the absence of each of `present`.
async fn try_sync(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    present: &[UserId],
) -> anyhow::Result<()> {
    // Each sync reads the settings once it has its turn: two changes at once would otherwise
    // both move the same role, or one would act on a role staff replaced.
    in_turn(state, guild, async {
        for &user in present {
            state.db.set_rank_absent(guild, user, false).await?;
        }
        // A member found gone at the role call (they left after the round read them) frees a
        // place for the next one down: another round fills it.
        for _ in 0..3 {
            if !sync_round(http, state, guild).await? {
                break;
            }
        }
        Ok(())
    })
    .await
}

/// One pass; returns whether a member was found gone (so another pass has work to do).
async fn sync_round(http: &Http, state: &AppState, guild: GuildId) -> anyhow::Result<bool> {
    let settings = state.db.settings(guild).await?;
    // Without a rank role (turned off), whoever the bot gave one to loses it.
    let role = settings.rank_role.map(RoleId::new);
    let holders = state.db.rank_holders(guild).await?;
    if role.is_none() && holders.is_empty() {
        return Ok(false);
    }
    if role.is_some() && state.db.rank_role_paused(guild).await? {
        return Ok(false);
    }
    let leaders = match role {
        Some(role) => leaders(http, state, guild, &settings, role, &holders.given).await?,
        None => HashSet::new(),
    };
    // Members who hold an earlier rank role lose it: staff changed the role since. A member the
    // role was asked for without an answer is treated as holding it when it is to be taken
    // back, and as not holding it when it is to be given: both calls are harmless if Discord
    // already did what they ask.
    let mut leaving: Vec<(UserId, RoleId)> = holders
        .all()
        .filter(|(user, held)| Some(*held) != role || !leaders.contains(user))
        .copied()
        .collect();
    let mut entering: Vec<UserId> = leaders
        .iter()
        .filter(|user| role.is_some_and(|role| !holders.given.contains(&(**user, role))))
        .copied()
        .collect();
    entering.sort_unstable();
    leaving.sort_unstable();
    // A role that is no longer the rank role and can't be taken back is left to staff, once:
    // it must not hold up the current one.
    let mut left_to_staff: Vec<(UserId, RoleId)> = Vec::new();
    for (user, held) in leaving {
        match http
            .remove_member_role(guild, user, held, Some("rank role"))
            .await
        {
            Ok(()) => {
                state
                    .db
                    .set_rank_holder(guild, user, held, Holding::No)
                    .await?
            }
            // The member left, or staff deleted the old role: nobody holds it any more.
            Err(err) if matches!(discord_code(&err), Some(UNKNOWN_MEMBER | UNKNOWN_ROLE)) => {
                state
                    .db
                    .set_rank_holder(guild, user, held, Holding::No)
                    .await?
            }
            Err(err) if Some(held) != role && serenity_status(&err) == Some(403) => {
                state
                    .db
                    .set_rank_holder(guild, user, held, Holding::No)
                    .await?;
                // Staff are asked to take back only a role Discord said it gave.
                if holders.given.contains(&(user, held)) {
                    left_to_staff.push((user, held));
                }
            }
            Err(err) => {
                refused(http, state, guild, &settings, held, &err).await?;
                return Ok(false);
            }
        }
    }
    if !left_to_staff.is_empty() {
        staff_note(http, &settings, &old_roles_note(&left_to_staff)).await;
    }
    let Some(role) = role else {
        return Ok(false);
    };
    if !entering.is_empty() {
        // The role may have gained moderator permissions or moved since it was set.
        if let Some(why) =
            super::roles::refusal(http, state.bot_user, &settings, guild, role).await?
        {
            pause(http, state, guild, &settings, role, &why).await?;
            return Ok(false);
        }
    }
    let mut gone = false;
    for user in entering {
        // Recorded before it is asked for: were the answer lost, the record stays, unsure, and
        // a later sync settles it either way.
        let was_unsure = holders.unsure.contains(&(user, role));
        state
            .db
            .set_rank_holder(guild, user, role, Holding::Asked)
            .await?;
        match http
            .add_member_role(guild, user, role, Some("rank role"))
            .await
        {
            Ok(()) => {
                state
                    .db
                    .set_rank_holder(guild, user, role, Holding::Given)
                    .await?
            }
            Err(err) if discord_code(&err) == Some(UNKNOWN_MEMBER) => {
                state
                    .db
                    .set_rank_holder(guild, user, role, Holding::No)
                    .await?;
                state.db.set_rank_absent(guild, user, true).await?;
                gone = true;
            }
            Err(err) => {
                // A refusal means not given now; a role asked for before may still be held.
                if serenity_status(&err).is_some_and(|s| (400..500).contains(&s)) && !was_unsure {
                    state
                        .db
                        .set_rank_holder(guild, user, role, Holding::No)
                        .await?;
                }
                refused(http, state, guild, &settings, role, &err).await?;
                return Ok(false);
            }
        }
    }
    Ok(gone)
}

/// How far below the top the rankings are read for members who may take a place left by
/// members still screening or gone.
const LOOKAHEAD: i64 = 25;

/// Who should carry the rank role `role`: the top `rank_top` members with a value above 0,
/// passing over members found gone. A member who does not hold it yet is read from Discord
/// first ([`may_carry`]): the next one down takes the place of one who may not.
async fn leaders(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    settings: &GuildSettings,
    role: RoleId,
    holders: &HashSet<(UserId, RoleId)>,
) -> anyhow::Result<HashSet<UserId>> {
    let top = settings.rank_top.unwrap_or(DEFAULT_RANK_TOP).max(1);
    let wanted = usize::try_from(top).unwrap_or(usize::MAX);
    let mut leaders = HashSet::new();
    for user in state.db.rank_candidates(guild, top + LOOKAHEAD).await? {
        if leaders.len() == wanted {
            break;
        }
        if holders.contains(&(user, role)) || may_carry(http, state, guild, user).await? {
            leaders.insert(user);
        }
    }
    Ok(leaders)
}

/// Whether `user` may be given the rank role, read from Discord now: not while they are in
/// membership screening (the role would let them around the server's rules), whatever the bot
/// saw of their join; not if they left (recorded absent until they are seen again).
async fn may_carry(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    user: UserId,
) -> anyhow::Result<bool> {
    let read = read_membership(http, guild, user).await;
    match read.context("reading a member before giving the rank role")? {
        Membership::Full => Ok(true),
        Membership::Pending => Ok(false),
        Membership::Gone => {
            state.db.set_rank_absent(guild, user, true).await?;
            Ok(false)
        }
    }
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
    staff_note(http, settings, &note).await;
    Ok(())
}

/// The note for members who keep an earlier rank role the bot could not take back.
fn old_roles_note(kept: &[(UserId, RoleId)]) -> String {
    let mut roles: Vec<RoleId> = kept.iter().map(|(_, role)| *role).collect();
    roles.sort_unstable();
    roles.dedup();
    let roles: Vec<String> = roles.iter().map(|r| format!("<@&{r}>")).collect();
    let members: Vec<String> = kept
        .iter()
        .take(20)
        .map(|(u, _)| format!("<@{u}>"))
        .collect();
    let more = kept.len().saturating_sub(20);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "I couldn't take the earlier rank role {} back (it is above my highest role, or I lack \
         Manage Roles): please remove it by hand from {}{more}.",
        roles.join(", "),
        members.join(", ")
    )
}
