//! `/announce`: compose an announcement and post it, deliberately.
//!
//! Destination (channel select) → mention (none, @here, @everyone or a role) → compose (modal)
//! → preview with Post / Edit / Cancel. Every step is ephemeral to the invoker until the post.
//! The post's `allowed_mentions` grant exactly the chosen mention: text typed into the modal
//! can never ping anyone else.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{
    ActionRowComponent, ChannelId, ChannelType, ComponentInteraction, ComponentInteractionDataKind,
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseMessage, CreateMessage, CreateModal,
    CreateSelectMenu, CreateSelectMenuKind, EditInteractionResponse, InputTextStyle,
    ModalInteraction, RoleId,
};

use super::access;
use crate::bot::{Context, Error, UserError};
use crate::wait::custom_id;

/// How long each select and button step waits unless `WAIT_TIMEOUT_SECS` says otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the compose modal waits unless `WAIT_TIMEOUT_SECS` says otherwise.
pub const MODAL_TIMEOUT: Duration = Duration::from_secs(600);
/// Discord's limit on a message, in characters, the mention line included.
pub const POST_LIMIT: usize = 2000;

/// Who the post pings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mention {
    /// Nobody.
    None,
    /// `@here`.
    Here,
    /// `@everyone`.
    Everyone,
    /// One role.
    Role(RoleId),
}

/// What the invoker wrote in the modal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    /// Optional title, shown in bold.
    pub title: String,
    /// The body.
    pub body: String,
}

/// Breaks an `@everyone` or `@here` in typed text so it renders as text and cannot ping.
fn defuse(text: &str, word: &str) -> String {
    text.replace(&format!("@{word}"), &format!("@\u{200b}{word}"))
}

/// The exact text that will be posted.
pub fn render(mention: Mention, draft: &Draft) -> String {
    // Discord's "everyone" mention type covers both @everyone and @here, so when one of them
    // is granted, the other is defused in the typed text.
    let clean = |text: &str| match mention {
        Mention::Here => defuse(text, "everyone"),
        Mention::Everyone => defuse(text, "here"),
        _ => text.to_owned(),
    };
    let mut text = String::new();
    match mention {
        Mention::None => {}
        Mention::Here => text.push_str("@here\n"),
        Mention::Everyone => text.push_str("@everyone\n"),
        Mention::Role(role) => text.push_str(&format!("<@&{role}>\n")),
    }
    let title = draft.title.trim();
    if !title.is_empty() {
        text.push_str(&format!("**{}**\n", clean(title)));
    }
    text.push_str(&clean(draft.body.trim()));
    text
}

/// The mentions the post may use: exactly the chosen one.
pub fn allowed_mentions(mention: Mention) -> CreateAllowedMentions {
    match mention {
        Mention::None => CreateAllowedMentions::new(),
        Mention::Here | Mention::Everyone => CreateAllowedMentions::new().everyone(true),
        Mention::Role(role) => CreateAllowedMentions::new().roles([role]),
    }
}

fn describe(mention: Mention) -> String {
    match mention {
        Mention::None => "no ping".to_owned(),
        Mention::Here => "@here".to_owned(),
        Mention::Everyone => "@everyone".to_owned(),
        Mention::Role(role) => format!("<@&{role}>"),
    }
}

fn cancel_button(prompt: u64, enabled: bool) -> CreateButton {
    CreateButton::new(custom_id(prompt, "cancel"))
        .label("Cancel")
        .style(serenity::ButtonStyle::Secondary)
        .disabled(!enabled)
}

fn destination_rows(prompt: u64, enabled: bool) -> Vec<CreateActionRow> {
    let kind = CreateSelectMenuKind::Channel {
        channel_types: Some(vec![ChannelType::Text, ChannelType::News]),
        default_channels: None,
    };
    vec![
        CreateActionRow::SelectMenu(
            CreateSelectMenu::new(custom_id(prompt, "channel"), kind)
                .placeholder("Channel to post in")
                .disabled(!enabled),
        ),
        CreateActionRow::Buttons(vec![cancel_button(prompt, enabled)]),
    ]
}

fn mention_rows(prompt: u64, enabled: bool) -> Vec<CreateActionRow> {
    let button = |action: &str, label: &str| {
        CreateButton::new(custom_id(prompt, action))
            .label(label)
            .style(serenity::ButtonStyle::Secondary)
            .disabled(!enabled)
    };
    vec![
        CreateActionRow::Buttons(vec![
            button("none", "No ping"),
            button("here", "@here"),
            button("everyone", "@everyone"),
            cancel_button(prompt, enabled),
        ]),
        CreateActionRow::SelectMenu(
            CreateSelectMenu::new(
                custom_id(prompt, "role"),
                CreateSelectMenuKind::Role {
                    default_roles: None,
                },
            )
            .placeholder("…or ping one role")
            .disabled(!enabled),
        ),
    ]
}

