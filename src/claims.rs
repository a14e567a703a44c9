//! Tryout publications this process is making right now. A wizard claims its own before it
//! publishes, and the periodic retry skips what is claimed, so the two never work on the same
//! row at once.

use std::collections::HashSet;
use std::sync::Mutex;

/// The claimed publications (by evaluation id).
#[derive(Default)]
pub struct Claims {
    /// Evaluation ids being published now.
    held: Mutex<HashSet<i64>>,
}

impl Claims {
    /// Claims `id`, or `None` if another task is publishing it. The claim lasts until the
    /// returned guard is dropped.
    pub fn claim(&self, id: i64) -> Option<Claim<'_>> {
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

/// A claim on one publication; dropping it releases it.
pub struct Claim<'a> {
    claims: &'a Claims,
    id: i64,
}

impl Drop for Claim<'_> {
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
        let claims = Claims::default();
        let first = claims.claim(7);
        assert!(first.is_some());
        assert!(claims.claim(7).is_none(), "claimed twice");
        assert!(claims.claim(8).is_some());
        drop(first);
        assert!(claims.claim(7).is_some(), "not released");
    }
}
