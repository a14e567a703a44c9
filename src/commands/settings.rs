//! `/settings`: where tryout results, values and match cards go, who may run tryouts and change
//! values, how long a match stays open, what a season's end does to values, the rank role and
//! welcomes.

use poise::serenity_prelude as serenity;
use poise::{ChoiceParameter as _, CreateReply};

use super::access::{self, Standing};
use super::welcome::DEFAULT_WELCOME;
use crate::db::{
    Clearable, GuildSettings, SeasonReset, SettingsUpdate, Unset, DEFAULT_MATCH_EXPIRY_MINUTES,
};

/// What ending a season does to values, as `/settings` offers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum ResetChoice {
    /// Values carry over.
    #[name = "keep values"]
    Keep,
    /// Everyone goes back to the base value.
    #[name = "reset to the base value"]
    Reset,
}

impl From<ResetChoice> for SeasonReset {
    fn from(choice: ResetChoice) -> SeasonReset {
        match choice {
            ResetChoice::Keep => SeasonReset::Keep,
            ResetChoice::Reset => SeasonReset::Reset,
        }
    }
}
use crate::types::{Context, Error, UserError};

/// A setting `/settings clear` sets back to unset, as `/settings` offers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum ClearChoice {
    #[name = "results channel"]
    ResultsChannel,
    #[name = "values channel"]
    ValuesChannel,
    #[name = "evaluator role"]
    EvaluatorRole,
    #[name = "staff role"]
    StaffRole,
    #[name = "role added after a tryout"]
    AddRole,
    #[name = "role removed after a tryout"]
    RemoveRole,
    #[name = "matches channel"]
    MatchesChannel,
    #[name = "staff channel"]
    StaffChannel,
}

impl ClearChoice {
    /// The setting it clears.
    fn setting(self) -> Clearable {
        match self {
            ClearChoice::ResultsChannel => Clearable::ResultsChannel,
            ClearChoice::ValuesChannel => Clearable::ValuesChannel,
            ClearChoice::EvaluatorRole => Clearable::EvaluatorRole,
            ClearChoice::StaffRole => Clearable::StaffRole,
            ClearChoice::AddRole => Clearable::AddRole,
            ClearChoice::RemoveRole => Clearable::RemoveRole,
            ClearChoice::MatchesChannel => Clearable::MatchesChannel,
            ClearChoice::StaffChannel => Clearable::StaffChannel,
        }
    }

    /// `settings` with this one unset.
    fn applied_to(self, mut settings: GuildSettings) -> GuildSettings {
        let field = match self {
            ClearChoice::ResultsChannel => &mut settings.results_channel,
            ClearChoice::ValuesChannel => &mut settings.values_channel,
            ClearChoice::EvaluatorRole => &mut settings.evaluator_role,
            ClearChoice::StaffRole => &mut settings.staff_role,
            ClearChoice::AddRole => &mut settings.add_role,
            ClearChoice::RemoveRole => &mut settings.remove_role,
            ClearChoice::MatchesChannel => &mut settings.matches_channel,
            ClearChoice::StaffChannel => &mut settings.staff_channel,
        };
        *field = None;
        settings
    }

