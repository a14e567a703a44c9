//! `member_values` and `value_history`: every change to a value comes with its history row,
//! in the same transaction.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};
use sqlx::{Row, Sqlite, Transaction};

use super::{now, sql_id, Db};
use crate::values::{apply_delta, check_value, BoundsError};

/// A change a staff member asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueChange {
    /// Set the value to this amount.
    Set(i64),
    /// Add this (possibly negative) amount.
    Add(i64),
}

/// One row of a member's value history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// Value before the change.
    pub old_value: i64,
    /// Value after the change.
    pub new_value: i64,
    /// Who made it.
    pub changed_by: UserId,
    /// Why, if given.
    pub reason: Option<String>,
    /// The tryout that set it, if one did.
    pub evaluation_id: Option<i64>,
    /// When (seconds since the epoch).
    pub created_at: i64,
}

/// Takes the write lock and returns the member's current value (0 if they had none). The
/// placeholder row it may insert disappears with the transaction if it is rolled back.
pub(super) async fn lock_value(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    user: UserId,
) -> anyhow::Result<i64> {
    sqlx::query(
        "INSERT INTO member_values (guild_id, user_id, value, updated_at) VALUES (?, ?, 0, ?)
         ON CONFLICT (guild_id, user_id) DO NOTHING",
    )
    .bind(sql_id(guild.get()))
    .bind(sql_id(user.get()))
    .bind(now())
    .execute(&mut **tx)
    .await
    .context("locking the member's value")?;
    let value: i64 =
        sqlx::query_scalar("SELECT value FROM member_values WHERE guild_id = ? AND user_id = ?")
            .bind(sql_id(guild.get()))
            .bind(sql_id(user.get()))
            .fetch_one(&mut **tx)
            .await
            .context("reading the member's value")?;
    Ok(value)
}

/// What made a value change, recorded in its history row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A staff member's `/setvalue` or `/addvalue`, or a season's reset.
    Staff,
    /// A confirmed tryout: the evaluation's id.
    Evaluation(i64),
    /// A match's settlement or its undo: the match's id.
    Match(i64),
}

