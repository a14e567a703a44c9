//! A heap of its own for what outlives a burst: the pending waits.
//!
//! A burst of commands (two thousand `/ask`s at once) fills the heap with short-lived blocks —
//! serenity's parsed events, one task per event, the interactions waiting in the command queue,
//! the REST requests — and in between them, one at a time, it allocates what each pending wait
//! keeps: its task (a 384-byte cell), its channel, its registry slot, its token. When the burst
//! is over the short-lived blocks are gone but the waits are spread over every page the burst
//! touched, and a page with one live block cannot go back to the kernel: 2,000 waits holding
//! 1.2 MiB kept about 3 MiB more resident (heap profile and `malloc_trim` statistics in
//! BENCHMARKS.md).
//!
//! Code that makes something long-lived makes it inside [`long_lived`]: small blocks allocated
//! there come from this heap, packed by size, away from the burst. [`Allocator`] is the
//! process's allocator: glibc's (`System`) for everything else, and this heap inside the
//! scope. When the heap is empty again (every wait over) its pages go back to the kernel.
//!
//! It must stay an allocator: no allocation, no panic, no lock held outside its own calls. It
//! serves blocks up to [`MAX_BLOCK`] bytes from a fixed reservation of address space and
//! returns null when it cannot, and [`Allocator`] then falls back to `System`; a block is
//! freed by whichever allocator's address range it is in, so a block made in the scope may be
//! freed anywhere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The largest block this heap serves; larger ones go to `System`. Room for a wait's task
/// (384 bytes, 512 for a larger future), and not 1 KiB: the runtime's run queue or a table that happened to grow to
/// 1 KiB inside the scope would stay for good and keep the heap from ever emptying.
pub const MAX_BLOCK: usize = 768;
/// Block sizes are multiples of this.
const GRANULE: usize = 16;
/// One size class per multiple of [`GRANULE`] up to [`MAX_BLOCK`].
const CLASSES: usize = MAX_BLOCK / GRANULE;
/// Address space reserved for the process's heap (resident only where used): 64 MiB, room
/// for about 100,000 pending waits. Beyond it blocks come from `System`.
const RESERVED: usize = 64 << 20;
/// A size class takes address space in runs of this many bytes.
const RUN: usize = 64 << 10;
/// The strongest alignment served: runs start on page boundaries.
const MAX_ALIGN: usize = 4096;
/// When the heap empties having used more than this, its pages go back to the kernel (below
/// it they are kept for the next wait rather than given back after every one).
const RELEASE_ABOVE: usize = 4 * RUN;

