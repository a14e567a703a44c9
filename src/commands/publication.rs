//! What a confirmed tryout makes public: the results post, the value post, the roles and the
//! player's DM.
//!
//! The evaluation's transaction also queues its publication (`tryout_publications`). Each step
//! is recorded once it succeeded or failed for a reason a retry cannot fix (a missing
//! permission, a role the settings may no longer name), which is reported; a step that failed
//! for a passing reason (a timeout, a 5xx, a 429) stays pending. The row is removed when every
//! step is recorded. [`resume`] finishes what is pending: at startup for everything a crash
//! interrupted, and every minute for what a passing failure left (once the wizard that queued
//! it is surely done). Posts carry a nonce Discord deduplicates, so a post retried soon after
//! an attempt whose answer was lost is not made twice.
//!
//! One process per database: two bots sharing one file would both resume the same rows.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http, Nonce, RoleId, UserId};

use super::replies::plain;
use crate::claims::Claims;
use crate::db::{Db, GuildSettings, NewEvaluation, Publication};
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

/// The evaluation as text (ratings, feedback, value). The feedback is the evaluator's own
/// text, shown as typed on one line: no markdown, so it cannot pass for a line of the post.
pub fn summary(e: &NewEvaluation) -> String {
    let ratings: Vec<String> = e
        .ratings
        .given
        .iter()
        .map(|(skill, rating)| format!("{} {rating}", skill.name()))
        .collect();
    format!(
        "**Tryout of <@{}>** ({})\nRatings: {}\nFeedback: {}\nValue: **{}**",
        e.player,
        e.position,
        ratings.join(" · "),
        plain(&e.feedback),
        format_value(e.value)
    )
}

/// Attempts that leave steps pending before a publication is given up (and logged).
const MAX_ATTEMPTS: i64 = 10;

/// How a step went.
enum Outcome {
    /// Done (or nothing to do).
    Done,
    /// Failed for good: recorded as done, and this is told (to the evaluator on the first
    /// pass, to staff on a later one).
    Failed(String),
    /// Failed for a passing reason: left pending, tried again later.
    Retry(String),
}

/// What a publishing pass left to tell.
#[derive(Debug, Default)]
pub struct Published {
    /// What went wrong, one line each: for the evaluator, on the first pass.
    pub notes: Vec<String>,
    /// What failed for good on this pass, or was given up: what a later pass tells staff,
    /// since the evaluator heard "I'll try again" long before.
    pub final_failures: Vec<String>,
}

/// Does every step of `publication` not yet done, with `settings` as they are now, unless
/// another task has it claimed. Returns what went wrong: all of it for the evaluator, and apart
/// what failed for good or was given up, for staff when the pass is a later one.
pub async fn publish(
    http: &Http,
    me: UserId,
    db: &Db,
    claims: &Claims<i64>,
    settings: &GuildSettings,
    publication: &Publication,
) -> anyhow::Result<Published> {
    let Some(_claim) = claims.claim(publication.evaluation_id) else {
        return Ok(Published::default());
    };
    let mut notes = Vec::new();
    let mut final_failures = Vec::new();
    let mut retrying = Vec::new();
    for step in [RESULTS, VALUE, ADD_ROLE, REMOVE_ROLE, PLAYER_DM] {
        if publication.done & step != 0 {
            continue;
        }
        match run_step(http, me, settings, publication, step).await {
            Outcome::Done => {}
            Outcome::Failed(note) => {
                notes.push(note.clone());
                final_failures.push(note);
            }
            Outcome::Retry(note) => {
                retrying.push(note);
                continue;
            }
        }
        db.publication_step_done(publication.evaluation_id, step)
            .await?;
    }
    if !retrying.is_empty() {
        let attempts = db.publication_attempted(publication.evaluation_id).await?;
        if attempts < MAX_ATTEMPTS {
            notes.extend(
                retrying
                    .into_iter()
                    .map(|note| format!("{note} I'll try again in a few minutes.")),
            );
            return Ok(Published {
                notes,
                final_failures,
            });
        }
        tracing::error!(
            evaluation = publication.evaluation_id,
            attempts,
            "gave up on a tryout's pending posts"
        );
        let given_up: Vec<String> = retrying
            .into_iter()
            .map(|note| format!("{note} I gave up after {attempts} tries."))
            .collect();
        notes.extend(given_up.iter().cloned());
        final_failures.extend(given_up);
    }
    db.publication_finished(publication.evaluation_id).await?;
    Ok(Published {
        notes,
        final_failures,
    })
}

