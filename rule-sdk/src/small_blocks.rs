//! A cache of freed small blocks in front of the pack's allocator. Most of
//! a pack's allocations are small and short-lived (an alert's texts, freed
//! after the host copied them out; a parsed body's keys and values), and
//! Talc's bins took some 150 instructions per allocation or free in the
//! sandbox (k8scop-falco, callgrind), where the native twin's mimalloc
//! takes a few dozen for both: a freed block kept on a list of its size
//! class is handed out again without a search.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Blocks up to this size are cached.
const MAX_SIZE: usize = 256;
/// Size classes step by this much, which is also the blocks' alignment.
const GRAIN: usize = 8;
const CLASSES: usize = MAX_SIZE / GRAIN;
/// What a class keeps at most, in bytes: further freed blocks go back to
/// the allocator beneath, so a burst of one size does not hold its memory
/// from the others for good.
const KEPT_BYTES: usize = 64 << 10;

/// A freed block, linked through its first word.
struct Free {
    next: *mut Free,
}

#[derive(Clone, Copy)]
struct List {
    head: *mut Free,
    /// The bytes of the blocks on the list.
    bytes: usize,
}

/// `A` with freed blocks of up to [`MAX_SIZE`] bytes kept for reuse, one
/// list per size class. Not thread-safe: a pack runs on one thread.
pub struct SmallBlocks<A> {
    inner: A,
    lists: UnsafeCell<[List; CLASSES]>,
}

// SAFETY: WebAssembly without threads (the only place it is a global
// allocator) has one thread, so the lists are never shared.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SmallBlocks<A> {}

impl<A> SmallBlocks<A> {
    pub const fn new(inner: A) -> Self {
        SmallBlocks {
            inner,
            lists: UnsafeCell::new(
                [List {
                    head: ptr::null_mut(),
                    bytes: 0,
                }; CLASSES],
            ),
        }
    }

    /// The list of a class.
    ///
    /// # Safety
    ///
    /// No other reference to it may be alive (one thread, no reentry).
    #[allow(clippy::mut_from_ref)]
    unsafe fn list(&self, class: usize) -> &mut List {
        // SAFETY: the caller's contract.
        unsafe { &mut (*self.lists.get())[class] }
    }
}

/// The size class of a layout, if cached: sizes 1-8 are class 0, 9-16
/// class 1, and so on.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_SIZE && layout.align() <= GRAIN)
        .then(|| layout.size().saturating_sub(1) / GRAIN)
}

/// The layout every block of a class is allocated with.
fn block(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of GRAIN, a power of two.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRAIN, GRAIN) }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for SmallBlocks<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: one thread, and nothing below allocates.
        let list = unsafe { self.list(class) };
        if list.head.is_null() {
            // SAFETY: a valid non-zero layout.
            return unsafe { self.inner.alloc(block(class)) };
        }
        let free = list.head;
        // SAFETY: a block on the list holds its successor.
        list.head = unsafe { (*free).next };
        list.bytes -= block(class).size();
        free.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { self.inner.dealloc(ptr, layout) };
        };
        // SAFETY: one thread, and nothing below allocates.
        let list = unsafe { self.list(class) };
        if list.bytes + block(class).size() > KEPT_BYTES {
            // SAFETY: allocated with this class's layout (`alloc`, `realloc`).
            return unsafe { self.inner.dealloc(ptr, block(class)) };
        }
        let free = ptr.cast::<Free>();
        // SAFETY: the block is ours again, at least a word and aligned for one.
        unsafe { free.write(Free { next: list.head }) };
        list.head = free;
        list.bytes += block(class).size();
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_none() {
            // SAFETY: the caller's contract, passed on.
            return unsafe { self.inner.alloc_zeroed(layout) };
        }
        // SAFETY: the caller's contract.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() {
            // SAFETY: the block holds at least `layout.size()` bytes.
            unsafe { ptr.write_bytes(0, layout.size()) };
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract: a valid layout of `new_size`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            // SAFETY: the caller's contract, passed on.
            (None, None) => unsafe { self.inner.realloc(ptr, layout, new_size) },
            (Some(old), Some(new)) if old == new => ptr,
            // Into or out of the cached sizes: each side allocated its way.
            _ => {
                // SAFETY: the caller's contract; the copy is within both blocks.
                unsafe {
                    let moved = self.alloc(new);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_only() {
        let blocks = SmallBlocks::new(System);
        unsafe {
            let a = blocks.alloc(layout(20, 1));
            blocks.dealloc(a, layout(20, 1));
            // 17-24 bytes is the class of 20.
            let other = blocks.alloc(layout(30, 1));
            assert_ne!(other, a);
            let same = blocks.alloc(layout(17, 8));
            assert_eq!(same, a);
            // Over the grain's alignment or the size limit: not cached.
            let aligned = blocks.alloc(layout(20, 16));
            blocks.dealloc(aligned, layout(20, 16));
            assert_eq!(blocks.list(2).bytes, 0);
            let big = blocks.alloc(layout(MAX_SIZE + 1, 1));
            blocks.dealloc(big, layout(MAX_SIZE + 1, 1));
            assert!(blocks.list(CLASSES - 1).head.is_null());
            for (p, l) in [(other, layout(30, 1)), (same, layout(17, 8))] {
                blocks.dealloc(p, l);
            }
        }
    }

    #[test]
    fn a_class_keeps_at_most_its_share() {
        let blocks = SmallBlocks::new(System);
        let l = layout(MAX_SIZE, 8);
        let kept = KEPT_BYTES / MAX_SIZE;
        unsafe {
            let ptrs: Vec<_> = (0..kept + 10).map(|_| blocks.alloc(l)).collect();
            for p in ptrs {
                blocks.dealloc(p, l);
            }
            assert_eq!(blocks.list(CLASSES - 1).bytes, kept * MAX_SIZE);
            // Handed out again, last freed first, down to an empty list.
            for _ in 0..kept {
                assert!(!blocks.alloc(l).is_null());
            }
            assert!(blocks.list(CLASSES - 1).head.is_null());
        }
    }

    /// Growing and shrinking across classes and past the cached sizes
    /// keeps the contents; zeroed blocks are zero even when reused.
    #[test]
    fn realloc_keeps_contents_and_zeroed_is_zero() {
        let blocks = SmallBlocks::new(System);
        unsafe {
            let mut size = 5;
            let mut p = blocks.alloc(layout(size, 1));
            for i in 0..size {
                *p.add(i) = i as u8;
            }
            for new_size in [7, 8, 9, 100, 256, 257, 4000, 300, 200, 3, 1] {
                p = blocks.realloc(p, layout(size, 1), new_size);
                for i in size..new_size {
                    *p.add(i) = i as u8;
                }
                size = new_size;
                for i in 0..size {
                    assert_eq!(*p.add(i), i as u8, "size {size}, byte {i}");
                }
            }
            blocks.dealloc(p, layout(size, 1));
            let dirty = blocks.alloc(layout(40, 8));
            dirty.write_bytes(0xab, 40);
            blocks.dealloc(dirty, layout(40, 8));
            let zeroed = blocks.alloc_zeroed(layout(40, 8));
            assert_eq!(zeroed, dirty);
            assert!((0..40).all(|i| *zeroed.add(i) == 0));
            blocks.dealloc(zeroed, layout(40, 8));
        }
    }
}
