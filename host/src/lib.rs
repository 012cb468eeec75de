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
