//! The one way to wait for a user: [`safe_wait_for`], and the typed waits built on it.
//!
//! Every interactive wait in the bot (a reply, a button click, a select, a modal) goes through
//! this module. A wait returns `Option<T>`: `None` means the time ran out (or the bot is shutting
//! down), and the type makes every caller decide what to do about it, so nobody can read the
//! content of a reply that never came.
//!
//! Waits are not built on serenity's collectors: a collector belongs to one shard runner and is
//! silently lost when the shard re-identifies, stranding a user mid-wizard after a routine
//! reconnect. Instead [`Waits`] is one process-wide registry keyed by what each wait is for
//! (channel + user for messages, prompt + user for components and modals), fed by the event
//! handler. Delivery is a hash lookup, so it does not slow down as more waits are pending, and a
//! wait that ends in any way (answered, timed out, cancelled by dropping it) removes its own
//! entry.
//!
//! This module is the only place allowed to call `tokio::time::timeout` (see `clippy.toml`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serenity::all::{ChannelId, ComponentInteraction, Message, ModalInteraction, UserId};
use tokio::sync::oneshot;

/// Runs `fut` for at most `timeout` from now. `Some(output)` if it finished in time; `None` if
/// the time ran out, in which case `fut` has been dropped (cancelled) before this returns.
#[allow(clippy::disallowed_methods)] // The one sanctioned use of `tokio::time::timeout`.
pub async fn safe_wait_for<F: Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(output) => Some(output),
        Err(_elapsed) => {
            tracing::debug!(?timeout, "wait timed out");
            None
        }
    }
}

/// Prefix of every `custom_id` this bot creates, so clicks on other bots' or stale components
/// are told apart from ours.
const CUSTOM_ID_PREFIX: &str = "nv:";

/// Builds the `custom_id` of a component or modal that belongs to prompt `prompt`.
/// `action` says which button or field it is (for example `confirm`).
pub fn custom_id(prompt: u64, action: &str) -> String {
    format!("{CUSTOM_ID_PREFIX}{prompt:x}:{action}")
}

/// Splits one of our `custom_id`s into its prompt id and action; `None` for anything else.
pub fn parse_custom_id(custom_id: &str) -> Option<(u64, &str)> {
    let rest = custom_id.strip_prefix(CUSTOM_ID_PREFIX)?;
    let (prompt, action) = rest.split_once(':')?;
    Some((u64::from_str_radix(prompt, 16).ok()?, action))
}

/// What became of a component click or modal submit handed to [`Waits`].
#[derive(Debug)]
pub enum Delivery<T> {
    /// A wait took it; the waiter now owns the interaction and must respond to it.
    Delivered,
    /// Another user's prompt: the interaction is handed back so the caller can say so.
    NotYours(T),
    /// One of our prompts, but nobody waits for it any more (timed out, finished, or from before
    /// a restart).
    Expired(T),
    /// Not one of our `custom_id`s.
    Foreign(T),
}

/// One pending wait's sending half, tagged so its owner can remove exactly it.
struct Waiter<T> {
    /// Unique per registration, so a finished wait never removes a newer one.
    id: u64,
    /// Who may answer it.
    user: UserId,
    /// Where the answer goes. Boxed: a oneshot channel allocates room for its value up front,
    /// and a `Message` or interaction is large — too much to reserve for every pending wait
    /// when most of them time out.
    tx: oneshot::Sender<Box<T>>,
}

/// The registry's maps, behind one short-lived lock (never held across `.await`).
#[derive(Default)]
struct Registry {
    /// Message waits by (channel, author). Several waits on one key are served oldest first.
    messages: HashMap<(ChannelId, UserId), Vec<Waiter<Message>>>,
    /// Component waits by prompt id.
    components: HashMap<u64, Waiter<ComponentInteraction>>,
    /// Modal waits by prompt id.
    modals: HashMap<u64, Waiter<ModalInteraction>>,
}

/// The process-wide registry of pending waits.
pub struct Waits {
    /// Pending waits, by what they wait for.
    registry: Mutex<Registry>,
    /// Source of registration ids and prompt ids.
    next_id: AtomicU64,
    /// `WAIT_TIMEOUT_SECS`: replaces every wait's own default when set.
    timeout_override: Option<Duration>,
    /// Set by [`Waits::cancel_all`]: a wait that then ends with `None` was interrupted by a
    /// shutdown, not timed out, and its caller should say so.
    stopping: std::sync::atomic::AtomicBool,
}

