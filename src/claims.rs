//! Things one task at a time may work on: a tryout publication (a wizard claims its own
//! before it publishes, and the periodic retry skips what is claimed), an evaluator's wizard
//! (one at a time), a player's tryout (one evaluator at a time). A claim lasts until its guard
//! is dropped, however the work ends.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

/// The keys claimed now.
pub struct Claims<K> {
    /// Keys being worked on.
    held: Mutex<HashSet<K>>,
}

impl<K> Default for Claims<K> {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashSet::new()),
        }
    }
}

impl<K: Hash + Eq + Copy> Claims<K> {
    /// Claims `id`, or `None` if another task holds it. The claim lasts until the returned
    /// guard is dropped.
    pub fn claim(&self, id: K) -> Option<Claim<'_, K>> {
        let newly = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.insert(id)
        };
        // Made only when claimed, after unlocking: its Drop takes the same lock.
        if newly {
            Some(Claim { claims: self, id })
        } else {
            None
        }
    }
}

/// One claim; dropping it releases it.
pub struct Claim<'a, K: Hash + Eq + Copy> {
    claims: &'a Claims<K>,
    id: K,
}

impl<K: Hash + Eq + Copy> Drop for Claim<'_, K> {
    fn drop(&mut self) {
        let mut held = self.claims.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publication_is_claimed_by_one_task_at_a_time() {
        let claims = Claims::<i64>::default();
        let first = claims.claim(7);
        assert!(first.is_some());
        assert!(claims.claim(7).is_none(), "claimed twice");
        assert!(claims.claim(8).is_some());
        drop(first);
        assert!(claims.claim(7).is_some(), "not released");
    }
}
