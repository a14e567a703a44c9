//! Welcomes' own state: the welcome role's pause, and who was welcomed lately.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};

use super::{sql_id, Db};

/// How long a member's welcome counts: one who leaves and joins again within it is not
/// welcomed again.
pub const WELCOME_REPEAT_SECS: i64 = 24 * 60 * 60;

impl Db {
    /// Pauses the welcome role; returns whether it was running (so staff are told once).
    #[tracing::instrument(skip_all)]
    pub async fn pause_welcome_role(&self, guild: GuildId) -> anyhow::Result<bool> {
        let paused = sqlx::query(
            "UPDATE guild_settings SET welcome_role_paused = 1
             WHERE guild_id = ? AND welcome_role_paused = 0",
        )
        .bind(sql_id(guild.get()))
        .execute(&self.pool)
        .await
        .context("pausing the welcome role")?;
        Ok(paused.rows_affected() == 1)
    }

    /// Whether the welcome role is paused after it could not be given.
    #[tracing::instrument(skip_all)]
    pub async fn welcome_role_paused(&self, guild: GuildId) -> anyhow::Result<bool> {
        let paused: Option<i64> =
            sqlx::query_scalar("SELECT welcome_role_paused FROM guild_settings WHERE guild_id = ?")
                .bind(sql_id(guild.get()))
                .fetch_optional(&self.pool)
                .await
                .context("reading the welcome role's pause")?;
        Ok(paused.unwrap_or(0) != 0)
    }

    /// Records that `user` is welcomed in `guild` at `at`, unless they were within
    /// [`WELCOME_REPEAT_SECS`] before; returns whether they are to be welcomed now. A record
    /// dated after `at` (the clock was set back) counts for nothing.
    #[tracing::instrument(skip_all)]
    pub async fn welcome_due(&self, guild: GuildId, user: UserId, at: i64) -> anyhow::Result<bool> {
        let since = at - WELCOME_REPEAT_SECS;
        let mut tx = self.pool.begin().await.context("starting a welcome")?;
        sqlx::query("DELETE FROM welcomed WHERE welcomed_at <= ? OR welcomed_at > ?")
            .bind(since)
            .bind(at)
            .execute(&mut *tx)
            .await
            .context("forgetting old welcomes")?;
        let recorded = sqlx::query(
            "INSERT INTO welcomed (guild_id, user_id, welcomed_at) VALUES (?, ?, ?)
             ON CONFLICT (guild_id, user_id) DO NOTHING",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .bind(at)
        .execute(&mut *tx)
        .await
        .context("recording a welcome")?;
        tx.commit().await.context("saving a welcome")?;
        Ok(recorded.rows_affected() == 1)
    }

    /// Forgets that `user` was welcomed in `guild`: the post failed, so a return within the
    /// day is welcomed.
    #[tracing::instrument(skip_all)]
    pub async fn forget_welcome(&self, guild: GuildId, user: UserId) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM welcomed WHERE guild_id = ? AND user_id = ?")
            .bind(sql_id(guild.get()))
            .bind(sql_id(user.get()))
            .execute(&self.pool)
            .await
            .context("forgetting a welcome")?;
        Ok(())
    }
}