thread_local! {
    /// Whether this thread is inside [`long_lived`].
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `make` with its small allocations taken from the long-lived heap. For what is made
/// to outlive the work around it (a pending wait's task, channel and registry slot); `make`
/// should make only that, since anything else it allocates goes there too.
pub fn long_lived<R>(make: impl FnOnce() -> R) -> R {
    /// Leaves the scope even if `make` panics.
    struct Leave(bool);
    impl Drop for Leave {
        fn drop(&mut self) {
            INSIDE.set(self.0);
        }
    }
    let _leave = Leave(INSIDE.replace(true));
    make()
}

/// The process's allocator: `System`, and the long-lived heap inside [`long_lived`].
pub struct Allocator;

/// The long-lived heap behind [`Allocator`].
static HEAP: Heap = Heap::new(RESERVED);

/// Bytes of the long-lived heap in use (for the heap trim's accounting).
pub fn in_use_bytes() -> usize {
    HEAP.in_use_bytes()
}

// SAFETY: every block is either `System`'s or `HEAP`'s, told apart by its address; each is
// freed and resized by the allocator that made it, with the layout it was made with.
//
// Not inlined: release builds optimise the whole program at once, and inlined into every place
// that allocates, these few lines grew the code by 700 KB.
unsafe impl GlobalAlloc for Allocator {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match long_lived_block(layout) {
            Some(block) => block,
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match long_lived_block(layout) {
            Some(block) => {
                // SAFETY: the block is `layout.size()` bytes, just handed out.
                unsafe { block.write_bytes(0, layout.size()) };
                block
            }
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if HEAP.contains(block) {
            HEAP.dealloc(block, layout);
        } else {
            // SAFETY: not the heap's, so `System` made it, with this layout.
            unsafe { System.dealloc(block, layout) }
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !HEAP.contains(block) {
            // SAFETY: `System` made it, with this layout.
            return unsafe { System.realloc(block, layout, new_size) };
        }
        // SAFETY: the caller guarantees the new size, rounded up to the alignment, fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if Heap::class_of(new_layout) == Heap::class_of(layout) {
            return block;
        }
        // SAFETY: as for `alloc`.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
            HEAP.dealloc(block, layout);
        }
        moved
    }
}

/// A block from the long-lived heap, if this thread is inside [`long_lived`] and the heap
/// serves `layout`.
fn long_lived_block(layout: Layout) -> Option<*mut u8> {
    if !INSIDE.get() {
        return None;
    }
    let block = HEAP.alloc(layout);
    (!block.is_null()).then_some(block)
}

/// A size-class heap in one reservation of address space: each class hands out blocks from
/// runs of [`RUN`] bytes and keeps its freed blocks in a list, newest first, so blocks of one
/// size stay packed together. Blocks are never split or merged.
pub struct Heap {
    /// Start of the reservation; 0 until the first block is asked for.
    base: AtomicUsize,
    /// Size of the reservation.
    reserved: usize,
    /// Bytes handed out and not freed. Changed only under `state`'s lock (so, read there, 0
    /// means no block is live), read without it by [`Heap::in_use_bytes`].
    in_use: AtomicUsize,
    /// Everything else, behind one lock (a `Mutex` does not allocate).
    state: Mutex<State>,
}

/// The part of [`Heap`] changed by each call.
struct State {
    /// Bytes of the reservation given to runs so far.
    used: usize,
    /// Per size class.
    classes: [Class; CLASSES],
}

/// One size class.
#[derive(Clone, Copy)]
struct Class {
    /// Address of the newest freed block (which holds the next one's), or 0.
    free: usize,
    /// Next unused address in the class's current run.
    next: usize,
    /// End of the class's current run.
    end: usize,
}

const NO_CLASS: Class = Class {
    free: 0,
    next: 0,
    end: 0,
};

impl Heap {
    /// A heap of `reserved` bytes of address space, reserved on first use.
    pub const fn new(reserved: usize) -> Self {
        Self {
            base: AtomicUsize::new(0),
            reserved,
            in_use: AtomicUsize::new(0),
            state: Mutex::new(State {
                used: 0,
                classes: [NO_CLASS; CLASSES],
            }),
        }
    }

    /// The size class (its block size, in granules, minus one) of `layout`, if served here.
    fn class_of(layout: Layout) -> Option<usize> {
        if layout.align() > MAX_ALIGN {
            return None;
        }
        // A multiple of the alignment (both are powers of two) and of the granule: every block
        // of the class is then aligned, as runs start on page boundaries.
        let size = layout
            .size()
            .max(1)
            .next_multiple_of(layout.align().max(GRANULE));
        (size <= MAX_BLOCK).then(|| size / GRANULE - 1)
    }

    /// The size of the blocks of size class `class`.
    fn block_size(class: usize) -> usize {
        (class + 1) * GRANULE
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing under the lock can panic: a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `block` lies in this heap's reservation.
    pub fn contains(&self, block: *mut u8) -> bool {
        let base = self.base.load(Ordering::Acquire);
        let at = block as usize;
        base != 0 && at >= base && at < base + self.reserved
    }

    /// Bytes handed out and not freed, rounded up to their size class.
    pub fn in_use_bytes(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Reserves the address space; 0 if the system refuses.
    fn reserve(&self) -> usize {
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                self.reserved,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return 0;
        }
        at as usize
    }

    /// A block for `layout`, or null if it is not served here or the reservation is full.
    pub fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class_of(layout) else {
            return std::ptr::null_mut();
        };
        let size = Self::block_size(class);
        let mut state = self.lock();
        let mut base = self.base.load(Ordering::Acquire);
        if base == 0 {
            base = self.reserve();
            if base == 0 {
                return std::ptr::null_mut();
            }
            self.base.store(base, Ordering::Release);
        }
        let State { used, classes } = &mut *state;
        let slot = &mut classes[class];
        let block = if slot.free != 0 {
            let block = slot.free;
            // SAFETY: a freed block of this class: its first word holds the next free one.
            slot.free = unsafe { (block as *const usize).read() };
            block
        } else {
            if slot.next + size > slot.end {
                if *used + RUN > self.reserved {
                    return std::ptr::null_mut();
                }
                slot.next = base + *used;
                slot.end = slot.next + RUN;
                *used += RUN;
            }
            let block = slot.next;
            slot.next += size;
            block
        };
        self.in_use.fetch_add(size, Ordering::Relaxed);
        block as *mut u8
    }

    /// Takes back `block`, made by [`Heap::alloc`] with `layout`. When that was the last
    /// block, and the heap had grown, its pages go back to the kernel.
    pub fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = Self::class_of(layout) else {
            return;
        };
        let mut state = self.lock();
        let slot = &mut state.classes[class];
        // SAFETY: the block is the caller's to give back, at least a word long and aligned
        // to one; it now holds the list's link.
        unsafe { (block as *mut usize).write(slot.free) };
        slot.free = block as usize;
        let size = Self::block_size(class);
        let left = self.in_use.fetch_sub(size, Ordering::Relaxed) - size;
        if left == 0 && state.used > RELEASE_ABOVE {
            let base = self.base.load(Ordering::Acquire);
            // SAFETY: the used part of our own mapping, holding no live block. If the kernel
            // refuses, the pages stay resident and are reused all the same.
            unsafe { libc::madvise(base as *mut libc::c_void, state.used, libc::MADV_DONTNEED) };
            state.used = 0;
            state.classes = [NO_CLASS; CLASSES];
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let base = *self.base.get_mut();
        if base != 0 {
            // SAFETY: our own mapping; dropping the heap means no block of it is live.
            unsafe { libc::munmap(base as *mut libc::c_void, self.reserved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    #[test]
    fn blocks_are_aligned_distinct_and_packed_by_size() {
        let heap = Heap::new(1 << 20);
        let cells: Vec<_> = (0..8).map(|_| heap.alloc(layout(512, 128))).collect();
        for pair in cells.windows(2) {
            assert_eq!(pair[1] as usize - pair[0] as usize, 512, "not packed");
        }
        assert!(cells.iter().all(|&cell| cell as usize % 128 == 0));
        let small = heap.alloc(layout(24, 8));
        assert!(heap.contains(small) && small as usize % 8 == 0);
        let run_of = |p: *mut u8| (p as usize - heap.base.load(Ordering::Relaxed)) / RUN;
        assert_ne!(run_of(small), run_of(cells[0]), "two sizes share a run");
        assert_eq!(heap.in_use_bytes(), 8 * 512 + 32);
    }

    #[test]
    fn a_freed_block_is_the_next_one_of_its_size() {
        let heap = Heap::new(1 << 20);
        let a = heap.alloc(layout(64, 8));
        let b = heap.alloc(layout(64, 8));
        heap.dealloc(a, layout(64, 8));
        assert_eq!(heap.alloc(layout(60, 8)), a, "freed block not reused");
        assert_ne!(heap.alloc(layout(64, 8)), b);
    }

    #[test]
    fn what_it_cannot_serve_is_refused_not_failed() {
        let heap = Heap::new(2 * RUN);
        assert!(heap.alloc(layout(MAX_BLOCK + 1, 8)).is_null(), "too large");
        assert!(
            heap.alloc(layout(64, 2 * MAX_ALIGN)).is_null(),
            "too aligned"
        );
        assert!(!heap.alloc(layout(16, 8)).is_null());
        assert!(!heap.alloc(layout(32, 8)).is_null());
        assert!(
            heap.alloc(layout(48, 8)).is_null(),
            "a third run past the reservation"
        );
        assert!(!heap.contains(std::ptr::null_mut()));
    }

    #[test]
    fn an_empty_heap_gives_its_pages_back_and_starts_over() {
        let heap = Heap::new(RESERVED);
        let many: Vec<_> = (0..(RELEASE_ABOVE / 256) + 1)
            .map(|i| {
                let block = heap.alloc(layout(256, 8));
                // SAFETY: a live 256-byte block.
                unsafe { block.write_bytes(i as u8 | 1, 256) };
                block
            })
            .collect();
        let first = many[0];
        assert!(heap.lock().used > RELEASE_ABOVE);
        for block in many {
            heap.dealloc(block, layout(256, 8));
        }
        assert_eq!(heap.lock().used, 0, "not released");
        assert_eq!(heap.in_use_bytes(), 0);
        let again = heap.alloc(layout(256, 8));
        assert_eq!(again, first, "did not start over");
        // SAFETY: a live 256-byte block, its pages given back: they read as zero.
        assert_eq!(unsafe { again.add(8).read() }, 0, "pages not given back");
    }

    #[test]
    fn blocks_made_on_one_thread_and_freed_on_others_never_overlap() {
        let heap = Heap::new(RESERVED);
        let small = layout(48, 16);
        let (to_free, freed) = std::sync::mpsc::channel::<usize>();
        std::thread::scope(|scope| {
            let heap = &heap;
            // One thread frees what the others made, while they keep making more.
            scope.spawn(move || {
                for block in freed {
                    heap.dealloc(block as *mut u8, small);
                }
            });
            for worker in 0..3u8 {
                let to_free = to_free.clone();
                scope.spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..2_000usize {
                        let block = heap.alloc(small);
                        assert!(!block.is_null());
                        // SAFETY: a live 48-byte block, this thread's alone.
                        unsafe { block.write_bytes(worker, 48) };
                        kept.push(block as usize);
                        if i % 2 == 0 {
                            let _ = to_free.send(kept.swap_remove(0));
                        }
                    }
                    // SAFETY: the blocks kept are live and were written by this thread only.
                    let intact = kept.iter().all(|&b| {
                        unsafe { std::slice::from_raw_parts(b as *const u8, 48) }
                            .iter()
                            .all(|&byte| byte == worker)
                    });
                    assert!(intact, "a block was handed out twice");
                    for block in kept {
                        let _ = to_free.send(block);
                    }
                });
            }
            drop(to_free);
        });
        assert_eq!(heap.in_use_bytes(), 0, "blocks were lost");
    }

    #[test]
    fn the_allocator_uses_the_heap_only_inside_the_scope() {
        let small = layout(40, 8);
        // SAFETY: each block is freed with the layout it was made with.
        unsafe {
            let outside = Allocator.alloc(small);
            let inside = long_lived(|| Allocator.alloc(small));
            let large = long_lived(|| Allocator.alloc(layout(4096, 8)));
            assert!(!HEAP.contains(outside));
            assert!(HEAP.contains(inside));
            assert!(!HEAP.contains(large), "a large block came from the heap");
            // A block made in the scope moves out when it outgrows the heap's sizes.
            inside.write_bytes(7, 40);
            let grown = Allocator.realloc(inside, small, 2048);
            assert!(!HEAP.contains(grown));
            assert_eq!(grown.add(39).read(), 7, "contents lost when moved");
            Allocator.dealloc(outside, small);
            Allocator.dealloc(grown, layout(2048, 8));
            Allocator.dealloc(large, layout(4096, 8));
        }
        assert!(!INSIDE.get(), "the scope was not left");
    }
}