    /// Whether `update` sets the same setting.
    fn also_set_in(self, update: &SettingsUpdate) -> bool {
        match self {
            ClearChoice::ResultsChannel => update.results_channel.is_some(),
            ClearChoice::ValuesChannel => update.values_channel.is_some(),
            ClearChoice::EvaluatorRole => update.evaluator_role.is_some(),
            ClearChoice::StaffRole => update.staff_role.is_some(),
            ClearChoice::AddRole => update.add_role.is_some(),
            ClearChoice::RemoveRole => update.remove_role.is_some(),
            ClearChoice::MatchesChannel => update.matches_channel.is_some(),
            ClearChoice::StaffChannel => update.staff_channel.is_some(),
        }
    }
}

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
    #[description = "Role given to a player after a tryout or their first value"] add_role: Option<
        serenity::RoleId,
    >,
    #[description = "Role taken from a player after a tryout or their first value"]
    remove_role: Option<serenity::RoleId>,
    #[description = "Channel for match cards"]
    #[channel_types("Text", "News")]
    matches_channel: Option<serenity::ChannelId>,
    #[description = "Channel where staff approve or reject match results"]
    #[channel_types("Text", "News")]
    staff_channel: Option<serenity::ChannelId>,
    #[description = "Minutes an open match takes players (default 240)"]
    #[min = 1]
    #[max = 10080]
    match_expiry_minutes: Option<i64>,
    #[description = "What ending a season does to values"] season_reset: Option<ResetChoice>,
    #[description = "Role the top of the rankings carries"] rank_role: Option<serenity::RoleId>,
    #[description = "How many members carry the rank role (default 10)"]
    #[min = 1]
    #[max = 50]
    rank_top: Option<i64>,
    #[description = "The value everyone goes back to when a season resets, in millions"]
    #[min = 0]
    #[max = 1000000]
    season_base_value: Option<i64>,
    #[description = "Channel where members who join are welcomed"]
    #[channel_types("Text", "News")]
    welcome_channel: Option<serenity::ChannelId>,
    #[description = "Role given to members who join"] welcome_role: Option<serenity::RoleId>,
    #[description = "The welcome's text; {member} stands for the newcomer"]
    #[max_length = 1000]
    welcome_message: Option<String>,
    #[description = "True turns welcomes off (message and role)"] welcome_off: Option<bool>,
    #[description = "True takes the rank role back from everyone and turns it off"]
    rank_off: Option<bool>,
    #[description = "A setting to unset (the rank role and welcomes: rank_off, welcome_off)"]
    clear: Option<ClearChoice>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    access::require(ctx, None, "change the settings").await?;
    for role in [evaluator_role, staff_role].into_iter().flatten() {
        if role.get() == guild.get() {
            return Err(UserError(format!(
                "<@&{role}> is @everyone: every member would get that power. Pick a role."
            ))
            .into());
        }
    }
    let handed_out: Vec<_> = [add_role, remove_role, rank_role, welcome_role]
        .into_iter()
        .flatten()
        .collect();
    let posted_in: Vec<_> = [
        results_channel,
        values_channel,
        matches_channel,
        staff_channel,
        welcome_channel,
    ]
    .into_iter()
    .flatten()
    .collect();
    if rank_top.is_some_and(|n| !(1..=50).contains(&n)) {
        return Err(UserError("The rank role can go to the top 1 to 50.".into()).into());
    }
    let db = &ctx.data().db;
    // The checks below judge the settings as they will be: a setting being cleared is unset.
    let current = match clear {
        Some(choice) => choice.applied_to(db.settings(guild).await?),
        None => db.settings(guild).await?,
    };
    // A new count, turning the role off, or replacing it (which takes the old one back from
    // its holders) moves the rank role now set as surely as naming it does: the invoker must
    // be able to manage it.
    let moved = current
        .rank_role
        .filter(|old| match rank_role {
            Some(new) => new.get() != *old,
            None => rank_top.is_some() || rank_off == Some(true),
        })
        .map(serenity::RoleId::new);
    check_targets(ctx, guild, &handed_out, moved, &posted_in).await?;
    if match_expiry_minutes.is_some_and(|m| !(1..=10080).contains(&m)) {
        return Err(
            UserError("A match can stay open from 1 to 10080 minutes (a week).".into()).into(),
        );
    }
    if season_base_value.is_some_and(|v| !(0..=crate::values::MAX_VALUE).contains(&v)) {
        return Err(UserError(format!(
            "The base value must be from 0 to {} million.",
            crate::values::MAX_VALUE
        ))
        .into());
    }
    let welcome_message = welcome_message.map(|m| m.trim().to_owned());
    if let Some(message) = &welcome_message {
        let too_long = super::welcome::rendered_length(message) > 2000;
        if super::replies::is_blank(message) || message.chars().count() > 1000 {
            return Err(UserError(
                "A welcome message is 1 to 1000 characters long, and shows something. Nothing changed."
                    .into(),
            )
            .into());
        }
        if too_long {
            return Err(UserError(
                "That welcome message is over 2000 characters once each {member} is filled in. \
                 Nothing changed."
                    .into(),
            )
            .into());
        }
    }
    let update = SettingsUpdate {
        results_channel: results_channel.map(|c| c.get()),
        values_channel: values_channel.map(|c| c.get()),
        evaluator_role: evaluator_role.map(|r| r.get()),
        staff_role: staff_role.map(|r| r.get()),
        add_role: add_role.map(|r| r.get()),
        remove_role: remove_role.map(|r| r.get()),
        matches_channel: matches_channel.map(|c| c.get()),
        staff_channel: staff_channel.map(|c| c.get()),
        match_expiry_minutes,
        season_reset: season_reset.map(SeasonReset::from),
        season_base_value,
        rank_role: rank_role.map(|r| r.get()),
        rank_top,
        welcome_channel: welcome_channel.map(|c| c.get()),
        welcome_role: welcome_role.map(|r| r.get()),
        welcome_message,
    };
    let after = GuildSettings {
        staff_role: update.staff_role.or(current.staff_role),
        evaluator_role: update.evaluator_role.or(current.evaluator_role),
        ..GuildSettings::default()
    };
    let handed_out = [
        update.add_role.or(current.add_role),
        update.remove_role.or(current.remove_role),
        update.rank_role.or(current.rank_role),
        update.welcome_role.or(current.welcome_role),
    ];
    let changing = update != SettingsUpdate::default();
    let given = update.add_role.or(current.add_role);
    if let Some(role) =
        given.filter(|r| changing && update.remove_role.or(current.remove_role) == Some(*r))
    {
        return Err(UserError(format!(
            "<@&{role}> can't be both the role given after a tryout and the one taken: the \
             player would end up without it. Nothing changed."
        ))
        .into());
    }
    for role in handed_out.into_iter().flatten().filter(|_| changing) {
        if let Some(why) = super::roles::grants_power(&after, role) {
            return Err(UserError(format!(
                "<@&{role}> can't be both a role I hand out and one that gives powers: {why}. \
                 Nothing changed."
            ))
            .into());
        }
    }
    let welcome_off = welcome_off == Some(true);
    if welcome_off
        && (update.welcome_channel.is_some()
            || update.welcome_role.is_some()
            || update.welcome_message.is_some())
    {
        return Err(UserError(
            "Turn welcomes off, or set them: not both at once. Nothing changed.".into(),
        )
        .into());
    }
    if let Some(choice) = clear.filter(|c| c.also_set_in(&update)) {
        return Err(UserError(format!(
            "Clear the {}, or set it: not both at once. Nothing changed.",
            choice.name()
        ))
        .into());
    }
    let rank_off = rank_off == Some(true);
    if rank_off && update.rank_role.is_some() {
        return Err(UserError(
            "Turn the rank role off, or set it: not both at once. Nothing changed.".into(),
        )
        .into());
    }
    // The rank role moves with the rankings alone: were it also given after a tryout or at a
    // welcome, a player leaving the top would lose the role they earned there.
    let rank_after = update.rank_role.or(current.rank_role).filter(|_| !rank_off);
    let others_after = [
        update.add_role.or(current.add_role),
        update.remove_role.or(current.remove_role),
        update
            .welcome_role
            .or(current.welcome_role)
            .filter(|_| !welcome_off),
    ];
    if let Some(role) = rank_after.filter(|r| changing && others_after.contains(&Some(*r))) {
        return Err(UserError(format!(
            "<@&{role}> can't be the rank role and also a role given or taken after a tryout or \
             at a welcome: I give and take the rank role by the rankings alone. Pick a role of \
             its own. Nothing changed."
        ))
        .into());
    }
    let only_shown =
        update == SettingsUpdate::default() && !welcome_off && !rank_off && clear.is_none();
    let (title, settings) = if only_shown {
        ("Current settings", current)
    } else {
        let unset = Unset {
            setting: clear.map(ClearChoice::setting),
            welcomes: welcome_off,
            rank_role: rank_off,
        };
        (
            "Settings saved",
            db.change_settings(guild, unset, &update).await?,
        )
    };
    let mut text = describe(title, &settings);
    let welcomes = settings.welcome_channel.is_some() || settings.welcome_role.is_some();
    if welcomes && !ctx.data().config.members_intent {
        text.push_str(
            "\n\n**Welcomes are set but can't run yet:** they need Discord's Server Members \
             intent, which this bot was not started with. Whoever runs the bot must switch on \
             Server Members in the Developer Portal (Bot tab) and set GUILD_MEMBERS_INTENT=on.",
        );
    }
    let sent = ctx
        .send(
            CreateReply::default()
                .content(text)
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new()),
        )
        .await;
    if update.rank_role.is_some() || update.rank_top.is_some() || rank_off {
        // The top gets the role now, not at the next value change (even if the reply failed:
        // the settings are saved).
        super::ranks::sync(ctx.http(), ctx.data(), guild).await;
    }
    sent?;
    Ok(())
}

