//! `/match`: wager matches that move values — create, join, report, confirm or dispute, staff
//! approval, undo, history.
//!
//! A match lives in the database ([`crate::db::matches`]), not in a task: its card's buttons
//! carry the match id (`nvm:<id>:<action>`) and every click reads the row, so the buttons work
//! for as long as the match needs them, across restarts. Who may press what is decided at the
//! click, from the row and the click's own member data: joining needs a value at least the
//! stake; leaving, reporting, confirming and disputing need a place in the match (confirming
//! and disputing, on the side the report makes lose, not as the reporter: see
//! [`crate::db::matches::Match::answering_side`]; the match settles once every one of them has
//! confirmed); cancelling is the creator's; approving and rejecting a result are staff's
//! (Manage Server or the staff role).
//!
//! Nothing a member typed pings anyone: a card may mention only its players, and other posts
//! mention nobody.

use anyhow::Context as _;
use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    ButtonStyle, ChannelId, ComponentInteraction, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateInteractionResponse, CreateInteractionResponseMessage, CreateMessage,
    EditMessage, Http, UserId,
};

use super::access;
use super::replies::{ephemeral, plain};
use crate::db::matches::{Change, Match, NewMatch, Refusal, Status, Team};
use crate::db::Db;
use crate::state::AppState;
use crate::types::{Context, Error, UserError};
use crate::values::format_value;

/// Prefix of a match button's `custom_id`: `nvm:<match id>:<action>`.
const PREFIX: &str = "nvm:";
/// The highest stake, in millions.
pub const MAX_STAKE: i64 = 1_000;
/// How many matches `/match history` lists.
const HISTORY_LENGTH: i64 = 10;
/// The longest note a match may carry.
const NOTE_LIMIT: usize = 100;

/// A match's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Mode {
    /// One against one.
    #[name = "1v1"]
    One,
    /// Two a side.
    #[name = "2v2"]
    Two,
    /// Three a side.
    #[name = "3v3"]
    Three,
    /// Four a side.
    #[name = "4v4"]
    Four,
    /// Five a side.
    #[name = "5v5"]
    Five,
}

impl Mode {
    fn team_size(self) -> i64 {
        match self {
            Mode::One => 1,
            Mode::Two => 2,
            Mode::Three => 3,
            Mode::Four => 4,
            Mode::Five => 5,
        }
    }
}

/// A side, as members pick it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Side {
    /// Team A.
    #[name = "Team A"]
    A,
    /// Team B.
    #[name = "Team B"]
    B,
}

impl From<Side> for Team {
    fn from(side: Side) -> Team {
        match side {
            Side::A => Team::A,
            Side::B => Team::B,
        }
    }
}

/// What staff decide about a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Verdict {
    /// The reported result stands: settle it.
    #[name = "approve"]
    Approve,
    /// The reported result is wrong: the players report again.
    #[name = "reject"]
    Reject,
    /// Call the match off (any unfinished match; no value moves).
    #[name = "cancel"]
    Cancel,
}

fn button_id(id: i64, action: &str) -> String {
    format!("{PREFIX}{id}:{action}")
}

/// Splits a match button's `custom_id` into the match id and the action.
pub fn parse_button(custom_id: &str) -> Option<(i64, &str)> {
    let rest = custom_id.strip_prefix(PREFIX)?;
    let (id, action) = rest.split_once(':')?;
    Some((id.parse().ok()?, action))
}