fn preview_rows(prompt: u64, can_post: bool) -> Vec<CreateActionRow> {
    let mut buttons = Vec::new();
    if can_post {
        buttons.push(
            CreateButton::new(custom_id(prompt, "post"))
                .label("Post")
                .style(serenity::ButtonStyle::Success),
        );
    }
    buttons.push(
        CreateButton::new(custom_id(prompt, "edit"))
            .label("Edit")
            .style(serenity::ButtonStyle::Primary),
    );
    buttons.push(cancel_button(prompt, true));
    vec![CreateActionRow::Buttons(buttons)]
}

fn compose_modal(prompt: u64, draft: &Draft) -> CreateModal {
    let mut title = CreateInputText::new(InputTextStyle::Short, "Title (optional)", "title")
        .required(false)
        .max_length(200);
    if !draft.title.is_empty() {
        title = title.value(&draft.title);
    }
    let mut body = CreateInputText::new(InputTextStyle::Paragraph, "Announcement", "body")
        .required(true)
        .max_length(4000);
    if !draft.body.is_empty() {
        body = body.value(&draft.body);
    }
    CreateModal::new(custom_id(prompt, "compose"), "Compose the announcement").components(vec![
        CreateActionRow::InputText(title),
        CreateActionRow::InputText(body),
    ])
}

fn read_draft(submit: &ModalInteraction) -> Draft {
    let mut draft = Draft::default();
    for row in &submit.data.components {
        for component in &row.components {
            if let ActionRowComponent::InputText(input) = component {
                let value = input.value.clone().unwrap_or_default();
                match input.custom_id.as_str() {
                    "title" => draft.title = value,
                    "body" => draft.body = value,
                    _ => {}
                }
            }
        }
    }
    draft
}

fn update(content: impl Into<String>, rows: Vec<CreateActionRow>) -> CreateInteractionResponse {
    CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .content(content)
            .embeds(Vec::new())
            .components(rows)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

fn action(click: &ComponentInteraction) -> &str {
    crate::wait::parse_custom_id(&click.data.custom_id).map_or("", |(_, action)| action)
}

/// Compose and post an announcement (Manage Messages or staff)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "announce", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn announce(ctx: Context<'_>) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    if !access::has_permission_or_role(
        ctx,
        serenity::Permissions::MANAGE_MESSAGES,
        settings.staff_role,
    )
    .await
    {
        return Err(UserError(
            "Sorry, only members with Manage Messages (or the staff role) may post announcements."
                .into(),
        )
        .into());
    }
    let waits = &data.waits;
    let author = ctx.author().id;
    let step_timeout = waits.timeout(STEP_TIMEOUT);
    let modal_timeout = waits.timeout(MODAL_TIMEOUT);
    let prompt = waits.new_prompt();

    // 1. Destination.
    let click = waits.expect_component(prompt, author);
    let handle = ctx
        .send(
            CreateReply::default()
                .content("**New announcement** — step 1 of 3: where should it be posted?")
                .components(destination_rows(prompt, true))
                .ephemeral(true),
        )
        .await?;
    let expire = |rows: Vec<CreateActionRow>| async {
        let why = if data.stopping() {
            "The bot is restarting — nothing was posted. Run /announce again in a minute."
        } else {
            "Timed out — nothing was posted. Run /announce again when you're ready."
        };
        let edit = CreateReply::default().content(why).components(rows);
        if let Err(err) = handle.edit(ctx, edit).await {
            tracing::warn!(error = %err, "could not disable an expired announcement");
        }
    };
    let Some(chosen) = click.wait(step_timeout).await else {
        expire(destination_rows(prompt, false)).await;
        return Ok(());
    };
    let channel = match &chosen.data.kind {
        ComponentInteractionDataKind::ChannelSelect { values } => values.first().copied(),
        _ => None,
    };
    let Some(channel) = channel else {
        chosen
            .create_response(ctx, update(CANCELLED, destination_rows(prompt, false)))
            .await?;
        return Ok(());
    };

    // 2. Mention.
    let click = waits.expect_component(prompt, author);
    chosen
        .create_response(
            ctx,
            update(
                format!("**New announcement** in <#{channel}> — step 2 of 3: who should it ping?"),
                mention_rows(prompt, true),
            ),
        )
        .await?;
    let Some(chosen) = click.wait(step_timeout).await else {
        expire(mention_rows(prompt, false)).await;
        return Ok(());
    };
    let mention = match (action(&chosen), &chosen.data.kind) {
        ("none", _) => Mention::None,
        ("here", _) => Mention::Here,
        ("everyone", _) => Mention::Everyone,
        ("role", ComponentInteractionDataKind::RoleSelect { values }) if !values.is_empty() => {
            Mention::Role(values[0])
        }
        _ => {
            chosen
                .create_response(ctx, update(CANCELLED, mention_rows(prompt, false)))
                .await?;
            return Ok(());
        }
    };

    // 3. Compose, preview, and Edit as often as wanted.
    let mut draft = Draft::default();
    let mut trigger = chosen;
    loop {
        let modal_prompt = waits.new_prompt();
        let submitted = waits.expect_modal(modal_prompt, author);
        trigger
            .create_response(
                ctx,
                CreateInteractionResponse::Modal(compose_modal(modal_prompt, &draft)),
            )
            .await?;
        let Some(submit) = submitted.wait(modal_timeout).await else {
            expire(preview_rows(prompt, false)).await;
            return Ok(());
        };
        draft = read_draft(&submit);
        let text = render(mention, &draft);
        let length = text.chars().count();
        let click = waits.expect_component(prompt, author);
        if length > POST_LIMIT {
            let content = format!(
                "That announcement is {length} characters with the mention line; the limit is {POST_LIMIT}. \
                 Edit it to make it shorter, or cancel."
            );
            submit
                .create_response(ctx, update(content, preview_rows(prompt, false)))
                .await?;
        } else {
            let header = format!(
                "**Preview** — step 3 of 3: this is exactly what will be posted in <#{channel}> ({}).",
                describe(mention)
            );
            let preview = CreateInteractionResponseMessage::new()
                .content(header)
                .embed(CreateEmbed::new().description(&text))
                .components(preview_rows(prompt, true))
                .allowed_mentions(CreateAllowedMentions::new());
            submit
                .create_response(ctx, CreateInteractionResponse::UpdateMessage(preview))
                .await?;
        }
        let Some(chosen) = click.wait(step_timeout).await else {
            expire(preview_rows(prompt, false)).await;
            return Ok(());
        };
        match action(&chosen) {
            "edit" => trigger = chosen,
            "post" if length <= POST_LIMIT => {
                // Acknowledge first: the post is a REST call of its own.
                chosen
                    .create_response(ctx, CreateInteractionResponse::Acknowledge)
                    .await?;
                let outcome = post(ctx, channel, mention, &text).await;
                chosen
                    .edit_response(
                        ctx,
                        EditInteractionResponse::new()
                            .content(outcome)
                            .embeds(Vec::new())
                            .components(Vec::new()),
                    )
                    .await?;
                return Ok(());
            }
            _ => {
                chosen
                    .create_response(ctx, update(CANCELLED, Vec::new()))
                    .await?;
                return Ok(());
            }
        }
    }
}