impl Waits {
    /// An empty registry. `timeout_override` replaces every wait's default timeout.
    pub fn new(timeout_override: Option<Duration>) -> Self {
        // Prompt ids start from the clock so a button left over from an earlier run of the bot
        // does not match a prompt of this one.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1)
            << 8;
        Self {
            registry: Mutex::new(Registry::default()),
            next_id: AtomicU64::new(seed),
            timeout_override,
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The timeout a wait should use: the operator's override, else the wait's own default.
    pub fn timeout(&self, default: Duration) -> Duration {
        self.timeout_override.unwrap_or(default)
    }

    /// A fresh id for a prompt's components or modal (see [`custom_id`]).
    pub fn new_prompt(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// How many waits are pending.
    pub fn pending(&self) -> usize {
        let reg = self.lock();
        reg.messages.values().map(Vec::len).sum::<usize>() + reg.components.len() + reg.modals.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the maps inconsistent (every operation is
        // a single insert or remove), so a poisoned lock is still safe to use.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts waiting for `user`'s next message in `channel` (a DM channel included).
    ///
    /// Register *before* sending the prompt, then call [`Pending::wait`]: a reply that arrives
    /// while the prompt is still being sent is then not missed.
    pub fn expect_message(self: &Arc<Self>, channel: ChannelId, user: UserId) -> Pending<Message> {
        let (tx, rx) = oneshot::channel();
        let id = self.new_prompt();
        let waiter = Waiter { id, user, tx };
        match self.lock().messages.entry((channel, user)) {
            Entry::Occupied(mut waits) => waits.get_mut().push(waiter),
            Entry::Vacant(key) => {
                key.insert(vec![waiter]);
            }
        }
        Pending::new(Arc::clone(self), Key::Message(channel, user), id, rx)
    }

    /// Starts waiting for `user`'s click (button or select) on a component of prompt `prompt`.
    ///
    /// The waiter receives the interaction unanswered and must respond within Discord's 3 s.
    pub fn expect_component(
        self: &Arc<Self>,
        prompt: u64,
        user: UserId,
    ) -> Pending<ComponentInteraction> {
        let (tx, rx) = oneshot::channel();
        let id = self.new_prompt();
        self.lock()
            .components
            .insert(prompt, Waiter { id, user, tx });
        Pending::new(Arc::clone(self), Key::Component(prompt), id, rx)
    }

    /// Starts waiting for `user`'s submission of the modal of prompt `prompt`.
    pub fn expect_modal(self: &Arc<Self>, prompt: u64, user: UserId) -> Pending<ModalInteraction> {
        let (tx, rx) = oneshot::channel();
        let id = self.new_prompt();
        self.lock().modals.insert(prompt, Waiter { id, user, tx });
        Pending::new(Arc::clone(self), Key::Modal(prompt), id, rx)
    }

    /// Hands a new message to the oldest wait for its channel and author. Returns whether a wait
    /// took it. Messages by bots (this one included) never answer a wait.
    pub fn deliver_message(&self, message: Message) -> bool {
        if message.author.bot {
            return false;
        }
        let key = (message.channel_id, message.author.id);
        let mut reg = self.lock();
        let Some(waiters) = reg.messages.get_mut(&key) else {
            return false;
        };
        let mut delivered = false;
        let mut message = Box::new(message);
        while !waiters.is_empty() {
            let waiter = waiters.remove(0);
            // A failed send means that waiter was dropped without cleaning up yet; try the next.
            match waiter.tx.send(message) {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(returned) => message = returned,
            }
        }
        if waiters.is_empty() {
            reg.messages.remove(&key);
            reg.shrink_if_sparse();
        }
        delivered
    }

    /// Hands a component click to the wait for its prompt, if it is the right user's.
    pub fn deliver_component(
        &self,
        interaction: ComponentInteraction,
    ) -> Delivery<ComponentInteraction> {
        let Some((prompt, _)) = parse_custom_id(&interaction.data.custom_id) else {
            return Delivery::Foreign(interaction);
        };
        let user = interaction.user.id;
        let mut reg = self.lock();
        hand_over(&mut reg.components, prompt, user, interaction)
    }

    /// Hands a modal submission to the wait for its prompt, if it is the right user's.
    pub fn deliver_modal(&self, interaction: ModalInteraction) -> Delivery<ModalInteraction> {
        let Some((prompt, _)) = parse_custom_id(&interaction.data.custom_id) else {
            return Delivery::Foreign(interaction);
        };
        let user = interaction.user.id;
        let mut reg = self.lock();
        hand_over(&mut reg.modals, prompt, user, interaction)
    }

    /// Whether the bot is shutting down: a wait that ended with `None` was interrupted.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Ends every pending wait at once (shutdown): each waiter sees `None` and
    /// [`Waits::stopping`] is true from now on, so no new wait outlives the shutdown either.
    pub fn cancel_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let mut reg = self.lock();
        reg.messages.clear();
        reg.components.clear();
        reg.modals.clear();
    }

    fn remove(&self, key: &Key, id: u64) {
        let mut reg = self.lock();
        match *key {
            Key::Message(channel, user) => {
                if let Some(waiters) = reg.messages.get_mut(&(channel, user)) {
                    waiters.retain(|waiter| waiter.id != id);
                    if waiters.is_empty() {
                        reg.messages.remove(&(channel, user));
                    }
                }
            }
            Key::Component(prompt) => {
                if reg.components.get(&prompt).is_some_and(|s| s.id == id) {
                    reg.components.remove(&prompt);
                }
            }
            Key::Modal(prompt) => {
                if reg.modals.get(&prompt).is_some_and(|s| s.id == id) {
                    reg.modals.remove(&prompt);
                }
            }
        }
        reg.shrink_if_sparse();
    }
}

impl Registry {
    /// Gives back the room a burst of waits took once most of them have ended: a map never
    /// shrinks by itself, so a burst of pending `/ask`s would leave its whole table behind.
    fn shrink_if_sparse(&mut self) {
        shrink_if_sparse(&mut self.messages);
        shrink_if_sparse(&mut self.components);
        shrink_if_sparse(&mut self.modals);
    }
}

/// Shrinks `map` to twice its length when it uses less than an eighth of a large capacity, so
/// a shrink comes only after many removals.
fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    const KEEP: usize = 256;
    if map.capacity() > KEEP && map.len() < map.capacity() / 8 {
        map.shrink_to((map.len() * 2).max(KEEP / 2));
    }
}

fn hand_over<T>(
    map: &mut HashMap<u64, Waiter<T>>,
    prompt: u64,
    user: UserId,
    item: T,
) -> Delivery<T> {
    match map.get(&prompt) {
        None => Delivery::Expired(item),
        Some(waiter) if waiter.user != user => Delivery::NotYours(item),
        Some(_) => match map.remove(&prompt) {
            Some(waiter) => match waiter.tx.send(Box::new(item)) {
                Ok(()) => Delivery::Delivered,
                Err(item) => Delivery::Expired(*item),
            },
            None => Delivery::Expired(item),
        },
    }
}

/// Which map a [`Pending`] wait lives in.
#[derive(Clone, Copy, Debug)]
enum Key {
    Message(ChannelId, UserId),
    Component(u64),
    Modal(u64),
}

/// A registered wait. Await it with [`Pending::wait`]; dropping it (or timing out) removes the
/// registration.
#[must_use = "a registered wait does nothing until awaited with .wait(timeout)"]
pub struct Pending<T> {
    /// The registry to clean up on drop (shared, so a wait can outlive the command that
    /// registered it).
    waits: Arc<Waits>,
    /// Where the registration lives.
    key: Key,
    /// This registration's id, so only it is removed.
    id: u64,
    /// Receives the answer.
    rx: oneshot::Receiver<Box<T>>,
    /// When it was registered, for the wait-duration metric; `None` once the outcome is
    /// recorded (a wait dropped before then was cancelled).
    started: Option<std::time::Instant>,
}

impl Key {
    /// The metric label for this kind of wait.
    fn kind(&self) -> &'static str {
        match self {
            Key::Message(..) => "message",
            Key::Component(_) => "component",
            Key::Modal(_) => "modal",
        }
    }
}

impl<T> Pending<T> {
    fn new(waits: Arc<Waits>, key: Key, id: u64, rx: oneshot::Receiver<Box<T>>) -> Self {
        crate::telemetry::waits_in_flight(1.0);
        Pending {
            waits,
            key,
            id,
            rx,
            started: Some(std::time::Instant::now()),
        }
    }

    /// Waits at most `timeout` for the answer: `None` if none came in time (or the bot is
    /// shutting down).
    pub async fn wait(mut self, timeout: Duration) -> Option<T> {
        // A user may take minutes: the command's slot goes to others meanwhile.
        crate::slots::release_slot();
        let answer = if self.waits.stopping() {
            None
        } else {
            match safe_wait_for(&mut self.rx, timeout).await {
                Some(answer) => answer.ok().map(|answer| *answer),
                // One delivered as the time ran out is still an answer.
                None => self.close_and_take(),
            }
        };
        let outcome = match (&answer, self.waits.stopping()) {
            (Some(_), _) => "answered",
            (None, true) => "cancelled",
            (None, false) => "timed_out",
        };
        self.record(outcome);
        answer
    }

    /// Ends the wait, and returns its answer if one came in that nobody took: after
    /// [`form_or_click`] or [`click_or_message`] returned the other wait's answer, this one's
    /// may have come in at the same moment, and it too must be answered. Anything
    /// delivered from now on finds the wait gone (the sender is told, and says it expired).
    pub fn take_late(mut self) -> Option<T> {
        let answer = self.close_and_take();
        if answer.is_some() {
            self.record("answered");
        }
        answer
    }

    /// Closes the channel, so nothing more is delivered to this wait, and takes what was.
    fn close_and_take(&mut self) -> Option<T> {
        self.rx.close();
        self.rx.try_recv().ok().map(|answer| *answer)
    }

    /// Records how the wait ended, once (a wait dropped before it ends records itself).
    fn record(&mut self, outcome: &'static str) {
        if let Some(started) = self.started.take() {
            crate::telemetry::wait_ended(self.key.kind(), outcome, started.elapsed());
        }
    }
}

/// What answered a prompt that takes either a click or a typed message.
#[derive(Debug)]
pub enum Reply {
    /// A click on one of the prompt's components (unanswered: respond within 3 s).
    Click(ComponentInteraction),
    /// A message typed instead (`cancel`, say).
    Message(Message),
}

/// What answered a form the member may also close: its submission, or a click on the message
/// behind it (a closed form sends nothing, so the message's buttons are the way on).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Two interactions alike in size, each moved once.
pub enum FormReply {
    /// The form, submitted (unanswered: respond within 3 s).
    Submitted(ModalInteraction),
    /// A click on the message behind the form (unanswered: respond within 3 s).
    Click(ComponentInteraction),
}

/// Waits at most `timeout` for whichever comes first: a click on `click`'s prompt or a message
/// for `message`. `None` if neither came in time (or the bot is shutting down).
///
/// Both registrations stay the caller's: the one that answered is spent and must be registered
/// again before another call; the other still waits, so nothing sent meanwhile slips past.
pub async fn click_or_message(
    click: &mut Pending<ComponentInteraction>,
    message: &mut Pending<Message>,
    timeout: Duration,
) -> Option<Reply> {
    first_of(click, message, timeout)
        .await
        .map(|answer| match answer {
            Either::First(click) => Reply::Click(click),
            Either::Second(message) => Reply::Message(message),
        })
}

/// Waits at most `timeout` for whichever comes first: `form`'s submission or a click on
/// `click`'s prompt. `None` if neither came in time (or the bot is shutting down). The
/// registrations stay the caller's, as with [`click_or_message`].
pub async fn form_or_click(
    form: &mut Pending<ModalInteraction>,
    click: &mut Pending<ComponentInteraction>,
    timeout: Duration,
) -> Option<FormReply> {
    first_of(form, click, timeout)
        .await
        .map(|answer| match answer {
            Either::First(submitted) => FormReply::Submitted(submitted),
            Either::Second(click) => FormReply::Click(click),
        })
}

/// The answer to one of two waits.
enum Either<A, B> {
    First(A),
    Second(B),
}

/// Waits at most `timeout` for the first answer to `first` or `second`, and records how each
/// wait ended.
async fn first_of<A, B>(
    first: &mut Pending<A>,
    second: &mut Pending<B>,
    timeout: Duration,
) -> Option<Either<A, B>> {
    crate::slots::release_slot();
    if first.waits.stopping() {
        return None;
    }
    let either = async {
        tokio::select! {
            a = &mut first.rx => a.ok().map(|a| Either::First(*a)),
            b = &mut second.rx => b.ok().map(|b| Either::Second(*b)),
        }
    };
    let answer = match safe_wait_for(either, timeout).await {
        Some(answer) => answer,
        // One delivered as the time ran out is still an answer; should both have been, the
        // second stays for the caller's `take_late`.
        None => first
            .close_and_take()
            .map(Either::First)
            .or_else(|| second.close_and_take().map(Either::Second)),
    };
    match &answer {
        Some(Either::First(_)) => first.record("answered"),
        Some(Either::Second(_)) => second.record("answered"),
        None => {
            let outcome = if first.waits.stopping() {
                "cancelled"
            } else {
                "timed_out"
            };
            first.record(outcome);
            second.record(outcome);
        }
    }
    answer
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        self.waits.remove(&self.key, self.id);
        crate::telemetry::waits_in_flight(-1.0);
        self.record("cancelled");
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] expands to its own runtime builder.
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Sets a flag when dropped, to see that a timed-out future was cancelled.
    struct DropFlag(Arc<AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn returns_the_output_before_the_deadline() {
        let fut = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            42
        };
        assert_eq!(safe_wait_for(fut, Duration::from_secs(6)).await, Some(42));
    }

    #[tokio::test(start_paused = true)]
    async fn returns_none_after_the_deadline_and_drops_the_future() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let fut = async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(10)).await;
            1
        };
        let start = tokio::time::Instant::now();
        assert_eq!(safe_wait_for(fut, Duration::from_secs(3)).await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the inner future was not dropped"
        );
    }

    fn message(channel: u64, author: u64, bot: bool, content: &str) -> Message {
        let mut msg = Message::default();
        msg.channel_id = ChannelId::new(channel);
        msg.author.id = UserId::new(author);
        msg.author.bot = bot;
        msg.content = content.to_owned();
        msg
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_wait_takes_only_its_users_message_in_its_channel() {
        let waits = Arc::new(Waits::new(None));
        let pending = waits.expect_message(ChannelId::new(1), UserId::new(7));
        assert!(!waits.deliver_message(message(1, 8, false, "other user")));
        assert!(!waits.deliver_message(message(2, 7, false, "other channel")));
        assert!(!waits.deliver_message(message(1, 7, true, "a bot")));
        assert!(waits.deliver_message(message(1, 7, false, "mine")));
        let got = pending.wait(Duration::from_secs(1)).await;
        assert_eq!(got.map(|m| m.content).as_deref(), Some("mine"));
        assert_eq!(waits.pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn timed_out_and_dropped_waits_leave_nothing_behind() {
        let waits = Arc::new(Waits::new(None));
        let pending = waits.expect_message(ChannelId::new(1), UserId::new(7));
        assert_eq!(waits.pending(), 1);
        assert!(pending.wait(Duration::from_secs(60)).await.is_none());
        assert_eq!(waits.pending(), 0);

        let pending = waits.expect_component(waits.new_prompt(), UserId::new(7));
        let modal = waits.expect_modal(waits.new_prompt(), UserId::new(7));
        assert_eq!(waits.pending(), 2);
        drop(pending);
        drop(modal);
        assert_eq!(waits.pending(), 0);
        // Nothing is delivered to a wait that is gone.
        assert!(!waits.deliver_message(message(1, 7, false, "late")));
    }

    #[tokio::test(start_paused = true)]
    async fn the_registry_gives_back_a_bursts_room_once_its_waits_end() {
        let waits = Arc::new(Waits::new(None));
        let burst: Vec<_> = (1..=2_000)
            .map(|user| waits.expect_message(ChannelId::new(1), UserId::new(user)))
            .collect();
        let room = waits.lock().messages.capacity();
        assert!(room >= 2_000);
        drop(burst);
        assert_eq!(waits.pending(), 0);
        let left = waits.lock().messages.capacity();
        assert!(
            left <= room / 8,
            "the registry kept room for {left} of {room}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn two_waits_on_one_key_are_served_in_order() {
        let waits = Arc::new(Waits::new(None));
        let first = waits.expect_message(ChannelId::new(1), UserId::new(7));
        let second = waits.expect_message(ChannelId::new(1), UserId::new(7));
        assert!(waits.deliver_message(message(1, 7, false, "a")));
        assert!(waits.deliver_message(message(1, 7, false, "b")));
        let a = first.wait(Duration::from_secs(1)).await.map(|m| m.content);
        let b = second.wait(Duration::from_secs(1)).await.map(|m| m.content);
        assert_eq!((a.as_deref(), b.as_deref()), (Some("a"), Some("b")));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_all_ends_every_wait_with_none() {
        let waits = Arc::new(Waits::new(None));
        let pending = waits.expect_message(ChannelId::new(1), UserId::new(7));
        assert!(!waits.stopping());
        waits.cancel_all();
        assert!(waits.stopping());
        assert!(pending.wait(Duration::from_secs(60)).await.is_none());
        assert_eq!(waits.pending(), 0);
        // A wait begun after the shutdown started ends at once.
        let late = waits.expect_message(ChannelId::new(1), UserId::new(7));
        let start = tokio::time::Instant::now();
        assert!(late.wait(Duration::from_secs(60)).await.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    fn click(custom_id: &str, user: u64) -> ComponentInteraction {
        let message = serde_json::json!({
            "id": "10", "channel_id": "1", "type": 0, "content": "", "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false,
            "mention_everyone": false, "tts": false, "timestamp": "2026-01-01T00:00:00Z",
            "author": {"id": "99", "username": "bot"},
        });
        serde_json::from_value(serde_json::json!({
            "id": "11", "application_id": "99", "type": 3, "channel_id": "1", "token": "t",
            "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 1,
            "user": {"id": user.to_string(), "username": "u"},
            "data": {"custom_id": custom_id, "component_type": 2},
            "message": message,
        }))
        .expect("a valid component interaction")
    }

    #[tokio::test(start_paused = true)]
    async fn a_click_by_another_user_is_not_delivered() {
        let waits = Arc::new(Waits::new(None));
        let prompt = waits.new_prompt();
        let pending = waits.expect_component(prompt, UserId::new(7));
        let id = custom_id(prompt, "confirm");
        assert!(matches!(
            waits.deliver_component(click(&id, 8)),
            Delivery::NotYours(_)
        ));
        assert!(matches!(
            waits.deliver_component(click("someone-else:1", 7)),
            Delivery::Foreign(_)
        ));
        assert!(matches!(
            waits.deliver_component(click(&custom_id(prompt + 1, "x"), 7)),
            Delivery::Expired(_)
        ));
        assert!(matches!(
            waits.deliver_component(click(&id, 7)),
            Delivery::Delivered
        ));
        let got = pending.wait(Duration::from_secs(1)).await;
        assert_eq!(got.map(|i| i.data.custom_id), Some(id.clone()));
        // Answered: a second click finds the prompt expired.
        assert!(matches!(
            waits.deliver_component(click(&id, 7)),
            Delivery::Expired(_)
        ));
    }

    fn submission(custom_id: &str, user: u64) -> ModalInteraction {
        serde_json::from_value(serde_json::json!({
            "id": "12", "application_id": "99", "type": 5, "channel_id": "1", "token": "t",
            "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 1,
            "user": {"id": user.to_string(), "username": "u"},
            "data": {"custom_id": custom_id, "components": []},
        }))
        .expect("a valid modal submission")
    }

    #[tokio::test(start_paused = true)]
    async fn a_form_and_a_click_that_come_together_are_both_taken() {
        let waits = Arc::new(Waits::new(None));
        let (form_prompt, click_prompt) = (waits.new_prompt(), waits.new_prompt());
        let mut form = waits.expect_modal(form_prompt, UserId::new(7));
        let mut behind = waits.expect_component(click_prompt, UserId::new(7));
        let submitted = submission(&custom_id(form_prompt, "compose"), 7);
        assert!(matches!(
            waits.deliver_modal(submitted),
            Delivery::Delivered
        ));
        let clicked = click(&custom_id(click_prompt, "edit"), 7);
        assert!(matches!(
            waits.deliver_component(clicked),
            Delivery::Delivered
        ));
        let first = form_or_click(&mut form, &mut behind, Duration::from_secs(1)).await;
        let late_taken = match first {
            Some(FormReply::Submitted(_)) => behind.take_late().is_some(),
            Some(FormReply::Click(_)) => form.take_late().is_some(),
            None => false,
        };
        assert!(late_taken, "the second answer was lost");
        assert_eq!(waits.pending(), 0);
        // Nothing more reaches the waits once taken.
        assert!(matches!(
            waits.deliver_component(click(&custom_id(click_prompt, "edit"), 7)),
            Delivery::Expired(_)
        ));
    }

    #[test]
    fn custom_ids_round_trip() {
        assert_eq!(
            parse_custom_id(&custom_id(0xabc, "post")),
            Some((0xabc, "post"))
        );
        assert_eq!(parse_custom_id(&custom_id(5, "a:b")), Some((5, "a:b")));
        assert_eq!(parse_custom_id("nv:zz:post"), None);
        assert_eq!(parse_custom_id("other"), None);
    }

    #[test]
    fn the_override_replaces_every_default() {
        assert_eq!(
            Waits::new(None).timeout(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        let waits = Waits::new(Some(Duration::from_secs(2)));
        assert_eq!(
            waits.timeout(Duration::from_secs(60)),
            Duration::from_secs(2)
        );
    }
}
