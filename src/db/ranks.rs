//! `rank_role_holders`, `rank_role_absent` and the rank role's pause: whom the bot gave the rank
//! role to, and who should carry it.

use std::collections::HashSet;

use anyhow::Context as _;
use serenity::all::{GuildId, RoleId, UserId};

use super::{sql_id, Db};

/// Whom the bot gave a rank role to, as recorded: (member, role) pairs.
#[derive(Debug, Default)]
pub struct RankHolders {
    /// Discord said the role was given.
    pub given: HashSet<(UserId, RoleId)>,
    /// The role was asked for and no answer came back (lost, or the bot stopped): they may
    /// hold it or not.
    pub unsure: HashSet<(UserId, RoleId)>,
}

impl RankHolders {
    /// Every pair recorded, given or not: all the bot may have to take back.
    pub fn all(&self) -> impl Iterator<Item = &(UserId, RoleId)> {
        self.given.iter().chain(&self.unsure)
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.unsure.is_empty()
    }
}

/// Where the rank role stands for one member, as [`Db::set_rank_holder`] records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    /// About to be asked of Discord: recorded first, so an answer that never comes leaves a
    /// trace ([`RankHolders::unsure`]).
    Asked,
    /// Discord gave it.
    Given,
    /// Not held: taken back, refused, or gone with the member.
    No,
}

impl Db {
    /// The members the bot gave a rank role to in `guild`, with the role each was given.
    #[tracing::instrument(skip_all)]
    pub async fn rank_holders(&self, guild: GuildId) -> anyhow::Result<RankHolders> {
        let rows: Vec<(i64, i64, bool)> = sqlx::query_as(
            "SELECT user_id, role_id, given FROM rank_role_holders WHERE guild_id = ?",
        )
        .bind(sql_id(guild.get()))
        .fetch_all(&self.pool)
        .await
        .context("reading the rank role's holders")?;
        let mut holders = RankHolders::default();
        for (user, role, given) in rows {
            let held = (
                UserId::new((user as u64).max(1)),
                RoleId::new((role as u64).max(1)),
            );
            if given {
                holders.given.insert(held);
            } else {
                holders.unsure.insert(held);
            }
        }
        Ok(holders)
    }

    /// Records where the rank role `role` stands for `user`.
    #[tracing::instrument(skip_all)]
    pub async fn set_rank_holder(
        &self,
        guild: GuildId,
        user: UserId,
        role: RoleId,
        holding: Holding,
    ) -> anyhow::Result<()> {
        let query = match holding {
            // An unsure record never downgrades one Discord confirmed.
            Holding::Asked => {
                "INSERT INTO rank_role_holders (guild_id, user_id, role_id, given)
                 VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING"
            }
            Holding::Given => {
                "INSERT INTO rank_role_holders (guild_id, user_id, role_id, given)
                 VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE SET given = 1"
            }
            Holding::No => {
                "DELETE FROM rank_role_holders WHERE guild_id = ? AND user_id = ? AND role_id = ?"
            }
        };
        sqlx::query(query)
            .bind(sql_id(guild.get()))
            .bind(sql_id(user.get()))
            .bind(sql_id(role.get()))
            .execute(&self.pool)
            .await
            .context("recording a rank role holder")?;
        Ok(())
    }

    /// Forgets every rank role `user` was given (they left: Discord took it); returns whether
    /// they held one.
    #[tracing::instrument(skip_all)]
    pub async fn forget_rank_holder(&self, guild: GuildId, user: UserId) -> anyhow::Result<bool> {
        let forgotten =
            sqlx::query("DELETE FROM rank_role_holders WHERE guild_id = ? AND user_id = ?")
                .bind(sql_id(guild.get()))
                .bind(sql_id(user.get()))
                .execute(&self.pool)
                .await
                .context("forgetting a rank role holder")?;
        Ok(forgotten.rows_affected() > 0)
    }

    /// Whether the rank role is paused after Discord refused it.
    #[tracing::instrument(skip_all)]
    pub async fn rank_role_paused(&self, guild: GuildId) -> anyhow::Result<bool> {
        let paused: Option<i64> =
            sqlx::query_scalar("SELECT rank_role_paused FROM guild_settings WHERE guild_id = ?")
                .bind(sql_id(guild.get()))
                .fetch_optional(&self.pool)
                .await
                .context("reading the rank role's pause")?;
        Ok(paused.unwrap_or(0) != 0)
    }

    /// Pauses the rank role; returns whether it was running (so staff are told once).
    #[tracing::instrument(skip_all)]
    pub async fn pause_rank_role(&self, guild: GuildId) -> anyhow::Result<bool> {
        let paused = sqlx::query(
            "UPDATE guild_settings SET rank_role_paused = 1
             WHERE guild_id = ? AND rank_role_paused = 0",
        )
        .bind(sql_id(guild.get()))
        .execute(&self.pool)
        .await
        .context("pausing the rank role")?;
        Ok(paused.rows_affected() == 1)
    }

    /// The first `count` members of the rankings with a value above 0, in the leaderboard's
    /// order, passing over members found gone (their place goes to the next one down).
    #[tracing::instrument(skip_all)]
    pub async fn rank_candidates(&self, guild: GuildId, count: i64) -> anyhow::Result<Vec<UserId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT v.user_id FROM member_values v
             WHERE v.guild_id = ? AND v.value > 0
               AND NOT EXISTS (SELECT 1 FROM rank_role_absent a
                               WHERE a.guild_id = v.guild_id AND a.user_id = v.user_id)
             ORDER BY v.value DESC, v.user_id LIMIT ?",
        )
        .bind(sql_id(guild.get()))
        .bind(count)
        .fetch_all(&self.pool)
        .await
        .context("reading the top of the rankings")?;
        Ok(ids
            .into_iter()
            .map(|id| UserId::new((id as u64).max(1)))
            .collect())
    }

    /// Records that `user` left (or is back); returns whether that changed anything.
    #[tracing::instrument(skip_all)]
    pub async fn set_rank_absent(
        &self,
        guild: GuildId,
        user: UserId,
        absent: bool,
    ) -> anyhow::Result<bool> {
        let query = if absent {
            "INSERT INTO rank_role_absent (guild_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM rank_role_absent WHERE guild_id = ? AND user_id = ?"
        };
        let changed = sqlx::query(query)
            .bind(sql_id(guild.get()))
            .bind(sql_id(user.get()))
            .execute(&self.pool)
            .await
            .context("recording a member gone from the rankings")?;
        Ok(changed.rows_affected() == 1)
    }
}
