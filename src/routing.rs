//! Routes each gateway event to what acts on it, and queues command interactions.
//!
//! serenity spawns one task per event for every registered event handler and one more for the
//! framework, each with its own copy of the event. This bot registers no event handler with
//! serenity: [`EventRouter`] is the framework, and in that one task it hands each event to the
//! one part that needs it — command interactions to poise (through the [`CommandQueue`]),
//! clicks, modals, messages and connection events to [`Events`], READY to both (the handler
//! first, so `/health` does not wait for command registration). serenity sends shard stage
//! changes only to registered event handlers; `Health::watch_stage` reads the stage instead.
//!
//! A command interaction waits in the [`CommandQueue`] for a command slot (see
//! [`crate::slots`]), oldest first, and its poise state is made only once it holds one.

use std::collections::VecDeque;
use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{FullEvent, Interaction};
use tokio::sync::{Notify, Semaphore};

use crate::events::Events;
use crate::slots::{holding, take_slot};
use crate::types::{Data, Error};

/// A command interaction waiting for a slot.
pub struct Queued {
    /// The context serenity gave with it.
    ctx: serenity::Context,
    /// The interaction, unboxed: the queue's buffer holds it.
    interaction: Interaction,
}

/// How many queued commands the queue's buffer has room for when idle: it is allocated at
/// startup at this size and made anew at it once a burst has drained. Small, because every
/// slot of it is written in turn as commands pass through and then stays resident.
const QUEUE_ROOM: usize = 16;

/// Command interactions waiting for a slot, oldest first, and the task that starts them.
///
/// A burst arrives faster than it is served. Each waiting command is one entry in a single
/// buffer rather than a task and a heap block of its own, so a burst's queue does not scatter
/// small blocks among the ones that outlive it; the buffer is made anew once drained.
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
    ///
    /// The drained buffer is replaced rather than shrunk in place, which would keep pages the
    /// burst wrote resident.
    fn pop(&self) -> Option<T> {
        let mut waiting = self.lock();
        let next = waiting.pop_front();
        if waiting.is_empty() && waiting.capacity() > QUEUE_ROOM {
            *waiting = VecDeque::with_capacity(QUEUE_ROOM);
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

/// serenity's framework: poise for commands, [`Events`] for everything else.
pub struct EventRouter {
    /// Runs the slash commands. Shared with the commands' own tasks.
    pub poise: Arc<poise::Framework<Data, Error>>,
    /// Health, guild count and the wait registry.
    pub events: Events,
    /// Commands waiting for a slot.
    pub commands: Arc<CommandQueue<Queued>>,
}

#[serenity::async_trait]
impl serenity::Framework for EventRouter {
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

    async fn dispatch(&self, ctx: serenity::Context, event: FullEvent) {
        match event {
            FullEvent::InteractionCreate {
                interaction: interaction @ (Interaction::Command(_) | Interaction::Autocomplete(_)),
            } => self.commands.push(Queued { ctx, interaction }),
            // Handed to its wait here and now: a burst of replies queues nothing.
            FullEvent::Message { new_message } => self.events.message(new_message),
            FullEvent::Ready { .. } => {
                event.clone().dispatch(ctx.clone(), &self.events).await;
                self.poise.dispatch(ctx, event).await;
            }
            // poise acts on nothing else here: no prefix commands, no framework event handler.
            other => other.dispatch(ctx, &self.events).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;
    use crate::slots::{holds_slot, COMMAND_SLOTS};
    use std::time::Duration;

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
}
