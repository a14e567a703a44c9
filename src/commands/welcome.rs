//! Welcomes: a message in the welcome channel and the welcome role for every member who joins
//! (`/settings welcome_channel`, `welcome_role`, `welcome_message`; off until set).
//!
//! Discord tells a bot about joins only with the privileged Server Members intent
//! (`GUILD_MEMBERS_INTENT=on`); without it nothing here runs and `/settings` says so. The
//! message may ping the newcomer and nobody else, whatever staff wrote. A role the bot may not
//! give (above its highest, or carrying moderator permissions since it was set) is reported to
//! staff once and paused until staff set it again: never retried on every join. On a server
//! with membership screening the role waits until the member accepts the rules
//! ([`crate::db::Db::start_screening`]); so does a place in the rankings, which
//! [`super::ranks`] checks with Discord itself. A server's joins are greeted one at a time, in
//! order ([`crate::arrivals`]), inside Discord's rate limits; in a wave of more than
//! [`POSTED_WITH_AT_MOST_AHEAD`] at once the later ones get the role without a message.

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, GuildId, Http, RoleId, UserId};

use super::roles::Membership;
use crate::arrivals::{Arrival, Arrivals, Pushed};
use crate::db::GuildSettings;
use crate::state::AppState;

/// The text used when staff set a channel but no message.
pub const DEFAULT_WELCOME: &str = "Welcome to the league, {member}!";

/// A join that finds more than this many of the server's joins waiting to be greeted gets
/// its welcome role but no message: a wave that large is greeted at Discord's pace, about
/// one post a second, and a channel of late welcomes to a raid helps nobody.
pub const POSTED_WITH_AT_MOST_AHEAD: usize = 20;

/// When a member who joins is given the welcome role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoleTiming {
    /// Given now: they are not screening.
    Now,
    /// Held until they pass membership screening (their `screening` row says so).
    AfterScreening,
    /// Not given: they are screening and that could not be recorded.
    Withheld,
}

/// `user` joined `guild` (`pending`: in membership screening): queues their greeting behind
/// the server's other joins, and starts the task that greets them if none runs.
pub fn joined(
    http: &Arc<Http>,
    state: &Arc<AppState>,
    guild: GuildId,
    user: UserId,
    pending: bool,
) {
    // Called before the event's task first waits, on the runtime's one thread: joins are
    // queued in the order the gateway delivered them.
    match state.arrivals.push(guild, user, pending) {
        Pushed::First => {
            state
                .tasks
                .spawn(greet_in_turn(Arc::clone(http), Arc::clone(state), guild));
        }
        Pushed::Behind => {}
        Pushed::Full => {
            tracing::warn!(
                guild = guild.get(),
                waiting = Arrivals::LONGEST,
                "a member who joined is not greeted: too many joins are waiting"
            );
            crate::telemetry::member_event("join");
        }
    }
}

/// `user` left `guild`: a join of theirs still waiting is not greeted.
pub fn left(state: &AppState, guild: GuildId, user: UserId) {
    for _ in 0..state.arrivals.forget(guild, user) {
        crate::telemetry::member_event("join");
    }
}

/// Greets `guild`'s queued joins, oldest first, until none is left or the bot stops.
async fn greet_in_turn(http: Arc<Http>, state: Arc<AppState>, guild: GuildId) {
    // Should a greeting panic, the joins behind it are dropped with the queue, so that the
    // next join starts a new task instead of waiting behind one that is gone.
    let mut unfinished = Unfinished {
        state: &state,
        guild,
        armed: true,
        in_hand: false,
    };
    while let Some(arrival) = state.arrivals.next(guild) {
        unfinished.in_hand = true;
        if state.stopping() {
            // The guard leaves this join and the rest, counted and logged.
            return;
        }
        greet(&http, &state, guild, arrival).await;
        unfinished.in_hand = false;
    }
    unfinished.armed = false;
}

