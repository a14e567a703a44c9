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
use super::flow_message::FlowMessage;
use super::replies::{answer_late, ephemeral};
use crate::types::{Context, Error, UserError};
use crate::wait::{self, custom_id, FormReply};

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

/// The preview's buttons: Post (when the draft may be posted), Edit and Cancel, all grey once
/// `enabled` is false (the flow ended).
fn preview_rows(prompt: u64, can_post: bool, enabled: bool) -> Vec<CreateActionRow> {
    let mut buttons = Vec::new();
    if can_post {
        buttons.push(
            CreateButton::new(custom_id(prompt, "post"))
                .label("Post")
                .style(serenity::ButtonStyle::Success)
                .disabled(!enabled),
        );
    }
    buttons.push(
        CreateButton::new(custom_id(prompt, "edit"))
            .label("Edit")
            .style(serenity::ButtonStyle::Primary)
            .disabled(!enabled),
    );
    buttons.push(cancel_button(prompt, enabled));
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

/// Why a member with `permissions` in the destination may not send `mention` (`None` if they
/// may). @here, @everyone and roles that are not mentionable need Mention Everyone there: the
/// bot holds that permission, so without this check it would lend it to anyone.
pub fn may_ping(
    mention: Mention,
    permissions: serenity::Permissions,
    role_mentionable: bool,
) -> Option<&'static str> {
    let needs_mention_everyone = match mention {
        Mention::None => false,
        Mention::Here | Mention::Everyone => true,
        Mention::Role(_) => !role_mentionable,
    };
    (needs_mention_everyone && !permissions.mention_everyone()).then_some(
        "pinging @here, @everyone or a role that isn't mentionable needs Mention Everyone in that channel",
    )
}

/// Whether the member who clicked is staff: the configured staff role, or Manage Server.
fn clicked_by_staff(click: &ComponentInteraction, staff_role: Option<u64>) -> bool {
    click.member.as_ref().is_some_and(|member| {
        member.permissions.is_some_and(|p| p.manage_guild())
            || staff_role.is_some_and(|role| member.roles.iter().any(|r| r.get() == role))
    })
}

/// Compose and post an announcement (staff, or Manage Messages)
#[poise::command(slash_command, guild_only)]
#[tracing::instrument(name = "command", skip_all, fields(command = "announce", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn announce(ctx: Context<'_>) -> Result<(), Error> {
    let guild = access::guild(ctx)?;
    let data = ctx.data();
    let settings = data.db.settings(guild).await?;
    let staff = access::has_manage_or_role(ctx, settings.staff_role).await;
    let moderates_here =
        access::has_permission_or_role(ctx, serenity::Permissions::MANAGE_MESSAGES, None).await;
    if !staff && !moderates_here {
        return Err(UserError(REFUSED.into()).into());
    }
    let _open = data
        .flows
        .open(ctx.author().id)
        .ok_or_else(|| UserError(crate::flows::TOO_MANY.into()))?;
    let waits = &data.waits;
    let prompt = waits.new_prompt();
    let click = waits.expect_component(prompt, ctx.author().id);
    let handle = ctx
        .send(
            CreateReply::default()
                .content(STEP_1)
                .components(destination_rows(prompt, true))
                .ephemeral(true),
        )
        .await?;
    let flow = Flow {
        ctx,
        guild,
        staff_role: settings.staff_role,
        prompt,
        step_timeout: waits.timeout(STEP_TIMEOUT),
        modal_timeout: waits.timeout(MODAL_TIMEOUT),
        message: FlowMessage::new(handle),
    };
    let Some((chosen, channel, permissions)) = flow.destination(click).await? else {
        return Ok(());
    };
    let mut step = Step2::Show(chosen);
    loop {
        let Some((chosen, mention)) = flow.mention(step, channel, permissions).await? else {
            return Ok(());
        };
        match flow.compose_and_post(chosen, channel, mention).await? {
            // The form was closed before its first submission, and a mention clicked again.
            Some(again) => step = Step2::Chosen(again),
            None => return Ok(()),
        }
    }
}

/// How step 2 (who to ping) begins.
enum Step2 {
    /// By showing its choices, in answer to this click.
    Show(ComponentInteraction),
    /// With this click on one of its choices already made (behind a form the member closed).
    Chosen(ComponentInteraction),
}

/// Said to members who may not announce.
const REFUSED: &str =
    "Sorry, only staff (the staff role or Manage Server) and members with Manage Messages may post announcements.";
/// Step 1's prompt.
const STEP_1: &str = "**New announcement** — step 1 of 3: where should it be posted?";
/// Said to a click or submission that came in together with the one the flow took.
const TOO_LATE: &str =
    "That came in together with another answer to this step, which I took instead.";

