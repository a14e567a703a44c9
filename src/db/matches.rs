//! `matches` and `match_players`: wager matches from creation to settlement.
//!
//! Every change is one transaction that first takes the database's write lock
//! ([`lock_database`]), then re-reads the match and decides on what it finds: two clicks, two
//! staff members or a retry after a restart are served one after the other, and the second
//! finds the match already changed. Settlement and undo write every value change with a
//! history row naming the match, in the same transaction as the status change, so a match is
//! settled (or undone) entirely or not at all, and only once.

use std::fmt;

use anyhow::Context as _;
use serenity::all::{ChannelId, GuildId, MessageId, UserId};
use sqlx::{Row, Sqlite, Transaction};

use super::values::{lock_value, write_value, Source};
use super::{now, sql_id, Db};
use crate::values::MAX_VALUE;

/// A side of a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Team {
    /// Team A (the creator's).
    A,
    /// Team B.
    B,
}

impl Team {
    /// As stored and shown: `A` or `B`.
    pub fn label(self) -> &'static str {
        match self {
            Team::A => "A",
            Team::B => "B",
        }
    }

    /// The other side.
    pub fn other(self) -> Team {
        match self {
            Team::A => Team::B,
            Team::B => Team::A,
        }
    }

    fn parse(text: &str) -> Option<Team> {
        match text {
            "A" => Some(Team::A),
            "B" => Some(Team::B),
            _ => None,
        }
    }
}

/// Where a match is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Taking players.
    Open,
    /// Every place taken: waiting for a result.
    Full,
    /// A player reported the winner: the answering side confirms or disputes.
    Reported,
    /// The answering side disputed the result: staff decide.
    Disputed,
    /// Values moved.
    Settled,
    /// Settled, then undone by staff: its value changes were reversed.
    Void,
    /// Called off by its creator before a result.
    Cancelled,
    /// Did not fill in time.
    Expired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Full => "full",
            Status::Reported => "reported",
            Status::Disputed => "disputed",
            Status::Settled => "settled",
            Status::Void => "void",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "open" => Status::Open,
            "full" => Status::Full,
            "reported" => Status::Reported,
            "disputed" => Status::Disputed,
            "settled" => Status::Settled,
            "void" => Status::Void,
            "cancelled" => Status::Cancelled,
            _ => Status::Expired,
        }
    }

    /// Whether the match still holds its players (one such match per player).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Open | Status::Full | Status::Reported | Status::Disputed
        )
    }
}

/// The statuses in which a player counts as busy, for SQL.
const ACTIVE: &str = "('open', 'full', 'reported', 'disputed')";

/// How many matches a member may create in [`CREATION_WINDOW_SECS`]: a player who cancels and
/// starts again is served, a create-and-cancel loop that fills the matches channel is not.
pub const CREATIONS_PER_WINDOW: i64 = 5;
/// The rolling window [`CREATIONS_PER_WINDOW`] counts in: an hour.
pub const CREATION_WINDOW_SECS: i64 = 60 * 60;

/// A match as stored.
#[derive(Clone, Debug)]
pub struct Match {
    /// Its number, shown as `#id`.
    pub id: i64,
    /// The guild it belongs to.
    pub guild: GuildId,
    /// Who created it (on team A).
    pub creator: UserId,
    /// Players per side (1 to 5).
    pub team_size: i64,
    /// What each winner gains and each loser loses, in millions.
    pub stake: i64,
    /// The creator's note (region, rules), shown on the card.
    pub note: Option<String>,
    /// Where it is in its life.
    pub status: Status,
    /// The channel of its card.
    pub channel: ChannelId,
    /// Its card, once posted.
    pub message: Option<MessageId>,
    /// The reported (then settled) winner.
    pub winner: Option<Team>,
    /// Who reported the winner.
    pub reported_by: Option<UserId>,
    /// A link to the proof given with the report.
    pub proof: Option<String>,
    /// The staff post about its result: (channel, message).
    pub staff_post: Option<(ChannelId, MessageId)>,
    /// The staff post is being made: sent, perhaps, but its id not yet recorded.
    pub staff_post_pending: bool,
    /// When it stops taking players (seconds since the epoch).
    pub expires_at: i64,
    /// Its players, in the order they joined.
    pub players: Vec<(UserId, Team)>,
    /// The players who confirmed the current report.
    pub confirmed: Vec<UserId>,
}

impl Match {
    /// The players of `team`.
    pub fn team(&self, team: Team) -> Vec<UserId> {
        self.players
            .iter()
            .filter(|(_, t)| *t == team)
            .map(|(u, _)| *u)
            .collect()
    }

