//! `/ask`: asks a question, then waits for the invoker's next message in that channel.
//!
//! The seed of every wizard: register the wait, send the prompt, handle both outcomes.

use std::time::Duration;

use crate::bot::{Context, Error};

/// How long `/ask` waits for a reply unless `WAIT_TIMEOUT_SECS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Said when a shutdown ends the wait.
pub const INTERRUPTED: &str =
    "I'm restarting, so I stopped waiting for your reply — nothing was saved. Ask again in a minute.";

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
    let waits = &ctx.data().waits;
    // Registered before the prompt goes out, so a fast reply cannot slip past.
    let reply = waits.expect_message(ctx.channel_id(), ctx.author().id);
    let question = question
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| "Say something!".to_owned());
    ctx.say(question).await?;

    match reply.wait(waits.timeout(DEFAULT_TIMEOUT)).await {
        Some(message) => ctx.say(echo(&message.content)).await?,
        None if waits.stopping() => ctx.say(INTERRUPTED).await?,
        None => ctx.say("Timed out!").await?,
    };
    Ok(())
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
