//! What a confirmed tryout makes public: the results post, the value post, the roles and the
//! player's DM.
//!
//! The evaluation's transaction also queues its publication (`tryout_publications`); each
//! step is recorded once tried, and the row is removed when all are. A step that fails (a
//! missing permission, say) is reported to the evaluator rather than retried. At startup
//! [`resume`] finishes every publication a crash interrupted, so a confirmed tryout always
//! gets its posts. A step interrupted between its request and its record may happen twice;
//! none is ever skipped.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http};

use crate::db::{Db, GuildSettings, Publication};
use crate::values::format_value;

/// The results post in the results channel.
const RESULTS: u32 = 1;
/// The value post in the values channel.
const VALUE: u32 = 1 << 1;
/// The role given after a tryout.
const ADD_ROLE: u32 = 1 << 2;
/// The role taken after a tryout.
const REMOVE_ROLE: u32 = 1 << 3;
/// The player's DM.
const PLAYER_DM: u32 = 1 << 4;

/// Does every step of `publication` not yet done, with `settings` as they are now. Returns
/// what went wrong, for the evaluator.
pub async fn publish(
    http: &Http,
    db: &Db,
    settings: &GuildSettings,
    publication: &Publication,
) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    for step in [RESULTS, VALUE, ADD_ROLE, REMOVE_ROLE, PLAYER_DM] {
        if publication.done & step != 0 {
            continue;
        }
        if let Some(note) = run_step(http, settings, publication, step).await {
            notes.push(note);
        }
        db.publication_step_done(publication.evaluation_id, step)
            .await?;
    }
    db.publication_finished(publication.evaluation_id).await?;
    Ok(notes)
}

/// Finishes every publication left behind by an earlier run (confirmed before now). Failures
/// are logged.
pub async fn resume(http: &Http, db: &Db) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let pending = match db.pending_publications(now).await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::error!(
                error = format!("{err:#}"),
                "could not read pending tryout posts"
            );
            return;
        }
    };
    for id in pending {
        if let Err(err) = resume_one(http, db, id).await {
            tracing::error!(
                evaluation = id,
                error = format!("{err:#}"),
                "could not finish a tryout's posts"
            );
        }
    }
}

async fn resume_one(http: &Http, db: &Db, id: i64) -> anyhow::Result<()> {
    let Some(publication) = db.publication(id).await? else {
        return Ok(());
    };
    let settings = db.settings(publication.evaluation.guild).await?;
    let notes = publish(http, db, &settings, &publication).await?;
    tracing::info!(
        evaluation = id,
        problems = notes.len(),
        "finished a tryout's posts after a restart"
    );
    for note in notes {
        tracing::warn!(evaluation = id, "{note}");
    }
    Ok(())
}

/// Runs one step; returns what to tell the evaluator if it failed.
async fn run_step(
    http: &Http,
    settings: &GuildSettings,
    publication: &Publication,
    step: u32,
) -> Option<String> {
    let e = &publication.evaluation;
    // The player may be pinged; nothing the evaluator typed can ping anyone.
    let mentions = || CreateAllowedMentions::new().users([e.player]);
    match step {
        RESULTS => {
            let channel = settings.results_channel?;
            let post = CreateMessage::new()
                .content(super::tryout::summary(e))
                .allowed_mentions(mentions());
            let sent = ChannelId::new(channel).send_message(http, post).await;
            sent.err().map(|err| {
                tracing::warn!(error = %err, "could not post tryout results");
                format!("I couldn't post the results in <#{channel}> (check my permissions there).")
            })
        }
        VALUE => {
            let channel = settings.values_channel?;
            let text = format!(
                "<@{}>'s value is now **{}** (was {}).",
                e.player,
                format_value(e.value),
                format_value(publication.old_value)
            );
            let post = CreateMessage::new()
                .content(text)
                .allowed_mentions(mentions());
            let sent = ChannelId::new(channel).send_message(http, post).await;
            sent.err().map(|err| {
                tracing::warn!(error = %err, "could not post the new value");
                format!(
                    "I couldn't announce the value in <#{channel}> (check my permissions there)."
                )
            })
        }
        ADD_ROLE => {
            let role = settings.add_role?;
            let added = http
                .add_member_role(e.guild, e.player, role.into(), Some("tryout"))
                .await;
            added.err().map(|err| {
                tracing::warn!(error = %err, "could not add the tryout role");
                format!("I couldn't give <@&{role}> (I need Manage Roles, above that role).")
            })
        }
        REMOVE_ROLE => {
            let role = settings.remove_role?;
            let removed = http
                .remove_member_role(e.guild, e.player, role.into(), Some("tryout"))
                .await;
            removed.err().map(|err| {
                tracing::warn!(error = %err, "could not remove the tryout role");
                format!("I couldn't remove <@&{role}> (I need Manage Roles, above that role).")
            })
        }
        _ => {
            let notice = format!(
                "Your tryout is done: your value is now {}.",
                format_value(e.value)
            );
            // Closed DMs are the player's choice: nothing to report.
            match e.player.create_dm_channel(http).await {
                Ok(dm) => {
                    if let Err(err) = dm.id.say(http, notice).await {
                        tracing::debug!(error = %err, "could not DM the player");
                    }
                }
                Err(err) => tracing::debug!(error = %err, "could not open a DM with the player"),
            }
            None
        }
    }
}
