//! Routes each gateway event to what acts on it, and bounds how many commands work at once.
//!
//! serenity spawns one task per event for every registered event handler and one more for the
//! framework, each with its own copy of the event. This bot registers no event handler with
//! serenity: [`Dispatcher`] is the framework, and in that one task it hands each event to the
//! one part that needs it — command interactions to poise, clicks, modals, messages and
//! connection events to the event handler, READY to both (the handler first, so `/health`
//! does not wait for command registration). Half the tasks and copies per event. A command
//! interaction moves on to a small task of its own, so serenity's task (sized for any event)
//! ends as soon as the command is queued. (serenity sends shard stage changes only to
//! registered event handlers; `Health::watch_stage` reads the stage instead.)
//!
//! A burst of commands (a thousand members running one at the same moment) would otherwise
//! run all at once, each with its own REST connection and buffers: hundreds of connections and
//! tens of MiB that the allocator keeps long after. A command instead takes one of
//! [`COMMAND_SLOTS`] slots for the part where it works — checks, database, its first
//! response — and gives it back when it finishes or starts waiting for a user
//! ([`release_slot`], called by every wait). Waiting users cost no slot, so a slot is held for
//! milliseconds and the queue drains far inside Discord's three seconds.

use std::cell::RefCell;
use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{FullEvent, Interaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bot::{Data, Error};

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

/// Runs the work `start` makes holding one of `slots`' permits, which [`release_slot`] can
/// give back early.
///
/// The work is made only once the slot is held: while a burst queues for slots, each queued
/// command holds its event and nothing more. (poise's dispatch future, boxed when it is
/// created, is several KB; made up front for two thousand queued commands it was most of a
/// burst's peak heap, and the holes it left behind are what fragments the heap afterwards.)
pub async fn in_slot<W, F>(slots: Arc<Semaphore>, start: W) -> F::Output
where
    W: FnOnce() -> F,
    F: std::future::Future,
{
    // The semaphore is never closed, so acquiring only fails if it were; run without a slot
    // rather than drop the command then.
    let permit = slots.acquire_owned().await.ok();
    SLOT.scope(RefCell::new(permit), start()).await
}

/// serenity's framework: poise for commands, [`crate::bot::Events`] for everything else.
pub struct Dispatcher {
    /// Runs the slash commands. Shared with the commands' own tasks (see `dispatch`).
    pub poise: Arc<poise::Framework<Data, Error>>,
    /// Health, guild count and the wait registry.
    pub events: crate::bot::Events,
    /// The command slots.
    pub slots: Arc<Semaphore>,
}

/// The future serenity's `Framework::dispatch` returns.
type Dispatching<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

#[serenity::async_trait]
impl serenity::Framework for Dispatcher {
    async fn init(&mut self, client: &serenity::Client) {
        // Nothing has shared the framework yet: that only starts with the first event.
        match Arc::get_mut(&mut self.poise) {
            Some(poise) => poise.init(client).await,
            None => tracing::error!("poise was shared before serenity initialised it"),
        }
    }

    /// Written out rather than as an `async fn`: an `async fn` here is boxed with the whole
    /// `FullEvent` in it (3.9 KB, sized for its largest variant) on top of the one in
    /// serenity's task. A command instead moves only its interaction (1.5 KB, boxed) into a
    /// small task of its own, and serenity's task ends at once — what a burst's queued
    /// commands hold while they wait for a slot drops from about 8 KB each to under 2 KB.
    fn dispatch<'life0, 'async_trait>(
        &'life0 self,
        ctx: serenity::Context,
        event: FullEvent,
    ) -> Dispatching<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        match event {
            FullEvent::InteractionCreate {
                interaction: interaction @ (Interaction::Command(_) | Interaction::Autocomplete(_)),
            } => {
                let interaction = Box::new(interaction);
                let poise = Arc::clone(&self.poise);
                tokio::spawn(in_slot(self.slots.clone(), move || async move {
                    let event = FullEvent::InteractionCreate {
                        interaction: *interaction,
                    };
                    poise.dispatch(ctx, event).await;
                }));
                Box::pin(std::future::ready(()))
            }
            FullEvent::Ready { .. } => Box::pin(async move {
                event.clone().dispatch(ctx.clone(), &self.events).await;
                self.poise.dispatch(ctx, event).await;
            }),
            // poise acts on nothing else here: no prefix commands, no framework event handler.
            other => Box::pin(other.dispatch(ctx, &self.events)),
        }
    }
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

    /// Whether this task holds a slot (`None` outside any command).
    fn holds_slot() -> Option<bool> {
        SLOT.try_with(|slot| slot.borrow().is_some()).ok()
    }
}
