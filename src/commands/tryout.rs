//! `/tryout start`: the evaluation wizard, run in the evaluator's DMs (also started by an
//! evaluator accepting a `/tryout request`, see [`super::requests`]).
//!
//! Position (select) → one rating per skill (typed, 0–10) → feedback (typed) → summary with
//! Confirm / Cancel. Every step waits through the wait registry and can time out; `cancel` or
//! the Cancel button ends it. Nothing is written until Confirm, and then everything is written
//! in one transaction.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    ChannelId, ComponentInteraction, ComponentInteractionDataKind, CreateActionRow,
    CreateAllowedMentions, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption, EditMessage, GuildId, Http, MessageId, UserId,
};

use super::request_cards::show_closed;
use super::{access, publication};
use crate::db::{GuildSettings, NewEvaluation, Publication};
use crate::state::AppState;
use crate::types::{Context, Error, UserError};
use crate::values::{compute, format_value, parse_rating, Position, RatingInput, Ratings};
use crate::wait::{click_or_message, custom_id, Pending, Reply};

/// How long each step waits unless `WAIT_TIMEOUT_SECS` says otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest feedback accepted, in characters as posted (each markdown character escaped):
/// the results post stays within Discord's 2,000.
pub const FEEDBACK_LIMIT: usize = 1000;
/// Said when a step times out.
pub const TIMED_OUT: &str = "You took too long to respond — run /tryout again.";
/// Said when a shutdown interrupts the wizard.
pub const INTERRUPTED: &str =
    "The bot is restarting: this tryout was interrupted and nothing was saved. Run /tryout again in a minute.";
/// Said when the evaluator cancels.
pub const CANCELLED: &str = "Tryout cancelled — nothing was saved.";
/// Said when the evaluator lost the right to run tryouts while the wizard ran.
pub const NO_LONGER_EVALUATOR: &str =
    "You can no longer run tryouts in that server (your evaluator role or Manage Server is gone), so nothing was saved.";
/// Why an evaluator who is not staff may not evaluate `player`, who has `value`: a tryout
/// replaces a value, and a value set by matches or by staff is staff's to change. Evaluators
/// evaluate players who have no value yet.
///
/// `staff` names who may: [`access::staff`] in the server, plain "staff" in DMs, where a role
/// mention shows as an unknown role.
pub fn valued_player(player: UserId, value: i64, staff: &str) -> String {
    format!(
        "<@{player}> already has a value ({}): a tryout would replace it, so only {staff} may \
         run it. Nothing changed.",
        format_value(value),
    )
}

/// Said when another evaluator is running `player`'s tryout: one tryout per player at a time,
/// whether started with `/tryout start` or from a request.
pub fn player_in_tryout(player: UserId) -> String {
    format!("Another evaluator is running <@{player}>'s tryout right now. Nothing was started.")
}

/// Why a tryout of `player` may not start, by an evaluator who is `staff` or not: one who is
/// not may not replace a value above 0 ([`valued_player`]). Checked again at Confirm.
pub async fn refuse_replacing(
    data: &AppState,
    settings: &GuildSettings,
    guild: GuildId,
    player: UserId,
    staff: bool,
) -> Result<Option<String>, Error> {
    if staff {
        return Ok(None);
    }
    let standing = data.db.standing(guild, player).await?;
    let value = standing.map(|(value, _)| value).filter(|value| *value > 0);
    Ok(value.map(|value| valued_player(player, value, &access::staff(settings.staff_role))))
}

/// Said when the evaluator's DMs are closed.
pub const DMS_CLOSED: &str =
    "I can't send you direct messages. Allow DMs from server members (Privacy Settings), then run /tryout again.";

/// Said when the evaluator types something at the position menu.
const TYPE_FOR_MENU: &str = "Pick the position from the menu above, or type `cancel`.";
/// Said when the evaluator types something at the summary.
const TYPE_FOR_BUTTONS: &str = "Use the Confirm or Cancel button above, or type `cancel`.";

/// Discord's error code for "Cannot send messages to this user".
const CANNOT_DM: isize = 50007;

