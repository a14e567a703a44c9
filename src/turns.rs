//! Work that goes one task at a time per key, while other keys go on: a server's rank-role
//! syncs. One server's long sync never holds up another server's. A key's lock is kept only
//! while someone holds it or waits for it (a wait given up may leave one idle lock behind until
//! the key's next turn ends).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// The locks of the keys held or waited for now.
pub struct Turns<K> {
    /// One lock per key; a key's entry goes when its last holder is done.
    locks: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Self {
            locks: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Copy> Turns<K> {
    /// Waits for `key`'s turn, in the order asked; the turn lasts until the guard is dropped.
    /// A wait given up (its future dropped) may leave the key's idle lock behind until the
    /// key's next turn ends.
    pub async fn take(&self, key: K) -> Turn<'_, K> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(key).or_default())
        };
        let guard = lock.lock_owned().await;
        Turn {
            turns: self,
            key,
            guard: Some(guard),
        }
    }
}

/// One key's turn; dropping it lets the next task waiting for the key go.
pub struct Turn<'a, K: Hash + Eq + Copy> {
    turns: &'a Turns<K>,
    key: K,
    /// Held until the turn ends; taken out in `drop` to release it before the cleanup.
    guard: Option<OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq + Copy> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.turns.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds it: nobody waits (a waiter clones it under this same lock).
        if locks
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    /// How many keys have a lock now.
    fn locks<K>(turns: &Turns<K>) -> usize {
        turns.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    #[test]
    fn a_key_goes_one_at_a_time_and_other_keys_go_on() {
        let turns = Turns::<u64>::default();
        let first = turns
            .take(1)
            .now_or_never()
            .expect("a free key is taken at once");
        assert!(
            turns.take(1).now_or_never().is_none(),
            "taken twice at once"
        );
        let other = turns
            .take(2)
            .now_or_never()
            .expect("another key waits for nothing");
        assert_eq!(locks(&turns), 2);
        drop(first);
        drop(other);
        assert_eq!(locks(&turns), 0, "idle locks are kept");
        assert!(turns.take(1).now_or_never().is_some(), "not released");
    }

    #[test]
    fn a_waiting_task_gets_the_key_next_and_keeps_its_lock() {
        let turns = Turns::<u64>::default();
        let first = turns
            .take(1)
            .now_or_never()
            .expect("a free key is taken at once");
        let mut waiting = Box::pin(turns.take(1));
        assert!((&mut waiting).now_or_never().is_none());
        drop(first);
        assert_eq!(locks(&turns), 1, "the lock went while a task waited for it");
        let second = waiting.now_or_never().expect("the waiting task goes next");
        drop(second);
        assert_eq!(locks(&turns), 0);
    }
}
