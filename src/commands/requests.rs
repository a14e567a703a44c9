//! `/tryout request` and `/tryout queue`: players ask for a tryout, evaluators pick requests
//! up.
//!
//! A request is a row ([`crate::db::requests`]) with a card in the staff channel; the card's
//! buttons carry the request's id (`nvr:<id>:<action>`) and every click reads the row, so they
//! work across restarts. Accept (an evaluator, for anyone but themselves) starts the
//! `/tryout start` wizard for that player in the evaluator's DMs and tells the player who will
//! evaluate them; when the wizard ends without a saved evaluation (cancelled, timed out, a
//! restart), the request goes back to the queue. Decline asks the evaluator for a short reason
//! and tells the player. Two evaluators pressing Accept at once: one update wins, the other is
//! told who was first.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    ButtonStyle, ChannelId, ComponentInteraction, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateInputText, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, EditMessage, GuildId, Http,
    InputTextStyle,
};

use super::replies::{direct_message, ephemeral, is_blank, plain};
use super::request_cards::{card_drawn, card_shown, card_text, declined_card, show_closed};
use super::{access, tryout};
use crate::db::requests::TryoutRequest;
use crate::db::Db;
use crate::state::AppState;
use crate::types::{Context, Error, UserError};
use crate::values::Position;
use crate::wait::custom_id;

/// Prefix of a request button's `custom_id`: `nvr:<request id>:<action>`.
const PREFIX: &str = "nvr:";
/// The longest reason for a decline.
const REASON_LIMIT: u16 = 300;
/// How long the decline form waits unless `WAIT_TIMEOUT_SECS` says otherwise.
const REASON_TIMEOUT: Duration = Duration::from_secs(300);

/// The position a player asks to be evaluated at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poise::ChoiceParameter)]
pub enum PositionChoice {
    /// Goalkeeper.
    #[name = "GK"]
    Gk,
    /// Central midfielder.
    #[name = "CM"]
    Cm,
    /// Winger.
    #[name = "LW/RW"]
    Wing,
    /// Centre forward.
    #[name = "CF"]
    Cf,
}

impl From<PositionChoice> for Position {
    fn from(choice: PositionChoice) -> Position {
        match choice {
            PositionChoice::Gk => Position::Gk,
            PositionChoice::Cm => Position::Cm,
            PositionChoice::Wing => Position::Wing,
            PositionChoice::Cf => Position::Cf,
        }
    }
}

fn button_id(id: i64, action: &str) -> String {
    format!("{PREFIX}{id}:{action}")
}

/// Splits a request button's `custom_id` into the request id and the action.
fn parse_button(custom_id: &str) -> Option<(i64, &str)> {
    let rest = custom_id.strip_prefix(PREFIX)?;
    let (id, action) = rest.split_once(':')?;
    Some((id.parse().ok()?, action))
}

/// Whether a click is on a tryout request's card (the event router sends it here).
pub fn is_request_button(custom_id: &str) -> bool {
    parse_button(custom_id).is_some()
}

fn open_buttons(id: i64) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(button_id(id, "accept"))
            .label("Accept")
            .style(ButtonStyle::Success),
        CreateButton::new(button_id(id, "decline"))
            .label("Decline")
            .style(ButtonStyle::Danger),
    ])]
}

const WAITING: &str = "Waiting for an evaluator: Accept starts the tryout in your DMs.";

/// Puts a request's card back as open (its wizard ended without an evaluation).
async fn show_open_again(http: &Http, db: &Db, r: &TryoutRequest) {
    let Some(message) = r.message else {
        return;
    };
    let edit = EditMessage::new()
        .content(card_text(r, &format!("Back in the queue. {WAITING}")))
        .components(open_buttons(r.id))
        .allowed_mentions(CreateAllowedMentions::new());
    let drawn = r.channel.edit_message(http, message, edit).await;
    card_drawn(db, r, "open", drawn).await;
}

/// How long a player whose request was declined waits before asking again: a day.
pub const DECLINE_COOLDOWN_SECS: i64 = 24 * 60 * 60;