/// Evaluate a player in a tryout (evaluators); the wizard runs in your DMs
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "tryout start", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn start(
    ctx: Context<'_>,
    #[description = "The player to evaluate"] member: serenity::User,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    access::require(ctx, settings.evaluator_role, "run tryouts").await?;
    if member.bot {
        return Err(UserError("Bots can't be evaluated.".into()).into());
    }
    if !access::option_is_member(ctx, member.id) {
        return Err(UserError(format!(
            "<@{}> isn't a member of this server: only members are evaluated.",
            member.id
        ))
        .into());
    }
    let evaluator = ctx.author().id;
    if member.id == evaluator {
        return Err(UserError(
            "You can't evaluate yourself — ask another evaluator to run your tryout.".into(),
        )
        .into());
    }
    let staff = access::has_manage_or_role(ctx, settings.staff_role).await;
    if let Some(text) = refuse_replacing(data, &settings, guild, member.id, staff).await? {
        return Err(UserError(text).into());
    }
    let Some(_running) = data.tryouts_running.claim(evaluator) else {
        return Err(UserError(
            "You already have a tryout running — finish or cancel it in your DMs first.".into(),
        )
        .into());
    };
    let Some(_player) = data.players_in_tryout.claim((guild, member.id)) else {
        return Err(UserError(player_in_tryout(member.id)).into());
    };
    // Opening the DM takes REST calls: acknowledge first (Discord's 3 s rule).
    ctx.defer_ephemeral().await?;
    let dm = ctx.author().create_dm_channel(ctx).await?.id;
    let wizard = Wizard {
        http: ctx.http(),
        data,
        dm,
        evaluator,
        timeout: data.waits.timeout(STEP_TIMEOUT),
    };

    let menu = match wizard.send_position_menu(&member).await {
        Err(err) if is_cannot_dm(&err) => return Err(UserError(DMS_CLOSED.into()).into()),
        other => other?,
    };
    // The menu is in the evaluator's DMs already: the wizard goes on even if this fails.
    let told = ctx
        .send(
            CreateReply::default()
                .content(format!(
                    "Check your DMs: the tryout of <@{}> has started.",
                    member.id
                ))
                .ephemeral(true),
        )
        .await;
    if let Err(err) = told {
        tracing::warn!(error = %err, "could not point the evaluator to their DMs");
    }
    wizard.run(guild, &member, menu).await?;
    Ok(())
}

impl Wizard<'_> {
    /// The wizard from the position menu (already sent) to the saved evaluation and its posts.
    /// Returns whether an evaluation was saved.
    pub async fn run(
        &self,
        guild: GuildId,
        member: &serenity::User,
        menu: PositionMenu,
    ) -> Result<bool, Error> {
        let (wizard, data, evaluator) = (self, self.data, self.evaluator);
        let step = wizard.ask_position(menu).await?;
        let Some(position) = wizard.finished(step).await? else {
            return Ok(false);
        };
        let mut ratings = Ratings::default();
        for skill in position.skills() {
            let step = wizard.ask_rating(skill.name()).await?;
            let Some(rating) = wizard.finished(step).await? else {
                return Ok(false);
            };
            ratings.given.push((*skill, rating));
        }
        let step = wizard.ask_feedback().await?;
        let Some(feedback) = wizard.finished(step).await? else {
            return Ok(false);
        };
        let value = compute(position, &ratings);
        let evaluation = NewEvaluation {
            guild,
            evaluator,
            player: member.id,
            position,
            ratings,
            feedback,
            value,
        };
        let step = wizard.confirm(&evaluation).await?;
        let Some(()) = wizard.finished(step).await? else {
            return Ok(false);
        };

        // The wizard took minutes: the evaluator's rights and the settings are read again now.
        let settings = data.db.settings(guild).await?;
        let standing = access::Standing::fetch(self.http, guild, evaluator).await?;
        let Some(standing) =
            standing.filter(|standing| standing.manages_or_has(settings.evaluator_role))
        else {
            wizard.say(NO_LONGER_EVALUATOR).await?;
            return Ok(false);
        };
        // Whether the player has a value is read in the same transaction as the write.
        let staff = standing.manages_or_has(settings.staff_role);
        let (id, old) = match data.db.save_evaluation(&evaluation, staff).await? {
            Ok(saved) => {
                if let Some(request) = &saved.answered {
                    show_closed(self.http, &data.db, request).await;
                }
                (saved.id, saved.old)
            }
            Err(value) => {
                wizard
                    .say(&valued_player(member.id, value, "staff"))
                    .await?;
                return Ok(false);
            }
        };
        let publication = Publication {
            evaluation_id: id,
            evaluation: evaluation.clone(),
            old_value: old,
            done: 0,
        };
        let notes = publication::publish(
            self.http,
            data.bot_user,
            &data.db,
            &data.publishing,
            &settings,
            &publication,
        )
        .await
        .map(|published| published.notes)
        .unwrap_or_else(|err| {
            tracing::error!(
                error = format!("{err:#}"),
                "could not record a tryout's posts"
            );
            vec!["Something went wrong while posting; I'll try again in a few minutes.".to_owned()]
        });
        super::ranks::sync_present(self.http, data, guild, &[member.id]).await;
        let mut text = format!(
            "Saved. <@{}>'s value is now **{}** (was {}).",
            member.id,
            format_value(value),
            format_value(old)
        );
        for note in notes {
            text.push_str("\n⚠️ ");
            text.push_str(&note);
        }
        // Saved whatever happens to this last message (the evaluator may close their DMs).
        if let Err(err) = wizard.say(&text).await {
            tracing::info!(
                error = format!("{err:#}"),
                "could not confirm a saved tryout"
            );
        }
        Ok(true)
    }
}

