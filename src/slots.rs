//! Command slots: how many commands may *work* (not wait) at once.
//!
//! A burst of commands (a thousand members running one at the same moment) would otherwise run
//! all at once, each with its own REST connection and buffers. A command takes one of
//! [`COMMAND_SLOTS`] slots for the part where it works — checks, database, its first response
//! — and gives it back when it finishes or starts waiting for a user ([`release_slot`], called
//! by every wait). Waiting users hold no slot, so a slot is held for milliseconds. Work in a
//! turn other tasks wait for (a server's rank-role sync) is done without the slot, which is
//! taken again after it ([`away`]).

use std::cell::RefCell;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Commands that may work (not wait) at the same time; also bounds their REST connections.
pub const COMMAND_SLOTS: usize = 32;

tokio::task_local! {
    /// The slot held by the command running in this task, if any.
    static SLOT: RefCell<Option<OwnedSemaphorePermit>>;
}

/// Gives back the current task's command slot, if it holds one. Called when a command starts
/// waiting for a user; outside a command it does nothing.
pub fn release_slot() {
    let _ = SLOT.try_with(|slot| slot.borrow_mut().take());
}

/// Runs `work` — a turn other tasks wait for, such as a server's rank-role sync — without the
/// current task's command slot, and takes a slot again once it is over, so the work that
/// follows stays bounded. A long turn never holds the slots every command needs, and a task in
/// a turn never waits for a slot. Outside a command, or once its slot was given back for a
/// user's reply, it only runs `work`.
pub async fn away<F: std::future::Future>(work: F) -> F::Output {
    let held = SLOT
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    let Some(permit) = held else {
        return work.await;
    };
    let slots = Arc::clone(permit.semaphore());
    drop(permit);
    let out = work.await;
    let again = take_slot(slots).await;
    let _ = SLOT.try_with(|slot| *slot.borrow_mut() = again);
    out
}

/// Runs the work `start` makes holding one of `slots`' permits, which [`release_slot`] can
/// give back early.
///
/// The work is made only once the slot is held, and boxed then: while a burst queues for
/// slots, each queued task holds `start` and nothing more. (Work made up front for two
/// thousand queued tasks was most of a burst's peak heap, and the holes it left behind are
/// what fragments the heap afterwards.)
pub fn in_slot<W, F>(
    slots: Arc<Semaphore>,
    start: W,
) -> impl std::future::Future<Output = F::Output>
where
    W: FnOnce() -> F,
    F: std::future::Future,
{
    take_slot(slots).then(move |permit| holding(permit, Box::pin(start())))
}

/// One of `slots`' permits, once one is free. The semaphore is never closed, so this is `None`
/// only if it were: the work then runs without a slot rather than being dropped.
pub(crate) fn take_slot(
    slots: Arc<Semaphore>,
) -> impl std::future::Future<Output = Option<OwnedSemaphorePermit>> {
    slots.acquire_owned().map(Result::ok)
}

/// `work`, run as the holder of `permit` (which [`release_slot`] can give back early).
pub(crate) fn holding<F: std::future::Future>(
    permit: Option<OwnedSemaphorePermit>,
    work: F,
) -> impl std::future::Future<Output = F::Output> {
    SLOT.scope(RefCell::new(permit), work)
}

/// Whether this task holds a slot (`None` outside any command).
#[cfg(test)]
pub(crate) fn holds_slot() -> Option<bool> {
    SLOT.try_with(|slot| slot.borrow().is_some()).ok()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_held_while_working_and_given_back_when_waiting() {
        let slots = Arc::new(Semaphore::new(1));
        let (started_waiting, waiting) = tokio::sync::oneshot::channel();
        let first = tokio::spawn(in_slot(slots.clone(), || async move {
            assert_eq!(holds_slot(), Some(true), "no slot held while working");
            release_slot();
            assert_eq!(holds_slot(), Some(false));
            let _ = started_waiting.send(());
            tokio::time::sleep(Duration::from_secs(60)).await;
        }));
        let _ = waiting.await;
        // The first command now waits for a user: the second gets the only slot at once.
        let second = in_slot(slots.clone(), || async { holds_slot() });
        let got = crate::wait::safe_wait_for(second, Duration::from_millis(1)).await;
        assert_eq!(got, Some(Some(true)));
        first.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_working_command_makes_the_next_one_queue() {
        let slots = Arc::new(Semaphore::new(1));
        let busy = occupy(&slots).await;
        let next = in_slot(slots.clone(), || async {});
        assert!(
            crate::wait::safe_wait_for(next, Duration::from_secs(1))
                .await
                .is_none(),
            "ran without a slot"
        );
        busy.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_command_makes_its_work_only_once_it_has_a_slot() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let slots = Arc::new(Semaphore::new(1));
        let busy = occupy(&slots).await;
        let made = Arc::new(AtomicBool::new(false));
        let flag = made.clone();
        let queued = tokio::spawn(in_slot(slots.clone(), move || {
            flag.store(true, Ordering::SeqCst);
            async {}
        }));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!made.load(Ordering::SeqCst), "work made while queued");
        busy.abort();
        let finished = crate::wait::safe_wait_for(queued, Duration::from_secs(1)).await;
        assert!(
            matches!(finished, Some(Ok(()))),
            "the queued command never ran"
        );
        assert!(made.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_away_gives_the_slot_to_others_and_takes_one_back() {
        let slots = Arc::new(Semaphore::new(1));
        let (turn_over, turn) = tokio::sync::oneshot::channel::<()>();
        let (away_now, is_away) = tokio::sync::oneshot::channel();
        let first = tokio::spawn(in_slot(slots.clone(), || async move {
            away(async move {
                let _ = away_now.send(holds_slot());
                let _ = turn.await;
            })
            .await;
            holds_slot()
        }));
        let during = crate::wait::safe_wait_for(is_away, Duration::from_secs(1)).await;
        assert_eq!(
            during,
            Some(Ok(Some(false))),
            "the slot was kept while away"
        );
        // Another command gets the only slot meanwhile; the first waits for it after its turn.
        let busy = occupy(&slots).await;
        let _ = turn_over.send(());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!first.is_finished(), "went on without a slot");
        busy.abort();
        let back = crate::wait::safe_wait_for(first, Duration::from_secs(1)).await;
        assert!(matches!(back, Some(Ok(Some(true)))), "{back:?}");
        // Outside a command it only waits.
        assert_eq!(away(async { 7 }).await, 7);
    }

    #[test]
    fn releasing_outside_a_command_does_nothing() {
        release_slot();
        assert_eq!(holds_slot(), None);
    }

    /// A command that holds one of `slots` for a minute (abort it to end it early).
    async fn occupy(slots: &Arc<Semaphore>) -> tokio::task::JoinHandle<()> {
        let busy = tokio::spawn(in_slot(slots.clone(), || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }));
        tokio::task::yield_now().await;
        busy
    }
}