/// Refuses the roles the bot would hand out and the channels it would post in that the invoker
/// could not hand out or post in themselves, and a `moved` role (one whose holders the update
/// changes without naming it) that they could not give or take themselves. What the invoker
/// and the bot may do is read from Discord now, once for all of them.
async fn check_targets(
    ctx: Context<'_>,
    guild: serenity::GuildId,
    handed_out: &[serenity::RoleId],
    moved: Option<serenity::RoleId>,
    posted_in: &[serenity::ChannelId],
) -> Result<(), Error> {
    if handed_out.is_empty() && moved.is_none() && posted_in.is_empty() {
        return Ok(());
    }
    let http = ctx.http();
    let invoker = Standing::fetch(http, guild, ctx.author().id).await?;
    if let Some(role) = moved {
        check_moved_role(invoker.as_ref(), role)?;
    }
    let bot = if handed_out.is_empty() {
        None
    } else {
        Standing::fetch(http, guild, ctx.data().bot_user).await?
    };
    // The bot hands these roles out: the same rules for each.
    for &role in handed_out {
        check_tryout_role(guild, invoker.as_ref(), bot.as_ref(), role)?;
    }
    for &channel in posted_in {
        check_channel(http, invoker.as_ref(), channel).await?;
    }
    Ok(())
}

