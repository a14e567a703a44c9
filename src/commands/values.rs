//! Member values: `/value`, `/rankings`, `/setvalue`, `/addvalue`, `/valuehistory`.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage,
};

use super::access;
use super::flow_message::FlowMessage;
use crate::db::ValueChange;
use crate::types::{Context, Error, UserError};
use crate::values::format_value;
use crate::wait::custom_id;

/// Members per leaderboard page.
pub const PAGE_SIZE: i64 = 10;
/// How long the leaderboard's buttons wait for a click unless `WAIT_TIMEOUT_SECS` says otherwise.
pub const RANKINGS_TIMEOUT: Duration = Duration::from_secs(120);

/// Show a member's value and rank
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "value", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn value(
    ctx: Context<'_>,
    #[description = "Whose value (default: yours)"] member: Option<serenity::User>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let user = member.as_ref().unwrap_or_else(|| ctx.author());
    let text = match ctx.data().db.standing(guild, user.id).await? {
        Some((value, rank)) => format!(
            "<@{}> is worth **{}** — rank #{rank}.",
            user.id,
            format_value(value)
        ),
        None => format!(
            "<@{}> has no value yet: **{}**, unranked.",
            user.id,
            format_value(0)
        ),
    };
    ctx.say(text).await?;
    Ok(())
}

/// The leaderboard page's text.
fn page_text(page: i64, pages: i64, rows: &[(serenity::UserId, i64)]) -> String {
    if rows.is_empty() {
        return "**Rankings**\nNobody has a value yet.".to_owned();
    }
    let mut text = format!("**Rankings** — page {}/{}\n", page + 1, pages);
    for (i, (user, value)) in rows.iter().enumerate() {
        let rank = page * PAGE_SIZE + i as i64 + 1;
        text.push_str(&format!("{rank}. <@{user}> — {}\n", format_value(*value)));
    }
    text
}

fn page_buttons(prompt: u64, page: i64, pages: i64, enabled: bool) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(custom_id(prompt, "prev"))
            .label("Previous")
            .style(serenity::ButtonStyle::Secondary)
            .disabled(!enabled || page == 0),
        CreateButton::new(custom_id(prompt, "next"))
            .label("Next")
            .style(serenity::ButtonStyle::Secondary)
            .disabled(!enabled || page + 1 >= pages),
    ])]
}

/// Show the server's leaderboard by value
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "rankings", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn rankings(ctx: Context<'_>) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let data = ctx.data();
    let _open = data
        .flows
        .open(ctx.author().id)
        .ok_or_else(|| UserError(crate::flows::TOO_MANY.into()))?;
    let (mut page, pages, rows) = read_page(&data.db, guild, 0).await?;
    let prompt = data.waits.new_prompt();
    let mut click = data.waits.expect_component(prompt, ctx.author().id);
    let handle = ctx
        .send(
            CreateReply::default()
                .content(page_text(page, pages, &rows))
                .components(page_buttons(prompt, page, pages, true)),
        )
        .await?;
    if pages == 1 {
        return Ok(());
    }
    let timeout = data.waits.timeout(RANKINGS_TIMEOUT);
    let message = FlowMessage::new(handle);
    loop {
        let Some(pressed) = click.wait(timeout).await else {
            // No click in time: the buttons stop working, visibly.
            let (page, pages, rows) = read_page(&data.db, guild, page).await?;
            let text = page_text(page, pages, &rows);
            let buttons = page_buttons(prompt, page, pages, false);
            message.edit(ctx, text, buttons).await?;
            return Ok(());
        };
        // Registered before answering, so a quick second click is not lost.
        click = data.waits.expect_component(prompt, ctx.author().id);
        let wanted = if pressed.data.custom_id.ends_with(":next") {
            page + 1
        } else {
            (page - 1).max(0)
        };
        let (now, pages, rows) = read_page(&data.db, guild, wanted).await?;
        page = now;
        let answered = pressed
            .create_response(
                ctx,
                CreateInteractionResponse::UpdateMessage(
                    CreateInteractionResponseMessage::new()
                        .content(page_text(page, pages, &rows))
                        .components(page_buttons(prompt, page, pages, true))
                        .allowed_mentions(CreateAllowedMentions::new()),
                ),
            )
            .await;
        // A click Discord did not take leaves the page as it was; the buttons still work.
        match answered {
            Ok(()) => message.answered(&pressed.token),
            Err(err) => tracing::warn!(error = %err, "could not turn a rankings page"),
        }
    }
}