    /// The side that answers a reported result (confirms or disputes it): the side the report
    /// makes lose, whose stake it takes; but the winners, when the reporter is the losing
    /// side's only player (a 1v1 player who concedes). `None` while nothing is reported.
    ///
    /// Not simply "the side that did not report": a player who reports their own side's loss
    /// would then settle it with a friend on the other side, over their teammates' heads.
    pub fn answering_side(&self) -> Option<Team> {
        let losers = self.winner?.other();
        let conceded = self.reported_by.is_some_and(|r| self.team(losers) == [r]);
        Some(if conceded { losers.other() } else { losers })
    }

    /// The players whose confirmation the report still waits for: those of the answering side
    /// but its reporter who have not confirmed. Empty while nothing is reported.
    pub fn waiting_on(&self) -> Vec<UserId> {
        let Some(answering) = self.answering_side() else {
            return Vec::new();
        };
        self.team(answering)
            .into_iter()
            .filter(|u| Some(*u) != self.reported_by && !self.confirmed.contains(u))
            .collect()
    }

    /// Which side `user` plays on, if they are in the match.
    pub fn side_of(&self, user: UserId) -> Option<Team> {
        self.players
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, t)| *t)
    }

    /// Whether every place is taken.
    pub fn is_full(&self) -> bool {
        self.players.len() as i64 == 2 * self.team_size
    }
}

/// A match to create.
#[derive(Clone, Debug)]
pub struct NewMatch {
    /// The guild.
    pub guild: GuildId,
    /// Its creator, who joins team A.
    pub creator: UserId,
    /// Players per side.
    pub team_size: i64,
    /// The stake, in millions.
    pub stake: i64,
    /// The creator's note.
    pub note: Option<String>,
    /// The channel its card goes to.
    pub channel: ChannelId,
    /// How long it takes players, in seconds.
    pub open_for: i64,
}

/// Why a match action changed nothing, in words for the member who tried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such match in this server.
    Unknown(i64),
    /// The action needs another status.
    Status(i64, &'static str),
    /// The member is already in an unfinished match.
    Busy(i64),
    /// The member's value is below the stake.
    StakeAboveValue {
        /// The member's value.
        value: i64,
        /// The stake.
        stake: i64,
    },
    /// The side is full.
    TeamFull(Team),
    /// The member already plays in this match.
    AlreadyIn(Team),
    /// The member created [`CREATIONS_PER_WINDOW`] matches within the window; they may
    /// create the next at this time (seconds since the epoch).
    CreatingTooOften(i64),
    /// Only players of the match may do this.
    NotAPlayer,
    /// Only the creator may do this.
    NotCreator,
    /// The creator cannot leave (they cancel).
    CreatorLeaves,
    /// The reporter cannot confirm or dispute their own report.
    OwnReport,
    /// Only the answering side (see [`Match::answering_side`]) confirms or disputes.
    NotAnswering(Team),
    /// Staff who play in a match do not decide it.
    OwnMatch,
    /// The result changed since the staff post that was clicked.
    ResultChanged,
    /// Undoing would take a value out of bounds (the member's value moved since).
    UndoOutOfBounds {
        /// Whose value.
        user: UserId,
        /// Their value now.
        value: i64,
        /// What the match changed it by.
        delta: i64,
    },
    /// A season ended after the match was settled: its values were reset.
    SettledLastSeason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unknown(id) => write!(f, "There is no match #{id} in this server."),
            Refusal::Status(id, why) => write!(f, "Match #{id} {why}."),
            Refusal::Busy(id) => write!(
                f,
                "You are already in match #{id}: one unfinished match at a time."
            ),
            Refusal::CreatingTooOften(again) => write!(
                f,
                "You created {CREATIONS_PER_WINDOW} matches in the last hour: you can create the \
                 next <t:{again}:R>."
            ),
            Refusal::StakeAboveValue { value, stake } => write!(
                f,
                "The stake is ¥{stake} million and your value is ¥{value} million: \
                 nobody may stake more than their value."
            ),
            Refusal::TeamFull(team) => write!(f, "Team {} is full.", team.label()),
            Refusal::AlreadyIn(team) => {
                write!(
                    f,
                    "You are already on team {}. Leave first to switch.",
                    team.label()
                )
            }
            Refusal::NotAPlayer => write!(f, "Only the players of this match can do that."),
            Refusal::NotCreator => write!(f, "Only the match's creator can cancel it."),
            Refusal::CreatorLeaves => {
                write!(f, "You created this match: cancel it instead of leaving.")
            }
            Refusal::OwnReport => write!(
                f,
                "You reported this result: the other players who answer it confirm or dispute it."
            ),
            Refusal::NotAnswering(team) => write!(
                f,
                "Team {} confirms or disputes this result: it is their stake it takes.",
                team.label()
            ),
            Refusal::OwnMatch => write!(
                f,
                "You play in this match, so another staff member decides it."
            ),
            Refusal::ResultChanged => write!(
                f,
                "The reported result changed since this was drawn: answer the newest one."
            ),
            Refusal::UndoOutOfBounds { user, value, delta } => write!(
                f,
                "Undoing it would move <@{user}> from ¥{value} million by {:+} million, out of \
                 bounds: adjust their value with /addvalue first.",
                -delta
            ),
            Refusal::SettledLastSeason => write!(
                f,
                "It was settled before the last season ended, and values were archived since."
            ),
        }
    }
}