/// Refuses a role a tryout would give or take unless the invoker could hand it out
/// themselves: Manage Roles, the role below their highest (the owner excepted), not managed,
/// not @everyone, without moderator permissions, and below the bot's highest role (or the
/// bot could not apply it). `invoker` and `bot` are their standings as the command runs
/// (`None`: not a member).
fn check_tryout_role(
    guild: serenity::GuildId,
    invoker: Option<&Standing>,
    bot: Option<&Standing>,
    role: serenity::RoleId,
) -> Result<(), Error> {
    let refuse =
        |why: String| Err(UserError(format!("I can't hand out <@&{role}>: {why}.")).into());
    let Some(invoker) = invoker else {
        return refuse("you are not a member of this server".into());
    };
    let Some(found) = invoker.role(role) else {
        return refuse("that role doesn't exist in this server".into());
    };
    if let Some(why) = access::role_for_tryouts(found, guild) {
        return refuse(why);
    }
    if !invoker.permissions().manage_roles() {
        return refuse("setting a role the bot hands out needs Manage Roles".into());
    }
    if !invoker.outranks(found) {
        return refuse("it is not below your highest role".into());
    }
    if !bot.is_some_and(|bot| bot.outranks(found)) {
        return refuse("it is above my highest role; move my role above it first".into());
    }
    Ok(())
}

