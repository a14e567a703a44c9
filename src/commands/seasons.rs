//! `/season`: end a season (archive the rankings, apply the league's reset rule) and show an
//! archived one.

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage, EditInteractionResponse,
};
use std::time::Duration;

use super::access;
use crate::db::seasons::{Season, SeasonRefusal};
use crate::db::SeasonReset;
use crate::types::{Context, Error, UserError};
use crate::values::format_value;
use crate::wait::custom_id;

/// How long the confirmation waits for a click unless `WAIT_TIMEOUT_SECS` says otherwise.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);
/// How many ranked members `/season show` lists.
const SHOWN: usize = 10;

/// Seasons: end the current one, or show an archived one
#[poise::command(slash_command, guild_only, subcommands("end", "show"))]
pub async fn season(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

fn rule_text(rule: SeasonReset, base: i64) -> String {
    match rule {
        SeasonReset::Keep => "values are kept".to_owned(),
        SeasonReset::Reset => format!("every value goes back to {}", format_value(base)),
    }
}

fn confirm_rows(prompt: u64, enabled: bool) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(custom_id(prompt, "end"))
            .label("End the season")
            .style(ButtonStyle::Danger)
            .disabled(!enabled),
        CreateButton::new(custom_id(prompt, "cancel"))
            .label("Cancel")
            .style(ButtonStyle::Secondary)
            .disabled(!enabled),
    ])]
}

/// End the season: archive the rankings, then apply the reset rule (Manage Server)
#[poise::command(slash_command, guild_only, default_member_permissions = "MANAGE_GUILD")]
#[tracing::instrument(name = "command", skip_all, fields(command = "season end", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn end(ctx: Context<'_>) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    access::require(ctx, None, "end a season").await?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    let rule = settings.season_reset.unwrap_or(SeasonReset::Keep);
    let base = settings.season_base_value.unwrap_or(0);
    // The confirmation names the season it ends: a second confirmation (another staff
    // member's, or a double click) finds it ended and changes nothing.
    let number = data.db.next_season_number(guild).await?;
    let prompt = data.waits.new_prompt();
    let click = data.waits.expect_component(prompt, ctx.author().id);
    let ask = format!(
        "**End season {number}?** Open and full matches are called off, the rankings are \
         archived, then {} (`/settings season_reset`).",
        rule_text(rule, base)
    );
    let handle = ctx
        .send(
            CreateReply::default()
                .content(&ask)
                .components(confirm_rows(prompt, true))
                .ephemeral(true),
        )
        .await?;
    let Some(pressed) = click.wait(data.waits.timeout(CONFIRM_TIMEOUT)).await else {
        let expired = format!("{ask}\n\nNo answer in time: nothing changed.");
        handle
            .edit(
                ctx,
                CreateReply::default()
                    .content(expired)
                    .components(confirm_rows(prompt, false)),
            )
            .await?;
        return Ok(());
    };
    let update = |text: String| {
        CreateInteractionResponse::UpdateMessage(
            CreateInteractionResponseMessage::new()
                .content(text)
                .components(Vec::new())
                .allowed_mentions(CreateAllowedMentions::new()),
        )
    };
    if !pressed.data.custom_id.ends_with(":end") {
        pressed
            .create_response(ctx, update("Cancelled: the season goes on.".into()))
            .await?;
        return Ok(());
    }
    // Decided again at the click: the member may have lost Manage Server, or been put in
    // timeout, meanwhile.
    if !access::clicker_manages_or_has(pressed.member.as_ref(), None) {
        pressed
            .create_response(
                ctx,
                update("Only members with Manage Server may end a season.".into()),
            )
            .await?;
        return Ok(());
    }
    // The reset may take a while on a large server: the click is answered first.
    pressed
        .create_response(ctx, update(format!("Ending season {number}…")))
        .await?;
    let ended = data
        .db
        .end_season(guild, ctx.author().id, (rule, base), number)
        .await?;
    let text = match ended {
        Ok(end) => {
            super::matches::redraw(ctx.http(), &data.db, guild, &end.cancelled).await;
            super::ranks::sync(ctx.http(), data, guild).await;
            format!(
                "**Season {} ended.** Its rankings are archived (`/season show {}`); {} ({} \
                 changed). Matches called off: {}.",
                end.season.number,
                end.season.number,
                rule_text(rule, base),
                end.changed,
                end.cancelled.len()
            )
        }
        Err(SeasonRefusal::AlreadyEnded(n)) => {
            format!("Season {n} has already ended: nothing changed.")
        }
        Err(SeasonRefusal::ResultsWaiting(ids)) => {
            let list: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
            format!(
                "Nothing changed: the results of matches {} wait for confirmation or staff \
                 (`/match decide`). Settle them first.",
                list.join(", ")
            )
        }
    };
    pressed
        .edit_response(
            ctx,
            EditInteractionResponse::new()
                .content(text)
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await?;
    Ok(())
}

fn season_text(season: &Season) -> String {
    let mut text = format!(
        "**Season {}** — ended <t:{}:D>; then {}.\n",
        season.number, season.ended_at, season.reset_rule
    );
    if season.rankings.is_empty() {
        text.push_str("Nobody had a value.");
    }
    for (rank, (user, value)) in season.rankings.iter().take(SHOWN).enumerate() {
        text.push_str(&format!(
            "{}. <@{user}> — {}\n",
            rank + 1,
            format_value(*value)
        ));
    }
    let more = season.rankings.len().saturating_sub(SHOWN);
    if more > 0 {
        text.push_str(&format!("…and {more} more."));
    }
    text
}

/// Show an archived season's final rankings (default: the last one)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "season show", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn show(
    ctx: Context<'_>,
    #[description = "The season's number (default: the last one)"]
    #[min = 1]
    number: Option<i64>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let Some(season) = ctx.data().db.season(guild, number).await? else {
        let text = match number {
            Some(n) => format!("There is no season {n} yet."),
            None => "No season has ended yet.".to_owned(),
        };
        return Err(UserError(text).into());
    };
    ctx.send(
        CreateReply::default()
            .content(season_text(&season))
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
