//! Gives memory freed after a burst back to the system.
//!
//! A burst of interactions (2,000 `/ask`s at once, say) briefly needs tens of MiB: serenity
//! spawns one task per gateway event and the HTTP client opens a connection per concurrent
//! request. Once the burst is over the bot's live heap is back to a few MiB, but glibc's
//! allocator returns freed memory to the kernel only from the top of each heap, so a few
//! long-lived allocations made during the burst (the pending waits themselves) pin the rest and
//! the process keeps the burst's peak RSS for good. `malloc_trim(0)` releases the free pages
//! anywhere in every arena.
//!
//! [`release_after_bursts`] compares, once a second, the process's anonymous resident memory
//! with what the allocator has in use (`/proc/self/statm` and `mallinfo2`: microseconds). When
//! the difference (memory held but not in use) has grown by more than [`TRIM_ABOVE`] since it
//! was lowest, it trims, and that lower figure becomes the new reference. An idle bot never
//! trims; a busy one trims when a burst has left memory behind, at most once a second. Other
//! allocators (musl, or another target) have their own policies; there the task does nothing.
//!
//! A trim cannot give back a page on which a block sits that the thread keeps cached for reuse
//! (glibc's tcache: up to seven freed blocks of each small size, which count as in use), and
//! after a burst those blocks are scattered over the heap. [`ALLOCATOR_ENV`] turns that cache
//! off; glibc reads it only when the process starts, so the deployment sets it (the Dockerfile
//! and the systemd unit), not the bot.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Free heap memory worth giving back: less than what the HTTP connections a burst opened
/// hold, so that their closing, idle, after it is given back too; not so little that ordinary
/// traffic's passing allocations call for a trim every second.
pub const TRIM_ABOVE: usize = 512 * 1024;

/// The environment variable, as `NAME=value`, that turns glibc's per-thread cache of freed
/// blocks off for the whole process, so that no cached block keeps a trim after a burst from a
/// page. Its CPU cost is measured in BENCHMARKS.md; other C libraries ignore it.
pub const ALLOCATOR_ENV: &str = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";

/// How often the memory held but not in use is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// glibc's statistics over all its arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn allocator_stats() -> libc::mallinfo2 {
    // SAFETY: mallinfo2 has no preconditions; it only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }
}

/// Bytes the allocator holds free (in its heaps, not counting released pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn free_bytes() -> usize {
    allocator_stats().fordblks
}

/// Gives free heap pages back to the kernel; returns whether any were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: malloc_trim has no preconditions; it takes the allocator's own locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Bytes the allocator has handed out and not had back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn in_use_bytes() -> usize {
    allocator_stats().uordblks
}

/// Resident memory that is not backed by a file (heap, stacks), from `/proc/self/statm`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn anonymous_resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1);
    let resident: usize = fields.next()?.parse().ok()?;
    let shared: usize = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(resident.saturating_sub(shared) * page)
}

/// Decides when to trim from successive readings of the memory held but not in use.
#[derive(Debug)]
pub struct Trigger {
    /// The lowest reading since the last trim.
    lowest: usize,
}

impl Default for Trigger {
    fn default() -> Self {
        Self { lowest: usize::MAX }
    }
}

impl Trigger {
    /// Whether a reading of `held` bytes calls for a trim: it exceeds the lowest reading since
    /// the last trim by more than [`TRIM_ABOVE`].
    pub fn should_trim(&mut self, held: usize) -> bool {
        self.lowest = self.lowest.min(held);
        held > self.lowest.saturating_add(TRIM_ABOVE)
    }

    /// A trim left `held` bytes held: later growth is measured from there.
    pub fn trimmed(&mut self, held: usize) {
        self.lowest = held;
    }
}

/// Memory the process holds but the allocator does not have in use.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn slack() -> Option<usize> {
    Some(anonymous_resident_bytes()?.saturating_sub(in_use_bytes()))
}

/// Trims the heap after each burst (see the module's documentation), until `shutdown`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub async fn release_after_bursts(shutdown: CancellationToken) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trigger = Trigger::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let Some(held) = slack() else { return };
        if trigger.should_trim(held) {
            // malloc_trim walks every arena under its lock (up to a few ms after a
            // 2,000-command burst): on a blocking thread, so the runtime's thread, and every
            // timer due on it, does not stall with it.
            let started = std::time::Instant::now();
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            let took_us = started.elapsed().as_micros() as u64;
            let after = slack().unwrap_or(held);
            // What the rest of `after` is: free chunks the trim could not give back (they
            // share pages with live ones), and large blocks the allocator mapped on their own
            // (live, but outside `in_use_bytes`).
            let info = allocator_stats();
            tracing::debug!(
                held,
                after,
                free_in_heap = info.fordblks,
                mapped_blocks = info.hblkhd,
                in_use = info.uordblks,
                released,
                took_us,
                "gave freed heap memory back"
            );
            trigger.trimmed(after);
        }
    }
}