/// Ask for a tryout: evaluators see your request and one of them picks it up
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "tryout request", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn request(
    ctx: Context<'_>,
    #[description = "The position you want to be evaluated at"] position: Option<PositionChoice>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    ctx.defer_ephemeral().await?;
    access::not_in_timeout(ctx, "ask for a tryout").await?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    let Some(channel) = settings.staff_channel.map(ChannelId::new) else {
        return Err(UserError(
            "Tryout requests aren't set up here yet: staff choose where they go with \
             `/settings staff_channel`."
                .into(),
        )
        .into());
    };
    let position = position.map(|p| Position::from(p).label());
    let player = ctx.author().id;
    // A declined player waits before asking again, so one member cannot fill the staff
    // channel with cards.
    if let Some(declined) = data.db.last_declined(guild, player).await? {
        let again = declined + DECLINE_COOLDOWN_SECS;
        if crate::db::now() < again {
            return Err(UserError(format!(
                "Your last request was declined <t:{declined}:R>: you can ask again <t:{again}:R>."
            ))
            .into());
        }
    }
    let r = match data
        .db
        .open_request(guild, player, position, channel)
        .await?
    {
        Ok(r) => r,
        Err(existing) => {
            return Err(UserError(format!(
                "You already asked for a tryout (request #{}, <t:{}:R>): an evaluator will pick \
                 it up. One request at a time.",
                existing.id, existing.created_at
            ))
            .into())
        }
    };
    let card = CreateMessage::new()
        .content(card_text(&r, WAITING))
        .components(open_buttons(r.id))
        .allowed_mentions(CreateAllowedMentions::new());
    match channel.send_message(ctx.http(), card).await {
        Ok(posted) => data.db.set_request_card(r.id, posted.id).await?,
        Err(err) => {
            tracing::warn!(error = %err, "could not post a tryout request");
            data.db
                .move_request(r.id, "open", "withdrawn", None)
                .await?;
            return Err(UserError(
                "I couldn't post your request for the evaluators, so nothing was saved. Ask staff \
                 to check my permissions in their channel."
                    .into(),
            )
            .into());
        }
    }
    ctx.send(
        CreateReply::default()
            .content(format!(
                "Your tryout request (#{}) is in. I'll DM you when an evaluator picks it up.",
                r.id
            ))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// List the open tryout requests, oldest first (evaluators)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "tryout queue", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn queue(ctx: Context<'_>) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    access::require(ctx, settings.evaluator_role, "see the tryout requests").await?;
    let open = data.db.open_requests(guild).await?;
    let mut text = format!("**Tryout requests waiting**: {}", open.len());
    for r in open.iter().take(20) {
        let position = r.position.as_deref().unwrap_or("any position");
        text.push_str(&format!(
            "\n#{} · <@{}> · {position} · asked <t:{}:R>",
            r.id, r.player, r.created_at
        ));
    }
    if open.len() > 20 {
        text.push_str(&format!("\n…and {} more.", open.len() - 20));
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

/// Acts on a click on a request card: Accept or Decline.
pub async fn on_click(http: &Http, state: &AppState, click: ComponentInteraction) {
    if let Err(err) = handle_click(http, state, &click).await {
        tracing::error!(error = format!("{err:#}"), "a tryout request button failed");
        // The click may have been answered before the failure: then the apology follows it.
        if click.create_response(http, ephemeral(SORRY)).await.is_err() {
            let followup = CreateInteractionResponseFollowup::new()
                .content(SORRY)
                .ephemeral(true);
            let _ = click.create_followup(http, followup).await;
        }
    }
}

/// Said when a click or a form failed on the bot's side.
const SORRY: &str = "Something went wrong on my side. `/tryout queue` shows the open requests.";

async fn handle_click(
    http: &Http,
    state: &AppState,
    click: &ComponentInteraction,
) -> anyhow::Result<()> {
    let Some((id, action)) = parse_button(&click.data.custom_id) else {
        return Ok(());
    };
    let Some(guild) = click.guild_id else {
        return Ok(());
    };
    if state.waits.stopping() {
        let text = "I'm restarting: try again in a minute. The request stays in the queue.";
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    let db = &state.db;
    let settings = db.settings(guild).await?;
    if !access::clicker_manages_or_has(click.member.as_ref(), settings.evaluator_role) {
        let text = format!(
            "Only {} may accept or decline tryout requests.",
            access::who(settings.evaluator_role)
        );
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    let Some(r) = db.get_request(guild, id).await? else {
        click
            .create_response(http, ephemeral("That request doesn't exist here."))
            .await?;
        return Ok(());
    };
    // A click can come before the card's id is recorded (it is known only once sent): a
    // button in the card's channel while it is being posted is that card's.
    let being_posted = r.message.is_none() && click.channel_id == r.channel;
    if r.message != Some(click.message.id) && !being_posted {
        click
            .create_response(
                http,
                ephemeral("This button doesn't belong to this message."),
            )
            .await?;
        return Ok(());
    }
    let evaluator = click.user.id;
    if r.player == evaluator {
        let text = "You can't evaluate yourself — another evaluator will pick it up.";
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    // A closed request's card may still show its buttons (its redraw failed, or a crash came
    // first, or Discord's answer to the card's post was lost): the click is told, and the card
    // redrawn.
    if matches!(r.status.as_str(), "evaluated" | "declined" | "withdrawn") {
        click.create_response(http, ephemeral(taken(&r))).await?;
        // A card whose id was never recorded is the one clicked (checked above).
        let card = TryoutRequest {
            message: r.message.or(Some(click.message.id)),
            ..r
        };
        show_closed(http, db, &card).await;
        return Ok(());
    }
    // A request someone already took is told as such (in `accept`), whatever the player's value.
    // A valued player's request is staff's to answer either way: Decline too holds the player
    // back for a day.
    if matches!(action, "accept" | "decline") && r.status == "open" {
        let staff = access::clicker_manages_or_has(click.member.as_ref(), settings.staff_role);
        if let Some(text) = refuse_valued(state, &settings, guild, &r, action, staff).await? {
            click.create_response(http, ephemeral(text)).await?;
            return Ok(());
        }
    }
    match action {
        "accept" => accept(http, state, click, guild, r).await,
        "decline" => decline(http, state, click, guild, r).await,
        _ => Ok(()),
    }
}

/// Why a member who is not staff (`staff` false) may not `action` ("accept" or "decline") the
/// request of a player who already has a value (`None` if they may).
async fn refuse_valued(
    state: &AppState,
    settings: &crate::db::GuildSettings,
    guild: GuildId,
    r: &TryoutRequest,
    action: &str,
    staff: bool,
) -> anyhow::Result<Option<String>> {
    let refused = tryout::refuse_replacing(state, settings, guild, r.player, staff).await?;
    Ok(refused.map(|text| {
        if action == "decline" {
            format!(
                "<@{}> already has a value, so only {} may answer their request. Nothing changed.",
                r.player,
                access::staff(settings.staff_role)
            )
        } else {
            text
        }
    }))
}

/// Why a request is no longer open, for the evaluator who was second.
fn taken(r: &TryoutRequest) -> String {
    let by = r
        .evaluator
        .map(|e| format!(" by <@{e}>"))
        .unwrap_or_default();
    match r.status.as_str() {
        "accepted" => format!("Request #{} was already accepted{by}.", r.id),
        "declined" => format!("Request #{} was already declined{by}.", r.id),
        "evaluated" => format!("Request #{} has already been evaluated{by}.", r.id),
        _ => format!("Request #{} is no longer open.", r.id),
    }
}

async fn accept(
    http: &Http,
    state: &AppState,
    click: &ComponentInteraction,
    guild: GuildId,
    r: TryoutRequest,
) -> anyhow::Result<()> {
    let db = &state.db;
    let evaluator = click.user.id;
    let Some(_running) = state.tryouts_running.claim(evaluator) else {
        let text = "You already have a tryout running — finish or cancel it in your DMs first.";
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    };
    let Some(_player) = state.players_in_tryout.claim((guild, r.player)) else {
        // Most often another evaluator accepted it a moment earlier: say who.
        let now = db.get_request(guild, r.id).await?.unwrap_or(r);
        let text = if now.status == "open" {
            tryout::player_in_tryout(now.player)
        } else {
            taken(&now)
        };
        click.create_response(http, ephemeral(text)).await?;
        return Ok(());
    };
    let Some(r) = db
        .decide_request(guild, r.id, evaluator, "accepted", None)
        .await?
    else {
        let now = db.get_request(guild, r.id).await?.unwrap_or(r);
        click.create_response(http, ephemeral(taken(&now))).await?;
        return Ok(());
    };
    let accepted = format!("Accepted by <@{evaluator}>: the tryout is under way.");
    let answered = click
        .create_response(
            http,
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(card_text(&r, &accepted))
                    .components(Vec::new())
                    .allowed_mentions(CreateAllowedMentions::new()),
            ),
        )
        .await;
    if answered.is_ok() {
        card_shown(db, r.id, "accepted").await;
    }
    if let Err(err) = answered {
        // No tryout starts on an answer Discord did not take: the request goes back to the
        // queue, and its card is redrawn with its buttons, since the failed answer may still
        // have taken them off.
        if db
            .move_request(r.id, "accepted", "open", Some(evaluator))
            .await?
        {
            show_open_again(http, db, &r).await;
        }
        return Err(err.into());
    }
    // The player hears of the tryout only once it has started; of its end, only if they did.
    let mut player_told = false;
    let saved = match start_wizard(http, state, click, guild, &r).await {
        Ok(Some(started)) => {
            player_told = true;
            run_wizard(http, click, guild, &r, started).await
        }
        Ok(None) => Ok(false),
        Err(err) => Err(err),
    };
    let saved = match saved {
        Ok(saved) => saved,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "a requested tryout failed");
            let sorry = CreateInteractionResponseFollowup::new()
                .content(
                    "Something went wrong on my side, so the tryout stopped. The request is \
                     back in the queue: try again in a moment.",
                )
                .ephemeral(true)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(err) = click.create_followup(http, sorry).await {
                tracing::warn!(error = %err, "could not tell an evaluator about an error");
            }
            false
        }
    };
    // A saved tryout closed the request and redrew its card itself (`Db::save_evaluation`).
    let reopened = !saved
        && db
            .move_request(r.id, "accepted", "open", Some(evaluator))
            .await?;
    if reopened && player_told {
        direct_message(
            http,
            r.player,
            &format!(
                "Your tryout request #{} is back in the queue: the tryout did not finish. \
                 Another evaluator will pick it up.",
                r.id
            ),
        )
        .await;
    }
    // Last, so a card back in the queue shows the player was told.
    if reopened {
        show_open_again(http, db, &r).await;
    }
    Ok(())
}

/// A wizard whose position menu is in the evaluator's DMs.
struct Started<'a> {
    wizard: tryout::Wizard<'a>,
    player: serenity::User,
    menu: tryout::PositionMenu,
}

/// Opens the wizard in the evaluator's DMs for the request's player, up to its position menu;
/// `None` if it could not start (the player left, the evaluator's DMs are closed), the
/// evaluator told why.
async fn start_wizard<'a>(
    http: &'a Http,
    state: &'a AppState,
    click: &ComponentInteraction,
    guild: GuildId,
    r: &TryoutRequest,
) -> anyhow::Result<Option<Started<'a>>> {
    let evaluator = click.user.id;
    let say = |text: &str| {
        CreateInteractionResponseFollowup::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new())
    };
    let player = match guild.member(http, r.player).await {
        Ok(member) => member.user,
        Err(err) if crate::types::serenity_status(&err) == Some(404) => {
            // The player left: the request ends here rather than come back to the queue.
            state
                .db
                .move_request(r.id, "accepted", "withdrawn", Some(evaluator))
                .await?;
            if let Some(message) = r.message {
                let edit = EditMessage::new()
                    .content(card_text(r, "Withdrawn: the player left the server."))
                    .components(Vec::new())
                    .allowed_mentions(CreateAllowedMentions::new());
                match r.channel.edit_message(http, message, edit).await {
                    Ok(_) => card_shown(&state.db, r.id, "withdrawn").await,
                    Err(err) => tracing::warn!(error = %err, "could not update a request card"),
                }
            }
            click
                .create_followup(http, say("That player is no longer in this server."))
                .await?;
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let dm = evaluator.create_dm_channel(http).await?.id;
    let wizard = tryout::Wizard {
        http,
        data: state,
        dm,
        evaluator,
        timeout: state.waits.timeout(tryout::STEP_TIMEOUT),
    };
    let menu = match wizard.send_position_menu(&player).await {
        Ok(menu) => menu,
        Err(err) if tryout::is_cannot_dm(&err) => {
            click.create_followup(http, say(tryout::DMS_CLOSED)).await?;
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    if let Some(position) = &r.position {
        let asked = format!("They asked to be evaluated as **{position}**.");
        if let Err(err) = wizard.say(&asked).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not show the asked position"
            );
        }
    }
    Ok(Some(Started {
        wizard,
        player,
        menu,
    }))
}

/// Points the evaluator to their DMs, tells the player who evaluates them, and runs the
/// wizard to its end. Returns whether an evaluation was saved.
async fn run_wizard(
    http: &Http,
    click: &ComponentInteraction,
    guild: GuildId,
    r: &TryoutRequest,
    started: Started<'_>,
) -> anyhow::Result<bool> {
    let Started {
        wizard,
        player,
        menu,
    } = started;
    // The menu is in the evaluator's DMs already: the wizard goes on even if this fails.
    let told = click
        .create_followup(
            http,
            CreateInteractionResponseFollowup::new()
                .content(format!(
                    "Check your DMs: the tryout of <@{}> has started.",
                    r.player
                ))
                .ephemeral(true)
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await;
    if let Err(err) = told {
        tracing::warn!(error = %err, "could not point the evaluator to their DMs");
    }
    direct_message(
        http,
        r.player,
        &format!(
            "Your tryout request #{} was accepted: <@{}> is evaluating you now.",
            r.id, wizard.evaluator
        ),
    )
    .await;
    wizard.run(guild, &player, menu).await
}

async fn decline(
    http: &Http,
    state: &AppState,
    click: &ComponentInteraction,
    guild: GuildId,
    r: TryoutRequest,
) -> anyhow::Result<()> {
    if r.status != "open" {
        click.create_response(http, ephemeral(taken(&r))).await?;
        return Ok(());
    }
    let evaluator = click.user.id;
    let prompt = state.waits.new_prompt();
    let submitted = state.waits.expect_modal(prompt, evaluator);
    let reason = CreateInputText::new(
        InputTextStyle::Paragraph,
        "Why (the player sees this)",
        "reason",
    )
    .min_length(3)
    .max_length(REASON_LIMIT)
    .required(true);
    let modal = CreateModal::new(
        custom_id(prompt, "decline"),
        format!("Decline request #{}", r.id),
    )
    .components(vec![CreateActionRow::InputText(reason)]);
    click
        .create_response(http, CreateInteractionResponse::Modal(modal))
        .await?;
    let Some(submit) = submitted.wait(state.waits.timeout(REASON_TIMEOUT)).await else {
        // The form was closed or never sent: the request stays open.
        return Ok(());
    };
    // The click is answered (with the form): a failure from here on is the submission's to
    // answer.
    if let Err(err) = decide_decline(http, state, &submit, guild, r).await {
        tracing::error!(error = format!("{err:#}"), "a decline form failed");
        let _ = submit.create_response(http, ephemeral(SORRY)).await;
    }
    Ok(())
}

/// The decline form `submit` of request `r`: checked again, then saved, shown and told.
async fn decide_decline(
    http: &Http,
    state: &AppState,
    submit: &serenity::ModalInteraction,
    guild: GuildId,
    r: TryoutRequest,
) -> anyhow::Result<()> {
    let evaluator = submit.user.id;
    // Minutes may have passed: the evaluator's rights are those of the submission.
    let settings = state.db.settings(guild).await?;
    if !access::clicker_manages_or_has(submit.member.as_ref(), settings.evaluator_role) {
        let text = "You can no longer decline tryout requests here.";
        submit.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    let staff = access::clicker_manages_or_has(submit.member.as_ref(), settings.staff_role);
    if let Some(text) = refuse_valued(state, &settings, guild, &r, "decline", staff).await? {
        submit.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    let reason: String = submit
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            serenity::ActionRowComponent::InputText(input) if input.custom_id == "reason" => {
                input.value.clone()
            }
            _ => None,
        })
        .unwrap_or_default()
        .trim()
        .chars()
        .take(usize::from(REASON_LIMIT))
        .collect();
    if reason.chars().count() < 3 || is_blank(&reason) {
        let text = "Please give the player a reason (a few words); nothing changed.";
        submit.create_response(http, ephemeral(text)).await?;
        return Ok(());
    }
    // A tryout of the player running now answers the request itself; one that would start
    // while this decides is refused until the decision is saved (not while it is told: the
    // claim is given back before any call to Discord).
    let Some(player) = state.players_in_tryout.claim((guild, r.player)) else {
        // Most often another evaluator declined or accepted it a moment earlier: say who.
        let now = state.db.get_request(guild, r.id).await?.unwrap_or(r);
        let text = if now.status == "open" {
            format!(
                "<@{}>'s tryout is running right now: it answers this request. Nothing changed.",
                now.player
            )
        } else {
            taken(&now)
        };
        submit.create_response(http, ephemeral(text)).await?;
        return Ok(());
    };
    let reason = plain(&reason);
    let decided = state
        .db
        .decide_request(guild, r.id, evaluator, "declined", Some(&reason))
        .await?;
    drop(player);
    let Some(declined) = decided else {
        let now = state.db.get_request(guild, r.id).await?.unwrap_or(r);
        submit.create_response(http, ephemeral(taken(&now))).await?;
        return Ok(());
    };
    let answered = submit
        .create_response(
            http,
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(declined_card(&declined))
                    .components(Vec::new())
                    .allowed_mentions(CreateAllowedMentions::new()),
            ),
        )
        .await;
    match answered {
        Ok(()) => card_shown(&state.db, declined.id, "declined").await,
        Err(err) => {
            // The decline stands; the card says so even though the form's answer failed.
            tracing::warn!(error = %err, "could not answer a decline form");
            show_closed(http, &state.db, &declined).await;
        }
    }
    direct_message(
        http,
        declined.player,
        &format!(
            "Your tryout request #{} was declined by <@{evaluator}>. Their reason: {reason}",
            declined.id
        ),
    )
    .await;
    Ok(())
}

/// At the start, before the gateway: withdraws the requests whose card a restart kept from
/// being posted (and tells their players), then puts the requests whose wizard a restart ended
/// back in the queue (their cards are redrawn by [`redraw_stale_cards`]). In that order, so a
/// request accepted while its card was being posted is not taken for one never posted.
pub async fn settle_interrupted(http: &Http, db: &Db) {
    match db.withdraw_unposted_requests().await {
        Ok(withdrawn) => {
            for r in withdrawn {
                let text = format!(
                    "Your tryout request #{} didn't reach the evaluators: I restarted while \
                     posting it. Nothing was kept, so run `/tryout request` again.",
                    r.id
                );
                direct_message(http, r.player, &text).await;
            }
        }
        Err(err) => tracing::warn!(error = format!("{err:#}"), "could not withdraw requests"),
    }
    if let Err(err) = db.reopen_interrupted_requests().await {
        tracing::warn!(error = format!("{err:#}"), "could not reopen requests");
    }
}

/// How many stale cards one start redraws: staff look at the latest ones, and a start with a
/// long backlog should not spend minutes of the staff channel's rate limit on old cards.
const STALE_CARDS_PER_START: i64 = 25;

/// Redraws the cards that show another state than their request's (the reopened ones, and
/// those whose redraw failed or came after a stop), the latest first. Runs beside the gateway.
pub async fn redraw_stale_cards(http: &Http, db: &Db) {
    let stale = match db.stale_cards(STALE_CARDS_PER_START).await {
        Ok(stale) => stale,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "could not read stale cards");
            return;
        }
    };
    let count = stale.len();
    for r in stale {
        match r.status.as_str() {
            "open" => show_open_again(http, db, &r).await,
            _ => show_closed(http, db, &r).await,
        }
    }
    tracing::info!(count, "stale request cards redrawn");
}