/// Finishes every publication queued up to `until` (Unix seconds) that no other task has
/// claimed. Failures are logged.
pub async fn resume(http: &Http, me: UserId, db: &Db, claims: &Claims<i64>, until: i64) {
    let pending = match db.pending_publications(until).await {
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
        if let Err(err) = resume_one(http, me, db, claims, id).await {
            tracing::error!(
                evaluation = id,
                error = format!("{err:#}"),
                "could not finish a tryout's posts"
            );
        }
    }
}

async fn resume_one(
    http: &Http,
    me: UserId,
    db: &Db,
    claims: &Claims<i64>,
    id: i64,
) -> anyhow::Result<()> {
    let Some(publication) = db.publication(id).await? else {
        return Ok(());
    };
    let settings = db.settings(publication.evaluation.guild).await?;
    let published = publish(http, me, db, claims, &settings, &publication).await?;
    tracing::info!(
        evaluation = id,
        problems = published.notes.len(),
        "made a tryout's pending posts"
    );
    for note in &published.notes {
        tracing::warn!(evaluation = id, "{note}");
    }
    // The evaluator heard "I'll try again" long ago: what failed for good since is for staff.
    if !published.final_failures.is_empty() {
        let e = &publication.evaluation;
        let note = format!(
            "The tryout of <@{}> by <@{}> is saved, but not everything after it went through:\n{}",
            e.player,
            e.evaluator,
            published.final_failures.join("\n")
        );
        super::replies::staff_note(http, &settings, &note).await;
    }
    Ok(())
}

/// Whether a failed request may succeed if tried again: no answer, a 5xx or a 429.
fn passing(err: &serenity::Error) -> bool {
    match err {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            status == 429 || status >= 500
        }
        serenity::Error::Http(serenity::HttpError::Request(_)) => true,
        _ => false,
    }
}

/// `note` as a failure of the right kind for `err`.
fn failed(err: &serenity::Error, note: String) -> Outcome {
    if passing(err) {
        Outcome::Retry(note)
    } else {
        Outcome::Failed(note)
    }
}

/// Posts `text` in `channel` (if configured) at most once per publication step: Discord
/// deduplicates the nonce for a few minutes. `what` completes "I couldn't … in <#channel>".
async fn post(
    http: &Http,
    channel: Option<u64>,
    text: String,
    publication: &Publication,
    step: u32,
    what: &str,
) -> Outcome {
    let Some(channel) = channel else {
        return Outcome::Done;
    };
    let player = publication.evaluation.player;
    let message = CreateMessage::new()
        .content(text)
        // The player may be pinged; nothing the evaluator typed can ping anyone.
        .allowed_mentions(CreateAllowedMentions::new().users([player]))
        .nonce(nonce(publication, step))
        .enforce_nonce(true);
    match ChannelId::new(channel).send_message(http, message).await {
        Ok(_) => Outcome::Done,
        Err(err) => {
            tracing::warn!(error = %err, what, "could not post a tryout's message");
            let note = format!("I couldn't {what} in <#{channel}> (check my permissions there).");
            failed(&err, note)
        }
    }
}

/// The nonce of a publication step's message (at most 25 characters, as Discord requires).
fn nonce(publication: &Publication, step: u32) -> Nonce {
    Nonce::String(format!("t{}s{step}", publication.evaluation_id))
}

