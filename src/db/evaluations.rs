//! `evaluations`: a confirmed tryout, saved with the value it sets and its history row in one
//! transaction, so a crash never leaves half an evaluation.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};

use super::requests::TryoutRequest;
use super::values::{lock_value, write_value};
use super::{now, sql_id, Db};
use crate::values::{Position, Ratings, Skill};

/// A saved tryout.
#[derive(Debug)]
pub struct Saved {
    /// The evaluation's id.
    pub id: i64,
    /// The player's value before it.
    pub old: i64,
    /// The player's request it answered, if they had one open or accepted (its card says so
    /// next).
    pub answered: Option<TryoutRequest>,
}

/// A tryout ready to save.
#[derive(Clone, Debug)]
pub struct NewEvaluation {
    /// Guild the tryout belongs to.
    pub guild: GuildId,
    /// Who evaluated.
    pub evaluator: UserId,
    /// Who was evaluated.
    pub player: UserId,
    /// The position chosen.
    pub position: Position,
    /// The ratings given.
    pub ratings: Ratings,
    /// The evaluator's feedback.
    pub feedback: String,
    /// The computed value.
    pub value: i64,
}

impl Db {
    /// Saves the evaluation, sets the player's value, writes the history row, queues the
    /// tryout's publication and marks the player's open tryout request evaluated, atomically.
    /// Returns what was saved; or, unless `may_replace`, `Err` with the player's value when they
    /// already have one above 0, and nothing is written (a tryout then replaces a value that
    /// matches or staff set, which is staff's to do).
    #[tracing::instrument(skip_all)]
    pub async fn save_evaluation(
        &self,
        e: &NewEvaluation,
        may_replace: bool,
    ) -> anyhow::Result<Result<Saved, i64>> {
        let rating = |skill| e.ratings.get(skill).map(i64::from);
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let old = lock_value(&mut tx, e.guild, e.player).await?;
        if old > 0 && !may_replace {
            return Ok(Err(old));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO evaluations (guild_id, evaluator_id, player_id, position, shooting,
                 dribbling, passing, defense, goalkeeping, feedback, value, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(sql_id(e.guild.get()))
        .bind(sql_id(e.evaluator.get()))
        .bind(sql_id(e.player.get()))
        .bind(e.position.label())
        .bind(rating(Skill::Shooting).unwrap_or(0))
        .bind(rating(Skill::Dribbling).unwrap_or(0))
        .bind(rating(Skill::Passing).unwrap_or(0))
        .bind(rating(Skill::Defense).unwrap_or(0))
        .bind(rating(Skill::Goalkeeping))
        .bind(&e.feedback)
        .bind(e.value)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .context("saving the evaluation")?;
        let reason = format!("tryout ({})", e.position);
        write_value(
            &mut tx,
            e.guild,
            e.player,
            (old, e.value),
            e.evaluator,
            Some(&reason),
            super::values::Source::Evaluation(id),
        )
        .await?;
        super::publications::queue_publication(&mut tx, id, old).await?;
        // The player's request is answered by this tryout: the one Accept started it from, or
        // one left open (one request per player is open or accepted at a time, and one tryout
        // per player runs at a time).
        let answered = sqlx::query(
            "UPDATE tryout_requests SET status = 'evaluated', evaluator_id = ?, decided_at = ?
             WHERE guild_id = ? AND player_id = ? AND status IN ('open', 'accepted')
             RETURNING *",
        )
        .bind(sql_id(e.evaluator.get()))
        .bind(now())
        .bind(sql_id(e.guild.get()))
        .bind(sql_id(e.player.get()))
        .fetch_optional(&mut *tx)
        .await
        .context("closing the player's open tryout request")?;
        tx.commit().await.context("committing the evaluation")?;
        Ok(Ok(Saved {
            id,
            old,
            answered: answered.as_ref().map(super::requests::read),
        }))
    }
}
