//! `tryout_requests`: players asking for a tryout, from the request to its end.
//!
//! Accepting and declining are one conditional update each (`… WHERE status = 'open'`): when
//! two evaluators press Accept at once, one update changes the row and the other changes
//! nothing, and is told who was first.

use anyhow::Context as _;
use serenity::all::{ChannelId, GuildId, MessageId, UserId};
use sqlx::Row;

use super::{now, sql_id, Db};

/// A tryout request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryoutRequest {
    /// Its number.
    pub id: i64,
    /// The guild.
    pub guild: GuildId,
    /// Who asked.
    pub player: UserId,
    /// The position they asked to be evaluated at, if they said.
    pub position: Option<String>,
    /// `open`, `accepted`, `declined`, `evaluated` or `withdrawn`.
    pub status: String,
    /// The evaluator who accepted or declined it.
    pub evaluator: Option<UserId>,
    /// Why it was declined.
    pub reason: Option<String>,
    /// The channel of its card.
    pub channel: ChannelId,
    /// Its card, once posted.
    pub message: Option<MessageId>,
    /// When it was made (seconds since the epoch).
    pub created_at: i64,
}

pub(super) fn read(row: &sqlx::sqlite::SqliteRow) -> TryoutRequest {
    let id = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .ok()
            .flatten()
            .map(|v| (v as u64).max(1))
    };
    TryoutRequest {
        id: row.get("id"),
        guild: GuildId::new(id("guild_id").unwrap_or(1)),
        player: UserId::new(id("player_id").unwrap_or(1)),
        position: row.get("position"),
        status: row.get("status"),
        evaluator: id("evaluator_id").map(UserId::new),
        reason: row.get("reason"),
        channel: ChannelId::new(id("channel_id").unwrap_or(1)),
        message: id("message_id").map(MessageId::new),
        created_at: row.get("created_at"),
    }
}

impl Db {
    /// Records `player`'s request, or returns the one they already have (`Err`).
    #[tracing::instrument(skip_all)]
    pub async fn open_request(
        &self,
        guild: GuildId,
        player: UserId,
        position: Option<&str>,
        channel: ChannelId,
    ) -> anyhow::Result<Result<TryoutRequest, TryoutRequest>> {
        let inserted = sqlx::query(
            "INSERT INTO tryout_requests (guild_id, player_id, position, status, channel_id,
                 created_at)
             VALUES (?, ?, ?, 'open', ?, ?)
             ON CONFLICT DO NOTHING RETURNING *",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(player.get()))
        .bind(position)
        .bind(sql_id(channel.get()))
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .context("saving a tryout request")?;
        if let Some(row) = inserted {
            return Ok(Ok(read(&row)));
        }
        let existing = sqlx::query(
            "SELECT * FROM tryout_requests
             WHERE guild_id = ? AND player_id = ? AND status IN ('open', 'accepted')",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(player.get()))
        .fetch_optional(&self.pool)
        .await
        .context("reading the member's tryout request")?;
        match existing {
            Some(existing) => Ok(Err(read(&existing))),
            // Decided between the two statements: the way is free again.
            None => Box::pin(self.open_request(guild, player, position, channel)).await,
        }
    }

    /// When `player`'s latest declined request was declined, if they have one.
    #[tracing::instrument(skip_all)]
    pub async fn last_declined(
        &self,
        guild: GuildId,
        player: UserId,
    ) -> anyhow::Result<Option<i64>> {
        let at: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT MAX(decided_at) FROM tryout_requests
             WHERE guild_id = ? AND player_id = ? AND status = 'declined'",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(player.get()))
        .fetch_optional(&self.pool)
        .await
        .context("reading the member's last declined request")?;
        Ok(at.flatten())
    }

    /// Records where a request's card is.
    #[tracing::instrument(skip_all)]
    pub async fn set_request_card(&self, id: i64, message: MessageId) -> anyhow::Result<()> {
        // A card posted before any decision shows the request open; one decided on while it
        // was being posted shows whatever that decision's draw recorded.
        sqlx::query(
            "UPDATE tryout_requests SET message_id = ?,
                 card_shows = CASE WHEN decided_at IS NULL THEN 'open' ELSE card_shows END
             WHERE id = ?",
        )
        .bind(sql_id(message.get()))
        .bind(id)
        .execute(&self.pool)
        .await
        .context("saving a request card's id")?;
        Ok(())
    }

    /// A request of `guild`.
    #[tracing::instrument(skip_all)]
    pub async fn get_request(
        &self,
        guild: GuildId,
        id: i64,
    ) -> anyhow::Result<Option<TryoutRequest>> {
        let row = sqlx::query("SELECT * FROM tryout_requests WHERE id = ? AND guild_id = ?")
            .bind(id)
            .bind(sql_id(guild.get()))
            .fetch_optional(&self.pool)
            .await
            .context("reading a tryout request")?;
        Ok(row.as_ref().map(read))
    }

    /// Moves an open request to `status` (`accepted` or `declined`) for `evaluator`; `None`
    /// when it was not open any more (someone was first).
    #[tracing::instrument(skip_all)]
    pub async fn decide_request(
        &self,
        guild: GuildId,
        id: i64,
        evaluator: UserId,
        status: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<Option<TryoutRequest>> {
        let row = sqlx::query(
            "UPDATE tryout_requests SET status = ?, evaluator_id = ?, reason = ?, decided_at = ?
             WHERE id = ? AND guild_id = ? AND status = 'open' RETURNING *",
        )
        .bind(status)
        .bind(sql_id(evaluator.get()))
        .bind(reason)
        .bind(now())
        .bind(id)
        .bind(sql_id(guild.get()))
        .fetch_optional(&self.pool)
        .await
        .context("deciding a tryout request")?;
        Ok(row.as_ref().map(read))
    }

    /// Sets a request's status from `from` to `to` (an accepted request back to `open`, or on to
    /// `evaluated`; an open one whose card could not be posted to `withdrawn`). With `by`, only
    /// if that evaluator holds it: a later acceptance by someone else is never undone.
    #[tracing::instrument(skip_all)]
    pub async fn move_request(
        &self,
        id: i64,
        from: &str,
        to: &str,
        by: Option<UserId>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE tryout_requests
             SET status = ?1, evaluator_id = CASE WHEN ?1 = 'open' THEN NULL ELSE evaluator_id END
             WHERE id = ?2 AND status = ?3 AND (?4 IS NULL OR evaluator_id = ?4)",
        )
        .bind(to)
        .bind(id)
        .bind(from)
        .bind(by.map(|u| sql_id(u.get())))
        .execute(&self.pool)
        .await
        .context("moving a tryout request")?;
        Ok(done.rows_affected() == 1)
    }

    /// `guild`'s open requests, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn open_requests(&self, guild: GuildId) -> anyhow::Result<Vec<TryoutRequest>> {
        let rows = sqlx::query(
            "SELECT * FROM tryout_requests WHERE guild_id = ? AND status = 'open' ORDER BY id",
        )
        .bind(sql_id(guild.get()))
        .fetch_all(&self.pool)
        .await
        .context("reading the open tryout requests")?;
        Ok(rows.iter().map(read).collect())
    }

