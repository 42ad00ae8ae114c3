//! Work and memory a closure costs, counted by the allocator on the calling
//! thread: deterministic limits for tests that must end "quickly", where the
//! clock would depend on the machine and its load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting what each thread allocates. A test binary
/// that calls [`measure`] installs it:
/// `#[global_allocator] static ALLOC: Counting = Counting;`.
pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// Counts an allocation of `size` bytes on this thread.
fn allocated(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + size as u64));
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + size as i64);
        let _ = PEAK.try_with(|p| p.set(p.get().max(live.get())));
    });
}

/// Counts `size` bytes freed on this thread.
fn freed(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - size as i64));
}

// SAFETY: every call goes to `System` with the caller's arguments; the
// counting only touches this thread's cells, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        p
    }
}

/// What a closure allocated on its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// How many allocations (a reallocation counts as one).
    pub allocations: u64,
    /// Bytes allocated in all: a measure of the work done.
    pub bytes: u64,
    /// The most bytes live at once beyond those live when it started.
    pub peak: u64,
}

/// Runs `f` and returns its result with what it allocated on this thread
/// (work another thread does is not counted). Panics unless [`Counting`] is
/// the test binary's global allocator.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let read = || {
        (
            ALLOCATIONS.with(Cell::get),
            BYTES.with(Cell::get),
            LIVE.with(Cell::get),
        )
    };
    let before = read();
    drop(std::hint::black_box(Box::new(0u64)));
    assert!(
        read().0 > before.0,
        "alloc::measure needs `#[global_allocator] static ALLOC: Counting = Counting;`"
    );
    let (allocations, bytes, live) = read();
    PEAK.with(|p| p.set(live));
    let r = f();
    let after = read();
    let usage = Usage {
        allocations: after.0 - allocations,
        bytes: after.1 - bytes,
        peak: (PEAK.with(Cell::get) - live).max(0) as u64,
    };
    (r, usage)
}
