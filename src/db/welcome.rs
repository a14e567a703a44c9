//! Welcomes' own state: turning them off, the welcome role's pause, and members who joined
//! pending (membership screening) and get the role once they pass it.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};

use super::{sql_id, Db};

impl Db {
    /// Turns welcomes off: no message, no role.
    #[tracing::instrument(skip_all)]
    pub async fn clear_welcome(&self, guild: GuildId) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE guild_settings SET welcome_channel_id = NULL, welcome_role_id = NULL,
                 welcome_message = NULL, welcome_role_paused = 0
             WHERE guild_id = ?",
        )
        .bind(sql_id(guild.get()))
        .execute(&self.pool)
        .await
        .context("turning welcomes off")?;
        Ok(())
    }

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

    /// Remembers that `user` joined pending: the welcome role waits until they pass screening.
    #[tracing::instrument(skip_all)]
    pub async fn hold_welcome_role(&self, guild: GuildId, user: UserId) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO welcome_pending (guild_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .execute(&self.pool)
        .await
        .context("remembering a pending member")?;
        Ok(())
    }

    /// Whether `user`'s welcome role waits for them to pass screening.
    #[tracing::instrument(skip_all)]
    pub async fn welcome_role_held(&self, guild: GuildId, user: UserId) -> anyhow::Result<bool> {
        let held: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM welcome_pending WHERE guild_id = ? AND user_id = ?")
                .bind(sql_id(guild.get()))
                .bind(sql_id(user.get()))
                .fetch_optional(&self.pool)
                .await
                .context("reading a pending member")?;
        Ok(held.is_some())
    }

    /// Forgets that `user` was pending; returns whether they were (so the role is given once).
    #[tracing::instrument(skip_all)]
    pub async fn release_welcome_role(&self, guild: GuildId, user: UserId) -> anyhow::Result<bool> {
        let released =
            sqlx::query("DELETE FROM welcome_pending WHERE guild_id = ? AND user_id = ?")
                .bind(sql_id(guild.get()))
                .bind(sql_id(user.get()))
                .execute(&self.pool)
                .await
                .context("releasing a pending member")?;
        Ok(released.rows_affected() == 1)
    }
}
