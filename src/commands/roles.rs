//! Roles the bot gives or takes on its own: whether it may, checked when it acts, and the
//! roles a member's first value brings. Nothing is given to a member still in membership
//! screening ([`read_membership`]).
//!
//! Settings name roles once; by the time the bot uses one it may have gained moderator
//! permissions or moved above the bot's highest role. [`refusal`] reads the role and the bot's
//! standing again before every grant, so a role edited after it was configured is refused.

use poise::serenity_prelude as serenity;
use serenity::{GuildId, Http, RoleId, UserId};

use super::access::{self, Standing};
use crate::db::GuildSettings;
use crate::types::{discord_code, UNKNOWN_MEMBER};

/// Why the bot (user `me`) must not give or take `role` now (`None` if it may): the rules
/// `/settings` applied when it was set, read again, with the server's `settings` as they are
/// now.
pub async fn refusal(
    http: &Http,
    me: UserId,
    settings: &GuildSettings,
    guild: GuildId,
    role: RoleId,
) -> anyhow::Result<Option<String>> {
    if let Some(why) = grants_power(settings, role.get()) {
        return Ok(Some(why));
    }
    let Some(bot) = Standing::fetch(http, guild, me).await? else {
        return Ok(Some("I am not in that server".into()));
    };
    let Some(found) = bot.role(role) else {
        return Ok(Some("that role no longer exists".into()));
    };
    if let Some(why) = access::role_for_tryouts(found, guild) {
        return Ok(Some(why));
    }
    if !bot.outranks(found) {
        return Ok(Some("it is above my highest role".into()));
    }
    Ok(None)
}

/// Where a member stands in the server, as far as the roles the bot gives are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// They have not accepted the rules yet: a role now would let them around them.
    Pending,
    /// They are a full member (past screening, or the server has none).
    Full,
    /// They are not in the server.
    Gone,
}

/// Where `user` stands in `guild`, read from Discord now.
pub async fn read_membership(
    http: &Http,
    guild: GuildId,
    user: UserId,
) -> Result<Membership, serenity::Error> {
    match http.get_member(guild, user).await {
        Ok(member) if member.pending => Ok(Membership::Pending),
        Ok(_) => Ok(Membership::Full),
        Err(err) if discord_code(&err) == Some(UNKNOWN_MEMBER) => Ok(Membership::Gone),
        Err(err) => Err(err),
    }
}

/// Why `user` must not be given a role now (`None` if they may), read from Discord.
pub async fn screening_refusal(
    http: &Http,
    guild: GuildId,
    user: UserId,
) -> Result<Option<String>, serenity::Error> {
    Ok(match read_membership(http, guild, user).await? {
        Membership::Full => None,
        Membership::Pending => Some(
            "they have not accepted the server's rules yet (membership screening); give it by \
             hand once they have"
                .to_owned(),
        ),
        Membership::Gone => Some("they are no longer in the server".to_owned()),
    })
}

/// Why `role` must not be one the bot hands out under `settings` (`None` if it may): the staff
/// and evaluator roles carry the bot's own powers, so handing them to the top of the rankings,
/// to every newcomer or to every evaluated player would give those powers away.
pub fn grants_power(settings: &GuildSettings, role: u64) -> Option<String> {
    if settings.staff_role == Some(role) {
        Some("it is the staff role: handing it out would make members staff".into())
    } else if settings.evaluator_role == Some(role) {
        Some("it is the evaluator role: handing it out would let members run tryouts".into())
    } else {
        None
    }
}

/// A member's first value makes them evaluated: the "after a tryout" roles of `/settings`
/// (`add_role` given, `remove_role` taken) follow, whatever set the value. A tryout applies
/// them itself; this is for values staff set by hand. Returns a note for staff per role the
/// bot (user `me`) could not move; nothing is retried.
pub async fn first_value(
    http: &Http,
    me: UserId,
    settings: &GuildSettings,
    guild: GuildId,
    user: UserId,
) -> Vec<String> {
    let mut notes = Vec::new();
    let moves = [(settings.add_role, true), (settings.remove_role, false)];
    for (role, give) in moves {
        let Some(role) = role.map(RoleId::new) else {
            continue;
        };
        let verb = if give { "give" } else { "take" };
        let refused = match refusal(http, me, settings, guild, role).await {
            Ok(None) if give => screening_refusal(http, guild, user)
                .await
                .map_err(anyhow::Error::new),
            refused => refused,
        };
        match refused {
            Ok(None) => {}
            Ok(Some(why)) => {
                notes.push(format!("I didn't {verb} <@&{role}>: {why}."));
                continue;
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "could not check an evaluated role"
                );
                notes.push(format!("I couldn't check <@&{role}> just now."));
                continue;
            }
        }
        let reason = Some("first value");
        let moved = if give {
            http.add_member_role(guild, user, role, reason).await
        } else {
            http.remove_member_role(guild, user, role, reason).await
        };
        match moved {
            Ok(()) => {}
            Err(err) if discord_code(&err) == Some(UNKNOWN_MEMBER) => {
                notes.push(format!(
                    "I didn't {verb} <@&{role}>: they are no longer in the server."
                ));
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not {verb} an evaluated role");
                notes.push(format!(
                    "I couldn't {verb} <@&{role}> (I need Manage Roles, above that role)."
                ));
            }
        }
    }
    notes
}
