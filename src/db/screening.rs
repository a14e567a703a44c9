//! `screening`: members who joined pending (membership screening) and have not been seen
//! passing it, and whether their welcome role waits for them. The join writes the row before
//! anything else and then reads Discord; the update saying they passed reads the row, then
//! Discord. Whichever ends the row (one `DELETE ... RETURNING`) gives the role, so it is given
//! once, in either order. A pass the bot never hears of (it was down) is found at the
//! member's next update.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};

use super::{sql_id, Db};

impl Db {
    /// Records that `user` joined pending. A row left from an earlier stay starts over: the
    /// welcome role waits only if this join holds it.
    #[tracing::instrument(skip_all)]
    pub async fn start_screening(&self, guild: GuildId, user: UserId) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO screening (guild_id, user_id) VALUES (?, ?)
             ON CONFLICT DO UPDATE SET welcome_role_waits = 0",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .execute(&self.pool)
        .await
        .context("recording a member in screening")?;
        Ok(())
    }

    /// Makes the welcome role wait for `user` to pass screening; returns false if they already
    /// passed (the role is then given at once).
    #[tracing::instrument(skip_all)]
    pub async fn hold_welcome_role(&self, guild: GuildId, user: UserId) -> anyhow::Result<bool> {
        let held = sqlx::query(
            "UPDATE screening SET welcome_role_waits = 1 WHERE guild_id = ? AND user_id = ?",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .execute(&self.pool)
        .await
        .context("holding a welcome role")?;
        Ok(held.rows_affected() == 1)
    }

    /// Whether `user` is recorded as screening.
    #[tracing::instrument(skip_all)]
    pub async fn is_screening(&self, guild: GuildId, user: UserId) -> anyhow::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM screening WHERE guild_id = ? AND user_id = ?")
                .bind(sql_id(guild.get()))
                .bind(sql_id(user.get()))
                .fetch_optional(&self.pool)
                .await
                .context("reading whether a member is screening")?;
        Ok(found.is_some())
    }

    /// Forgets that `user` was screening. `Some(waits)` when they were, with whether the
    /// welcome role waited for them; `None` when another event already ended it.
    #[tracing::instrument(skip_all)]
    pub async fn end_screening(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> anyhow::Result<Option<bool>> {
        let waits: Option<i64> = sqlx::query_scalar(
            "DELETE FROM screening WHERE guild_id = ? AND user_id = ?
             RETURNING welcome_role_waits",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .fetch_optional(&self.pool)
        .await
        .context("ending a member's screening")?;
        Ok(waits.map(|waits| waits != 0))
    }
}