/// Page `wanted` (from 0) of `guild`'s rankings as they are now, or their last page if they
/// shrank below it: the page read, how many pages there are now, and its rows.
async fn read_page(
    db: &crate::db::Db,
    guild: serenity::GuildId,
    wanted: i64,
) -> anyhow::Result<(i64, i64, Vec<(serenity::UserId, i64)>)> {
    let pages_of = |total: i64| ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let (rows, total) = db.leaderboard(guild, wanted, PAGE_SIZE).await?;
    let pages = pages_of(total);
    if wanted < pages {
        return Ok((wanted, pages, rows));
    }
    let (rows, total) = db.leaderboard(guild, pages - 1, PAGE_SIZE).await?;
    Ok((pages - 1, pages_of(total), rows))
}

async fn change(
    ctx: Context<'_>,
    member: serenity::User,
    change: ValueChange,
    reason: Option<String>,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let settings = ctx.data().db.settings(guild).await?;
    access::require(ctx, settings.staff_role, "change values").await?;
    if member.id == ctx.author().id {
        return Err(UserError(
            "Nobody changes their own value: ask another staff member. Nothing changed.".into(),
        )
        .into());
    }
    if member.bot {
        return Err(UserError("Bots have no value. Nothing changed.".into()).into());
    }
    if !access::option_is_member(ctx, member.id) {
        return Err(UserError(format!(
            "<@{}> isn't a member of this server, so they have no value here. Nothing changed.",
            member.id
        ))
        .into());
    }
    let result = ctx
        .data()
        .db
        .change_value(guild, member.id, ctx.author().id, change, reason.as_deref())
        .await?;
    match result {
        Ok((old, new)) => {
            // The change is saved: what follows from it is done even if the reply fails, and a
            // failed reply is tried once more (an error would have staff try the change again).
            let text = format!(
                "<@{}>'s value: {} → **{}**.",
                member.id,
                format_value(old),
                format_value(new)
            );
            let said = match ctx.say(text.clone()).await {
                Ok(_) => Ok(()),
                Err(_) => ctx.say(text).await.map(drop),
            };
            // Staff changed their value: they count for the rank role again if they had left.
            super::ranks::sync_present(ctx.http(), ctx.data(), guild, &[member.id]).await;
            if new > 0 && first_value(ctx, guild, &member).await {
                let notes = super::roles::first_value(
                    ctx.http(),
                    ctx.data().bot_user,
                    &settings,
                    guild,
                    member.id,
                )
                .await;
                if !notes.is_empty() {
                    let note = CreateReply::default()
                        .content(notes.join("\n"))
                        .ephemeral(true)
                        .allowed_mentions(CreateAllowedMentions::new());
                    if let Err(err) = ctx.send(note).await {
                        tracing::warn!(error = %err, "could not tell staff about the roles");
                    }
                }
            }
            tell_member(ctx, guild, &member, (old, new)).await;
            if let Err(err) = said {
                tracing::warn!(error = %err, "could not answer a value change, which is saved");
            }
            Ok(())
        }
        Err(refused) => Err(UserError(format!("Nothing changed: {refused}.")).into()),
    }
}

/// Whether the change just made, to a value above ¥0, is the first that took `member` above it
/// here (¥0 counts as no value).
async fn first_value(ctx: Context<'_>, guild: serenity::GuildId, member: &serenity::User) -> bool {
    match ctx.data().db.times_valued(guild, member.id).await {
        Ok(times) => times == 1,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not read the value history"
            );
            false
        }
    }
}

