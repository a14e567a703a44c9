//! `seasons`: each finished season's final rankings, and the reset that ends it.

use anyhow::Context as _;
use serenity::all::{GuildId, UserId};
use sqlx::Row;

use super::settings::SeasonReset;
use super::values::{lock_value, write_value, Source};
use super::{now, sql_id, Db};

/// Why a season did not end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeasonRefusal {
    /// Results of these matches wait for confirmation or staff.
    ResultsWaiting(Vec<i64>),
    /// The season the confirmation was about has already ended (another click was first).
    AlreadyEnded(i64),
}

/// What ending a season did.
#[derive(Clone, Debug)]
pub struct SeasonEnd {
    /// The archived season.
    pub season: Season,
    /// How many values the reset changed.
    pub changed: usize,
    /// Open and full matches called off with the season.
    pub cancelled: Vec<i64>,
}

/// A finished season.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Season {
    /// Its number (1 for the first).
    pub number: i64,
    /// Its final rankings, best first: (member, value).
    pub rankings: Vec<(UserId, i64)>,
    /// The rule applied when it ended, as shown (`keep` or `reset to N`).
    pub reset_rule: String,
    /// When it ended (seconds since the epoch).
    pub ended_at: i64,
}

impl Db {
    /// The number the next season to end will get.
    #[tracing::instrument(skip_all)]
    pub async fn next_season_number(&self, guild: GuildId) -> anyhow::Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM seasons WHERE guild_id = ?")
            .bind(sql_id(guild.get()))
            .fetch_one(&self.pool)
            .await
            .context("numbering the next season")
    }

    /// Ends season `expected` in one transaction: calls off the open and full matches (refused
    /// while a result waits for confirmation or staff), archives the rankings as they are,
    /// then applies `rule` (for `Reset`, everyone with a value above ¥0 and other than `base`
    /// goes to `base`, each with a history row).
    #[tracing::instrument(skip_all)]
    pub async fn end_season(
        &self,
        guild: GuildId,
        by: UserId,
        (rule, base): (SeasonReset, i64),
        expected: i64,
    ) -> anyhow::Result<Result<SeasonEnd, SeasonRefusal>> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The first statement writes, so this transaction holds the write lock from here on.
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO seasons (guild_id, number, rankings, reset_rule, ended_by, ended_at)
             SELECT ?, COALESCE(MAX(number), 0) + 1, '[]', '', ?, ?
             FROM seasons WHERE guild_id = ? RETURNING number",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(by.get()))
        .bind(now())
        .bind(sql_id(guild.get()))
        .fetch_one(&mut *tx)
        .await
        .context("numbering the season")?;
        if number != expected {
            return Ok(Err(SeasonRefusal::AlreadyEnded(expected)));
        }
        let cancelled = match super::matches::close_for_season(&mut tx, guild).await? {
            Ok(cancelled) => cancelled,
            Err(waiting) => return Ok(Err(SeasonRefusal::ResultsWaiting(waiting))),
        };
        let rows = sqlx::query(
            "SELECT user_id, value FROM member_values WHERE guild_id = ?
             ORDER BY value DESC, user_id",
        )
        .bind(sql_id(guild.get()))
        .fetch_all(&mut *tx)
        .await
        .context("reading the final rankings")?;
        let rankings: Vec<(UserId, i64)> = rows
            .iter()
            .map(|r| {
                let user = (r.get::<i64, _>("user_id") as u64).max(1);
                (UserId::new(user), r.get::<i64, _>("value"))
            })
            .filter(|(_, value)| *value > 0)
            .collect();
        let archived: Vec<(String, i64)> = rankings
            .iter()
            .map(|(u, v)| (u.get().to_string(), *v))
            .collect();
        let rule_text = match rule {
            SeasonReset::Keep => "keep".to_owned(),
            SeasonReset::Reset => format!("reset to {base}"),
        };
        sqlx::query(
            "UPDATE seasons SET rankings = ?, reset_rule = ? WHERE guild_id = ? AND number = ?",
        )
        .bind(serde_json::to_string(&archived).context("encoding the rankings")?)
        .bind(&rule_text)
        .bind(sql_id(guild.get()))
        .bind(number)
        .execute(&mut *tx)
        .await
        .context("archiving the rankings")?;
        let mut changed = 0;
        if rule == SeasonReset::Reset {
            let reason = format!("season {number} ended: reset to {base}");
            // The ranked members only: ¥0 counts as no value, and a member there is not
            // raised to the base, which would pass them for evaluated without the roles an
            // evaluation brings.
            for &(user, _) in &rankings {
                let old = lock_value(&mut tx, guild, user).await?;
                if old != base {
                    write_value(
                        &mut tx,
                        guild,
                        user,
                        (old, base),
                        by,
                        Some(&reason),
                        Source::Staff,
                    )
                    .await?;
                    changed += 1;
                }
            }
        }
        tx.commit().await.context("committing the season's end")?;
        let season = Season {
            number,
            rankings,
            reset_rule: rule_text,
            ended_at: now(),
        };
        Ok(Ok(SeasonEnd {
            season,
            changed,
            cancelled,
        }))
    }

    /// Season `number`, or the last one when `None`.
    #[tracing::instrument(skip_all)]
    pub async fn season(
        &self,
        guild: GuildId,
        number: Option<i64>,
    ) -> anyhow::Result<Option<Season>> {
        let row = sqlx::query(
            "SELECT number, rankings, reset_rule, ended_at FROM seasons
             WHERE guild_id = ? AND (? IS NULL OR number = ?) ORDER BY number DESC LIMIT 1",
        )
        .bind(sql_id(guild.get()))
        .bind(number)
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .context("reading a season")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let archived: Vec<(String, i64)> =
            serde_json::from_str(row.get("rankings")).context("decoding a season's rankings")?;
        let rankings = archived
            .into_iter()
            .filter_map(|(user, value)| {
                let id: u64 = user.parse().ok().filter(|id| *id != 0)?;
                Some((UserId::new(id), value))
            })
            .collect();
        Ok(Some(Season {
            number: row.get("number"),
            rankings,
            reset_rule: row.get("reset_rule"),
            ended_at: row.get("ended_at"),
        }))
    }
}