/// Writes the new value and its history row (inside the caller's transaction).
pub(super) async fn write_value(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    user: UserId,
    (old, new): (i64, i64),
    by: UserId,
    reason: Option<&str>,
    source: Source,
) -> anyhow::Result<()> {
    let (evaluation_id, match_id) = match source {
        Source::Staff => (None, None),
        Source::Evaluation(id) => (Some(id), None),
        Source::Match(id) => (None, Some(id)),
    };
    let at = now();
    sqlx::query(
        "UPDATE member_values SET value = ?, updated_at = ? WHERE guild_id = ? AND user_id = ?",
    )
    .bind(new)
    .bind(at)
    .bind(sql_id(guild.get()))
    .bind(sql_id(user.get()))
    .execute(&mut **tx)
    .await
    .context("writing the member's value")?;
    sqlx::query(
        "INSERT INTO value_history
             (guild_id, user_id, old_value, new_value, changed_by, reason, evaluation_id,
              match_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sql_id(guild.get()))
    .bind(sql_id(user.get()))
    .bind(old)
    .bind(new)
    .bind(sql_id(by.get()))
    .bind(reason)
    .bind(evaluation_id)
    .bind(match_id)
    .bind(at)
    .execute(&mut **tx)
    .await
    .context("writing the value history")?;
    Ok(())
}

impl Db {
    /// The member's value and rank (1 = highest), or `None` if they have no value (¥0 counts
    /// as none: unranked).
    #[tracing::instrument(skip_all)]
    pub async fn standing(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> anyhow::Result<Option<(i64, i64)>> {
        let value: Option<i64> = sqlx::query_scalar(
            "SELECT value FROM member_values WHERE guild_id = ? AND user_id = ?",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .fetch_optional(&self.pool)
        .await
        .context("reading a value")?;
        let Some(value) = value.filter(|value| *value > 0) else {
            return Ok(None);
        };
        // Two range counts on the (guild, value, user) index rather than one OR, which SQLite
        // would answer by scanning the whole guild.
        let ahead: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM member_values WHERE guild_id = ?1 AND value > ?2)
                  + (SELECT COUNT(*) FROM member_values
                     WHERE guild_id = ?1 AND value = ?2 AND user_id < ?3)",
        )
        .bind(sql_id(guild.get()))
        .bind(value)
        .bind(sql_id(user.get()))
        .fetch_one(&self.pool)
        .await
        .context("computing a rank")?;
        Ok(Some((value, ahead + 1)))
    }

    /// Page `page` (from 0) of the leaderboard, `per_page` members, and the member count: the
    /// members above ¥0.
    #[tracing::instrument(skip_all)]
    pub async fn leaderboard(
        &self,
        guild: GuildId,
        page: i64,
        per_page: i64,
    ) -> anyhow::Result<(Vec<(UserId, i64)>, i64)> {
        let rows = sqlx::query(
            "SELECT user_id, value FROM member_values WHERE guild_id = ? AND value > 0
             ORDER BY value DESC, user_id LIMIT ? OFFSET ?",
        )
        .bind(sql_id(guild.get()))
        .bind(per_page)
        .bind(page.saturating_mul(per_page))
        .fetch_all(&self.pool)
        .await
        .context("reading the leaderboard")?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM member_values WHERE guild_id = ? AND value > 0",
        )
        .bind(sql_id(guild.get()))
        .fetch_one(&self.pool)
        .await
        .context("counting ranked members")?;
        let page = rows
            .iter()
            .map(|row| {
                let user: i64 = row.get("user_id");
                (
                    UserId::new((user as u64).max(1)),
                    row.get::<i64, _>("value"),
                )
            })
            .collect();
        Ok((page, total))
    }

    /// How many changes left `user` above ¥0 (a tryout, staff, a match, a season's reset).
    #[tracing::instrument(skip_all)]
    pub async fn times_valued(&self, guild: GuildId, user: UserId) -> anyhow::Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM value_history
             WHERE guild_id = ? AND user_id = ? AND new_value > 0",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .fetch_one(&self.pool)
        .await
        .context("reading the value history")
    }

    /// Applies a staff member's change in one transaction with its history row.
    /// `Ok(Err(_))` means the change was refused (out of bounds) and nothing was written.
    #[tracing::instrument(skip_all)]
    pub async fn change_value(
        &self,
        guild: GuildId,
        user: UserId,
        by: UserId,
        change: ValueChange,
        reason: Option<&str>,
    ) -> anyhow::Result<Result<(i64, i64), BoundsError>> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let old = lock_value(&mut tx, guild, user).await?;
        let new = match change {
            ValueChange::Set(amount) => check_value(amount),
            ValueChange::Add(delta) => apply_delta(old, delta),
        };
        let new = match new {
            Ok(new) => new,
            // Dropping the transaction rolls back the placeholder row.
            Err(refused) => return Ok(Err(refused)),
        };
        write_value(&mut tx, guild, user, (old, new), by, reason, Source::Staff).await?;
        tx.commit().await.context("committing a value change")?;
        Ok(Ok((old, new)))
    }

    /// The member's last `limit` value changes, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn history(
        &self,
        guild: GuildId,
        user: UserId,
        limit: i64,
    ) -> anyhow::Result<Vec<HistoryRow>> {
        let rows = sqlx::query(
            "SELECT old_value, new_value, changed_by, reason, evaluation_id, created_at
             FROM value_history WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading the value history")?;
        Ok(rows
            .iter()
            .map(|row| HistoryRow {
                old_value: row.get("old_value"),
                new_value: row.get("new_value"),
                changed_by: UserId::new((row.get::<i64, _>("changed_by") as u64).max(1)),
                reason: row.get("reason"),
                evaluation_id: row.get("evaluation_id"),
                created_at: row.get("created_at"),
            })
            .collect())
    }
}
