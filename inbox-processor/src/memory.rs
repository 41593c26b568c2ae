//! How freed memory goes back to the system, for binaries whose global allocator is mimalloc
//! (the server and the parse benchmark).
//!
//! mimalloc hands freed pages back to the system 10 ms after they are freed. The inbox builds and
//! drops a batch of shipments every few milliseconds while it reads a big file, so each batch
//! faulted its pages in again: a third of the CSV parse time went to page faults (134,000 of them
//! for a million rows, 665 with freed memory kept for a second). A second is short enough that
//! the memory of a big file still goes back soon after it is done.

use std::ffi::c_long;

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_e` of the bundled mimalloc 3
/// (`mimalloc.h` of libmimalloc-sys 0.1.49, pinned), whose Rust bindings don't name it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory is kept before it goes back to the system.
const KEEP_FREED_MS: c_long = 1000;

/// Keeps freed memory for a second before mimalloc hands it back. Call once, early in `main`.
pub fn keep_freed_memory() {
    // SAFETY: sets one integer option of the allocator, which it reads at its next purge; this
    // has no other effect and is allowed at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_FREED_MS) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_the_purge_delay() {
        // mimalloc 3 documents 10 ms as the default purge delay: reading option 15 gives it, so
        // the constant names the right option.
        // SAFETY: reads one integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert!(
            default == 10 || default == KEEP_FREED_MS,
            "option 15 is {default}"
        );
        keep_freed_memory();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) },
            KEEP_FREED_MS
        );
    }
}
