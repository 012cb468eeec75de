//! Support code for k8scop's tests: builds the rule packs of the workspace
//! to real WebAssembly components, and lays out rules folders; starts an
//! Elasticsearch-compatible server ([`es_server`]) and puts a fault-injecting
//! proxy in front of it ([`fault_proxy`]).
//!
//! Packs are built with the same cargo that runs the tests, into their own
//! target directory (`target/packs`), so a test run never waits on the lock
//! of the build that launched it.

pub mod es_server;
pub mod fault_proxy;
pub mod recorded;

pub use es_server::TestCluster;
pub use fault_proxy::{Fault, FaultProxy, ItemFault, PathMatch, ProxyStats};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root (the folder holding `Cargo.toml`, `wit/`, `host/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// Build the pack crate `package` (a member under `rules-wasm/`) for
/// wasm32-wasip2 in release mode and return the `.wasm` path. Built once per
/// test process; cargo makes it a no-op when nothing changed.
pub fn build_pack(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(package) {
        return path.clone();
    }
    let root = workspace_root();
    let target_dir = root.join("target").join("packs");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build pack {package}: {e}"));
    assert!(
        output.status.success(),
        "building pack {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        wasm.is_file(),
        "cargo built {package} but {} is missing",
        wasm.display()
    );
    built.insert(package.to_string(), wasm.clone());
    wasm
}

/// A fresh rules folder (removed on drop) holding the named packs, built.
pub fn rules_dir(packs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary rules folder");
    for package in packs {
        let wasm = build_pack(package);
        std::fs::copy(&wasm, dir.path().join(wasm.file_name().unwrap()))
            .expect("copy the pack into the rules folder");
    }
    dir
}

/// A file of the workspace, e.g. `samples/audit-sample.jsonl`.
pub fn workspace_file(relative: &str) -> PathBuf {
    let path = workspace_root().join(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path
}