/// Clears a server's queue when its greeting task ends before draining it (the bot is
/// stopping, or a greeting panicked), counting the joins it leaves as handled.
struct Unfinished<'a> {
    /// Whose queue.
    state: &'a AppState,
    /// The server.
    guild: GuildId,
    /// Set until the task ends the ordinary way.
    armed: bool,
    /// A join is being greeted and has not been handed on to its count yet.
    in_hand: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let left = self.state.arrivals.clear(self.guild) + usize::from(self.in_hand);
        for _ in 0..left {
            crate::telemetry::member_event("join");
        }
        if self.state.stopping() {
            tracing::info!(
                guild = self.guild.get(),
                left,
                "stopping: members who joined were not greeted"
            );
        } else {
            tracing::warn!(
                guild = self.guild.get(),
                left,
                "a greeting failed: the members waiting behind it were not greeted"
            );
        }
    }
}

/// Counts a join as handled when dropped: once its work is done, or if that work panicked.
struct JoinHandled;

impl Drop for JoinHandled {
    fn drop(&mut self) {
        crate::telemetry::member_event("join");
    }
}

/// Greets one member who joined. What follows the welcome (their place for the rank role,
/// the screening's end) goes on in a task of its own: a rank sync that waits on Discord never
/// holds up the next welcome. Failures are logged: a join never fails.
async fn greet(http: &Arc<Http>, state: &Arc<AppState>, guild: GuildId, arrival: Arrival) {
    let user = arrival.user;
    let timing = if !arrival.pending {
        // A row left from an earlier stay in screening means nothing now.
        forget_screening(state, guild, user).await;
        RoleTiming::Now
    } else if let Err(err) = state.db.start_screening(guild, user).await {
        tracing::warn!(error = format!("{err:#}"), "could not record a screening");
        RoleTiming::Withheld
    } else {
        // Recorded before anything else, so that the update saying they passed, if handled
        // meanwhile, finds the row and ends the screening itself.
        RoleTiming::AfterScreening
    };
    welcome(http, state, guild, arrival, timing).await;
    let (http, state) = (Arc::clone(http), Arc::clone(state));
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        let _handled = JoinHandled;
        after_welcome(&http, &state, guild, user, timing).await;
    });
}

/// Counts `user`, just welcomed, for the rank role again if they had left, and gives what
/// waited for them if Discord says they have passed screening already.
async fn after_welcome(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    user: UserId,
    timing: RoleTiming,
) {
    // The rank role's sync reads Discord itself, and passes over them while they screen.
    super::ranks::member_joined(http, state, guild, user).await;
    // An update saying they passed, handled before the row was written (or before their turn
    // came), found nothing to do: Discord's word is read now.
    if timing == RoleTiming::AfterScreening && confirmed_passed(http, guild, user).await {
        give_what_waited(http, state, guild, user).await;
    }
}

/// A member was updated with `pending: false`: if they were screening and Discord confirms
/// they passed, the bot gives what waited for them.
pub async fn passed_screening(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    match state.db.is_screening(guild, user).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not read a screening");
            return;
        }
    }
    // `pending` is optional in the update's payload: Discord's word is read again.
    if confirmed_passed(http, guild, user).await {
        give_what_waited(http, state, guild, user).await;
    }
}

/// A screening of `user`'s in `guild` the bot was waiting on is over: they left, or joined
/// again without one.
pub async fn forget_screening(state: &AppState, guild: GuildId, user: UserId) {
    if let Err(err) = state.db.end_screening(guild, user).await {
        tracing::warn!(error = format!("{err:#}"), "could not end a screening");
    }
}

