//! Members who joined and wait to be greeted: one queue per server, which one task at a time
//! drains in order (`commands::welcome`). A wave of joins costs a few bytes per member here
//! rather than a task each, one server's wave never holds up another's, and a queue never
//! grows past [`Arrivals::LONGEST`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serenity::all::{GuildId, UserId};

/// One member's join, as the greeting needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Who joined.
    pub user: UserId,
    /// Whether they joined in membership screening.
    pub pending: bool,
    /// How many joins of the same server waited ahead of this one when it came.
    pub ahead: usize,
}

/// What [`Arrivals::push`] did with a join.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The server had nothing waiting: the caller starts the task that drains its queue.
    First,
    /// Behind others; the running task will reach it.
    Behind,
    /// The queue is full: the join is not greeted.
    Full,
}

/// The joins waiting, per server.
#[derive(Default)]
pub struct Arrivals {
    /// Each server with joins waiting or being greeted; an entry goes when its queue is
    /// drained, under the same lock as a push, so a join never lands in a queue nobody drains.
    queues: Mutex<HashMap<GuildId, VecDeque<Arrival>>>,
}

impl Arrivals {
    /// The most joins one server may have waiting. A raid beyond it is not greeted at all: at
    /// Discord's pace (about one welcome a second) the queue is already hours long.
    pub const LONGEST: usize = 10_000;

    /// Queues `user`'s join to `guild`, with the number of joins waiting ahead of it.
    pub fn push(&self, guild: GuildId, user: UserId, pending: bool) -> Pushed {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let (queue, first) = match queues.get_mut(&guild) {
            Some(queue) => (queue, false),
            None => (queues.entry(guild).or_default(), true),
        };
        if queue.len() >= Self::LONGEST {
            return Pushed::Full;
        }
        queue.push_back(Arrival {
            user,
            pending,
            ahead: queue.len(),
        });
        if first {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// The next join of `guild` to greet, oldest first. `None` once there is none: the
    /// server's entry is gone and the next join starts a new task.
    pub fn next(&self, guild: GuildId) -> Option<Arrival> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.get_mut(&guild)?;
        let next = queue.pop_front();
        if next.is_none() {
            queues.remove(&guild);
        }
        next
    }

    /// Drops what `guild` has waiting (the bot is stopping, or its greeter ended without
    /// draining it), so that the next push starts afresh; returns how many joins were dropped.
    pub fn clear(&self, guild: GuildId) -> usize {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues.remove(&guild).map_or(0, |queue| queue.len())
    }

    /// Takes `user`'s waiting joins to `guild` out of its queue (they left, or were banned,
    /// before their turn); returns how many there were.
    pub fn forget(&self, guild: GuildId, user: UserId) -> usize {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = queues.get_mut(&guild) else {
            return 0;
        };
        let before = queue.len();
        queue.retain(|arrival| arrival.user != user);
        before - queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: GuildId = GuildId::new(1);
    const OTHER: GuildId = GuildId::new(2);

    fn user(n: u64) -> UserId {
        UserId::new(n)
    }

    #[test]
    fn joins_come_out_in_order_and_the_drained_queue_starts_afresh() {
        let arrivals = Arrivals::default();
        assert_eq!(arrivals.push(GUILD, user(1), false), Pushed::First);
        assert_eq!(arrivals.push(GUILD, user(2), false), Pushed::Behind);
        assert_eq!(arrivals.push(OTHER, user(3), false), Pushed::First);
        let first = arrivals.next(GUILD).expect("the first join");
        assert_eq!((first.user, first.ahead), (user(1), 0));
        // Pushed while the first is greeted: still behind the second, no second task.
        assert_eq!(arrivals.push(GUILD, user(4), false), Pushed::Behind);
        let order: Vec<_> = std::iter::from_fn(|| arrivals.next(GUILD))
            .map(|a| (a.user, a.ahead))
            .collect();
        assert_eq!(order, [(user(2), 1), (user(4), 1)]);
        assert_eq!(arrivals.next(GUILD), None);
        // The task that saw `None` has ended: the next join starts another.
        assert_eq!(arrivals.push(GUILD, user(5), false), Pushed::First);
        assert_eq!(arrivals.next(OTHER).map(|a| a.user), Some(user(3)));
    }

    #[test]
    fn a_member_who_left_before_their_turn_is_taken_out() {
        let arrivals = Arrivals::default();
        for n in [1, 2, 1, 3] {
            arrivals.push(GUILD, user(n), false);
        }
        arrivals.push(OTHER, user(1), false);
        assert_eq!(arrivals.forget(GUILD, user(1)), 2);
        assert_eq!(arrivals.forget(GUILD, user(4)), 0);
        let left: Vec<_> = std::iter::from_fn(|| arrivals.next(GUILD))
            .map(|a| a.user)
            .collect();
        assert_eq!(left, [user(2), user(3)]);
        assert_eq!(arrivals.next(OTHER).map(|a| a.user), Some(user(1)));
    }

    #[test]
    fn a_full_queue_turns_joins_away_until_it_drains() {
        let arrivals = Arrivals::default();
        for n in 1..=Arrivals::LONGEST as u64 {
            assert_ne!(arrivals.push(GUILD, user(n), false), Pushed::Full);
        }
        assert_eq!(arrivals.push(GUILD, user(u64::MAX), false), Pushed::Full);
        assert_eq!(arrivals.push(OTHER, user(1), false), Pushed::First);
        assert_eq!(arrivals.next(GUILD).map(|a| a.user), Some(user(1)));
        assert_eq!(arrivals.push(GUILD, user(u64::MAX), false), Pushed::Behind);
        assert_eq!(arrivals.clear(GUILD), Arrivals::LONGEST);
        assert_eq!(arrivals.next(GUILD), None);
    }
}
