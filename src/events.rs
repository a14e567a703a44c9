//! Gateway events that are not commands: READY and RESUMED feed the health probe, guild
//! joins and leaves the guild count, members joining are welcomed, members leaving give up
//! the rank role, clicks on match cards and
//! tryout requests go to their handlers, and other clicks, modal submissions and messages go to
//! the waits registered for them. A click or a submission nobody waits for (or whose
//! `custom_id` this version does not know) gets an ephemeral answer rather than "This
//! interaction failed".

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{ComponentInteraction, Interaction, ModalInteraction};

use crate::commands::replies::ephemeral;
use crate::invite::invite_url;
use crate::slots::in_slot;
use crate::state::AppState;
use crate::wait::Delivery;

/// Feeds gateway events to the health state and the wait registry. Called by
/// [`crate::routing::EventRouter`] without going through poise, so it works from the first
/// event, before poise's setup has finished.
pub struct Events {
    /// The shared state: health, guilds and the wait registry.
    state: Arc<AppState>,
    /// Whether a READY was seen before: a later one is a reconnect (a new session).
    seen_ready: std::sync::atomic::AtomicBool,
}

impl Events {
    /// The handler for `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            seen_ready: Default::default(),
        }
    }
}

#[serenity::async_trait]
impl serenity::EventHandler for Events {
    async fn ready(&self, _ctx: serenity::Context, ready: serenity::Ready) {
        tracing::info!(
            bot = %ready.user.name,
            guilds = ready.guilds.len(),
            "gateway session ready"
        );
        self.state.health.connected();
        if self
            .seen_ready
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            metrics::counter!(crate::telemetry::RECONNECTS).increment(1);
        } else {
            tracing::info!(url = %invite_url(ready.application.id.get()), "invite link");
        }
    }

    async fn guild_create(
        &self,
        _ctx: serenity::Context,
        guild: serenity::Guild,
        _is_new: Option<bool>,
    ) {
        self.state.guild_joined(guild.id);
    }

    async fn guild_delete(
        &self,
        _ctx: serenity::Context,
        incomplete: serenity::UnavailableGuild,
        _full: Option<serenity::Guild>,
    ) {
        // An outage makes a guild unavailable; only a real removal (not `unavailable`) counts.
        if !incomplete.unavailable {
            self.state.guild_left(incomplete.id);
        }
    }

    async fn guild_member_addition(&self, ctx: serenity::Context, member: serenity::Member) {
        if member.user.bot {
            crate::telemetry::member_event("join");
            return;
        }
        // Only the ids are queued: a wave of joins waits to be greeted at a few bytes each.
        let (guild, user) = (member.guild_id, member.user.id);
        crate::commands::welcome::joined(&ctx.http, &self.state, guild, user, member.pending);
    }

    async fn guild_member_removal(
        &self,
        ctx: serenity::Context,
        guild: serenity::GuildId,
        user: serenity::User,
        _member: Option<serenity::Member>,
    ) {
        crate::commands::welcome::left(&self.state, guild, user.id);
        let state = Arc::clone(&self.state);
        self.state.tasks.spawn(async move {
            crate::commands::welcome::forget_screening(&state, guild, user.id).await;
            crate::commands::ranks::member_left(&ctx.http, &state, guild, user.id).await;
            crate::telemetry::member_event("leave");
        });
    }

    async fn guild_member_update(
        &self,
        ctx: serenity::Context,
        _old: Option<serenity::Member>,
        _new: Option<serenity::Member>,
        event: serenity::GuildMemberUpdateEvent,
    ) {
        if event.pending {
            crate::telemetry::member_event("update");
            return;
        }
        let state = Arc::clone(&self.state);
        self.state.tasks.spawn(async move {
            let (guild, user) = (event.guild_id, event.user.id);
            crate::commands::welcome::passed_screening(&ctx.http, &state, guild, user).await;
            crate::telemetry::member_event("update");
        });
    }

    async fn resume(&self, _ctx: serenity::Context, _event: serenity::ResumedEvent) {
        tracing::info!("gateway session resumed");
        metrics::counter!(crate::telemetry::RESUMES).increment(1);
        self.state.health.connected();
    }

    async fn interaction_create(&self, ctx: serenity::Context, interaction: Interaction) {
        match interaction {
            // A match's buttons belong to its row, not to a wait: they work as long as the
            // match needs them, across restarts. A card's click works in a command slot, as a
            // command does, so a flood of clicks waits its turn instead of all working at once.
            Interaction::Component(click)
                if crate::commands::matches::is_match_button(&click.data.custom_id) =>
            {
                let state = Arc::clone(&self.state);
                let slots = Arc::clone(&self.state.command_slots);
                self.state.tasks.spawn(in_slot(slots, move || async move {
                    crate::commands::matches::on_click(&ctx.http, &state, click).await;
                }));
            }
            Interaction::Component(click)
                if crate::commands::requests::is_request_button(&click.data.custom_id) =>
            {
                let state = Arc::clone(&self.state);
                let slots = Arc::clone(&self.state.command_slots);
                self.state.tasks.spawn(in_slot(slots, move || async move {
                    crate::commands::requests::on_click(&ctx.http, &state, click).await;
                }));
            }
            Interaction::Component(click) => match self.state.waits.deliver_component(click) {
                Delivery::NotYours(click) => {
                    refuse_component(&ctx, &click, NOT_YOURS).await;
                }
                // Discord sends a click only to the application whose message it is on: a
                // `custom_id` this version does not know is from an older one (or the bot this
                // one replaced), and is as expired as a prompt nobody waits for.
                Delivery::Expired(click) | Delivery::Foreign(click) => {
                    refuse_component(&ctx, &click, EXPIRED).await;
                }
                Delivery::Delivered => {}
            },
            Interaction::Modal(submit) => match self.state.waits.deliver_modal(submit) {
                Delivery::NotYours(submit) => refuse_modal(&ctx, &submit, NOT_YOURS).await,
                Delivery::Expired(submit) | Delivery::Foreign(submit) => {
                    refuse_modal(&ctx, &submit, EXPIRED).await
                }
                Delivery::Delivered => {}
            },
            _ => {}
        }
    }
}

impl Events {
    /// Hands a new message to the wait for it, if any. Not `EventHandler::message`: it never
    /// waits, so [`crate::routing::EventRouter`] calls it at once rather than queue the event.
    pub fn message(&self, message: serenity::Message) {
        self.state.waits.deliver_message(message);
    }
}

/// Told to someone who clicks another user's prompt.
const NOT_YOURS: &str = "This isn't yours — run the command yourself to get your own.";
/// Told to someone who clicks a prompt nobody waits for any more.
const EXPIRED: &str = "This prompt has expired. Run the command again.";

async fn refuse_component(ctx: &serenity::Context, click: &ComponentInteraction, text: &str) {
    if let Err(err) = click.create_response(&ctx.http, ephemeral(text)).await {
        tracing::warn!(error = %err, "could not answer a component click");
    }
}

async fn refuse_modal(ctx: &serenity::Context, submit: &ModalInteraction, text: &str) {
    if let Err(err) = submit.create_response(&ctx.http, ephemeral(text)).await {
        tracing::warn!(error = %err, "could not answer a modal submission");
    }
}