/// `user` passed screening: ends it, and gives their welcome role if it waited and their place
/// in the rankings. Only the first of the join and the update to get here gives anything.
async fn give_what_waited(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    let role_waits = match state.db.end_screening(guild, user).await {
        Ok(Some(waits)) => waits,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not end a screening");
            return;
        }
    };
    if role_waits {
        give_welcome_role(http, state, guild, user).await;
    }
    // They are here: an absence recorded before they came back no longer holds (the sync reads
    // them from Discord in any case).
    super::ranks::member_present(state, guild, user).await;
    // A value they were given before, or while they screened, may earn them a place now.
    match state.db.standing(guild, user).await {
        Ok(Some((value, _))) if value > 0 => super::ranks::sync(http, state, guild).await,
        Ok(_) => {}
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not read a standing"),
    }
}

/// The welcome message for `arrival`, unless a wave of joins was ahead of it, and the welcome
/// role as its timing says, if staff set them.
async fn welcome(
    http: &Http,
    state: &AppState,
    guild: GuildId,
    arrival: Arrival,
    timing: RoleTiming,
) {
    let user = arrival.user;
    let settings = match state.db.settings(guild).await {
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
        if arrival.ahead > POSTED_WITH_AT_MOST_AHEAD {
            tracing::debug!(
                ahead = arrival.ahead,
                "a wave of joins: the welcome role only"
            );
        } else if welcome_due(state, guild, user).await {
            let template = settings
                .welcome_message
                .as_deref()
                .unwrap_or(DEFAULT_WELCOME);
            let message = CreateMessage::new()
                .content(welcome_text(template, user))
                .allowed_mentions(CreateAllowedMentions::new().users([user]));
            if let Err(err) = channel.send_message(http, message).await {
                tracing::warn!(error = %err, "could not post a welcome");
                if let Err(err) = state.db.forget_welcome(guild, user).await {
                    tracing::warn!(error = format!("{err:#}"), "could not forget a welcome");
                }
            }
        }
    }
    let Some(role) = settings.welcome_role.map(RoleId::new) else {
        return;
    };
    match timing {
        RoleTiming::Now => {}
        RoleTiming::Withheld => return,
        // Membership screening: a role now would let them around the server's rules.
        RoleTiming::AfterScreening => match state.db.hold_welcome_role(guild, user).await {
            Ok(true) => return,
            // Their screening already ended: the role is given now.
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "could not hold a welcome role");
                return;
            }
        },
    }
    give_role(http, state, guild, user, role, &settings).await;
}

/// Whether `user` is to be welcomed in the channel: not if they were within a day, so one
/// who leaves and joins again over and over is posted about once (the welcome role, which
/// Discord took when they left, is given again all the same). When unsure, they are.
async fn welcome_due(state: &AppState, guild: GuildId, user: UserId) -> bool {
    let at = crate::db::now();
    match state.db.welcome_due(guild, user, at).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not record a welcome");
            true
        }
    }
}

/// Whether Discord says `user` is a full member, past screening. Not when unsure (or gone):
/// what waits for them is then given at their next member update that Discord confirms.
async fn confirmed_passed(http: &Http, guild: GuildId, user: UserId) -> bool {
    match super::roles::read_membership(http, guild, user).await {
        Ok(membership) => membership == Membership::Full,
        Err(err) => {
            tracing::warn!(error = %err, "could not read a member");
            false
        }
    }
}

/// Gives `user` the welcome role that waited for them to pass screening, as staff set it now.
async fn give_welcome_role(http: &Http, state: &AppState, guild: GuildId, user: UserId) {
    match state.db.settings(guild).await {
        Ok(settings) => {
            if let Some(role) = settings.welcome_role.map(RoleId::new) {
                give_role(http, state, guild, user, role, &settings).await;
            }
        }
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not read the settings"),
    }
}

/// The welcome for `user`: `{member}` becomes their mention.
fn welcome_text(template: &str, user: UserId) -> String {
    template.replace("{member}", &format!("<@{user}>"))
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
    // A player evaluated before who comes back is not put back to awaiting evaluation.
    if settings.remove_role == Some(role.get()) {
        match state.db.standing(guild, user).await {
            Ok(None) => {}
            Ok(Some(_)) => return,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "could not read a standing");
                return;
            }
        }
    }
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
