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
    /// Channel where match cards are posted.
    pub matches_channel: Option<u64>,
    /// Channel where staff approve or reject reported match results.
    pub staff_channel: Option<u64>,
    /// How long an open match takes players, in minutes (default 240).
    pub match_expiry_minutes: Option<i64>,
    /// What a season's end does to values: `keep` (the default) or `reset` to
    /// [`GuildSettings::season_base_value`].
    pub season_reset: Option<SeasonReset>,
    /// The value everyone is reset to when a season ends with `reset` (default 0).
    pub season_base_value: Option<i64>,
    /// The role the top members of the rankings carry (off when unset).
    pub rank_role: Option<u64>,
    /// How many members carry the rank role (default 10).
    pub rank_top: Option<i64>,
    /// Channel where members who join are welcomed (off when unset).
    pub welcome_channel: Option<u64>,
    /// Role given to members who join (off when unset).
    pub welcome_role: Option<u64>,
    /// The welcome's text; `{member}` stands for the newcomer's mention.
    pub welcome_message: Option<String>,
}

/// A setting `/settings clear` sets back to unset. The rank role and welcomes have their own
/// ways off (`rank_off`, `welcome_off`), since turning them off does more than forget an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clearable {
    /// [`GuildSettings::results_channel`].
    ResultsChannel,
    /// [`GuildSettings::values_channel`].
    ValuesChannel,
    /// [`GuildSettings::evaluator_role`].
    EvaluatorRole,
    /// [`GuildSettings::staff_role`].
    StaffRole,
    /// [`GuildSettings::add_role`].
    AddRole,
    /// [`GuildSettings::remove_role`].
    RemoveRole,
    /// [`GuildSettings::matches_channel`].
    MatchesChannel,
    /// [`GuildSettings::staff_channel`].
    StaffChannel,
}

impl Clearable {
    /// Its column in `guild_settings`.
    fn column(self) -> &'static str {
        match self {
            Clearable::ResultsChannel => "results_channel_id",
            Clearable::ValuesChannel => "values_channel_id",
            Clearable::EvaluatorRole => "evaluator_role_id",
            Clearable::StaffRole => "staff_role_id",
            Clearable::AddRole => "add_role_id",
            Clearable::RemoveRole => "remove_role_id",
            Clearable::MatchesChannel => "matches_channel_id",
            Clearable::StaffChannel => "staff_channel_id",
        }
    }
}

/// What a settings change turns off before it sets anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unset {
    /// One channel or role set back to unset.
    pub setting: Option<Clearable>,
    /// Welcomes off: their channel, role and message.
    pub welcomes: bool,
    /// The rank role off.
    pub rank_role: bool,
}

/// How many members carry the rank role when the server set nothing.
pub const DEFAULT_RANK_TOP: i64 = 10;

/// What ending a season does to values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeasonReset {
    /// Values carry over.
    Keep,
    /// Everyone with a value goes back to the base value.
    Reset,
}

impl SeasonReset {
    /// As stored: `keep` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            SeasonReset::Keep => "keep",
            SeasonReset::Reset => "reset",
        }
    }
}

/// How long an open match takes players when the server set nothing.
pub const DEFAULT_MATCH_EXPIRY_MINUTES: i64 = 240;

