//! The database: a small wrapper over an SQLite pool, with one file per table's queries.
//!
//! SQLite in WAL mode with foreign keys on; migrations are embedded in the binary and run at
//! startup. Every change that touches more than one row happens in one transaction, and each
//! transaction takes the write lock with its first statement, so two writers never deadlock
//! on a read-then-write upgrade. Queries are checked at runtime: building needs no database.

mod evaluations;
pub mod matches;
mod publications;
pub mod ranks;
pub mod requests;
mod screening;
pub mod seasons;
mod settings;
mod values;
mod welcome;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use evaluations::{NewEvaluation, Saved};
pub use publications::Publication;
pub use ranks::{Holding, RankHolders};
pub use settings::{
    Clearable, GuildSettings, SeasonReset, SettingsUpdate, Unset, DEFAULT_MATCH_EXPIRY_MINUTES,
    DEFAULT_RANK_TOP,
};
pub use values::{HistoryRow, Source, ValueChange};

/// The bot's database.
#[derive(Clone, Debug)]
pub struct Db {
    /// The connection pool (SQLite allows one writer at a time; readers run alongside).
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if missing) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("DATABASE_URL {url:?} is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL survives a killed process (only power loss can drop the last commit).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {url}"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("cannot apply the database migrations")?;
        Ok(Db { pool })
    }

    /// Proves the database takes writes (one row rewritten). A read-only file, a full disk or
    /// a lost mount fail here rather than at a member's first save.
    #[tracing::instrument(skip_all)]
    pub async fn check_writable(&self) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO write_check (id, checked_at) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(now())
        .execute(&self.pool)
        .await
        .context("the database does not accept writes")?;
        Ok(())
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and maintenance queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Seconds since the Unix epoch, for `created_at` columns and the ages they are compared with.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Discord id as SQLite stores it (snowflakes fit in 63 bits).
fn sql_id(id: u64) -> i64 {
    id as i64
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;
    use crate::values::{Position, Ratings, Skill, MAX_VALUE};
    use serenity::all::{GuildId, UserId};

    async fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        (dir, db)
    }

    const G: GuildId = GuildId::new(1);
    const STAFF: UserId = UserId::new(9);

    #[tokio::test]
    async fn a_read_only_database_fails_the_write_check() {
        let (dir, db) = temp_db().await;
        db.check_writable().await.unwrap();
        db.close().await;
        let url = format!("sqlite://{}?mode=ro", dir.path().join("t.db").display());
        let read_only = Db::connect(&url).await.unwrap();
        assert!(read_only.check_writable().await.is_err());
    }

    #[tokio::test]
    async fn set_and_add_write_history_and_respect_bounds() {
        let (_dir, db) = temp_db().await;
        let who = UserId::new(5);
        assert_eq!(db.standing(G, who).await.unwrap(), None);
        let change = db
            .change_value(G, who, STAFF, ValueChange::Set(40), Some("start"))
            .await
            .unwrap();
        assert_eq!(change, Ok((0, 40)));
        let change = db
            .change_value(G, who, STAFF, ValueChange::Add(-41), None)
            .await
            .unwrap();
        assert!(change.is_err(), "went below zero");
        let change = db
            .change_value(G, who, STAFF, ValueChange::Add(i64::MAX), None)
            .await
            .unwrap();
        assert!(change.is_err(), "overflowed");
        let change = db
            .change_value(G, who, STAFF, ValueChange::Set(MAX_VALUE + 1), None)
            .await
            .unwrap();
        assert!(change.is_err());
        assert_eq!(
            db.change_value(G, who, STAFF, ValueChange::Add(2), None)
                .await
                .unwrap(),
            Ok((40, 42))
        );
        assert_eq!(db.standing(G, who).await.unwrap(), Some((42, 1)));
        let history = db.history(G, who, 10).await.unwrap();
        let changes: Vec<(i64, i64)> = history.iter().map(|h| (h.old_value, h.new_value)).collect();
        assert_eq!(
            changes,
            vec![(40, 42), (0, 40)],
            "newest first, refused changes absent"
        );
        assert_eq!(history[1].reason.as_deref(), Some("start"));
    }

    #[tokio::test]
    async fn a_refused_change_leaves_no_row_behind() {
        let (_dir, db) = temp_db().await;
        let who = UserId::new(6);
        assert!(db
            .change_value(G, who, STAFF, ValueChange::Add(-1), None)
            .await
            .unwrap()
            .is_err());
        assert_eq!(db.standing(G, who).await.unwrap(), None);
        assert!(db.history(G, who, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_leaderboard_ranks_by_value_with_ties_by_id() {
        let (_dir, db) = temp_db().await;
        // Member 5 at ¥0, which counts as no value: unranked, off the board.
        for (user, value) in [(1u64, 10), (2, 30), (3, 20), (4, 30), (5, 0)] {
            db.change_value(G, UserId::new(user), STAFF, ValueChange::Set(value), None)
                .await
                .unwrap()
                .unwrap();
        }
        let (page, total) = db.leaderboard(G, 0, 3).await.unwrap();
        assert_eq!(total, 4);
        let ids: Vec<u64> = page.iter().map(|(u, _)| u.get()).collect();
        assert_eq!(ids, vec![2, 4, 3]);
        let (page, _) = db.leaderboard(G, 1, 3).await.unwrap();
        assert_eq!(page, vec![(UserId::new(1), 10)]);
        assert_eq!(db.standing(G, UserId::new(4)).await.unwrap(), Some((30, 2)));
        assert_eq!(db.standing(G, UserId::new(1)).await.unwrap(), Some((10, 4)));
        assert_eq!(db.standing(G, UserId::new(5)).await.unwrap(), None);
        // Another guild's board is separate.
        assert_eq!(db.leaderboard(GuildId::new(2), 0, 10).await.unwrap().1, 0);
    }

    #[tokio::test]
    async fn an_evaluation_saves_its_value_and_history_together() {
        let (_dir, db) = temp_db().await;
        let player = UserId::new(7);
        let evaluation = NewEvaluation {
            guild: G,
            evaluator: STAFF,
            player,
            position: Position::Cf,
            ratings: Ratings {
                given: vec![
                    (Skill::Shooting, 8),
                    (Skill::Dribbling, 6),
                    (Skill::Passing, 5),
                    (Skill::Defense, 3),
                ],
            },
            feedback: "Good first touch".into(),
            value: 35,
        };
        let saved = db
            .save_evaluation(&evaluation, false)
            .await
            .unwrap()
            .unwrap();
        let (id, old) = (saved.id, saved.old);
        assert_eq!(old, 0);
        assert!(saved.answered.is_none(), "no request was open");
        assert_eq!(db.standing(G, player).await.unwrap(), Some((35, 1)));
        let history = db.history(G, player, 5).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].evaluation_id, Some(id));
        assert_eq!((history[0].old_value, history[0].new_value), (0, 35));

        // A second tryout replaces that value only when it may: otherwise nothing is written.
        let again = NewEvaluation {
            value: 12,
            ..evaluation
        };
        let refused = db.save_evaluation(&again, false).await.unwrap();
        assert_eq!(refused.err(), Some(35));
        assert_eq!(db.standing(G, player).await.unwrap(), Some((35, 1)));
        assert_eq!(db.history(G, player, 5).await.unwrap().len(), 1);
        let saved = db.save_evaluation(&again, true).await.unwrap().unwrap();
        assert_eq!(saved.old, 35);
        assert_eq!(db.standing(G, player).await.unwrap(), Some((12, 1)));
    }

    #[tokio::test]
    async fn a_member_is_welcomed_once_a_day() {
        let (_dir, db) = temp_db().await;
        let (joiner, other) = (UserId::new(5), UserId::new(6));
        let day = welcome::WELCOME_REPEAT_SECS;
        let at = 1_000_000;
        assert!(db.welcome_due(G, joiner, at).await.unwrap());
        assert!(!db.welcome_due(G, joiner, at + 60).await.unwrap());
        assert!(!db.welcome_due(G, joiner, at + day - 1).await.unwrap());
        assert!(db.welcome_due(G, other, at + 60).await.unwrap());
        assert!(db
            .welcome_due(GuildId::new(2), joiner, at + 60)
            .await
            .unwrap());
        assert!(db.welcome_due(G, joiner, at + day).await.unwrap());
        assert!(!db.welcome_due(G, joiner, at + day + 1).await.unwrap());
        // A failed post is forgotten; a record from a clock set back counts for nothing.
        db.forget_welcome(G, joiner).await.unwrap();
        assert!(db.welcome_due(G, joiner, at + day + 2).await.unwrap());
        assert!(db.welcome_due(G, joiner, at).await.unwrap());
    }

    #[tokio::test]
    async fn a_rejected_report_forgets_its_confirmations() {
        use matches::{NewMatch, Status, Team};
        let (_dir, db) = temp_db().await;
        let [a1, a2, b1, b2] = [11, 12, 13, 14].map(UserId::new);
        for player in [a1, a2, b1, b2] {
            let set = ValueChange::Set(50);
            db.change_value(G, player, STAFF, set, None)
                .await
                .unwrap()
                .unwrap();
        }
        let new = NewMatch {
            guild: G,
            creator: a1,
            team_size: 2,
            stake: 10,
            note: None,
            channel: serenity::all::ChannelId::new(5),
            open_for: 600,
        };
        let id = db.create_match(&new).await.unwrap().unwrap().id;
        for (player, team) in [(a2, Team::A), (b1, Team::B), (b2, Team::B)] {
            db.join_match(G, id, player, team).await.unwrap().unwrap();
        }
        let report = |by| db.report_match(G, id, by, Team::A, None);
        let db = &db;
        let confirm = |by| async move {
            let settled = db.settle_match(G, id, by, false, None).await;
            settled.unwrap().unwrap()
        };
        report(a1).await.unwrap().unwrap();
        let (m, changes) = confirm(b1).await;
        assert_eq!((m.status, changes.len()), (Status::Reported, 0));
        assert_eq!(m.waiting_on(), vec![b2]);
        // Staff reject the result: b1's confirmation was of that report, not of the next.
        db.reject_result(G, id, STAFF).await.unwrap().unwrap();
        report(a2).await.unwrap().unwrap();
        let (m, _) = confirm(b2).await;
        assert_eq!(m.status, Status::Reported);
        assert_eq!(m.waiting_on(), vec![b1]);
        let (m, changes) = confirm(b1).await;
        assert_eq!((m.status, changes.len()), (Status::Settled, 4));
    }

    #[tokio::test]
    async fn settings_update_only_what_is_given() {
        let (_dir, db) = temp_db().await;
        assert_eq!(db.settings(G).await.unwrap(), GuildSettings::default());
        let update = SettingsUpdate {
            results_channel: Some(11),
            staff_role: Some(22),
            ..Default::default()
        };
        db.update_settings(G, &update).await.unwrap();
        let update = SettingsUpdate {
            values_channel: Some(33),
            ..Default::default()
        };
        let settings = db.update_settings(G, &update).await.unwrap();
        assert_eq!(settings.results_channel, Some(11));
        assert_eq!(settings.values_channel, Some(33));
        assert_eq!(settings.staff_role, Some(22));
        assert_eq!(settings.evaluator_role, None);
    }

    #[tokio::test]
    async fn a_settings_change_that_fails_part_way_changes_nothing() {
        let (_dir, db) = temp_db().await;
        let before = SettingsUpdate {
            results_channel: Some(11),
            rank_role: Some(44),
            ..Default::default()
        };
        let before = db.update_settings(G, &before).await.unwrap();
        // The last write of the change is refused, after the unsets before it went through.
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE UPDATE ON guild_settings
             WHEN NEW.welcome_message = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let unset = Unset {
            setting: Some(Clearable::ResultsChannel),
            welcomes: false,
            rank_role: true,
        };
        let update = SettingsUpdate {
            welcome_message: Some("refused".into()),
            ..Default::default()
        };
        assert!(db.change_settings(G, unset, &update).await.is_err());
        assert_eq!(db.settings(G).await.unwrap(), before);
        // The same change without the refused write goes through whole.
        let after = db
            .change_settings(G, unset, &SettingsUpdate::default())
            .await
            .unwrap();
        assert_eq!((after.results_channel, after.rank_role), (None, None));
    }

    #[tokio::test]
    async fn a_request_card_is_stale_from_any_change_of_status_until_drawn() {
        use serenity::all::{ChannelId, MessageId};
        let (_dir, db) = temp_db().await;
        let stale = |db: Db| async move {
            let cards = db.stale_cards(10).await.unwrap();
            cards.iter().map(|r| r.status.clone()).collect::<Vec<_>>()
        };
        let r = db
            .open_request(G, UserId::new(7), None, ChannelId::new(3))
            .await
            .unwrap()
            .unwrap();
        assert!(stale(db.clone()).await.is_empty(), "no card yet");
        db.set_request_card(r.id, MessageId::new(9)).await.unwrap();
        assert!(stale(db.clone()).await.is_empty(), "posted open");
        db.decide_request(G, r.id, STAFF, "accepted", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stale(db.clone()).await, ["accepted"]);
        db.card_shows(r.id, "accepted").await.unwrap();
        assert!(stale(db.clone()).await.is_empty());
        // A stop while accepted: the start reopens it, and its card is stale again.
        db.reopen_interrupted_requests().await.unwrap();
        assert_eq!(stale(db.clone()).await, ["open"]);
    }

    #[tokio::test]
    async fn a_screening_ends_once_and_a_held_role_is_given_by_whoever_ends_it() {
        let (_dir, db) = temp_db().await;
        let member = UserId::new(5);
        // The join holds the role first: ending the screening says it waited.
        db.start_screening(G, member).await.unwrap();
        assert!(db.is_screening(G, member).await.unwrap());
        assert!(db.hold_welcome_role(G, member).await.unwrap());
        assert_eq!(db.end_screening(G, member).await.unwrap(), Some(true));
        assert_eq!(
            db.end_screening(G, member).await.unwrap(),
            None,
            "ended once"
        );
        assert!(!db.is_screening(G, member).await.unwrap());
        // Ended before the role was held: holding says so, and the joiner gives it.
        db.start_screening(G, member).await.unwrap();
        assert_eq!(db.end_screening(G, member).await.unwrap(), Some(false));
        assert!(!db.hold_welcome_role(G, member).await.unwrap());
        // A later stay starts over: the role held for an earlier one does not wait again.
        db.start_screening(G, member).await.unwrap();
        db.hold_welcome_role(G, member).await.unwrap();
        db.start_screening(G, member).await.unwrap();
        assert_eq!(db.end_screening(G, member).await.unwrap(), Some(false));
    }

    #[tokio::test]
    async fn the_rank_candidates_pass_over_members_gone() {
        let (_dir, db) = temp_db().await;
        let user = |n: u64| UserId::new(100 + n);
        for (n, value) in [(1, 50), (2, 40), (3, 40), (4, 0)] {
            db.change_value(G, user(n), STAFF, ValueChange::Set(value), None)
                .await
                .unwrap()
                .unwrap();
        }
        let candidates = |db: Db| async move { db.rank_candidates(G, 5).await.unwrap() };
        assert_eq!(candidates(db.clone()).await, [user(1), user(2), user(3)]);
        db.set_rank_absent(G, user(2), true).await.unwrap();
        assert_eq!(candidates(db.clone()).await, [user(1), user(3)]);
        assert_eq!(db.rank_candidates(G, 1).await.unwrap(), [user(1)]);
    }
}
