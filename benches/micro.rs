//! Micro-benchmarks behind design choices: what `safe_wait_for` and the wait registry cost
//! next to a bare future, the value formula, and the rankings queries over 100,000 members.
//! `cargo bench --bench micro`.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // The benchmark drives futures on its own runtime.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use novera_assistant::db::Db;
use novera_assistant::values::{compute, Position, Ratings, Skill};
use novera_assistant::wait::{safe_wait_for, Waits};
use serenity::all::{ChannelId, GuildId, Message, UserId};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn waits(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("bare future (ready)", |b| {
        b.iter(|| rt.block_on(async { black_box(async { 42 }.await) }))
    });
    c.bench_function("safe_wait_for (ready future)", |b| {
        b.iter(|| {
            rt.block_on(async {
                black_box(safe_wait_for(async { 42 }, Duration::from_secs(60)).await)
            })
        })
    });
    let registry = Arc::new(Waits::new(None));
    let mut message = Message::default();
    message.channel_id = ChannelId::new(1);
    message.author.id = UserId::new(7);
    c.bench_function("registry: register, dispatch, receive a message", |b| {
        b.iter(|| {
            rt.block_on(async {
                let pending = registry.expect_message(ChannelId::new(1), UserId::new(7));
                assert!(registry.deliver_message(message.clone()));
                black_box(pending.wait(Duration::from_secs(60)).await)
            })
        })
    });
    c.bench_function("registry: register and drop (cancel)", |b| {
        b.iter(|| {
            drop(black_box(
                registry.expect_message(ChannelId::new(1), UserId::new(7)),
            ))
        })
    });
    // Delivery cost with 2,000 other waits pending: a hash lookup, unchanged.
    let others: Vec<_> = (0..2_000u64)
        .map(|i| registry.expect_message(ChannelId::new(2), UserId::new(100 + i)))
        .collect();
    c.bench_function("registry: unrelated message, 2,000 waits pending", |b| {
        b.iter(|| black_box(registry.deliver_message(message.clone())))
    });
    drop(others);
}

fn formula(c: &mut Criterion) {
    let ratings = Ratings {
        given: vec![
            (Skill::Shooting, 8),
            (Skill::Dribbling, 6),
            (Skill::Passing, 5),
            (Skill::Defense, 3),
        ],
    };
    c.bench_function("value formula (CF)", |b| {
        b.iter(|| black_box(compute(Position::Cf, black_box(&ratings))))
    });
}

fn rankings(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let guild = GuildId::new(1);
    let db = rt.block_on(async {
        let db = Db::connect(&url).await.expect("the database");
        // 100,000 members, inserted in one transaction (the benchmark measures reads).
        let mut tx = db.pool().begin().await.expect("a transaction");
        for i in 0..100_000i64 {
            sqlx::query("INSERT INTO member_values (guild_id, user_id, value, updated_at) VALUES (1, ?, ?, 0)")
                .bind(10_000 + i)
                .bind((i * 7_919) % 1_000_000)
                .execute(&mut *tx)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
        db
    });
    c.bench_function("rankings first page of 10 over 100,000 members", |b| {
        b.iter(|| {
            rt.block_on(async { black_box(db.leaderboard(guild, 0, 10).await.expect("a page")) })
        })
    });
    c.bench_function("rankings page 5,000 of 10 over 100,000 members", |b| {
        b.iter(|| {
            rt.block_on(async {
                black_box(db.leaderboard(guild, 5_000, 10).await.expect("a page"))
            })
        })
    });
    c.bench_function("value and rank of one member among 100,000", |b| {
        b.iter(|| {
            rt.block_on(async {
                black_box(
                    db.standing(guild, UserId::new(60_000))
                        .await
                        .expect("a standing"),
                )
            })
        })
    });
}

criterion_group!(benches, waits, formula, rankings);
criterion_main!(benches);
