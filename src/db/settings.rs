//! `guild_settings`: where tryout results and values are posted, and who may do what.

use anyhow::Context as _;
use serenity::all::GuildId;
use sqlx::Row;

use super::{sql_id, Db};

/// A guild's settings; `None` means not configured. Ids are raw Discord ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildSettings {
    /// Channel for tryout results.
    pub results_channel: Option<u64>,
    /// Channel for value announcements.
    pub values_channel: Option<u64>,
    /// Role that may run tryouts (besides Manage Server).
    pub evaluator_role: Option<u64>,
    /// Role that may change values (besides Manage Server).
    pub staff_role: Option<u64>,
    /// Role given to a player after a confirmed tryout.
    pub add_role: Option<u64>,
    /// Role taken from a player after a confirmed tryout.
    pub remove_role: Option<u64>,
}

/// Fields to change; `None` leaves a field as it is.
pub type SettingsUpdate = GuildSettings;

fn column(row: &sqlx::sqlite::SqliteRow, name: &str) -> Option<u64> {
    row.try_get::<Option<i64>, _>(name)
        .ok()
        .flatten()
        .map(|v| v as u64)
}

impl Db {
    /// The guild's settings (all unset if it never configured anything).
    #[tracing::instrument(skip_all)]
    pub async fn settings(&self, guild: GuildId) -> anyhow::Result<GuildSettings> {
        let row = sqlx::query("SELECT * FROM guild_settings WHERE guild_id = ?")
            .bind(sql_id(guild.get()))
            .fetch_optional(&self.pool)
            .await
            .context("reading guild settings")?;
        Ok(row
            .map(|row| GuildSettings {
                results_channel: column(&row, "results_channel_id"),
                values_channel: column(&row, "values_channel_id"),
                evaluator_role: column(&row, "evaluator_role_id"),
                staff_role: column(&row, "staff_role_id"),
                add_role: column(&row, "add_role_id"),
                remove_role: column(&row, "remove_role_id"),
            })
            .unwrap_or_default())
    }

    /// Sets the given fields and returns the resulting settings.
    #[tracing::instrument(skip_all)]
    pub async fn update_settings(
        &self,
        guild: GuildId,
        update: &SettingsUpdate,
    ) -> anyhow::Result<GuildSettings> {
        let id = |v: Option<u64>| v.map(sql_id);
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, results_channel_id, values_channel_id,
                 evaluator_role_id, staff_role_id, add_role_id, remove_role_id)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (guild_id) DO UPDATE SET
                 results_channel_id = COALESCE(excluded.results_channel_id, results_channel_id),
                 values_channel_id = COALESCE(excluded.values_channel_id, values_channel_id),
                 evaluator_role_id = COALESCE(excluded.evaluator_role_id, evaluator_role_id),
                 staff_role_id = COALESCE(excluded.staff_role_id, staff_role_id),
                 add_role_id = COALESCE(excluded.add_role_id, add_role_id),
                 remove_role_id = COALESCE(excluded.remove_role_id, remove_role_id)",
        )
        .bind(sql_id(guild.get()))
        .bind(id(update.results_channel))
        .bind(id(update.values_channel))
        .bind(id(update.evaluator_role))
        .bind(id(update.staff_role))
        .bind(id(update.add_role))
        .bind(id(update.remove_role))
        .execute(&self.pool)
        .await
        .context("saving guild settings")?;
        self.settings(guild).await
    }
}
