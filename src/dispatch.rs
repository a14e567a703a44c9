//! Routes each gateway event to what acts on it, and bounds how many commands work at once.
//!
//! serenity spawns one task per event for every registered event handler and one more for the
//! framework, each with its own copy of the event. This bot registers no event handler with
//! serenity: [`Dispatcher`] is the framework, and in that one task it hands each event to the
//! one part that needs it — command interactions to poise, clicks, modals, messages and
//! connection events to the event handler, READY to both (the handler first, so `/health`
//! does not wait for command registration). Half the tasks and copies per event. A command
//! interaction moves into the [`CommandQueue`] and a message straight to its wait, so
//! serenity's task (sized for any event) ends at once. (serenity sends shard stage changes
//! only to registered event handlers; `Health::watch_stage` reads the stage instead.)
//!
//! A burst of commands (a thousand members running one at the same moment) would otherwise
//! run all at once, each with its own REST connection and buffers: hundreds of connections and
//! tens of MiB that the allocator keeps long after. A command instead waits its turn in the
//! [`CommandQueue`], then takes one of [`COMMAND_SLOTS`] slots for the part where it works —
//! checks, database, its first response — and gives it back when it finishes or starts
//! waiting for a user
//! ([`release_slot`], called by every wait). Waiting users cost no slot, so a slot is held for
//! milliseconds and the queue drains far inside Discord's three seconds.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::FutureExt;
use poise::serenity_prelude as serenity;
use serenity::{FullEvent, Interaction};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

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
fn take_slot(
    slots: Arc<Semaphore>,
) -> impl std::future::Future<Output = Option<OwnedSemaphorePermit>> {
    slots.acquire_owned().map(Result::ok)
}

/// `work`, run as the holder of `permit` (which [`release_slot`] can give back early).
fn holding<F: std::future::Future>(
    permit: Option<OwnedSemaphorePermit>,
    work: F,
) -> impl std::future::Future<Output = F::Output> {
    SLOT.scope(RefCell::new(permit), work)
}

/// A command interaction waiting for a slot.
pub struct Queued {
    /// The context serenity gave with it.
    ctx: serenity::Context,
    /// The interaction, unboxed: the queue's buffer holds it.
    interaction: Interaction,
}

/// How many queued commands the queue's buffer has room for when idle: it is allocated once
/// at startup at this size (about 190 KB of address space, resident only where used) and
/// shrunk back to it once a burst has drained.
const QUEUE_ROOM: usize = 128;

/// Command interactions waiting for a slot, oldest first, and the task that starts them.
///
/// A burst arrives faster than it is served: two thousand `/ask`s are read off the gateway
/// before a tenth of them have run. Queued as one small task and one boxed interaction each,
/// they were thousands of heap blocks (about 4 MiB), freed one by one as the burst drained
/// while the waits those commands started were allocated in between, so the waits ended up
/// spread over the burst's pages and the heap could not give them back. Queued here, each
/// waiting command is one entry in a single buffer, large enough that the allocator maps it
/// on its own (glibc maps blocks over 128 KiB by themselves): it grows and shrinks back in
/// place and never interleaves with the heap.
pub struct CommandQueue<T> {
    /// The queued commands.
    waiting: std::sync::Mutex<VecDeque<T>>,
    /// Woken when a command is queued.
    arrived: Notify,
    /// The command slots.
    slots: Arc<Semaphore>,
    /// Where command tasks run: shutdown waits on it for the commands still working.
    tasks: tokio_util::task::TaskTracker,
}