/// Said when the invoker cancels.
const CANCELLED: &str = "Cancelled — nothing was posted.";

/// Posts the announcement; returns what to tell the invoker.
async fn post(ctx: Context<'_>, channel: ChannelId, mention: Mention, text: &str) -> String {
    let message = CreateMessage::new()
        .content(text)
        .allowed_mentions(allowed_mentions(mention));
    match channel.send_message(ctx, message).await {
        Ok(posted) => format!("Posted in <#{channel}>: {}", posted.link()),
        Err(err) => {
            let code = match &err {
                serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) => {
                    Some(r.error.code)
                }
                _ => None,
            };
            let missing_permission = code == Some(50013)
                || code == Some(50001)
                || matches!(
                    err,
                    serenity::Error::Model(serenity::ModelError::InvalidPermissions { .. })
                );
            if missing_permission {
                format!("I don't have permission to post in <#{channel}>. Nothing was posted.")
            } else if code == Some(10003) {
                "That channel doesn't exist any more. Nothing was posted.".to_owned()
            } else {
                tracing::error!(error = %err, "could not post an announcement");
                "Something went wrong while posting. Nothing was posted; please try again."
                    .to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(title: &str, body: &str) -> Draft {
        Draft {
            title: title.into(),
            body: body.into(),
        }
    }

    #[test]
    fn the_mention_line_title_and_body_are_rendered_in_order() {
        let d = draft("Match day", "Kick-off at 8");
        assert_eq!(render(Mention::None, &d), "**Match day**\nKick-off at 8");
        assert_eq!(
            render(Mention::Everyone, &d),
            "@everyone\n**Match day**\nKick-off at 8"
        );
        assert_eq!(
            render(Mention::Role(RoleId::new(5)), &draft("", "x")),
            "<@&5>\nx"
        );
    }

    #[test]
    fn granting_here_never_lets_typed_everyone_ping_and_vice_versa() {
        let d = draft("", "hi @everyone and @here");
        let here = render(Mention::Here, &d);
        assert!(
            !here.contains("@everyone") && here.starts_with("@here\n"),
            "{here}"
        );
        let everyone = render(Mention::Everyone, &d);
        assert!(everyone.contains("@\u{200b}here"), "{everyone}");
        assert_eq!(everyone.matches("@everyone").count(), 2, "{everyone}");
    }

    #[test]
    fn allowed_mentions_grant_exactly_the_choice() {
        let json = |m| serde_json::to_value(allowed_mentions(m)).unwrap();
        assert_eq!(json(Mention::None)["parse"], serde_json::json!([]));
        assert_eq!(
            json(Mention::Here)["parse"],
            serde_json::json!(["everyone"])
        );
        let role = json(Mention::Role(RoleId::new(7)));
        assert_eq!(role["parse"], serde_json::json!([]));
        assert_eq!(role["roles"], serde_json::json!(["7"]));
    }
}
