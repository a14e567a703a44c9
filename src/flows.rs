//! How many interactive flows (an `/announce` draft, a `/rankings` page with live buttons) each
//! member may have open at once. Each open flow is a suspended command holding its state until
//! its wait ends; without a bound one member could open hundreds.

use std::collections::HashMap;
use std::sync::Mutex;

use serenity::all::UserId;

/// Open flows a member may hold at once.
pub const PER_MEMBER: u8 = 3;

/// Said to a member who has [`PER_MEMBER`] flows open already.
pub const TOO_MANY: &str =
    "You already have several menus open — finish or cancel one of them (or let it time out) first.";

/// The open flows, counted per member.
#[derive(Default)]
pub struct OpenFlows {
    /// Members with at least one open flow, and how many.
    open: Mutex<HashMap<UserId, u8>>,
}

impl OpenFlows {
    /// Counts a new flow for `member`, or `None` when they already have [`PER_MEMBER`].
    /// The flow stays counted until the returned guard is dropped, however the flow ends.
    pub fn open(&self, member: UserId) -> Option<Open<'_>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(member).or_default();
        if *count >= PER_MEMBER {
            return None;
        }
        *count += 1;
        Some(Open {
            flows: self,
            member,
        })
    }

    /// How many flows `member` has open.
    pub fn count(&self, member: UserId) -> u8 {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&member).copied().unwrap_or(0)
    }
}

/// One open flow; dropping it closes it.
pub struct Open<'a> {
    flows: &'a OpenFlows,
    member: UserId,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let mut open = self.flows.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.member) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.member);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_gets_a_few_flows_and_another_once_one_closes() {
        let flows = OpenFlows::default();
        let alice = UserId::new(1);
        let held: Vec<_> = (0..PER_MEMBER).map(|_| flows.open(alice)).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(flows.open(alice).is_none(), "one too many");
        assert!(
            flows.open(UserId::new(2)).is_some(),
            "others are not limited"
        );
        drop(held);
        assert_eq!(flows.count(alice), 0);
        assert!(flows.open(alice).is_some());
    }
}