fn mentions(users: &[UserId]) -> String {
    if users.is_empty() {
        return "(open)".to_owned();
    }
    users
        .iter()
        .map(|u| format!("<@{u}>"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The card's text for `m`, with the value changes of its settlement or undo when given.
fn card_text(m: &Match, changes: &[Change]) -> String {
    let size = m.team_size;
    let mut text = format!(
        "**Match #{}** — {size}v{size}, stake **{}** a player\nTeam A: {}\nTeam B: {}",
        m.id,
        format_value(m.stake),
        mentions(&m.team(Team::A)),
        mentions(&m.team(Team::B)),
    );
    if let Some(note) = &m.note {
        text.push_str(&format!("\nNote: {}", plain(note)));
    }
    let winner = m.winner.map(Team::label).unwrap_or("?");
    let answering = m.answering_side().map(Team::label).unwrap_or("?");
    let reporter = m.reported_by.map(|u| format!("<@{u}>")).unwrap_or_default();
    let status = match m.status {
        Status::Open => format!("Open: join a side. Expires <t:{}:R>.", m.expires_at),
        Status::Full => "Full. When it's played, a player reports the winner.".to_owned(),
        Status::Reported => {
            let confirmed = if m.confirmed.is_empty() {
                String::new()
            } else {
                format!(" Confirmed by {}.", mentions(&m.confirmed))
            };
            format!(
                "Reported: **Team {winner}** won (by {reporter}).{confirmed} Waiting for {} to \
                 confirm or dispute.",
                mentions(&m.waiting_on())
            )
        }
        Status::Disputed => {
            format!("Disputed: Team {winner} won, says {reporter}; Team {answering} disagrees. Staff decide.")
        }
        Status::Settled => format!("Settled: **Team {winner}** won."),
        Status::Void => "Void: staff undid this match and its value changes.".to_owned(),
        // Its creator, staff or a season's end: the card does not say which (none is stored).
        Status::Cancelled => "Cancelled: called off; no value changed.".to_owned(),
        Status::Expired => "Expired: it did not fill in time.".to_owned(),
    };
    text.push_str(&format!("\n{status}"));
    if let Some(proof) = &m.proof {
        text.push_str(&format!("\nProof: <{proof}>"));
    }
    for (user, old, new) in changes {
        text.push_str(&format!(
            "\n<@{user}>: {} → {}",
            format_value(*old),
            format_value(*new)
        ));
    }
    text
}

fn button(id: i64, action: &str, label: &str, style: ButtonStyle) -> CreateButton {
    CreateButton::new(button_id(id, action))
        .label(label)
        .style(style)
}

/// The card's buttons for `m`'s status (none once it is over).
fn card_buttons(m: &Match) -> Vec<CreateActionRow> {
    let id = m.id;
    let row = match m.status {
        Status::Open => vec![
            button(id, "join_a", "Join Team A", ButtonStyle::Primary),
            button(id, "join_b", "Join Team B", ButtonStyle::Primary),
            button(id, "leave", "Leave", ButtonStyle::Secondary),
            button(id, "cancel", "Cancel", ButtonStyle::Danger),
        ],
        Status::Full => vec![
            button(id, "won_a", "Team A won", ButtonStyle::Success),
            button(id, "won_b", "Team B won", ButtonStyle::Success),
        ],
        // Confirm and Dispute name the result they answer: a card left from an earlier report
        // cannot confirm (or dispute) a different one.
        Status::Reported => {
            let Some(winner) = m.winner else {
                return Vec::new();
            };
            let winner = winner.label().to_lowercase();
            vec![
                button(
                    id,
                    &format!("confirm_{winner}"),
                    "Confirm",
                    ButtonStyle::Success,
                ),
                button(
                    id,
                    &format!("dispute_{winner}"),
                    "Dispute",
                    ButtonStyle::Danger,
                ),
            ]
        }
        _ => return Vec::new(),
    };
    vec![CreateActionRow::Buttons(row)]
}

/// Mentions on a card: its players only, never roles or @everyone.
fn card_mentions(m: &Match) -> CreateAllowedMentions {
    CreateAllowedMentions::new().users(m.players.iter().map(|(u, _)| *u))
}

/// The staff post's text and buttons for `m`'s result.
fn staff_post(m: &Match, changes: &[Change]) -> (String, Vec<CreateActionRow>) {
    let text = format!("**Staff review** — {}", card_text(m, changes));
    // Approve names the result it approves: a post left from an earlier report cannot settle
    // a different one.
    let buttons = match (m.status, m.winner) {
        (Status::Reported | Status::Disputed, Some(winner)) => {
            let approve = format!("approve_{}", winner.label().to_lowercase());
            vec![CreateActionRow::Buttons(vec![
                button(m.id, &approve, "Approve result", ButtonStyle::Success),
                button(m.id, "reject", "Reject result", ButtonStyle::Danger),
            ])]
        }
        _ => Vec::new(),
    };
    (text, buttons)
}

/// Puts `m`'s card (and its staff post, if any) in their current state. Failures are logged:
/// the row is the truth, and the next change redraws the card.
async fn refresh_posts(http: &Http, m: &Match, changes: &[Change], skip_card: bool) {
    if let (Some(message), false) = (m.message, skip_card) {
        let edit = EditMessage::new()
            .content(card_text(m, changes))
            .components(card_buttons(m))
            .allowed_mentions(card_mentions(m));
        if let Err(err) = m.channel.edit_message(http, message, edit).await {
            tracing::warn!(error = %err, match_id = m.id, "could not update a match card");
        }
    }
    if let Some((channel, message)) = m.staff_post {
        let (text, buttons) = staff_post(m, changes);
        let edit = EditMessage::new()
            .content(text)
            .components(buttons)
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(err) = channel.edit_message(http, message, edit).await {
            tracing::warn!(error = %err, match_id = m.id, "could not update a staff post");
        }
    }
}

/// Posts the staff review of `m`'s reported result in the staff channel, once.
async fn post_for_staff(http: &Http, db: &Db, m: &Match, staff_channel: Option<u64>) {
    let Some(channel) = staff_channel.map(ChannelId::new) else {
        return;
    };
    if m.staff_post.is_some() {
        return refresh_posts(http, m, &[], true).await;
    }
    match db.claim_staff_post(m.id).await {
        Ok(true) => {}
        // Another report or dispute is making the post right now.
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not claim a staff post");
            return;
        }
    }
    let (text, buttons) = staff_post(m, &[]);
    let message = CreateMessage::new()
        .content(text)
        .components(buttons)
        .allowed_mentions(CreateAllowedMentions::new());
    match channel.send_message(http, message).await {
        Ok(posted) => {
            if let Err(err) = db.set_staff_post(m.id, channel, posted.id).await {
                tracing::warn!(error = format!("{err:#}"), "could not save a staff post");
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, match_id = m.id, "could not post for staff");
            if let Err(err) = db.release_staff_post(m.id).await {
                tracing::warn!(error = format!("{err:#}"), "could not release a staff post");
            }
        }
    }
}

/// What a click did: the match now, with the value changes it made.
type Done = Result<(Match, Vec<Change>), Refusal>;

fn without_changes(outcome: Result<Match, Refusal>) -> Done {
    outcome.map(|m| (m, Vec::new()))
}

/// Acts on a click on a match card or staff post. Answers within Discord's 3 s with the card
/// redrawn, or with an ephemeral note saying why nothing changed.
pub async fn on_click(http: &Http, state: &AppState, click: ComponentInteraction) {
    let answered = handle_click(http, state, &click).await;
    if let Err(err) = answered {
        tracing::error!(error = format!("{err:#}"), "a match button failed");
        let sorry = "Something went wrong on my side. `/match show` tells what was saved.";
        let _ = click.create_response(http, ephemeral(sorry)).await;
    }
}

async fn handle_click(
    http: &Http,
    state: &AppState,
    click: &ComponentInteraction,
) -> anyhow::Result<()> {
    let Some((id, action)) = parse_button(&click.data.custom_id) else {
        return Ok(());
    };
    let Some(guild) = click.guild_id else {
        click
            .create_response(http, ephemeral("Matches live in servers."))
            .await?;
        return Ok(());
    };
    let db = &state.db;
    let user = click.user.id;
    let settings = db.settings(guild).await?;
    let on_staff_post = matches!(action, "approve_a" | "approve_b" | "reject");
    if on_staff_post && !access::clicker_manages_or_has(click.member.as_ref(), settings.staff_role)
    {
        let who = access::who(settings.staff_role);
        let text = format!("Only {who} may approve or reject a result.");
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    // A button acts only on its own match's card or staff post (a forged id on another
    // message changes nothing).
    let Some(current) = db.get_match(guild, id).await? else {
        let text = Refusal::Unknown(id).to_string();
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    };
    let own_message = if on_staff_post {
        current.staff_post.map(|(_, message)| message)
    } else {
        current.message
    };
    // A click can come before the message's id is recorded (it is known only once sent): a
    // button in the message's channel while it is being made is that message's.
    let being_posted = own_message.is_none()
        && if on_staff_post {
            current.staff_post_pending && settings.staff_channel == Some(click.channel_id.get())
        } else {
            click.channel_id == current.channel
        };
    if own_message != Some(click.message.id) && !being_posted {
        let text = "This button doesn't belong to this message.";
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    if !on_staff_post && access::clicker_in_timeout(click.member.as_ref()) {
        let text = access::timeout_refusal("play in matches");
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    let done: Done = match action {
        "join_a" => without_changes(db.join_match(guild, id, user, Team::A).await?),
        "join_b" => without_changes(db.join_match(guild, id, user, Team::B).await?),
        "leave" => without_changes(db.leave_match(guild, id, user).await?),
        "cancel" => without_changes(db.cancel_match(guild, id, user, false).await?),
        "won_a" => without_changes(db.report_match(guild, id, user, Team::A, None).await?),
        "won_b" => without_changes(db.report_match(guild, id, user, Team::B, None).await?),
        "confirm_a" => {
            db.settle_match(guild, id, user, false, Some(Team::A))
                .await?
        }
        "confirm_b" => {
            db.settle_match(guild, id, user, false, Some(Team::B))
                .await?
        }
        "dispute_a" => without_changes(db.dispute_match(guild, id, user, Team::A).await?),
        "dispute_b" => without_changes(db.dispute_match(guild, id, user, Team::B).await?),
        // A card whose buttons do not name the result: redrawn, so the member sees what they
        // answer.
        "confirm" | "dispute" => {
            let text =
                "This card was out of date: I've redrawn it. Check the result and press again.";
            click.create_response(http, ephemeral(text)).await?;
            refresh_posts(http, &current, &[], false).await;
            return Ok(());
        }
        "approve_a" => {
            db.settle_match(guild, id, user, true, Some(Team::A))
                .await?
        }
        "approve_b" => {
            db.settle_match(guild, id, user, true, Some(Team::B))
                .await?
        }
        "reject" => without_changes(db.reject_result(guild, id, user).await?),
        _ => {
            click
                .create_response(http, ephemeral("This button is no longer used."))
                .await?;
            return Ok(());
        }
    };
    let (m, changes) = match done {
        Ok(done) => done,
        Err(refused) => {
            click
                .create_response(http, ephemeral(refused.to_string()))
                .await?;
            // A refusal may have found the match expired: the card says so.
            if let Some(m) = db.get_match(guild, id).await? {
                if m.status == Status::Expired {
                    refresh_posts(http, &m, &[], false).await;
                }
            }
            return Ok(());
        }
    };
    let redrawn = if on_staff_post {
        let (text, buttons) = staff_post(&m, &changes);
        CreateInteractionResponseMessage::new()
            .content(text)
            .components(buttons)
            .allowed_mentions(CreateAllowedMentions::new())
    } else {
        CreateInteractionResponseMessage::new()
            .content(card_text(&m, &changes))
            .components(card_buttons(&m))
            .allowed_mentions(card_mentions(&m))
    };
    // What the click did is saved: whatever becomes of its answer (Discord refused it, or its
    // token ran out while the click waited), the rank role, the other post and staff follow.
    let answered = click
        .create_response(http, CreateInteractionResponse::UpdateMessage(redrawn))
        .await;
    let clicked_redrawn = answered.is_ok();
    if !changes.is_empty() {
        super::ranks::sync_present(http, state, guild, &changed(&changes)).await;
    }
    if on_staff_post {
        // The card follows the staff post's decision; the post itself too, if its answer failed.
        let posts = if clicked_redrawn {
            Match {
                staff_post: None,
                ..m
            }
        } else {
            m
        };
        refresh_posts(http, &posts, &changes, false).await;
    } else {
        if !clicked_redrawn {
            let card = Match {
                staff_post: None,
                ..m.clone()
            };
            refresh_posts(http, &card, &changes, false).await;
        }
        match action {
            "won_a" | "won_b" | "dispute_a" | "dispute_b" => {
                post_for_staff(http, db, &m, settings.staff_channel).await;
            }
            // The staff post (if any) follows the card.
            _ => refresh_posts(http, &m, &changes, true).await,
        }
    }
    answered.context("answering a match click")?;
    Ok(())
}

/// Redraws the cards of matches `ids` (after a season's end called them off).
pub async fn redraw(http: &Http, db: &Db, guild: serenity::GuildId, ids: &[i64]) {
    for id in ids {
        match db.get_match(guild, *id).await {
            Ok(Some(m)) => refresh_posts(http, &m, &[], false).await,
            Ok(None) => {}
            Err(err) => tracing::warn!(error = format!("{err:#}"), "could not read a match"),
        }
    }
}

/// Marks open matches whose time is up as expired and says so on their cards.
pub async fn expire_due(http: &Http, db: &Db, at: i64) {
    match db.expire_matches(at).await {
        Ok(expired) => {
            for m in expired {
                refresh_posts(http, &m, &[], false).await;
            }
        }
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not expire matches"),
    }
}

/// Wager matches: create one, report its result, see one or a member's history
#[poise::command(
    slash_command,
    guild_only,
    rename = "match",
    subcommands("create", "report", "show", "history", "undo", "decide")
)]
pub async fn matches(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Open a match in the matches channel, with you on Team A
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match create", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn create(
    ctx: Context<'_>,
    #[description = "Players a side"] mode: Mode,
    #[description = "What each winner gains and each loser loses, in millions"]
    #[min = 1]
    #[max = 1000]
    stake: i64,
    #[description = "Region, rules, anything players should know"]
    #[max_length = 100]
    note: Option<String>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    // Posting the card takes REST calls: acknowledge first (Discord's 3 s rule).
    ctx.defer_ephemeral().await?;
    access::not_in_timeout(ctx, "create a match").await?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    let (Some(channel), Some(_)) = (
        settings.matches_channel.map(ChannelId::new),
        settings.staff_channel,
    ) else {
        return Err(UserError(
            "Matches aren't set up here yet: staff choose where cards go and where results are \
             reviewed with `/settings matches_channel staff_channel`."
                .into(),
        )
        .into());
    };
    if !(1..=MAX_STAKE).contains(&stake) {
        return Err(UserError(format!(
            "The stake must be a whole number of millions from 1 to {MAX_STAKE}."
        ))
        .into());
    }
    let note = note
        .map(|n| n.trim().chars().take(NOTE_LIMIT).collect::<String>())
        .filter(|n| !n.is_empty());
    let new = NewMatch {
        guild,
        creator: ctx.author().id,
        team_size: mode.team_size(),
        stake,
        note,
        channel,
        open_for: settings.match_expiry_secs(),
    };
    let m = match data.db.create_match(&new).await? {
        Ok(m) => m,
        Err(refused) => return Err(UserError(refused.to_string()).into()),
    };
    let card = CreateMessage::new()
        .content(card_text(&m, &[]))
        .components(card_buttons(&m))
        .allowed_mentions(card_mentions(&m));
    let posted = match channel.send_message(ctx.http(), card).await {
        Ok(posted) => posted,
        Err(err) => {
            tracing::warn!(error = %err, "could not post a match card");
            // Nobody could join a match without a card: it is called off at once.
            data.db
                .cancel_match(guild, m.id, m.creator, false)
                .await?
                .ok();
            return Err(UserError(format!(
                "I couldn't post in <#{channel}>, so match #{} is cancelled. Ask staff to check my permissions there.",
                m.id
            ))
            .into());
        }
    };
    data.db.set_match_card(m.id, posted.id).await?;
    ctx.send(
        CreateReply::default()
            .content(format!("Match #{} is up in <#{channel}>.", m.id))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// Report the winner of your match, with a link to the proof
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match report", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn report(
    ctx: Context<'_>,
    #[description = "The match's number"] match_id: i64,
    #[description = "Who won"] winner: Side,
    #[description = "A link to a screenshot of the result"]
    #[max_length = 300]
    proof: Option<String>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    ctx.defer_ephemeral().await?;
    access::not_in_timeout(ctx, "report a result").await?;
    let proof = proof.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(link) = &proof {
        if !is_link(link) {
            return Err(UserError(
                "The proof must be a link (https://…), for example to a screenshot.".into(),
            )
            .into());
        }
    }
    let data = ctx.data();
    let outcome = data
        .db
        .report_match(
            guild,
            match_id,
            ctx.author().id,
            winner.into(),
            proof.as_deref(),
        )
        .await?;
    let m = outcome.map_err(|refused| UserError(refused.to_string()))?;
    refresh_posts(ctx.http(), &m, &[], false).await;
    let settings = data.db.settings(guild).await?;
    post_for_staff(ctx.http(), &data.db, &m, settings.staff_channel).await;
    ctx.send(
        CreateReply::default()
            .content(format!(
                "Reported: Team {} won match #{match_id}. Waiting for {} to confirm or dispute it.",
                Team::from(winner).label(),
                mentions(&m.waiting_on())
            ))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// Show a match
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match show", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn show(
    ctx: Context<'_>,
    #[description = "The match's number"] match_id: i64,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let Some(m) = ctx.data().db.get_match(guild, match_id).await? else {
        return Err(UserError(Refusal::Unknown(match_id).to_string()).into());
    };
    ctx.send(
        CreateReply::default()
            .content(card_text(&m, &[]))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// List a member's finished matches, newest first
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match history", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn history(
    ctx: Context<'_>,
    #[description = "Whose matches (default: yours)"] member: Option<serenity::User>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let user = member.as_ref().map_or(ctx.author().id, |m| m.id);
    let rows = ctx
        .data()
        .db
        .match_history(guild, user, HISTORY_LENGTH)
        .await?;
    let mut text = format!("**Matches of <@{user}>**, newest first");
    if rows.is_empty() {
        text.push_str("\nNo finished match yet.");
    }
    for (m, net) in &rows {
        let size = m.team_size;
        let sign = if *net < 0 { "−" } else { "+" };
        let change = format!("{sign}{}", format_value(net.abs()));
        let result = match (m.status, m.side_of(user) == m.winner) {
            (Status::Void, _) => "void (undone)".to_owned(),
            (_, true) => format!("won, {change}"),
            (_, false) => format!("lost, {change}"),
        };
        text.push_str(&format!("\n#{} · {size}v{size} · {result}", m.id));
    }
    ctx.send(
        CreateReply::default()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Undo a settled match and reverse its value changes (staff)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match undo", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn undo(
    ctx: Context<'_>,
    #[description = "The match's number"] match_id: i64,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    ctx.defer_ephemeral().await?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    access::require(ctx, settings.staff_role, "undo a match").await?;
    let outcome = data.db.undo_match(guild, match_id, ctx.author().id).await?;
    let (m, changes) = outcome.map_err(|refused| UserError(refused.to_string()))?;
    refresh_posts(ctx.http(), &m, &changes, false).await;
    super::ranks::sync_present(ctx.http(), data, guild, &changed(&changes)).await;
    ctx.send(
        CreateReply::default()
            .content(format!(
                "Match #{match_id} undone.\n{}",
                changes_text(&changes)
            ))
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Approve or reject a match's reported result, or call a match off (staff)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "match decide", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn decide(
    ctx: Context<'_>,
    #[description = "The match's number"] match_id: i64,
    #[description = "approve settles the reported result; reject asks for a new report; cancel calls it off"]
    verdict: Verdict,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    ctx.defer_ephemeral().await?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    access::require(ctx, settings.staff_role, "decide a match").await?;
    let by = ctx.author().id;
    let (m, changes) = match verdict {
        Verdict::Approve => {
            data.db
                .settle_match(guild, match_id, by, true, None)
                .await?
        }
        Verdict::Reject => without_changes(data.db.reject_result(guild, match_id, by).await?),
        Verdict::Cancel => without_changes(data.db.cancel_match(guild, match_id, by, true).await?),
    }
    .map_err(|refused| UserError(refused.to_string()))?;
    refresh_posts(ctx.http(), &m, &changes, false).await;
    if !changes.is_empty() {
        super::ranks::sync_present(ctx.http(), data, guild, &changed(&changes)).await;
    }
    let what = match verdict {
        Verdict::Approve => format!("Match #{match_id} settled.\n{}", changes_text(&changes)),
        Verdict::Reject => {
            format!("Match #{match_id}'s result rejected: the players report again.")
        }
        Verdict::Cancel => format!("Match #{match_id} called off; no value moved."),
    };
    ctx.send(
        CreateReply::default()
            .content(what)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// The members whose values `changes` moved.
fn changed(changes: &[Change]) -> Vec<UserId> {
    changes.iter().map(|(user, _, _)| *user).collect()
}

fn changes_text(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|(user, old, new)| {
            format!("<@{user}>: {} → {}", format_value(*old), format_value(*new))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `text` is an http(s) link made only of the characters a URL may hold (RFC 3986), so
/// that shown as `<link>` it stays one link: no `<` or `>` to end it early or start a mention,
/// no space, no markdown outside it.
fn is_link(text: &str) -> bool {
    const URL_SYMBOLS: &str = "-._~:/?#[]@!$&'()*+,;=%";
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || URL_SYMBOLS.contains(c))
    })
}

/// Whether a click is on a match card or staff post (the event router sends it here).
pub fn is_match_button(custom_id: &str) -> bool {
    parse_button(custom_id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_button_names_its_match_and_action() {
        assert_eq!(parse_button(&button_id(42, "join_a")), Some((42, "join_a")));
        assert_eq!(
            parse_button("nv:2a:next"),
            None,
            "a prompt's button is not a match's"
        );
        assert_eq!(parse_button("nvm:x:join_a"), None);
    }

    #[test]
    fn a_proof_is_a_link_and_nothing_else() {
        assert!(is_link("https://cdn.example.com/a/b.png?x=1&y=%20#top"));
        assert!(is_link("http://example.com"));
        for not_a_link in [
            "https://x<@&123",
            "https://x><@1",
            "https://x <@1>",
            "https://x<#5",
            "https://",
            "ftp://example.com",
            "example.com",
            "https://x`code`",
            "https://x|y",
            "https://é.example",
        ] {
            assert!(!is_link(not_a_link), "{not_a_link}");
        }
    }
}