/// Elsewhere the allocator decides on its own: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub async fn release_after_bursts(shutdown: CancellationToken) {
    shutdown.cancelled().await;
}

#[cfg(test)]
mod trigger_tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn a_steady_process_never_trims() {
        let mut trigger = Trigger::default();
        let wobble = TRIM_ABOVE * 3 / 4;
        for held in [5 * MIB, 5 * MIB + wobble, 5 * MIB, 5 * MIB + TRIM_ABOVE] {
            assert!(!trigger.should_trim(held));
        }
    }

    #[test]
    fn growth_past_the_threshold_trims_once_then_measures_from_the_result() {
        let mut trigger = Trigger::default();
        assert!(!trigger.should_trim(5 * MIB));
        assert!(trigger.should_trim(30 * MIB));
        trigger.trimmed(9 * MIB);
        assert!(
            !trigger.should_trim(9 * MIB + TRIM_ABOVE / 2),
            "trimmed again without new growth"
        );
        assert!(trigger.should_trim(9 * MIB + TRIM_ABOVE + MIB / 4));
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Whether this thread's freed blocks go back to the heap's free memory, where a trim can
    /// reach them, rather than into the thread's cache: seven blocks of a size nothing else
    /// here uses are freed (a cache holds seven of a size), and free memory must grow by them.
    fn frees_reach_the_heap() -> bool {
        let blocks: Vec<Vec<u8>> = (0..7).map(|i| vec![i as u8; 1000]).collect();
        let before = free_bytes();
        drop(blocks);
        free_bytes() >= before + 7 * 1000
    }

    /// Run only as [`the_deployments_allocator_setting_takes_effect`]'s child: prints what
    /// [`frees_reach_the_heap`] found, for the parent to read.
    #[test]
    #[ignore = "a child process of the_deployments_allocator_setting_takes_effect"]
    fn allocator_probe() {
        println!("frees reach the heap: {}", frees_reach_the_heap());
    }

    /// glibc ignores a tunable it does not know, without a word: this starts this test binary
    /// again with [`ALLOCATOR_ENV`] and checks that freed blocks then reach the heap, and that
    /// without it they do not (so that the probe can tell the two apart).
    #[test]
    fn the_deployments_allocator_setting_takes_effect() {
        let (name, value) = ALLOCATOR_ENV.split_once('=').expect("NAME=value");
        let probe = |tunables: &str| {
            let exe = std::env::current_exe().expect("this test binary");
            let output = std::process::Command::new(exe)
                .args(["--exact", "memory::tests::allocator_probe", "--ignored"])
                .args(["--test-threads", "1", "--nocapture"])
                .env(name, tunables)
                .output()
                .expect("start the probe");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{name}={tunables:?}: {stdout}");
            if stdout.contains("frees reach the heap: true") {
                true
            } else {
                assert!(stdout.contains("frees reach the heap: false"), "{stdout}");
                false
            }
        };
        assert!(probe(value), "{ALLOCATOR_ENV} left glibc's cache on");
        assert!(!probe(""), "the probe cannot tell the cache on from off");
    }

    #[test]
    fn trimming_returns_the_holes_a_burst_leaves() {
        // A 64 MiB burst of small blocks of which one in 16 outlives it: the freed ones are
        // holes between live blocks, which glibc never gives back by itself.
        let burst: Vec<Vec<u8>> = (0..64 * 1024).map(|i| vec![i as u8 | 1; 1000]).collect();
        let kept: Vec<Vec<u8>> = burst.into_iter().step_by(16).collect();
        assert!(free_bytes() > TRIM_ABOVE, "the burst left nothing free");
        let held = anonymous_resident_bytes().expect("/proc/self/statm");
        trim();
        let trimmed = anonymous_resident_bytes().expect("/proc/self/statm");
        assert!(
            held.saturating_sub(trimmed) > 32 * 1024 * 1024,
            "trimming released only {} KiB of the burst's ~60 MiB of holes",
            held.saturating_sub(trimmed) / 1024
        );
        assert_eq!(kept.len(), 4096);
        assert!(
            kept.iter().all(|block| block[999] & 1 == 1),
            "kept blocks damaged"
        );
    }
}
