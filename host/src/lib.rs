//! k8scop: a detection sidecar for Kubernetes audit logs.
//!
//! Data flows one way: source -> decode -> engine (rules) -> sink.

pub mod aggregate;
pub mod alert;
pub mod attack;
pub mod audit_policy;
pub mod chatter;
pub mod checkpoint;
pub mod cli;
pub mod config_toml;
pub mod contract;
pub mod cores;
pub mod decode;
pub mod engine;
pub mod es;
pub mod notify;
pub mod ops;
pub mod pipeline;
pub mod replicas;
pub mod request_once;
pub mod rules_test;
pub mod rules_watch;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod spelling;
pub mod summary;
pub mod workers;

/// mimalloc for the binary, its tests and its benches: every batch lifts
/// each alert's strings out of the sandbox and frees them together, and
/// glibc's malloc spent a sixth of the evaluation time on that pattern
/// (BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Give freed memory back to the OS at once, not a second later (mimalloc
/// 3's default). A replay's pages and batches come and go faster than that,
/// so the delay kept about a third more resident: peak RSS 117 and 138 MiB
/// at 20k and 200k documents with it, 83 and 93 MiB without, for the same
/// CPU time (BENCHMARKS.md, "Replay: where the time goes"). An operator's
/// `MIMALLOC_PURGE_DELAY` still wins. Call first thing in `main`, while
/// the process has one thread.
pub fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // `mi_option_purge_delay` in mimalloc.h (the same in v2 and v3); the
    // crate does not name it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one option; called before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    /// The option number is mimalloc's purge delay: its default is 1000 ms
    /// (10 ms in mimalloc 2), and after the call it is 0 (unless the
    /// environment set it).
    #[test]
    fn freed_memory_is_purged_at_once() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one option.
        let before = unsafe { libmimalloc_sys::mi_option_get(15) };
        super::purge_freed_memory_at_once();
        let after = unsafe { libmimalloc_sys::mi_option_get(15) };
        assert!(
            [1000, 10, 0].contains(&before),
            "not the purge delay: {before}"
        );
        assert_eq!(after, 0);
    }
}
