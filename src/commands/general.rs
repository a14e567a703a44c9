//! `/ping` and `/help`: small commands that show the bot is alive and what it can do.

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use crate::types::{Context, Error};

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

/// Show the bot's version, uptime, latency and load
#[poise::command(slash_command)]
#[tracing::instrument(name = "command", skip_all, fields(command = "status", guild = ctx.guild_id().map(|g| g.get()), invocation = ctx.id()))]
pub async fn status(ctx: Context<'_>) -> Result<(), Error> {
    let data = ctx.data();
    let report = data.health.report().await;
    let latency = report
        .shard
        .latency_ms
        .map_or("not measured yet".to_owned(), |ms| format!("{ms} ms"));
    let memory = resident_memory_kib().map_or("unknown".to_owned(), |kib| {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    });
    let embed = serenity::CreateEmbed::new()
        .title("Novera Assistant")
        .field("Version", env!("CARGO_PKG_VERSION"), true)
        .field("Uptime", human_duration(report.uptime_secs), true)
        .field("Gateway latency", latency, true)
        .field("Servers", data.guild_count().to_string(), true)
        .field("Waits in flight", data.waits.pending().to_string(), true)
        .field("Memory (RSS)", memory, true);
    ctx.send(CreateReply::default().embed(embed)).await?;
    Ok(())
}

/// The process's resident memory in KiB, from `/proc/self/status` (Linux).
fn resident_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `3d 4h 5m 6s`, leaving out leading zero units.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
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
    fn durations_read_naturally() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(65), "1m 5s");
        assert_eq!(human_duration(3_600), "1h 0m 0s");
        assert_eq!(human_duration(90_061), "1d 1h 1m 1s");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn resident_memory_is_read_on_linux() {
        assert!(resident_memory_kib().is_some_and(|kib| kib > 0));
    }

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
