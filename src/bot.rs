//! The Discord side: the HTTP client and token check, the poise framework's options, the
//! error handler, the serenity client, and command registration.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use poise::serenity_prelude as serenity;
use serenity::{CreateAllowedMentions, GatewayIntents, Http, HttpBuilder};

use crate::commands;
use crate::config::Config;
use crate::state::AppState;
use crate::types::{serenity_status, Context, Data, Error, UserError};

/// The gateway intents the bot needs. MESSAGE_CONTENT is privileged: enable it in the
/// developer portal, or replies to `/ask` arrive empty. GUILD_MEMBERS (members joining, for
/// welcomes) is privileged too and asked for only when the operator turned it on: Discord
/// refuses to connect a bot that asks for a privileged intent it was not granted.
pub fn intents(config: &Config) -> GatewayIntents {
    let base = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::DIRECT_MESSAGES;
    if config.members_intent {
        base | GatewayIntents::GUILD_MEMBERS
    } else {
        base
    }
}

/// How long connecting to Discord may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client, to Discord or to `DISCORD_API_BASE`, with serenity's rate limiter unless
/// `DISCORD_RATE_LIMITER=off` leaves rate limiting to a proxy in front.
pub fn http(config: &Config) -> anyhow::Result<Http> {
    // serenity's default client keeps every idle connection for 90 s, however many a burst
    // opened (hundreds, with HTTP/1.1). Keep a few warm for steady traffic and close the rest
    // of a burst's as soon as they are free: each holds its buffers and TLS state.
    // A request Discord (or the network) silently drops must not hold a command, and its
    // command slot, for minutes: every request has a deadline, and keepalive notices a dead
    // connection between requests.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .pool_max_idle_per_host(4)
        .pool_idle_timeout(Duration::from_secs(30))
        .connect_timeout(CONNECT_TIMEOUT.min(config.http_timeout))
        .timeout(config.http_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .context("could not build the HTTP client")?;
    let mut builder = HttpBuilder::new(config.token.expose())
        .client(client)
        .ratelimiter_disabled(!config.rate_limiter);
    if let Some(base) = &config.api_base {
        builder = builder.proxy(base.clone());
    }
    Ok(builder.build())
}

/// Raised when Discord rejects the token; `main` turns it into exit code 3.
#[derive(Debug)]
pub struct AuthFailed(pub &'static str);

impl std::fmt::Display for AuthFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for AuthFailed {}

/// Checks the token with `GET /users/@me` before connecting: serenity and poise make no fatal
/// authenticated call of their own, so a bad token would otherwise show only as a gateway close.
/// Returns the bot's own user id.
pub async fn check_token(http: &Http) -> anyhow::Result<serenity::UserId> {
    match http.get_current_user().await {
        Ok(user) => {
            tracing::info!(bot = %user.name, id = %user.id, "token accepted");
            Ok(user.id)
        }
        Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)))
            if response.status_code.as_u16() == 401 =>
        {
            Err(AuthFailed(
                "Discord rejected DISCORD_TOKEN (401 Unauthorized); check the token in .env",
            )
            .into())
        }
        Err(err) => Err(anyhow::Error::new(err).context("could not check the token with Discord")),
    }
}

/// The framework's options: commands, hooks, and the defaults this bot changes.
pub fn options() -> poise::FrameworkOptions<Arc<AppState>, Error> {
    poise::FrameworkOptions {
        commands: commands::all(),
        on_error: |error| Box::pin(on_error(error)),
        // While shutting down, new invocations get a polite "try again" instead.
        command_check: Some(|ctx| {
            Box::pin(async move {
                if !ctx.data().stopping() {
                    return Ok(true);
                }
                let reply = poise::CreateReply::default()
                    .content(RESTARTING)
                    .ephemeral(true);
                if let Err(err) = ctx.send(reply).await {
                    tracing::warn!(error = %err, "could not turn a command away during shutdown");
                }
                Ok(false)
            })
        }),
        pre_command: |ctx| {
            Box::pin(async move {
                tracing::debug!(
                    command = %ctx.command().qualified_name,
                    user = %ctx.author().id,
                    "command invoked"
                );
            })
        },
        post_command: |ctx| {
            Box::pin(async move {
                crate::telemetry::command(&ctx.command().qualified_name, "ok");
            })
        },
        // No pings unless a message grants one: user text must never ping anyone.
        allowed_mentions: Some(CreateAllowedMentions::new()),
        // Owners are not used; skipping the lookup saves a REST call at startup.
        initialize_owners: false,
        // No command has a cooldown. Without this, poise still records the last use of
        // every command by every user, member, channel and guild, in maps that are never
        // pruned: memory that grows with every new user, forever.
        manual_cooldowns: true,
        ..Default::default()
    }
}

/// Builds the serenity client with the poise framework and our event handler.
pub async fn client(http: Http, state: Arc<AppState>) -> anyhow::Result<serenity::Client> {
    let framework = poise::Framework::builder()
        .options(options())
        .setup({
            let state = state.clone();
            move |ctx, _ready, framework| {
                Box::pin(async move {
                    if let Err(err) = register(ctx, framework, &state).await {
                        // A bot without its commands is dead weight: stop, loudly.
                        state.fail(err);
                    }
                    Ok(state)
                })
            }
        })
        .build();

    // Nothing the bot does reads serenity's cache: interactions carry the member and their
    // permissions, and Discord itself refuses what the bot may not do. Serenity's default cache
    // keeps every guild, channel, member and user it is sent (tens of MiB for a thousand
    // guilds); keep none of it. The guild count for /status is kept by the event handler.
    let mut cache = serenity::cache::Settings::default();
    cache.max_messages = 0;
    cache.cache_guilds = false;
    cache.cache_channels = false;
    cache.cache_users = false;

    let intents = intents(&state.config);
    let router = crate::routing::EventRouter {
        poise: Arc::new(framework),
        commands: crate::routing::CommandQueue::new(
            state.command_slots.clone(),
            state.tasks.clone(),
        ),
        events: crate::events::Events::new(state),
    };
    serenity::ClientBuilder::new_with_http(http, intents)
        .framework(router)
        .cache_settings(cache)
        .await
        .context("could not build the Discord client")
}