/// DMs `member` their new value and rank after a staff change. Closed DMs are normal: the
/// change stands and the failure is only logged.
async fn tell_member(
    ctx: Context<'_>,
    guild: serenity::GuildId,
    member: &serenity::User,
    (old, new): (i64, i64),
) {
    if old == new {
        return;
    }
    let rank = match ctx.data().db.standing(guild, member.id).await {
        Ok(Some((_, rank))) => format!(", rank #{rank}"),
        _ => String::new(),
    };
    let server = ctx
        .guild()
        .map(|g| g.name.clone())
        .unwrap_or_else(|| "the server".to_owned());
    let text = format!(
        "Staff changed your value in {server}: {} → **{}**{rank}.",
        format_value(old),
        format_value(new)
    );
    super::replies::direct_message(ctx.http(), member.id, &text).await;
}

/// Set a member's value (staff)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "setvalue", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn setvalue(
    ctx: Context<'_>,
    #[description = "Whose value"] member: serenity::User,
    #[description = "New value, in millions (0 to 1,000,000)"] amount: i64,
    #[description = "Why (kept in the history)"]
    #[max_length = 200]
    reason: Option<String>,
) -> Result<(), Error> {
    change(ctx, member, ValueChange::Set(amount), reason).await
}

/// Add to (or subtract from) a member's value (staff)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "addvalue", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn addvalue(
    ctx: Context<'_>,
    #[description = "Whose value"] member: serenity::User,
    #[description = "Amount to add, in millions (negative to subtract)"] delta: i64,
    #[description = "Why (kept in the history)"]
    #[max_length = 200]
    reason: Option<String>,
) -> Result<(), Error> {
    change(ctx, member, ValueChange::Add(delta), reason).await
}

/// Show the last changes to a member's value
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "valuehistory", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn valuehistory(
    ctx: Context<'_>,
    #[description = "Whose history"] member: serenity::User,
) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let history = ctx.data().db.history(guild, member.id, 10).await?;
    let mut text = format!("**Value history of <@{}>** (newest first)\n", member.id);
    if history.is_empty() {
        text.push_str("No changes yet.");
    }
    for row in &history {
        text.push_str(&history_line(row));
    }
    ctx.send(CreateReply::default().content(cut(&text)).ephemeral(true))
        .await?;
    Ok(())
}

/// One row of `/valuehistory`. The reason is shown as staff typed it, literally (no link,
/// mention or formatting), and short enough that ten rows fit in one message.
fn history_line(row: &crate::db::HistoryRow) -> String {
    let why = row.reason.as_deref().map_or_else(
        || "no reason given".to_owned(),
        |reason| super::replies::plain(&super::replies::shortened(reason, SHOWN_REASON)),
    );
    format!(
        "<t:{}:d> {} → {} by <@{}> ({why})\n",
        row.created_at,
        format_value(row.old_value),
        format_value(row.new_value),
        row.changed_by
    )
}

/// How much of a reason `/valuehistory` shows: ten rows, each reason escaped (so up to twice
/// as long), stay within one message.
const SHOWN_REASON: usize = 50;

/// Cuts `text` to one Discord message.
fn cut(text: &str) -> String {
    text.chars().take(2000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_of_the_longest_history_rows_fit_in_one_message() {
        let row = crate::db::HistoryRow {
            old_value: 1_000_000,
            new_value: 1_000_000,
            changed_by: serenity::UserId::new(u64::MAX),
            reason: Some("*".repeat(200)),
            evaluation_id: None,
            created_at: i64::from(i32::MAX),
        };
        let header = format!("**Value history of <@{}>** (newest first)\n", u64::MAX);
        let text = header + &history_line(&row).repeat(10);
        assert!(text.chars().count() <= 2000, "{}", text.chars().count());
        assert!(history_line(&row).contains("\\*…"));
    }
}
