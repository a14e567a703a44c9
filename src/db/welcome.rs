//! Welcomes' own state: turning them off and the welcome role's pause.

use anyhow::Context as _;
use serenity::all::GuildId;

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
}