/// Said when the invoker cancels.
const CANCELLED: &str = "Cancelled — nothing was posted.";

/// One `/announce` conversation: the ephemeral message its steps are on, and its deadlines.
struct Flow<'a> {
    ctx: Context<'a>,
    guild: serenity::GuildId,
    /// The staff role when the command started; Post reads the settings again.
    staff_role: Option<u64>,
    prompt: u64,
    step_timeout: Duration,
    modal_timeout: Duration,
    /// The message the steps are on.
    message: FlowMessage<'a>,
}

impl Flow<'_> {
    /// Ends the flow after a wait ran out (or shutdown began), with `rows` greyed out.
    async fn expire(&self, rows: Vec<CreateActionRow>) {
        let why = if self.ctx.data().stopping() {
            "The bot is restarting — nothing was posted. Run /announce again in a minute."
        } else {
            "Timed out — nothing was posted. Run /announce again when you're ready."
        };
        let edited = self.message.edit(self.ctx, why.to_owned(), rows).await;
        if let Err(err) = edited {
            tracing::warn!(error = %err, "could not disable an expired announcement");
        }
    }

    /// Answers `click` by ending the flow: `content`, every component grey.
    async fn end(
        &self,
        click: &ComponentInteraction,
        content: &str,
        rows: Vec<CreateActionRow>,
    ) -> Result<(), Error> {
        click
            .create_response(self.ctx, update(content, rows))
            .await?;
        Ok(())
    }

    /// Step 1: a channel the invoker may post in, with their permissions there (as Discord
    /// resolved them for the pick). A channel they may not use is refused and the menu shown
    /// again.
    async fn destination(
        &self,
        mut click: crate::wait::Pending<ComponentInteraction>,
    ) -> Result<Option<(ComponentInteraction, ChannelId, serenity::Permissions)>, Error> {
        loop {
            let Some(chosen) = click.wait(self.step_timeout).await else {
                self.expire(destination_rows(self.prompt, false)).await;
                return Ok(None);
            };
            let picked = match &chosen.data.kind {
                ComponentInteractionDataKind::ChannelSelect { values } => values.first().copied(),
                _ => None,
            };
            let Some(channel) = picked else {
                self.end(&chosen, CANCELLED, destination_rows(self.prompt, false))
                    .await?;
                return Ok(None);
            };
            let permissions = chosen
                .data
                .resolved
                .channels
                .get(&channel)
                .and_then(|c| c.permissions)
                .unwrap_or_else(serenity::Permissions::empty);
            let refusal =
                access::may_announce_in(permissions, clicked_by_staff(&chosen, self.staff_role));
            let Some(why) = refusal else {
                return Ok(Some((chosen, channel, permissions)));
            };
            click = self
                .ctx
                .data()
                .waits
                .expect_component(self.prompt, self.ctx.author().id);
            let text =
                format!("You can't post in <#{channel}>: {why}. Pick another channel.\n\n{STEP_1}");
            chosen
                .create_response(self.ctx, update(text, destination_rows(self.prompt, true)))
                .await?;
            self.message.answered(&chosen.token);
        }
    }

    /// Step 2: who the post pings. A mention the invoker may not make in `channel` is refused
    /// and the choice offered again.
    async fn mention(
        &self,
        mut step: Step2,
        channel: ChannelId,
        permissions: serenity::Permissions,
    ) -> Result<Option<(ComponentInteraction, Mention)>, Error> {
        let waits = &self.ctx.data().waits;
        let mut text =
            format!("**New announcement** in <#{channel}> — step 2 of 3: who should it ping?");
        loop {
            let chosen = match step {
                Step2::Chosen(chosen) => chosen,
                Step2::Show(trigger) => {
                    let click = waits.expect_component(self.prompt, self.ctx.author().id);
                    trigger
                        .create_response(self.ctx, update(&text, mention_rows(self.prompt, true)))
                        .await?;
                    self.message.answered(&trigger.token);
                    let Some(chosen) = click.wait(self.step_timeout).await else {
                        self.expire(mention_rows(self.prompt, false)).await;
                        return Ok(None);
                    };
                    chosen
                }
            };
            let (mention, mentionable) = match (action(&chosen), &chosen.data.kind) {
                ("none", _) => (Mention::None, true),
                ("here", _) => (Mention::Here, true),
                ("everyone", _) => (Mention::Everyone, true),
                ("role", ComponentInteractionDataKind::RoleSelect { values })
                    if !values.is_empty() =>
                {
                    let role = values[0];
                    let mentionable = chosen
                        .data
                        .resolved
                        .roles
                        .get(&role)
                        .is_some_and(|r| r.mentionable);
                    (Mention::Role(role), mentionable)
                }
                _ => {
                    self.end(&chosen, CANCELLED, mention_rows(self.prompt, false))
                        .await?;
                    return Ok(None);
                }
            };
            match may_ping(mention, permissions, mentionable) {
                None => return Ok(Some((chosen, mention))),
                Some(why) => {
                    text = format!(
                        "You can't ping {} in <#{channel}>: {why}. Choose again.",
                        describe(mention)
                    );
                    step = Step2::Show(chosen);
                }
            }
        }
    }

    /// Step 3: the form, the preview, Edit as often as wanted, then Post or Cancel.
    ///
    /// A member may close the form instead of submitting it. The message behind it keeps its
    /// buttons working meanwhile: Cancel cancels; on the preview, Edit opens the form again and
    /// Post posts what the preview shows; on step 2 (the form's first opening), any other
    /// click is handed back (`Some`) as step 2's new choice.
    async fn compose_and_post(
        &self,
        mut trigger: ComponentInteraction,
        channel: ChannelId,
        mention: Mention,
    ) -> Result<Option<ComponentInteraction>, Error> {
        let waits = &self.ctx.data().waits;
        let author = self.ctx.author().id;
        let mut draft = Draft::default();
        // Whether a preview (of `draft`) is behind the form.
        let mut previewed = false;
        loop {
            let modal_prompt = waits.new_prompt();
            let mut submitted = waits.expect_modal(modal_prompt, author);
            let mut behind = waits.expect_component(self.prompt, author);
            trigger
                .create_response(
                    self.ctx,
                    CreateInteractionResponse::Modal(compose_modal(modal_prompt, &draft)),
                )
                .await?;
            let reply = wait::form_or_click(&mut submitted, &mut behind, self.modal_timeout).await;
            let submit = match reply {
                None => {
                    let rows = if previewed {
                        let can_post = postable(&draft, &render(mention, &draft)).is_ok();
                        preview_rows(self.prompt, can_post, false)
                    } else {
                        mention_rows(self.prompt, false)
                    };
                    self.expire(rows).await;
                    return Ok(None);
                }
                Some(FormReply::Submitted(submit)) => submit,
                Some(FormReply::Click(click)) => {
                    // A submission that came in with the click is told the click was taken.
                    if let Some(late) = submitted.take_late() {
                        answer_late(late.create_response(self.ctx, ephemeral(TOO_LATE))).await;
                    }
                    let text = render(mention, &draft);
                    let can_post = previewed && postable(&draft, &text).is_ok();
                    match action(&click) {
                        "cancel" => {
                            self.end(&click, CANCELLED, Vec::new()).await?;
                            return Ok(None);
                        }
                        "post" if can_post => {
                            self.post(&click, channel, mention, &text).await?;
                            return Ok(None);
                        }
                        _ if previewed => {
                            trigger = click;
                            continue;
                        }
                        _ => return Ok(Some(click)),
                    }
                }
            };
            draft = read_draft(&submit);
            let text = render(mention, &draft);
            let postable = postable(&draft, &text);
            let click = waits.expect_component(self.prompt, author);
            // The preview's wait has replaced the one behind the form: a click that reached
            // that one with the submission is told the submission was taken.
            let late = behind.take_late();
            let shown = match &postable {
                Ok(()) => preview(self.prompt, channel, mention, &text),
                Err(why) => update(why.as_str(), preview_rows(self.prompt, false, true)),
            };
            let answered = submit.create_response(self.ctx, shown).await;
            if let Some(late) = late {
                answer_late(late.create_response(self.ctx, ephemeral(TOO_LATE))).await;
            }
            answered?;
            self.message.answered(&submit.token);
            previewed = true;
            let Some(chosen) = click.wait(self.step_timeout).await else {
                self.expire(preview_rows(self.prompt, postable.is_ok(), false))
                    .await;
                return Ok(None);
            };
            match action(&chosen) {
                "edit" => trigger = chosen,
                "post" if postable.is_ok() => {
                    self.post(&chosen, channel, mention, &text).await?;
                    return Ok(None);
                }
                _ => {
                    self.end(&chosen, CANCELLED, Vec::new()).await?;
                    return Ok(None);
                }
            }
        }
    }

    /// Post: checked again on fresh data (the member's roles and the channel's overwrites may
    /// have changed since the pick), then sent; the invoker is told the outcome.
    async fn post(
        &self,
        click: &ComponentInteraction,
        channel: ChannelId,
        mention: Mention,
        text: &str,
    ) -> Result<(), Error> {
        // Acknowledge first: the checks and the post are REST calls of their own.
        click
            .create_response(self.ctx, CreateInteractionResponse::Acknowledge)
            .await?;
        // However the check ends, the reply below replaces the buttons.
        let outcome = match self.recheck(channel, mention).await {
            Ok(Some(why)) => {
                format!("You can't post in <#{channel}> any more: {why}. Nothing was posted.")
            }
            Ok(None) => send(self.ctx, self.guild, channel, mention, text).await,
            Err(err) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    "could not check an announcement's rights"
                );
                "Something went wrong while checking your permissions. Nothing was posted; please try again."
                    .to_owned()
            }
        };
        click
            .edit_response(
                self.ctx,
                EditInteractionResponse::new()
                    .content(outcome)
                    .embeds(Vec::new())
                    .components(Vec::new()),
            )
            .await?;
        Ok(())
    }

    /// Why the invoker may no longer post `mention` in `channel`, read from Discord now.
    async fn recheck(&self, channel: ChannelId, mention: Mention) -> Result<Option<String>, Error> {
        let http = self.ctx.http();
        let settings = self.ctx.data().db.settings(self.guild).await?;
        let author = self.ctx.author().id;
        let Some(standing) = access::Standing::fetch(http, self.guild, author).await? else {
            return Ok(Some("you are no longer a member of this server".into()));
        };
        let Some(permissions) = standing.permissions_in(http, channel).await? else {
            return Ok(Some("that channel isn't in this server".into()));
        };
        if let Some(why) =
            access::may_announce_in(permissions, standing.manages_or_has(settings.staff_role))
        {
            return Ok(Some(why.into()));
        }
        let mentionable = match mention {
            Mention::Role(role) => match standing.role(role) {
                Some(role) => role.mentionable,
                None => return Ok(Some("that role no longer exists".into())),
            },
            _ => true,
        };
        Ok(may_ping(mention, permissions, mentionable).map(str::to_owned))
    }
}