/// Step 1 sent and waiting: the menu's waits and what is needed to disable it.
pub struct PositionMenu {
    click: Pending<ComponentInteraction>,
    typed: Pending<serenity::Message>,
    prompt: u64,
    message: MessageId,
    text: String,
    player: String,
}

/// How a step ended.
enum Step<T> {
    /// The evaluator answered.
    Answer(T),
    /// The evaluator cancelled.
    Cancelled,
    /// The wait ran out.
    TimedOut,
}

/// The wizard's conversation in the evaluator's DMs.
pub struct Wizard<'a> {
    /// Discord's REST API.
    pub http: &'a Http,
    /// The shared state: waits, database, claims.
    pub data: &'a AppState,
    /// The evaluator's DM channel.
    pub dm: ChannelId,
    /// The evaluator.
    pub evaluator: UserId,
    /// Each step's time.
    pub timeout: Duration,
}

impl Wizard<'_> {
    /// Says `text` in the evaluator's DMs (pinging nobody).
    pub async fn say(&self, text: &str) -> Result<(), Error> {
        self.dm
            .send_message(
                self.http,
                CreateMessage::new()
                    .content(text)
                    .allowed_mentions(CreateAllowedMentions::new()),
            )
            .await?;
        Ok(())
    }

    /// Sends a prompt with components; returns its id (to disable them later).
    async fn send_with(&self, text: &str, rows: Vec<CreateActionRow>) -> Result<MessageId, Error> {
        let message = self
            .dm
            .send_message(
                self.http,
                CreateMessage::new()
                    .content(text)
                    .components(rows)
                    .allowed_mentions(CreateAllowedMentions::new()),
            )
            .await?;
        Ok(message.id)
    }

    /// Turns a step's end into the value, or tells the evaluator why the wizard stopped.
    async fn finished<T>(&self, step: Step<T>) -> Result<Option<T>, Error> {
        match step {
            Step::Answer(value) => Ok(Some(value)),
            Step::Cancelled => {
                self.say(CANCELLED).await?;
                Ok(None)
            }
            Step::TimedOut if self.data.stopping() => {
                self.say(INTERRUPTED).await?;
                Ok(None)
            }
            Step::TimedOut => {
                self.say(TIMED_OUT).await?;
                Ok(None)
            }
        }
    }

    /// Greys out a prompt's components once it is answered or expired.
    async fn disable(&self, message: MessageId, content: String, rows: Vec<CreateActionRow>) {
        let edit = EditMessage::new().content(content).components(rows);
        if let Err(err) = self.dm.edit_message(self.http, message, edit).await {
            tracing::warn!(error = %err, "could not disable a prompt's components");
        }
    }

    /// Sends step 1, the position menu, and starts waiting for the choice.
    pub async fn send_position_menu(&self, player: &serenity::User) -> Result<PositionMenu, Error> {
        let waits = &self.data.waits;
        let prompt = waits.new_prompt();
        let text = format!(
            "**Tryout of {}** — step 1: pick their position from the menu (or type `cancel`).",
            player.name
        );
        let click = waits.expect_component(prompt, self.evaluator);
        let typed = waits.expect_message(self.dm, self.evaluator);
        let message = self.send_with(&text, position_rows(prompt, true)).await?;
        Ok(PositionMenu {
            click,
            typed,
            prompt,
            message,
            text,
            player: player.name.clone(),
        })
    }

    /// Waits for the position chosen on the menu, or a typed `cancel`.
    async fn ask_position(&self, menu: PositionMenu) -> Result<Step<Position>, Error> {
        let PositionMenu {
            click,
            typed,
            prompt,
            message,
            text,
            player,
        } = menu;
        let rows = |enabled| position_rows(prompt, enabled);
        let reply = self.click_or_typed(click, typed, TYPE_FOR_MENU).await?;
        let click = match reply {
            None => {
                self.disable(message, text, rows(false)).await;
                return Ok(Step::TimedOut);
            }
            Some(Reply::Message(_)) => {
                let cancelled = format!("**Tryout of {player}** — cancelled.");
                self.disable(message, cancelled, rows(false)).await;
                return Ok(Step::Cancelled);
            }
            Some(Reply::Click(click)) => click,
        };
        let chosen = match &click.data.kind {
            ComponentInteractionDataKind::StringSelect { values } => {
                values.first().and_then(|v| Position::from_label(v))
            }
            _ => None,
        };
        let summary = match chosen {
            Some(position) => format!("**Tryout of {player}** — position: **{position}**."),
            None => format!("**Tryout of {player}** — cancelled."),
        };
        acknowledge(self.http, &click, summary, rows(false)).await;
        Ok(chosen.map_or(Step::Cancelled, Step::Answer))
    }

    /// Waits for a click on `click`'s prompt or a typed `cancel` (`Reply::Message` is always a
    /// cancel), within one step's time. Anything else typed meanwhile gets `hint` (once) and
    /// the wait goes on.
    async fn click_or_typed(
        &self,
        mut click: Pending<ComponentInteraction>,
        mut typed: Pending<serenity::Message>,
        hint: &str,
    ) -> Result<Option<Reply>, Error> {
        let waits = &self.data.waits;
        // One bound for the step, however much is typed meanwhile: each wait gets what is left
        // of it, so the step's end is the wait's own timeout (and is counted as one).
        let deadline = self.step_deadline();
        let mut hinted = false;
        loop {
            match click_or_message(&mut click, &mut typed, Self::left(deadline)).await {
                Some(Reply::Message(m)) if !m.content.trim().eq_ignore_ascii_case("cancel") => {
                    typed = waits.expect_message(self.dm, self.evaluator);
                    if !hinted {
                        self.say(hint).await?;
                        hinted = true;
                    }
                }
                other => {
                    // A click that came in with the typed `cancel` is told the step is over.
                    if let Some(Reply::Message(_)) = other {
                        if let Some(late) = click.take_late() {
                            let over = super::replies::ephemeral("That step is over.");
                            super::replies::answer_late(late.create_response(self.http, over))
                                .await;
                        }
                    }
                    return Ok(other);
                }
            }
        }
    }

    /// When a step whose prompt is out now ends: answers that are refused (and asked again)
    /// do not give it more time, so a step lasts one timeout from its prompt.
    fn step_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.timeout
    }

    /// What is left until `deadline`.
    fn left(deadline: tokio::time::Instant) -> Duration {
        deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    async fn ask_rating(&self, skill: &str) -> Result<Step<u8>, Error> {
        let waits = &self.data.waits;
        let mut text = format!("Rate **{skill}** from 0 to 10 (or type `cancel`).");
        let mut deadline = None;
        loop {
            let reply = waits.expect_message(self.dm, self.evaluator);
            self.say(&text).await?;
            let ends = *deadline.get_or_insert_with(|| self.step_deadline());
            let Some(message) = reply.wait(Self::left(ends)).await else {
                return Ok(Step::TimedOut);
            };
            match parse_rating(&message.content) {
                RatingInput::Rating(rating) => return Ok(Step::Answer(rating)),
                RatingInput::Cancel => return Ok(Step::Cancelled),
                RatingInput::Invalid => {
                    text = format!(
                        "Please answer with a whole number from 0 to 10 for **{skill}** (or type `cancel`)."
                    )
                }
            }
        }
    }

    async fn ask_feedback(&self) -> Result<Step<String>, Error> {
        let waits = &self.data.waits;
        let mut text = format!(
            "Write your feedback for the player (up to {FEEDBACK_LIMIT} characters, markdown characters counting twice), or type `cancel`."
        );
        let mut deadline = None;
        loop {
            let reply = waits.expect_message(self.dm, self.evaluator);
            self.say(&text).await?;
            let ends = *deadline.get_or_insert_with(|| self.step_deadline());
            let Some(message) = reply.wait(Self::left(ends)).await else {
                return Ok(Step::TimedOut);
            };
            let feedback = message.content.trim();
            if feedback.eq_ignore_ascii_case("cancel") {
                return Ok(Step::Cancelled);
            }
            // Counted as it is posted: markdown characters are shown as typed, each escaped.
            let length = super::replies::plain(feedback).chars().count();
            if super::replies::is_blank(feedback) {
                text = "Feedback can't be empty. Write a few words (or type `cancel`).".into();
            } else if length > FEEDBACK_LIMIT {
                text = format!(
                    "That's {length} characters as posted (markdown characters such as * _ ` - : ( ) count twice); feedback can be at most {FEEDBACK_LIMIT}. Please shorten it (or type `cancel`)."
                );
            } else {
                return Ok(Step::Answer(feedback.to_owned()));
            }
        }
    }

    async fn confirm(&self, e: &NewEvaluation) -> Result<Step<()>, Error> {
        let waits = &self.data.waits;
        let prompt = waits.new_prompt();
        let text = format!(
            "{}\n\nSave this evaluation? (Or type `cancel`.)",
            publication::summary(e)
        );
        let click = waits.expect_component(prompt, self.evaluator);
        let typed = waits.expect_message(self.dm, self.evaluator);
        let message = self.send_with(&text, confirm_rows(prompt, true)).await?;
        let reply = self.click_or_typed(click, typed, TYPE_FOR_BUTTONS).await?;
        let click = match reply {
            None => {
                self.disable(message, text, confirm_rows(prompt, false))
                    .await;
                return Ok(Step::TimedOut);
            }
            Some(Reply::Message(_)) => {
                let cancelled = format!("{}\n\nCancelled.", publication::summary(e));
                self.disable(message, cancelled, confirm_rows(prompt, false))
                    .await;
                return Ok(Step::Cancelled);
            }
            Some(Reply::Click(click)) => click,
        };
        let confirmed = click.data.custom_id.ends_with(":confirm");
        let verdict = if confirmed { "Saving…" } else { "Cancelled." };
        acknowledge(
            self.http,
            &click,
            format!("{}\n\n{verdict}", publication::summary(e)),
            confirm_rows(prompt, false),
        )
        .await;
        Ok(if confirmed {
            Step::Answer(())
        } else {
            Step::Cancelled
        })
    }
}

