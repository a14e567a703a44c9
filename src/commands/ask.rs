//! `/ask`: asks a question, then waits for the invoker's next message in that channel.
//!
//! The seed of every wizard: register the wait, send the prompt, handle both outcomes. The
//! wait itself does not keep the command running: once the prompt is sent, a small task owns
//! the wait and the interaction token and answers with a follow-up, so a pending `/ask` costs
//! that task rather than the framework's whole suspended invocation (BENCHMARKS.md).

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{Builder, CreateAllowedMentions, CreateInteractionResponseFollowup, Http, Message};
use tracing::Instrument;

use crate::types::{Context, Error, UserError};
use crate::wait::{Pending, Waits};

/// How long `/ask` waits for a reply unless `WAIT_TIMEOUT_SECS` says otherwise. Keep it under
/// 15 minutes: Discord refuses follow-ups on an older interaction.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Said when a shutdown ends the wait.
pub const INTERRUPTED: &str =
    "I'm restarting, so I stopped waiting for your reply — nothing was saved. Ask again in a minute.";

/// Said to a member who runs `/ask` where they may not send messages.
pub const CANNOT_SEND: &str =
    "You can't send messages in this channel, so I won't ask there for you. Try a channel you can write in.";

/// Discord's limit on a message's content, in characters.
pub const MESSAGE_LIMIT: usize = 2000;

/// Ask a question and wait for your reply in this channel
#[poise::command(slash_command)]
#[tracing::instrument(name = "command", skip_all, fields(command = "ask", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn ask(
    ctx: Context<'_>,
    #[description = "What to ask (default: \"Say something!\")"]
    #[max_length = 1900]
    question: Option<String>,
) -> Result<(), Error> {
    let poise::Context::Application(app) = ctx else {
        return Err(UserError("Use /ask as a slash command.".into()).into());
    };
    // The question is posted as the bot: only where the member could post it themselves.
    if ctx.guild_id().is_some() && !may_send_here(app.interaction) {
        return Err(UserError(CANNOT_SEND.into()).into());
    }
    let data = ctx.data();
    // Registered before the prompt goes out, so a fast reply cannot slip past.
    let reply = data.waits.expect_message(ctx.channel_id(), ctx.author().id);
    let question = question
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| "Say something!".to_owned());
    ctx.say(question).await?;

    let answer = Answer {
        http: ctx.serenity_context().http.clone(),
        token: app.interaction.token.clone(),
        waits: data.waits.clone(),
        slots: data.command_slots.clone(),
        guild: ctx.guild_id().map(|g| g.get()),
        invocation: ctx.id(),
    };
    let timeout = data.waits.timeout(DEFAULT_TIMEOUT);
    // Tracked, so a shutdown waits for it to tell the user. Not instrumented: see `Answer`.
    data.tasks.spawn(answer.after(reply, timeout));
    Ok(())
}

/// Whether the invoker may send messages where the command ran, as the interaction says: Send
/// Messages in a channel; in a thread, Send Messages in Threads, and Manage Threads too if the
/// thread is locked.
fn may_send_here(interaction: &serenity::CommandInteraction) -> bool {
    use serenity::{ChannelType, Permissions};
    let Some(permissions) = interaction.member.as_ref().and_then(|m| m.permissions) else {
        return false;
    };
    let channel = interaction.channel.as_ref();
    let thread = channel.is_some_and(|c| {
        matches!(
            c.kind,
            ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
        )
    });
    if !thread {
        return permissions.contains(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES);
    }
    let locked = channel
        .and_then(|c| c.thread_metadata.as_ref())
        .is_some_and(|m| m.locked);
    permissions.contains(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES_IN_THREADS)
        && (!locked || permissions.manage_threads())
}

/// What the follow-up needs, and nothing more.
///
/// The task does not keep the command's tracing span open while it waits: an open span holds
/// its recorded fields and the log layer's extensions on the heap for as long as the member
/// takes, which is most of what a pending `/ask` would cost. It keeps the span's fields instead
/// and opens an identical span once the wait is over, around the answer.
struct Answer {
    /// The REST client.
    http: Arc<Http>,
    /// The interaction token the follow-up is sent with.
    token: String,
    /// The registry, to tell a shutdown from a timeout.
    waits: Arc<Waits>,
    /// The command slots: a thousand replies at once send their answers a few at a time.
    slots: Arc<tokio::sync::Semaphore>,
    /// The `command` span's `guild` field.
    guild: Option<u64>,
    /// The `command` span's `invocation` field.
    invocation: u64,
}

impl Answer {
    /// Waits for the reply and answers: the echo, `Timed out!`, or that the bot is restarting.
    async fn after(self, reply: Pending<Message>, timeout: Duration) {
        let text = match reply.wait(timeout).await {
            Some(message) => echo(&message.content),
            None if self.waits.stopping() => INTERRUPTED.to_owned(),
            None => "Timed out!".to_owned(),
        };
        // The span is opened, and the answer made, only once a command slot is held: when a
        // thousand replies come in at once, a thousand answers queue for the slots, and an
        // open span costs the log layer a slot of its span store and the store never shrinks.
        let slots = self.slots.clone();
        crate::slots::in_slot(slots, move || {
            let span = tracing::info_span!(
                "command",
                command = "ask",
                guild = self.guild,
                invocation = self.invocation
            );
            self.answer(text).instrument(span)
        })
        .await;
    }

    /// Sends `text`, or an apology if that fails.
    async fn answer(self, text: String) {
        if let Err(err) = self.send(text, false).await {
            let status = crate::types::serenity_status(&err);
            crate::telemetry::rest_failure(status);
            tracing::error!(status, error = %err, "could not answer an /ask");
            let apology = "Something went wrong on my side. Please try again in a moment.";
            if let Err(err) = self.send(apology.to_owned(), true).await {
                tracing::warn!(error = %err, "could not tell the user about an error");
            }
        }
    }

    /// Sends a follow-up.
    async fn send(&self, text: String, ephemeral: bool) -> Result<(), serenity::Error> {
        CreateInteractionResponseFollowup::new()
            .content(text)
            .ephemeral(ephemeral)
            .allowed_mentions(CreateAllowedMentions::new())
            .execute(&self.http, (None, self.token.as_str()))
            .await
            .map(drop)
    }
}

/// `You said: <content>`, cut to fit in one Discord message.
pub fn echo(content: &str) -> String {
    const PREFIX: &str = "You said: ";
    let room = MESSAGE_LIMIT - PREFIX.chars().count();
    let mut text = String::from(PREFIX);
    if content.chars().count() <= room {
        text.push_str(content);
    } else {
        text.extend(content.chars().take(room - 1));
        text.push('…');
    }
    text
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;

    #[test]
    fn short_replies_are_echoed_whole() {
        assert_eq!(echo("hi @everyone"), "You said: hi @everyone");
    }

    #[test]
    fn long_replies_are_cut_to_the_limit_on_a_char_boundary() {
        let text = echo(&"é".repeat(5000));
        assert_eq!(text.chars().count(), MESSAGE_LIMIT);
        assert!(text.ends_with('…'));
        let exact = "x".repeat(MESSAGE_LIMIT - "You said: ".len());
        assert_eq!(echo(&exact).chars().count(), MESSAGE_LIMIT);
        assert!(!echo(&exact).ends_with('…'));
    }
}