impl GuildSettings {
    /// How long an open match takes players, in seconds.
    pub fn match_expiry_secs(&self) -> i64 {
        self.match_expiry_minutes
            .unwrap_or(DEFAULT_MATCH_EXPIRY_MINUTES)
            * 60
    }
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
                matches_channel: column(&row, "matches_channel_id"),
                staff_channel: column(&row, "staff_channel_id"),
                match_expiry_minutes: row.try_get("match_expiry_minutes").ok().flatten(),
                season_reset: row
                    .try_get::<Option<String>, _>("season_reset")
                    .ok()
                    .flatten()
                    .map(|r| {
                        if r == "reset" {
                            SeasonReset::Reset
                        } else {
                            SeasonReset::Keep
                        }
                    }),
                season_base_value: row.try_get("season_base_value").ok().flatten(),
                rank_role: column(&row, "rank_role_id"),
                rank_top: row.try_get("rank_top").ok().flatten(),
                welcome_channel: column(&row, "welcome_channel_id"),
                welcome_role: column(&row, "welcome_role_id"),
                welcome_message: row.try_get("welcome_message").ok().flatten(),
            })
            .unwrap_or_default())
    }

    /// Sets the given fields and returns the resulting settings.
    pub async fn update_settings(
        &self,
        guild: GuildId,
        update: &SettingsUpdate,
    ) -> anyhow::Result<GuildSettings> {
        self.change_settings(guild, Unset::default(), update).await
    }

    /// Unsets what `unset` names, then sets the given fields, as one write: a failure part way
    /// leaves the settings as they were. Returns the resulting settings.
    #[tracing::instrument(skip_all)]
    pub async fn change_settings(
        &self,
        guild: GuildId,
        unset: Unset,
        update: &SettingsUpdate,
    ) -> anyhow::Result<GuildSettings> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The unsets first: on their own they break no rule, while the update may rely on them.
        if let Some(setting) = unset.setting {
            // The column comes from the fixed list above, never from input.
            let sql = format!(
                "UPDATE guild_settings SET {} = NULL WHERE guild_id = ?",
                setting.column()
            );
            sqlx::query(&sql)
                .bind(sql_id(guild.get()))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("clearing {}", setting.column()))?;
        }
        if unset.welcomes {
            sqlx::query(
                "UPDATE guild_settings SET welcome_channel_id = NULL, welcome_role_id = NULL,
                     welcome_message = NULL, welcome_role_paused = 0
                 WHERE guild_id = ?",
            )
            .bind(sql_id(guild.get()))
            .execute(&mut *tx)
            .await
            .context("turning welcomes off")?;
        }
        if unset.rank_role {
            sqlx::query(
                "UPDATE guild_settings SET rank_role_id = NULL, rank_role_paused = 0
                 WHERE guild_id = ?",
            )
            .bind(sql_id(guild.get()))
            .execute(&mut *tx)
            .await
            .context("turning the rank role off")?;
        }
        let id = |v: Option<u64>| v.map(sql_id);
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, results_channel_id, values_channel_id,
                 evaluator_role_id, staff_role_id, add_role_id, remove_role_id,
                 matches_channel_id, staff_channel_id, match_expiry_minutes, season_reset,
                 season_base_value, rank_role_id, rank_top, welcome_channel_id,
                 welcome_role_id, welcome_message)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (guild_id) DO UPDATE SET
                 results_channel_id = COALESCE(excluded.results_channel_id, results_channel_id),
                 values_channel_id = COALESCE(excluded.values_channel_id, values_channel_id),
                 evaluator_role_id = COALESCE(excluded.evaluator_role_id, evaluator_role_id),
                 staff_role_id = COALESCE(excluded.staff_role_id, staff_role_id),
                 add_role_id = COALESCE(excluded.add_role_id, add_role_id),
                 remove_role_id = COALESCE(excluded.remove_role_id, remove_role_id),
                 matches_channel_id = COALESCE(excluded.matches_channel_id, matches_channel_id),
                 staff_channel_id = COALESCE(excluded.staff_channel_id, staff_channel_id),
                 match_expiry_minutes =
                     COALESCE(excluded.match_expiry_minutes, match_expiry_minutes),
                 season_reset = COALESCE(excluded.season_reset, season_reset),
                 season_base_value = COALESCE(excluded.season_base_value, season_base_value),
                 rank_role_id = COALESCE(excluded.rank_role_id, rank_role_id),
                 rank_top = COALESCE(excluded.rank_top, rank_top),
                 welcome_channel_id = COALESCE(excluded.welcome_channel_id, welcome_channel_id),
                 welcome_role_id = COALESCE(excluded.welcome_role_id, welcome_role_id),
                 welcome_message = COALESCE(excluded.welcome_message, welcome_message),
                 welcome_role_paused = CASE WHEN excluded.welcome_role_id IS NULL
                     THEN welcome_role_paused ELSE 0 END,
                 -- Setting the rank role again resumes it after a refusal.
                 rank_role_paused = CASE WHEN excluded.rank_role_id IS NULL
                     THEN rank_role_paused ELSE 0 END",
        )
        .bind(sql_id(guild.get()))
        .bind(id(update.results_channel))
        .bind(id(update.values_channel))
        .bind(id(update.evaluator_role))
        .bind(id(update.staff_role))
        .bind(id(update.add_role))
        .bind(id(update.remove_role))
        .bind(id(update.matches_channel))
        .bind(id(update.staff_channel))
        .bind(update.match_expiry_minutes)
        .bind(update.season_reset.map(SeasonReset::as_str))
        .bind(update.season_base_value)
        .bind(id(update.rank_role))
        .bind(update.rank_top)
        .bind(id(update.welcome_channel))
        .bind(id(update.welcome_role))
        .bind(update.welcome_message.as_deref())
        .execute(&mut *tx)
        .await
        .context("saving guild settings")?;
        tx.commit().await.context("saving guild settings")?;
        self.settings(guild).await
    }
}