/// A value a settlement or undo changed: (member, old value, new value).
pub type Change = (UserId, i64, i64);

/// What an action returns: the match as it now is, or why nothing changed.
pub type Outcome<T = Match> = anyhow::Result<Result<T, Refusal>>;

/// Takes the database's write lock first, so the reads that follow see the last commit and
/// no other writer can slip in before this transaction's writes.
async fn lock_database(tx: &mut Transaction<'_, Sqlite>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO write_check (id, checked_at) VALUES (1, ?)
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
    )
    .bind(now())
    .execute(&mut **tx)
    .await
    .context("taking the database's write lock")?;
    Ok(())
}

fn read_match(row: &sqlx::sqlite::SqliteRow) -> Match {
    let id = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .ok()
            .flatten()
            .map(|v| (v as u64).max(1))
    };
    // A staff message id of 0 marks a post being made (claimed, not yet sent).
    let staff_post = match (
        id("staff_channel_id"),
        row.try_get::<Option<i64>, _>("staff_message_id"),
    ) {
        (Some(c), Ok(Some(m))) if m > 0 => Some((ChannelId::new(c), MessageId::new(m as u64))),
        _ => None,
    };
    let staff_post_pending = matches!(
        row.try_get::<Option<i64>, _>("staff_message_id"),
        Ok(Some(0))
    );
    Match {
        id: row.get("id"),
        guild: GuildId::new(id("guild_id").unwrap_or(1)),
        creator: UserId::new(id("creator_id").unwrap_or(1)),
        team_size: row.get("team_size"),
        stake: row.get("stake"),
        note: row.get("note"),
        status: Status::parse(row.get::<&str, _>("status")),
        channel: ChannelId::new(id("channel_id").unwrap_or(1)),
        message: id("message_id").map(MessageId::new),
        winner: row.get::<Option<&str>, _>("winner").and_then(Team::parse),
        reported_by: id("reported_by").map(UserId::new),
        proof: row.get("proof"),
        staff_post,
        staff_post_pending,
        expires_at: row.get("expires_at"),
        players: Vec::new(),
        confirmed: Vec::new(),
    }
}

