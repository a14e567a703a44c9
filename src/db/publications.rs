//! `tryout_publications`: the outbox of confirmed tryouts whose posts, roles and DM are not all
//! done yet. A row is written in the evaluation's transaction; each step marks itself done;
//! the row goes once all are. At startup the bot finishes every row left behind.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};
use sqlx::Row;

use super::Db;
use super::NewEvaluation;
use crate::values::{Position, Ratings, Skill};

/// A confirmed tryout still being made public.
#[derive(Clone, Debug)]
pub struct Publication {
    /// The evaluation's id.
    pub evaluation_id: i64,
    /// The evaluation.
    pub evaluation: NewEvaluation,
    /// The player's value before it.
    pub old_value: i64,
    /// Steps already done (a bit set the publishing code defines).
    pub done: u32,
}

impl Db {
    /// The ids of every tryout confirmed up to `until` (Unix seconds) and not yet fully made
    /// public, oldest first. A later one is still being published by its own wizard.
    #[tracing::instrument(skip_all)]
    pub async fn pending_publications(&self, until: i64) -> anyhow::Result<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT evaluation_id FROM tryout_publications WHERE created_at <= ?
             ORDER BY evaluation_id",
        )
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .context("reading pending tryout publications")
    }

    /// One pending publication, with its evaluation.
    #[tracing::instrument(skip_all)]
    pub async fn publication(&self, evaluation_id: i64) -> anyhow::Result<Option<Publication>> {
        let row = sqlx::query(
            "SELECT p.old_value, p.done, e.guild_id, e.evaluator_id, e.player_id, e.position,
                    e.shooting, e.dribbling, e.passing, e.defense, e.goalkeeping, e.feedback,
                    e.value
             FROM tryout_publications p JOIN evaluations e ON e.id = p.evaluation_id
             WHERE p.evaluation_id = ?",
        )
        .bind(evaluation_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a pending tryout publication")?;
        let Some(row) = row else { return Ok(None) };
        let position: String = row.try_get("position")?;
        let position = Position::from_label(&position)
            .with_context(|| format!("evaluation {evaluation_id} has position {position:?}"))?;
        let mut ratings = Ratings::default();
        for skill in position.skills() {
            let column = match skill {
                Skill::Shooting => "shooting",
                Skill::Dribbling => "dribbling",
                Skill::Passing => "passing",
                Skill::Defense => "defense",
                Skill::Goalkeeping => "goalkeeping",
            };
            let rating: Option<i64> = row.try_get(column)?;
            let rating = u8::try_from(rating.unwrap_or(0)).unwrap_or(0);
            ratings.given.push((*skill, rating));
        }
        let id = |name: &str| -> anyhow::Result<u64> { Ok(row.try_get::<i64, _>(name)? as u64) };
        Ok(Some(Publication {
            evaluation_id,
            evaluation: NewEvaluation {
                guild: GuildId::new(id("guild_id")?),
                evaluator: UserId::new(id("evaluator_id")?),
                player: UserId::new(id("player_id")?),
                position,
                ratings,
                feedback: row.try_get("feedback")?,
                value: row.try_get("value")?,
            },
            old_value: row.try_get("old_value")?,
            done: u32::try_from(row.try_get::<i64, _>("done")?).unwrap_or(0),
        }))
    }

    /// Records that `step` of a publication is done.
    #[tracing::instrument(skip_all)]
    pub async fn publication_step_done(&self, evaluation_id: i64, step: u32) -> anyhow::Result<()> {
        sqlx::query("UPDATE tryout_publications SET done = done | ? WHERE evaluation_id = ?")
            .bind(i64::from(step))
            .bind(evaluation_id)
            .execute(&self.pool)
            .await
            .context("recording a tryout publication step")?;
        Ok(())
    }

    /// Records one more attempt that left steps pending; returns how many there were.
    #[tracing::instrument(skip_all)]
    pub async fn publication_attempted(&self, evaluation_id: i64) -> anyhow::Result<i64> {
        sqlx::query_scalar(
            "UPDATE tryout_publications SET attempts = attempts + 1 WHERE evaluation_id = ?
             RETURNING attempts",
        )
        .bind(evaluation_id)
        .fetch_optional(&self.pool)
        .await
        .context("counting a tryout publication's attempts")
        .map(|attempts| attempts.unwrap_or(0))
    }

    /// Removes a publication whose steps are all done.
    #[tracing::instrument(skip_all)]
    pub async fn publication_finished(&self, evaluation_id: i64) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM tryout_publications WHERE evaluation_id = ?")
            .bind(evaluation_id)
            .execute(&self.pool)
            .await
            .context("removing a finished tryout publication")?;
        Ok(())
    }
}

/// Queues the publication of evaluation `id` inside its transaction.
pub(super) async fn queue_publication(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: i64,
    old_value: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO tryout_publications (evaluation_id, old_value, done, created_at)
         VALUES (?, ?, 0, ?)",
    )
    .bind(id)
    .bind(old_value)
    .bind(super::now())
    .execute(&mut **tx)
    .await
    .context("queueing the tryout's publication")?;
    Ok(())
}