/// Refuses a change to who carries `role` (already set; not named in this update) unless the
/// invoker could give and take it themselves: Manage Roles, and the role below their highest
/// (the owner excepted). A role deleted from the server is nobody's: nothing to refuse.
fn check_moved_role(invoker: Option<&Standing>, role: serenity::RoleId) -> Result<(), Error> {
    let refuse = |why: &str| {
        Err(UserError(format!(
            "You can't change who carries <@&{role}>: {why}. Nothing changed."
        ))
        .into())
    };
    let Some(invoker) = invoker else {
        return refuse("you are not a member of this server");
    };
    let Some(found) = invoker.role(role) else {
        return Ok(());
    };
    if !invoker.permissions().manage_roles() {
        return refuse("that needs Manage Roles");
    }
    if !invoker.outranks(found) {
        return refuse("it is not below your highest role");
    }
    Ok(())
}

/// Refuses a results or values channel the invoker could not post in themselves: the bot
/// would post there for them (the channel read from Discord now; `invoker` as the command
/// runs, `None` when not a member).
async fn check_channel(
    http: &serenity::Http,
    invoker: Option<&Standing>,
    channel: serenity::ChannelId,
) -> Result<(), Error> {
    let refuse = |why: &str| {
        Err(UserError(format!("I can't post there for you: <#{channel}> — {why}.")).into())
    };
    let Some(invoker) = invoker else {
        return refuse("you are not a member of this server");
    };
    match invoker.permissions_in(http, channel).await? {
        None => refuse("that channel isn't in this server"),
        Some(permissions) => match access::may_announce_in(permissions, true) {
            Some(why) => refuse(why),
            None => Ok(()),
        },
    }
}

/// The settings as text, mentions rendered (they ping nobody: no mentions are allowed).
pub fn describe(title: &str, s: &GuildSettings) -> String {
    let channel = |c: Option<u64>| c.map_or("not set".to_owned(), |c| format!("<#{c}>"));
    let role = |r: Option<u64>| r.map_or("not set".to_owned(), |r| format!("<@&{r}>"));
    format!(
        "**{title}**\nResults channel: {}\nValues channel: {}\nEvaluator role: {}\nStaff role: {}\n\
         Role added after a tryout: {}\nRole removed after a tryout: {}\nMatches channel: {}\n\
         Staff channel: {}\nAn open match expires after: {} minutes\nWhen a season ends: {}\n\
         Rank role: {} (the top {})\nWelcome channel: {}\nWelcome role: {}\nWelcome message: {}",
        channel(s.results_channel),
        channel(s.values_channel),
        role(s.evaluator_role),
        role(s.staff_role),
        role(s.add_role),
        role(s.remove_role),
        channel(s.matches_channel),
        channel(s.staff_channel),
        s.match_expiry_minutes.unwrap_or(DEFAULT_MATCH_EXPIRY_MINUTES),
        match s.season_reset.unwrap_or(SeasonReset::Keep) {
            SeasonReset::Keep => "values are kept".to_owned(),
            SeasonReset::Reset => format!(
                "values go back to {}",
                crate::values::format_value(s.season_base_value.unwrap_or(0))
            ),
        },
        role(s.rank_role),
        s.rank_top.unwrap_or(crate::db::DEFAULT_RANK_TOP),
        channel(s.welcome_channel),
        role(s.welcome_role),
        s.welcome_message.as_deref().map_or_else(
            || format!("the default (“{}”)", super::replies::plain(DEFAULT_WELCOME)),
            // Its first 200 characters, shown as typed: the reply stays within Discord's 2,000
            // whatever the welcome says.
            |m| format!("“{}”", super::replies::plain(&super::replies::shortened(m, 201)))
        ),
    )
}
