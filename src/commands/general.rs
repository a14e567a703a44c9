//! `/ping` and `/help`: small commands that show the bot is alive and what it can do.

use poise::CreateReply;

use crate::bot::{Context, Error};

/// Check that the bot is alive and see its gateway latency
#[poise::command(slash_command)]
#[tracing::instrument(name = "command", skip_all, fields(command = "ping", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn ping(ctx: Context<'_>) -> Result<(), Error> {
    let latency = ctx.ping().await;
    // poise reports zero until the first heartbeat has been acknowledged.
    let text = if latency.is_zero() {
        "Pong! Gateway latency: not measured yet.".to_owned()
    } else {
        format!("Pong! Gateway latency: {} ms.", latency.as_millis())
    };
    ctx.say(text).await?;
    Ok(())
}

/// List the bot's commands
#[poise::command(slash_command)]
#[tracing::instrument(name = "command", skip_all, fields(command = "help", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn help(ctx: Context<'_>) -> Result<(), Error> {
    let commands = &ctx.framework().options().commands;
    let text = help_text(
        commands
            .iter()
            .filter(|c| !c.hide_in_help)
            .map(|c| (c.name.as_ref(), c.description.as_deref())),
    );
    ctx.send(CreateReply::default().content(text).ephemeral(true))
        .await?;
    Ok(())
}

/// The `/help` text for `(name, description)` pairs.
pub fn help_text<'a>(commands: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut text = String::from("**Novera Assistant commands**\n");
    for (name, description) in commands {
        text.push_str(&format!(
            "`/{name}` — {}\n",
            description.unwrap_or("(no description)")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_registered_command_with_its_description() {
        let commands = crate::commands::all();
        let text = help_text(
            commands
                .iter()
                .map(|c| (c.name.as_ref(), c.description.as_deref())),
        );
        for command in &commands {
            assert!(text.contains(&format!("`/{}`", command.name)), "{text}");
            let description = command.description.as_deref().unwrap_or_default();
            assert!(
                !description.is_empty(),
                "/{} has no description",
                command.name
            );
            assert!(text.contains(description), "{text}");
        }
    }
}