/// Reads match `id` of `guild` with its players (inside a transaction or not).
async fn load(
    conn: &mut sqlx::SqliteConnection,
    guild: GuildId,
    id: i64,
) -> anyhow::Result<Option<Match>> {
    let Some(row) = sqlx::query("SELECT * FROM matches WHERE id = ? AND guild_id = ?")
        .bind(id)
        .bind(sql_id(guild.get()))
        .fetch_optional(&mut *conn)
        .await
        .context("reading a match")?
    else {
        return Ok(None);
    };
    let mut found = read_match(&row);
    let players = sqlx::query(
        "SELECT user_id, team, confirmed_at FROM match_players WHERE match_id = ?
         ORDER BY joined_at, rowid",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .context("reading a match's players")?;
    for p in &players {
        let user = UserId::new((p.get::<i64, _>("user_id") as u64).max(1));
        if let Some(team) = Team::parse(p.get("team")) {
            found.players.push((user, team));
        }
        if p.get::<Option<i64>, _>("confirmed_at").is_some() {
            found.confirmed.push(user);
        }
    }
    Ok(Some(found))
}

/// Reads match `id` in `tx`, or the refusal for an unknown one.
async fn load_in(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    id: i64,
) -> anyhow::Result<Result<Match, Refusal>> {
    Ok(load(tx, guild, id).await?.ok_or(Refusal::Unknown(id)))
}

/// The unfinished match `user` plays in, if any.
async fn busy_in(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    user: UserId,
) -> anyhow::Result<Option<i64>> {
    let query = format!(
        "SELECT m.id FROM match_players p JOIN matches m ON m.id = p.match_id
         WHERE p.guild_id = ? AND p.user_id = ? AND m.status IN {ACTIVE} LIMIT 1"
    );
    sqlx::query_scalar(&query)
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .fetch_optional(&mut **tx)
        .await
        .context("looking for the member's unfinished match")
}

async fn set_status(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    status: Status,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE matches SET status = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(now())
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("changing a match's status")?;
    Ok(())
}

/// Refuses unless `found` is in one of `allowed`; an open match past its time is expired
/// here (the sweep may not have run yet).
async fn require_status(
    tx: &mut Transaction<'_, Sqlite>,
    found: &Match,
    allowed: &[Status],
    at: i64,
) -> anyhow::Result<Result<(), Refusal>> {
    let mut status = found.status;
    if status == Status::Open && found.expires_at <= at {
        set_status(tx, found.id, Status::Expired).await?;
        status = Status::Expired;
    }
    if allowed.contains(&status) {
        return Ok(Ok(()));
    }
    let why = match status {
        Status::Open => "is still taking players",
        Status::Full if allowed.contains(&Status::Open) => "is full",
        Status::Full => "has no reported result",
        Status::Reported => "already has a reported result",
        Status::Disputed => "is disputed: staff decide",
        Status::Settled => "is already settled",
        Status::Void => "was undone",
        Status::Cancelled => "was cancelled",
        Status::Expired => "expired before it filled",
    };
    Ok(Err(Refusal::Status(found.id, why)))
}

/// Commits `tx` and reads the match again, as it now is.
async fn commit_and_load(db: &Db, tx: Transaction<'_, Sqlite>, guild: GuildId, id: i64) -> Outcome {
    tx.commit().await.context("committing a match change")?;
    let found = db
        .load_match(guild, id)
        .await?
        .context("a match vanished after its change")?;
    Ok(Ok(found))
}

/// The value `user` has (0 without one), in `tx`.
async fn value_of(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    user: UserId,
) -> anyhow::Result<i64> {
    lock_value(tx, guild, user).await
}

impl Db {
    /// Creates a match with its creator on team A: refused when the creator is in another
    /// unfinished match, created [`CREATIONS_PER_WINDOW`] within the window already, or has a
    /// value below the stake.
    #[tracing::instrument(skip_all)]
    pub async fn create_match(&self, new: &NewMatch) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        if let Some(busy) = busy_in(&mut tx, new.guild, new.creator).await? {
            return Ok(Err(Refusal::Busy(busy)));
        }
        let at = now();
        if let Some(again) = next_creation(&mut tx, new.guild, new.creator, at).await? {
            return Ok(Err(Refusal::CreatingTooOften(again)));
        }
        let value = value_of(&mut tx, new.guild, new.creator).await?;
        if value < new.stake {
            return Ok(Err(Refusal::StakeAboveValue {
                value,
                stake: new.stake,
            }));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO matches (guild_id, creator_id, team_size, stake, note, status,
                 channel_id, created_at, expires_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?) RETURNING id",
        )
        .bind(sql_id(new.guild.get()))
        .bind(sql_id(new.creator.get()))
        .bind(new.team_size)
        .bind(new.stake)
        .bind(&new.note)
        .bind(sql_id(new.channel.get()))
        .bind(at)
        .bind(at + new.open_for)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .context("saving a match")?;
        add_player(&mut tx, id, new.guild, new.creator, Team::A).await?;
        commit_and_load(self, tx, new.guild, id).await
    }

    /// Records where a match's card is.
    #[tracing::instrument(skip_all)]
    pub async fn set_match_card(&self, id: i64, message: MessageId) -> anyhow::Result<()> {
        sqlx::query("UPDATE matches SET message_id = ? WHERE id = ?")
            .bind(sql_id(message.get()))
            .bind(id)
            .execute(&self.pool)
            .await
            .context("saving a match card's id")?;
        Ok(())
    }

    /// Records where a match's staff post is.
    #[tracing::instrument(skip_all)]
    pub async fn set_staff_post(
        &self,
        id: i64,
        channel: ChannelId,
        message: MessageId,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE matches SET staff_channel_id = ?, staff_message_id = ? WHERE id = ?")
            .bind(sql_id(channel.get()))
            .bind(sql_id(message.get()))
            .bind(id)
            .execute(&self.pool)
            .await
            .context("saving a match's staff post")?;
        Ok(())
    }

    /// A match of `guild`, with its players.
    #[tracing::instrument(skip_all)]
    pub async fn get_match(&self, guild: GuildId, id: i64) -> anyhow::Result<Option<Match>> {
        self.load_match(guild, id).await
    }

    async fn load_match(&self, guild: GuildId, id: i64) -> anyhow::Result<Option<Match>> {
        let mut conn = self.pool.acquire().await.context("reading a match")?;
        load(&mut conn, guild, id).await
    }

    /// `user` joins `team`; the match is full (and takes nobody else) with its last player.
    #[tracing::instrument(skip_all)]
    pub async fn join_match(&self, guild: GuildId, id: i64, user: UserId, team: Team) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        // A Join left on a card drawn before the match filled.
        if found.status == Status::Full {
            return Ok(Err(Refusal::Status(id, "is full: it takes nobody else")));
        }
        if let Err(refused) = require_status(&mut tx, &found, &[Status::Open], now()).await? {
            tx.commit().await.context("committing an expiry")?;
            return Ok(Err(refused));
        }
        if let Some(side) = found.side_of(user) {
            return Ok(Err(Refusal::AlreadyIn(side)));
        }
        if let Some(busy) = busy_in(&mut tx, guild, user).await? {
            return Ok(Err(Refusal::Busy(busy)));
        }
        if found.team(team).len() as i64 >= found.team_size {
            return Ok(Err(Refusal::TeamFull(team)));
        }
        let value = value_of(&mut tx, guild, user).await?;
        if value < found.stake {
            return Ok(Err(Refusal::StakeAboveValue {
                value,
                stake: found.stake,
            }));
        }
        add_player(&mut tx, id, guild, user, team).await?;
        if found.players.len() as i64 + 1 == 2 * found.team_size {
            set_status(&mut tx, id, Status::Full).await?;
        }
        commit_and_load(self, tx, guild, id).await
    }

    /// `user` leaves an open match (the creator cancels instead).
    #[tracing::instrument(skip_all)]
    pub async fn leave_match(&self, guild: GuildId, id: i64, user: UserId) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Err(refused) = require_status(&mut tx, &found, &[Status::Open], now()).await? {
            tx.commit().await.context("committing an expiry")?;
            return Ok(Err(refused));
        }
        if found.side_of(user).is_none() {
            return Ok(Err(Refusal::NotAPlayer));
        }
        if user == found.creator {
            return Ok(Err(Refusal::CreatorLeaves));
        }
        sqlx::query("DELETE FROM match_players WHERE match_id = ? AND user_id = ?")
            .bind(id)
            .bind(sql_id(user.get()))
            .execute(&mut *tx)
            .await
            .context("removing a player")?;
        commit_and_load(self, tx, guild, id).await
    }

    /// Calls off a match: its creator while it is open (once full, a creator about to lose
    /// could otherwise call it off), staff (`by_staff`) while it is unfinished.
    #[tracing::instrument(skip_all)]
    pub async fn cancel_match(
        &self,
        guild: GuildId,
        id: i64,
        user: UserId,
        by_staff: bool,
    ) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if !by_staff && user != found.creator {
            return Ok(Err(Refusal::NotCreator));
        }
        if by_staff && found.side_of(user).is_some() {
            return Ok(Err(Refusal::OwnMatch));
        }
        let unfinished = [
            Status::Open,
            Status::Full,
            Status::Reported,
            Status::Disputed,
        ];
        if !by_staff && found.status == Status::Full {
            let why = "is full: only staff can call it off now (`/match decide`)";
            return Ok(Err(Refusal::Status(id, why)));
        }
        let open: &[Status] = if by_staff {
            &unfinished
        } else {
            &[Status::Open]
        };
        if let Err(refused) = require_status(&mut tx, &found, open, now()).await? {
            tx.commit().await.context("committing an expiry")?;
            return Ok(Err(refused));
        }
        set_status(&mut tx, id, Status::Cancelled).await?;
        commit_and_load(self, tx, guild, id).await
    }

    /// A player reports `winner` (with an optional link to the proof).
    #[tracing::instrument(skip_all)]
    pub async fn report_match(
        &self,
        guild: GuildId,
        id: i64,
        user: UserId,
        winner: Team,
        proof: Option<&str>,
    ) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if found.side_of(user).is_none() {
            return Ok(Err(Refusal::NotAPlayer));
        }
        if let Err(refused) = require_status(&mut tx, &found, &[Status::Full], now()).await? {
            tx.commit().await.context("committing an expiry")?;
            return Ok(Err(refused));
        }
        sqlx::query(
            "UPDATE matches SET status = 'reported', winner = ?, reported_by = ?, proof = ?,
                 updated_at = ? WHERE id = ?",
        )
        .bind(winner.label())
        .bind(sql_id(user.get()))
        .bind(proof)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("saving a match report")?;
        forget_confirmations(&mut tx, id).await?;
        commit_and_load(self, tx, guild, id).await
    }

    /// A player of the answering side disputes the result that `expected` won: staff decide.
    #[tracing::instrument(skip_all)]
    pub async fn dispute_match(
        &self,
        guild: GuildId,
        id: i64,
        user: UserId,
        expected: Team,
    ) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Err(refused) = answering(&found, user) {
            return Ok(Err(refused));
        }
        if let Err(refused) = require_status(&mut tx, &found, &[Status::Reported], now()).await? {
            return Ok(Err(refused));
        }
        if found.winner != Some(expected) {
            return Ok(Err(Refusal::ResultChanged));
        }
        set_status(&mut tx, id, Status::Disputed).await?;
        commit_and_load(self, tx, guild, id).await
    }

    /// Staff reject the reported result: the match waits for a new report.
    #[tracing::instrument(skip_all)]
    pub async fn reject_result(&self, guild: GuildId, id: i64, by: UserId) -> Outcome {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if found.side_of(by).is_some() {
            return Ok(Err(Refusal::OwnMatch));
        }
        let decidable = [Status::Reported, Status::Disputed];
        if let Err(refused) = require_status(&mut tx, &found, &decidable, now()).await? {
            return Ok(Err(refused));
        }
        sqlx::query(
            "UPDATE matches SET status = 'full', winner = NULL, reported_by = NULL, proof = NULL,
                 updated_at = ? WHERE id = ?",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("clearing a match report")?;
        forget_confirmations(&mut tx, id).await?;
        commit_and_load(self, tx, guild, id).await
    }

    /// Settles the reported result once every player of the answering side but the reporter
    /// has confirmed it (`by_staff` false: `by` confirms; until the last does, the match stays
    /// reported and no value changes), or when staff approve it (`by_staff` true, also for a
    /// disputed result). Each winner gains the stake (up to the highest value), each loser
    /// loses it (down to 0), all in one transaction with history rows naming the match. A
    /// match is settled once: a second confirmation or approval finds it settled and changes
    /// nothing.
    #[tracing::instrument(skip_all)]
    pub async fn settle_match(
        &self,
        guild: GuildId,
        id: i64,
        by: UserId,
        by_staff: bool,
        expected: Option<Team>,
    ) -> Outcome<(Match, Vec<Change>)> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let mut found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        let allowed: &[Status] = if by_staff {
            if found.side_of(by).is_some() {
                return Ok(Err(Refusal::OwnMatch));
            }
            &[Status::Reported, Status::Disputed]
        } else {
            if let Err(refused) = answering(&found, by) {
                return Ok(Err(refused));
            }
            &[Status::Reported]
        };
        if let Err(refused) = require_status(&mut tx, &found, allowed, now()).await? {
            return Ok(Err(refused));
        }
        let Some(winner) = found.winner else {
            return Ok(Err(Refusal::Status(id, "has no reported result")));
        };
        if expected.is_some_and(|expected| expected != winner) {
            return Ok(Err(Refusal::ResultChanged));
        }
        let at = now();
        // A player's confirmation settles only once every other player who answers has given
        // theirs: one loser does not give away a teammate's stake.
        if !by_staff {
            confirm(&mut tx, id, by, at).await?;
            if !found.confirmed.contains(&by) {
                found.confirmed.push(by);
            }
            if !found.waiting_on().is_empty() {
                let confirmed = commit_and_load(self, tx, guild, id).await?;
                return Ok(confirmed.map(|m| (m, Vec::new())));
            }
        }
        sqlx::query(
            "UPDATE matches SET status = 'settled', settled_by = ?, settled_at = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(sql_id(by.get()))
        .bind(at)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("settling a match")?;
        let mut changes = Vec::new();
        for (player, team) in &found.players {
            let old = value_of(&mut tx, guild, *player).await?;
            let (new, reason) = if *team == winner {
                (
                    (old + found.stake).min(MAX_VALUE),
                    format!("won match #{id}"),
                )
            } else {
                ((old - found.stake).max(0), format!("lost match #{id}"))
            };
            write_value(
                &mut tx,
                guild,
                *player,
                (old, new),
                by,
                Some(&reason),
                Source::Match(id),
            )
            .await?;
            changes.push((*player, old, new));
        }
        match commit_and_load(self, tx, guild, id).await? {
            Ok(settled) => Ok(Ok((settled, changes))),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// Staff undo a settled match: each value change it made is reversed by a new history row
    /// (nothing is deleted; a value does not go below 0 or above the highest value) and the
    /// match is void. An undone match cannot be undone again.
    #[tracing::instrument(skip_all)]
    pub async fn undo_match(
        &self,
        guild: GuildId,
        id: i64,
        by: UserId,
    ) -> Outcome<(Match, Vec<Change>)> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let found = match load_in(&mut tx, guild, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if found.side_of(by).is_some() {
            return Ok(Err(Refusal::OwnMatch));
        }
        if let Err(refused) = require_status(&mut tx, &found, &[Status::Settled], now()).await? {
            return Ok(Err(refused));
        }
        let season_since: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM seasons s JOIN matches m ON m.id = ?
             WHERE s.guild_id = m.guild_id AND s.ended_at >= m.settled_at LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("checking for a season's end since the settlement")?;
        if season_since.is_some() {
            return Ok(Err(Refusal::SettledLastSeason));
        }
        set_status(&mut tx, id, Status::Void).await?;
        let made = sqlx::query(
            "SELECT user_id, new_value - old_value AS delta FROM value_history
             WHERE match_id = ? AND guild_id = ? ORDER BY id",
        )
        .bind(id)
        .bind(sql_id(guild.get()))
        .fetch_all(&mut *tx)
        .await
        .context("reading a match's value changes")?;
        // Exact or not at all: every reversal is checked before any is written.
        let mut reversals = Vec::new();
        for row in made {
            let user = UserId::new((row.get::<i64, _>("user_id") as u64).max(1));
            let delta: i64 = row.get("delta");
            let old = value_of(&mut tx, guild, user).await?;
            if !(0..=MAX_VALUE).contains(&(old - delta)) {
                return Ok(Err(Refusal::UndoOutOfBounds {
                    user,
                    value: old,
                    delta,
                }));
            }
            reversals.push((user, old, old - delta));
        }
        let mut changes = Vec::new();
        for (user, old, new) in reversals {
            let reason = format!("undo of match #{id}");
            write_value(
                &mut tx,
                guild,
                user,
                (old, new),
                by,
                Some(&reason),
                Source::Match(id),
            )
            .await?;
            changes.push((user, old, new));
        }
        match commit_and_load(self, tx, guild, id).await? {
            Ok(void) => Ok(Ok((void, changes))),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// Marks every open match whose time is up as expired, and returns them (for their cards).
    #[tracing::instrument(skip_all)]
    pub async fn expire_matches(&self, at: i64) -> anyhow::Result<Vec<Match>> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        lock_database(&mut tx).await?;
        let rows = sqlx::query(
            "UPDATE matches SET status = 'expired', updated_at = ?
             WHERE status = 'open' AND expires_at <= ? RETURNING id, guild_id",
        )
        .bind(at)
        .bind(at)
        .fetch_all(&mut *tx)
        .await
        .context("expiring matches")?;
        let mut expired = Vec::new();
        for row in rows {
            let guild = GuildId::new((row.get::<i64, _>("guild_id") as u64).max(1));
            if let Some(found) = load(&mut tx, guild, row.get("id")).await? {
                expired.push(found);
            }
        }
        tx.commit().await.context("committing expired matches")?;
        Ok(expired)
    }

    /// `user`'s finished matches (settled or undone), newest first, each with the net change
    /// it made to their value (0 for an undone one).
    #[tracing::instrument(skip_all)]
    pub async fn match_history(
        &self,
        guild: GuildId,
        user: UserId,
        limit: i64,
    ) -> anyhow::Result<Vec<(Match, i64)>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT m.id FROM match_players p JOIN matches m ON m.id = p.match_id
             WHERE p.guild_id = ? AND p.user_id = ? AND m.status IN ('settled', 'void')
             ORDER BY m.id DESC LIMIT ?",
        )
        .bind(sql_id(guild.get()))
        .bind(sql_id(user.get()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading a member's matches")?;
        let mut history = Vec::new();
        for id in ids {
            let Some(found) = self.load_match(guild, id).await? else {
                continue;
            };
            let net: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(new_value - old_value), 0) FROM value_history
                 WHERE match_id = ? AND guild_id = ? AND user_id = ?",
            )
            .bind(id)
            .bind(sql_id(guild.get()))
            .bind(sql_id(user.get()))
            .fetch_one(&self.pool)
            .await
            .context("reading a match's value change")?;
            history.push((found, net));
        }
        Ok(history)
    }
}

/// Cancels the open and full matches of `guild` and returns them, unless a result is waiting
/// for confirmation or staff (`Err` with those matches' ids): a season's end is not raced by a
/// settlement of the season before. Inside the caller's transaction.
pub(super) async fn close_for_season(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
) -> anyhow::Result<Result<Vec<i64>, Vec<i64>>> {
    let waiting: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM matches WHERE guild_id = ? AND status IN ('reported', 'disputed')
         ORDER BY id",
    )
    .bind(sql_id(guild.get()))
    .fetch_all(&mut **tx)
    .await
    .context("looking for results waiting")?;
    if !waiting.is_empty() {
        return Ok(Err(waiting));
    }
    let cancelled: Vec<i64> = sqlx::query_scalar(
        "UPDATE matches SET status = 'cancelled', updated_at = ?
         WHERE guild_id = ? AND status IN ('open', 'full') RETURNING id",
    )
    .bind(now())
    .bind(sql_id(guild.get()))
    .fetch_all(&mut **tx)
    .await
    .context("cancelling the season's unfinished matches")?;
    Ok(Ok(cancelled))
}

