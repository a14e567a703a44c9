//! What pending waits keep lives in the long-lived heap, and leaves it when they end.
//!
//! This test binary uses the bot's allocator, as the bot does, so the heap's own accounting
//! shows where each piece went.

use std::sync::Arc;

use novera_assistant::long_lived::{self, long_lived, Allocator};
use novera_assistant::wait::Waits;
use serenity::all::{ChannelId, UserId};

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// The heap is shared by every test of this binary; they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_registered_wait_is_kept_in_the_long_lived_heap_until_it_ends() {
    let _serial = serial();
    let waits = Arc::new(Waits::new(None));
    let before = long_lived::in_use_bytes();
    let pending: Vec<_> = (1..=100)
        .map(|user| waits.expect_message(ChannelId::new(7), UserId::new(user)))
        .collect();
    let held = long_lived::in_use_bytes() - before;
    // Each wait's channel and its registry slot.
    assert!(
        held >= 100 * 64,
        "100 waits put only {held} bytes in the long-lived heap"
    );
    drop(pending);
    assert_eq!(waits.pending(), 0);
    assert_eq!(
        long_lived::in_use_bytes(),
        before,
        "ended waits left blocks in the long-lived heap"
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
fn a_task_spawned_in_the_scope_has_its_cell_there() {
    let _serial = serial();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let before = long_lived::in_use_bytes();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = long_lived(|| {
            tokio::spawn(async move {
                let _ = rx.await;
            })
        });
        let cell = long_lived::in_use_bytes() - before;
        assert!(
            cell >= 128,
            "the task's cell is not in the heap ({cell} bytes)"
        );
        let _ = tx.send(());
        task.await.expect("task");
        assert_eq!(
            long_lived::in_use_bytes(),
            before,
            "the finished task's cell stayed"
        );
    });
}