/// Why `draft`, rendered as `text`, cannot be posted: a body of only spaces (the form requires
/// one, but spaces pass that), or a post over Discord's limit.
fn postable(draft: &Draft, text: &str) -> Result<(), String> {
    if super::replies::is_blank(&draft.body) {
        return Err(
            "That announcement has no text, only spaces. Edit it to write something, or cancel."
                .to_owned(),
        );
    }
    let length = text.chars().count();
    if length > POST_LIMIT {
        return Err(format!(
            "That announcement is {length} characters with the mention line; the limit is {POST_LIMIT}. \
             Edit it to make it shorter, or cancel."
        ));
    }
    Ok(())
}

/// The preview of `text`, which [`postable`] accepted.
fn preview(
    prompt: u64,
    channel: ChannelId,
    mention: Mention,
    text: &str,
) -> CreateInteractionResponse {
    let header = format!(
        "**Preview** — step 3 of 3: this is exactly what will be posted in <#{channel}> ({}).",
        describe(mention)
    );
    CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .content(header)
            .embed(CreateEmbed::new().description(text))
            .components(preview_rows(prompt, true, true))
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

/// Sends the announcement; returns what to tell the invoker. The link is built from the guild
/// the command ran in: Discord's create-message response carries no guild id.
async fn send(
    ctx: Context<'_>,
    guild: serenity::GuildId,
    channel: ChannelId,
    mention: Mention,
    text: &str,
) -> String {
    let message = CreateMessage::new()
        .content(text)
        .allowed_mentions(allowed_mentions(mention));
    match channel.send_message(ctx, message).await {
        Ok(posted) => format!(
            "Posted in <#{channel}>: {}",
            posted.id.link(channel, Some(guild))
        ),
        Err(err) => {
            let code = crate::types::discord_code(&err);
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
    fn pinging_everyone_or_an_unmentionable_role_needs_mention_everyone() {
        use poise::serenity_prelude::Permissions as P;
        let member = P::VIEW_CHANNEL | P::SEND_MESSAGES;
        let role = Mention::Role(RoleId::new(7));
        assert!(may_ping(Mention::None, member, false).is_none());
        assert!(may_ping(Mention::Here, member, true).is_some());
        assert!(may_ping(Mention::Everyone, member, true).is_some());
        assert!(may_ping(role, member, true).is_none());
        assert!(may_ping(role, member, false).is_some());
        let pinger = member | P::MENTION_EVERYONE;
        assert!(may_ping(Mention::Everyone, pinger, true).is_none());
        assert!(may_ping(role, pinger, false).is_none());
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