impl Db {
    /// Claims the right to post the staff review of match `id`: one post per match, however
    /// many reports and disputes race to make it.
    #[tracing::instrument(skip_all)]
    pub async fn claim_staff_post(&self, id: i64) -> anyhow::Result<bool> {
        let claimed = sqlx::query(
            "UPDATE matches SET staff_message_id = 0 WHERE id = ? AND staff_message_id IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .context("claiming a staff post")?;
        Ok(claimed.rows_affected() == 1)
    }

    /// At startup: staff posts the last process claimed but never sent can be made again.
    #[tracing::instrument(skip_all)]
    pub async fn release_stale_staff_posts(&self) -> anyhow::Result<()> {
        sqlx::query("UPDATE matches SET staff_message_id = NULL WHERE staff_message_id = 0")
            .execute(&self.pool)
            .await
            .context("releasing unfinished staff posts")?;
        Ok(())
    }

    /// Gives back a claimed staff post that could not be sent, so the next report posts it.
    #[tracing::instrument(skip_all)]
    pub async fn release_staff_post(&self, id: i64) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE matches SET staff_message_id = NULL WHERE id = ? AND staff_message_id = 0",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .context("releasing a staff post")?;
        Ok(())
    }
}

/// Records `user`'s confirmation of match `id`'s report (once: a second click keeps the first).
async fn confirm(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    user: UserId,
    at: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE match_players SET confirmed_at = ?
         WHERE match_id = ? AND user_id = ? AND confirmed_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .bind(sql_id(user.get()))
    .execute(&mut **tx)
    .await
    .context("recording a confirmation")?;
    Ok(())
}