/// Registers the slash commands with bulk overwrite, in `DEV_GUILD_ID` or globally, retrying
/// with backoff on failure.
async fn register(
    ctx: &serenity::Context,
    framework: &poise::Framework<Data, Error>,
    state: &AppState,
) -> anyhow::Result<()> {
    let commands = &framework.options().commands;
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let result = match state.config.dev_guild {
            Some(guild) => poise::builtins::register_in_guild(ctx, commands, guild).await,
            None => poise::builtins::register_globally(ctx, commands).await,
        };
        match result {
            Ok(()) => {
                let scope = match state.config.dev_guild {
                    Some(guild) => format!("guild {guild}"),
                    None => "global".to_owned(),
                };
                tracing::info!(count = commands.len(), %scope, "slash commands registered");
                return Ok(());
            }
            Err(err) if attempt < 5 => {
                tracing::warn!(attempt, error = %err, "command registration failed, retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = state.shutdown.cancelled() => return Ok(()),
                }
                delay *= 2;
                attempt += 1;
            }
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!(
                    "could not register slash commands after {attempt} attempts"
                )))
            }
        }
    }
}

/// Said when a command's options can't be read.
const BAD_OPTIONS: &str =
    "I couldn't read that command's options. Check them and try again (if it keeps happening, the bot may be updating its commands: wait a minute).";

/// Said to anyone who invokes a command while the bot shuts down.
pub const RESTARTING: &str = "I'm restarting — please try again in a minute.";

/// The one error handler: users get a short ephemeral line, operators get the details.
async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    match error {
        // The check already answered (the shutdown reply).
        poise::FrameworkError::CommandCheckFailed { error: None, .. } => {}
        poise::FrameworkError::Command { error, ctx, .. } => {
            let name = &ctx.command().qualified_name;
            let text = match error.downcast_ref::<UserError>() {
                Some(user_error) => {
                    crate::telemetry::command(name, "user_error");
                    user_error.0.clone()
                }
                None => {
                    crate::telemetry::command(name, "internal_error");
                    let status = http_status(&error);
                    if status.is_some() {
                        crate::telemetry::rest_failure(status);
                    }
                    if status == Some(429) {
                        // In DISCORD_API_BASE mode serenity does not retry: the base should.
                        tracing::warn!("Discord or the proxy answered 429 Too Many Requests");
                    }
                    tracing::error!(
                        command = %ctx.command().qualified_name,
                        status,
                        error = format!("{error:#}"),
                        "command failed"
                    );
                    "Something went wrong on my side. Please try again in a moment.".to_owned()
                }
            };
            reply_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::CommandPanic { payload, ctx, .. } => {
            crate::telemetry::command(&ctx.command().qualified_name, "internal_error");
            tracing::error!(
                command = %ctx.command().qualified_name,
                panic = payload.as_deref().unwrap_or("(no message)"),
                "command panicked"
            );
            reply_ephemeral(
                ctx,
                "Something went wrong on my side. Please try again in a moment.".to_owned(),
            )
            .await;
        }
        // Options Discord sent that do not fit the command (a registration from an older
        // version, or a value that does not parse): say so rather than leave the user with
        // "The application did not respond".
        poise::FrameworkError::ArgumentParse { ctx, error, .. } => {
            crate::telemetry::command(&ctx.command().qualified_name, "user_error");
            tracing::warn!(command = %ctx.command().qualified_name, error = %error, "could not parse a command's options");
            reply_ephemeral(ctx, BAD_OPTIONS.to_owned()).await;
        }
        poise::FrameworkError::CommandStructureMismatch {
            ctx, description, ..
        } => {
            let ctx = poise::Context::Application(ctx);
            crate::telemetry::command(&ctx.command().qualified_name, "user_error");
            tracing::warn!(command = %ctx.command().qualified_name, description, "a command's options do not match its registration");
            reply_ephemeral(ctx, BAD_OPTIONS.to_owned()).await;
        }
        other => {
            if let Err(err) = poise::builtins::on_error(other).await {
                tracing::error!(error = %err, "error while handling an error");
            }
        }
    }
}

/// The HTTP status of a failed Discord request somewhere in `error`'s chain.
fn http_status(error: &anyhow::Error) -> Option<u16> {
    error.chain().find_map(|cause| {
        cause
            .downcast_ref::<serenity::Error>()
            .and_then(serenity_status)
    })
}

async fn reply_ephemeral(ctx: Context<'_>, text: String) {
    tracing::debug!(command = %ctx.command().qualified_name, "telling the user about an error");
    let reply = poise::CreateReply::default().content(text).ephemeral(true);
    if let Err(err) = ctx.send(reply).await {
        tracing::warn!(error = %err, "could not tell the user about an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_keeps_no_state_per_user_and_pings_nobody_by_default() {
        let options = options();
        // poise's cooldown maps grow with every distinct user unless cooldowns are manual.
        assert!(options.manual_cooldowns);
        for command in &options.commands {
            assert_ne!(command.manual_cooldowns, Some(false), "/{}", command.name);
        }
        let mentions = serde_json::to_value(options.allowed_mentions.clone())
            .expect("allowed_mentions serializes");
        assert_eq!(mentions["parse"], serde_json::json!([]), "{mentions}");
    }
}