    /// Puts every accepted request back in the queue (at startup: the wizards that ran them
    /// ended with the process) and returns them, for their cards.
    #[tracing::instrument(skip_all)]
    pub async fn reopen_interrupted_requests(&self) -> anyhow::Result<Vec<TryoutRequest>> {
        // A tryout saved closes its request in the same transaction; this closes the requests
        // of tryouts saved by versions that closed them afterwards.
        sqlx::query(
            "UPDATE tryout_requests SET status = 'evaluated'
             WHERE status = 'accepted' AND EXISTS (
                 SELECT 1 FROM evaluations e
                 WHERE e.guild_id = tryout_requests.guild_id
                   AND e.player_id = tryout_requests.player_id
                   AND e.created_at >= tryout_requests.decided_at)",
        )
        .execute(&self.pool)
        .await
        .context("closing evaluated tryout requests")?;
        let rows = sqlx::query(
            "UPDATE tryout_requests SET status = 'open', evaluator_id = NULL
             WHERE status = 'accepted' RETURNING *",
        )
        .fetch_all(&self.pool)
        .await
        .context("reopening interrupted tryout requests")?;
        Ok(rows.iter().map(read).collect())
    }

    /// Records that request `id`'s card now shows `status`.
    #[tracing::instrument(skip_all)]
    pub async fn card_shows(&self, id: i64, status: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE tryout_requests SET card_shows = ? WHERE id = ?")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .context("recording what a request card shows")?;
        Ok(())
    }

    /// Up to `limit` requests whose card shows another status than theirs (its redraw failed,
    /// or a stop came first), newest first: the ones staff are most likely to look at.
    #[tracing::instrument(skip_all)]
    pub async fn stale_cards(&self, limit: i64) -> anyhow::Result<Vec<TryoutRequest>> {
        let rows = sqlx::query(
            "SELECT * FROM tryout_requests
             WHERE message_id IS NOT NULL AND card_shows IS NOT status
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading stale request cards")?;
        Ok(rows.iter().map(read).collect())
    }

    /// Withdraws every open request whose card was never posted (at startup: the process that
    /// saved it ended before its card went out, so no evaluator can see it, while it would keep
    /// its player from asking again) and returns them, for their players.
    #[tracing::instrument(skip_all)]
    pub async fn withdraw_unposted_requests(&self) -> anyhow::Result<Vec<TryoutRequest>> {
        let rows = sqlx::query(
            "UPDATE tryout_requests SET status = 'withdrawn'
             WHERE status = 'open' AND message_id IS NULL RETURNING *",
        )
        .fetch_all(&self.pool)
        .await
        .context("withdrawing unposted tryout requests")?;
        Ok(rows.iter().map(read).collect())
    }
}