/// Forgets the confirmations of match `id`'s report (a new report, or one staff rejected).
async fn forget_confirmations(tx: &mut Transaction<'_, Sqlite>, id: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE match_players SET confirmed_at = NULL WHERE match_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("forgetting a report's confirmations")?;
    Ok(())
}

/// Refuses unless `user` may confirm or dispute the reported result: a player of the answering
/// side ([`Match::answering_side`]) other than the reporter.
fn answering(found: &Match, user: UserId) -> Result<(), Refusal> {
    let Some(side) = found.side_of(user) else {
        return Err(Refusal::NotAPlayer);
    };
    if found.reported_by == Some(user) {
        return Err(Refusal::OwnReport);
    }
    match found.answering_side() {
        Some(answering) if answering != side => Err(Refusal::NotAnswering(answering)),
        _ => Ok(()),
    }
}

/// When `user` may create their next match, if they created [`CREATIONS_PER_WINDOW`] within
/// the window before `at`: once the oldest of those is out of it.
async fn next_creation(
    tx: &mut Transaction<'_, Sqlite>,
    guild: GuildId,
    user: UserId,
    at: i64,
) -> anyhow::Result<Option<i64>> {
    let recent: Vec<i64> = sqlx::query_scalar(
        "SELECT created_at FROM matches WHERE guild_id = ? AND creator_id = ? AND created_at > ?
         ORDER BY created_at DESC LIMIT ?",
    )
    .bind(sql_id(guild.get()))
    .bind(sql_id(user.get()))
    .bind(at - CREATION_WINDOW_SECS)
    .bind(CREATIONS_PER_WINDOW)
    .fetch_all(&mut **tx)
    .await
    .context("counting a member's recent matches")?;
    let full = recent.len() >= usize::try_from(CREATIONS_PER_WINDOW).unwrap_or(usize::MAX);
    Ok(full
        .then(|| recent.last().map(|oldest| oldest + CREATION_WINDOW_SECS))
        .flatten())
}

async fn add_player(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    guild: GuildId,
    user: UserId,
    team: Team,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO match_players (match_id, guild_id, user_id, team, joined_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(sql_id(guild.get()))
    .bind(sql_id(user.get()))
    .bind(team.label())
    .bind(now())
    .execute(&mut **tx)
    .await
    .context("adding a player")?;
    Ok(())
}