/// Answers a click by updating its message (within Discord's 3 s), components disabled. The
/// click is the evaluator's choice whatever becomes of its answer: a failure is logged and the
/// wizard goes on (its next message, or "Saved.", tells the evaluator where it stands).
async fn acknowledge(
    http: &Http,
    click: &ComponentInteraction,
    content: String,
    rows: Vec<CreateActionRow>,
) {
    let answered = click
        .create_response(
            http,
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(content)
                    .components(rows)
                    .allowed_mentions(CreateAllowedMentions::new()),
            ),
        )
        .await;
    if let Err(err) = answered {
        tracing::warn!(error = %err, "could not answer a wizard click; going on");
    }
}

fn position_rows(prompt: u64, enabled: bool) -> Vec<CreateActionRow> {
    let options = Position::ALL
        .iter()
        .map(|p| CreateSelectMenuOption::new(p.label(), p.label()))
        .collect();
    vec![
        CreateActionRow::SelectMenu(
            CreateSelectMenu::new(
                custom_id(prompt, "position"),
                CreateSelectMenuKind::String { options },
            )
            .placeholder("Position")
            .disabled(!enabled),
        ),
        CreateActionRow::Buttons(vec![CreateButton::new(custom_id(prompt, "cancel"))
            .label("Cancel")
            .style(serenity::ButtonStyle::Secondary)
            .disabled(!enabled)]),
    ]
}

fn confirm_rows(prompt: u64, enabled: bool) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(custom_id(prompt, "confirm"))
            .label("Confirm")
            .style(serenity::ButtonStyle::Success)
            .disabled(!enabled),
        CreateButton::new(custom_id(prompt, "cancel"))
            .label("Cancel")
            .style(serenity::ButtonStyle::Danger)
            .disabled(!enabled),
    ])]
}

/// Whether `err` is Discord refusing a DM (the user closed them).
pub fn is_cannot_dm(err: &Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<serenity::Error>()
            .and_then(crate::types::discord_code)
            == Some(CANNOT_DM)
    })
}