/// Runs one step.
async fn run_step(
    http: &Http,
    me: UserId,
    settings: &GuildSettings,
    publication: &Publication,
    step: u32,
) -> Outcome {
    let e = &publication.evaluation;
    match step {
        RESULTS => {
            let (channel, text) = (settings.results_channel, summary(e));
            post(http, channel, text, publication, step, "post the results").await
        }
        VALUE => {
            let text = format!(
                "<@{}>'s value is now **{}** (was {}).",
                e.player,
                format_value(e.value),
                format_value(publication.old_value)
            );
            let channel = settings.values_channel;
            post(http, channel, text, publication, step, "announce the value").await
        }
        ADD_ROLE | REMOVE_ROLE => {
            let (configured, verb) = if step == ADD_ROLE {
                (settings.add_role, "give")
            } else {
                (settings.remove_role, "remove")
            };
            let Some(role) = configured.map(RoleId::new) else {
                return Outcome::Done;
            };
            match super::roles::refusal(http, me, settings, e.guild, role).await {
                Ok(None) => {}
                Ok(Some(why)) => {
                    return Outcome::Failed(format!(
                        "I didn't {verb} <@&{role}>: {why}. Check the role in /settings."
                    ))
                }
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "could not check a tryout role");
                    let note = format!("I couldn't check <@&{role}> just now.");
                    let cause = err
                        .chain()
                        .find_map(|c| c.downcast_ref::<serenity::Error>());
                    return match cause {
                        Some(cause) if !passing(cause) => Outcome::Failed(note),
                        _ => Outcome::Retry(note),
                    };
                }
            }
            let changed = if step == ADD_ROLE {
                match super::roles::screening_refusal(http, e.guild, e.player).await {
                    Ok(None) => {}
                    Ok(Some(why)) => {
                        return Outcome::Failed(format!("I didn't {verb} <@&{role}>: {why}."))
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not read the player");
                        let note = format!("I couldn't check <@&{role}> just now.");
                        return failed(&err, note);
                    }
                }
                http.add_member_role(e.guild, e.player, role, Some("tryout"))
                    .await
            } else {
                http.remove_member_role(e.guild, e.player, role, Some("tryout"))
                    .await
            };
            match changed {
                Ok(()) => Outcome::Done,
                Err(err) => {
                    tracing::warn!(error = %err, "could not {verb} the tryout role");
                    let note = format!(
                        "I couldn't {verb} <@&{role}> (I need Manage Roles, above that role)."
                    );
                    failed(&err, note)
                }
            }
        }
        _ => {
            let notice = format!(
                "Your tryout is done: your value is now {}.",
                format_value(e.value)
            );
            // Closed DMs are the player's choice: nothing to report or retry. A passing
            // failure is tried again, as every step's is.
            let retry = |err: &serenity::Error| {
                tracing::debug!(error = %err, "could not DM the player");
                if passing(err) {
                    Outcome::Retry(format!(
                        "I couldn't tell <@{}> their new value by DM.",
                        e.player
                    ))
                } else {
                    Outcome::Done
                }
            };
            let dm = match e.player.create_dm_channel(http).await {
                Ok(dm) => dm,
                Err(err) => return retry(&err),
            };
            let message = CreateMessage::new()
                .content(notice)
                .nonce(nonce(publication, step))
                .enforce_nonce(true);
            match dm.id.send_message(http, message).await {
                Ok(_) => Outcome::Done,
                Err(err) => retry(&err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Position, Ratings, Skill};

    #[test]
    fn feedback_cannot_pass_for_a_line_of_the_post() {
        let e = NewEvaluation {
            guild: serenity::GuildId::new(1),
            evaluator: UserId::new(2),
            player: UserId::new(3),
            position: Position::Cf,
            ratings: Ratings {
                given: vec![(Skill::Shooting, 8)],
            },
            feedback: "ok\n**Tryout of <@4>** (CF)\nValue: **[¥900 million](https://x.invalid)**"
                .to_owned(),
            value: 12,
        };
        let text = summary(&e);
        assert_eq!(text.lines().count(), 4, "{text}");
        let feedback = text.lines().nth(2).unwrap_or_default();
        assert!(feedback.starts_with("Feedback: ok "), "{feedback}");
        assert!(!feedback.contains("**"), "{feedback}");
        assert!(!feedback.contains("<@4>"), "{feedback}");
        assert!(!feedback.contains("]("), "{feedback}");
        assert!(text.ends_with("Value: **¥12 million**"), "{text}");
    }
}