impl<T> CommandQueue<T> {
    /// An empty queue whose commands take `slots` and run on `tasks`.
    pub fn new(slots: Arc<Semaphore>, tasks: tokio_util::task::TaskTracker) -> Arc<Self> {
        Arc::new(Self {
            waiting: std::sync::Mutex::new(VecDeque::with_capacity(QUEUE_ROOM)),
            arrived: Notify::new(),
            slots,
            tasks,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        // Every operation is one push or pop: a panic cannot leave the queue half changed.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a command interaction; [`CommandQueue::start_commands`] runs it when a slot is
    /// free.
    pub fn push(&self, command: T) {
        self.lock().push_back(command);
        self.arrived.notify_one();
    }

    /// The oldest queued command; gives the room a burst took back once it has drained.
    fn pop(&self) -> Option<T> {
        let mut waiting = self.lock();
        let next = waiting.pop_front();
        if waiting.is_empty() && waiting.capacity() > QUEUE_ROOM {
            waiting.shrink_to(QUEUE_ROOM);
        }
        next
    }

    /// Starts each queued command, in order, as a slot frees up: `run` makes its work, which
    /// then runs in a task of its own holding the slot. Runs until the runtime stops.
    pub async fn start_commands<W, F>(self: Arc<Self>, run: W)
    where
        W: Fn(T) -> F,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        loop {
            let next = match self.pop() {
                Some(next) => next,
                None => {
                    self.arrived.notified().await;
                    continue;
                }
            };
            let permit = take_slot(Arc::clone(&self.slots)).await;
            self.tasks.spawn(holding(permit, run(next)));
        }
    }
}

/// serenity's framework: poise for commands, [`crate::bot::Events`] for everything else.
pub struct Dispatcher {
    /// Runs the slash commands. Shared with the commands' own tasks (see `dispatch`).
    pub poise: Arc<poise::Framework<Data, Error>>,
    /// Health, guild count and the wait registry.
    pub events: crate::bot::Events,
    /// Commands waiting for a slot.
    pub commands: Arc<CommandQueue<Queued>>,
}

/// The future serenity's `Framework::dispatch` returns.
type Dispatching<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

#[serenity::async_trait]
impl serenity::Framework for Dispatcher {
    async fn init(&mut self, client: &serenity::Client) {
        // Nothing has shared the framework yet: that only starts here, once it is set up.
        match Arc::get_mut(&mut self.poise) {
            Some(poise) => poise.init(client).await,
            None => tracing::error!("poise was shared before serenity initialised it"),
        }
        let poise = Arc::clone(&self.poise);
        tokio::spawn(self.commands.clone().start_commands(move |queued: Queued| {
            let poise = Arc::clone(&poise);
            async move {
                let event = FullEvent::InteractionCreate {
                    interaction: queued.interaction,
                };
                poise.dispatch(queued.ctx, event).await;
            }
        }));
    }

    /// Written out rather than as an `async fn`: an `async fn` here is boxed with the whole
    /// `FullEvent` in it (3.9 KB, sized for its largest variant) on top of the one in
    /// serenity's task. A command instead moves only its interaction into the
    /// [`CommandQueue`], and serenity's task ends at once.
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
                self.commands.push(Queued { ctx, interaction });
                Box::pin(std::future::ready(()))
            }
            // Handed to its wait here and now: a burst of replies then queues nothing (boxed
            // with the whole `FullEvent`, each would be 3.9 KB until its turn came).
            FullEvent::Message { new_message } => {
                self.events.message(new_message);
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

    #[tokio::test(start_paused = true)]
    async fn queued_commands_start_in_order_as_slots_free_up() {
        let queue = CommandQueue::new(Arc::new(Semaphore::new(2)), Default::default());
        for command in 0..5u32 {
            queue.push(command);
        }
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let (finish, _) = tokio::sync::broadcast::channel::<u32>(16);
        let feeder = tokio::spawn(queue.clone().start_commands({
            let finish = finish.clone();
            move |command: u32| {
                let started = started.clone();
                let mut finished = finish.subscribe();
                async move {
                    let _ = started.send((command, holds_slot()));
                    // Works until told that this command is done.
                    while finished.recv().await.is_ok_and(|done| done != command) {}
                }
            }
        }));
        let mut next = async || {
            crate::wait::safe_wait_for(starts.recv(), Duration::from_secs(1))
                .await
                .flatten()
        };
        assert_eq!(next().await, Some((0, Some(true))));
        assert_eq!(next().await, Some((1, Some(true))));
        assert_eq!(next().await, None, "a third command ran with two slots");
        assert_eq!(
            queue.lock().len(),
            2,
            "one waits in the feeder, two in the queue"
        );
        let _ = finish.send(1);
        assert_eq!(next().await, Some((2, Some(true))));
        let _ = finish.send(0);
        assert_eq!(next().await, Some((3, Some(true))));
        assert_eq!(next().await, None);
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_gives_back_a_bursts_room_once_drained() {
        let queue = CommandQueue::new(Arc::new(Semaphore::new(COMMAND_SLOTS)), Default::default());
        for command in 0..10 * QUEUE_ROOM {
            queue.push(command);
        }
        assert!(queue.lock().capacity() >= 10 * QUEUE_ROOM);
        let (ran, mut runs) = tokio::sync::mpsc::unbounded_channel();
        let feeder = tokio::spawn(queue.clone().start_commands(move |command| {
            let ran = ran.clone();
            async move {
                let _ = ran.send(command);
            }
        }));
        for expected in 0..10 * QUEUE_ROOM {
            let got = crate::wait::safe_wait_for(runs.recv(), Duration::from_secs(1)).await;
            assert_eq!(got, Some(Some(expected)));
        }
        assert!(queue.lock().is_empty());
        assert_eq!(queue.lock().capacity(), QUEUE_ROOM);
        feeder.abort();
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
