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
pub mod http_get;
pub mod recorded;

pub use es_server::TestCluster;
pub use fault_proxy::{Fault, FaultProxy, ItemFault, Mode, PathMatch, ProxyStats};

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

/// The crate names of the rule packs that ship with the product: every
/// folder under `rules-wasm/` with a `Cargo.toml`, sorted.
pub fn shipped_packs() -> Vec<String> {
    let dir = workspace_root().join("rules-wasm");
    let mut packs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.join("Cargo.toml").is_file().then(|| crate_name(&path))
        })
        .collect();
    packs.sort();
    packs
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
    let wasm = build_wasm(&workspace_root(), &["-p", package]);
    built.insert(package.to_string(), wasm.clone());
    wasm
}

/// The Sigma rules a pack crate ships with (`rules-wasm/<pack>/rules`,
/// `.yml` files its cases test), if it runs Sigma rules.
pub fn sigma_rules_of(pack: &str) -> Option<PathBuf> {
    let dir = workspace_root().join("rules-wasm").join(pack).join("rules");
    dir.is_dir().then_some(dir)
}

/// The arguments `k8scop rules test` takes before the cases file for a
/// shipped pack: its `.wasm`; for a pack that runs Sigma rules, its rules
/// folder and the pack as `--sigma-pack`.
pub fn rules_test_args(pack: &str) -> Vec<std::ffi::OsString> {
    let wasm = build_pack(pack);
    match sigma_rules_of(pack) {
        Some(rules) => vec![rules.into(), "--sigma-pack".into(), wasm.into()],
        None => vec![wasm.into()],
    }
}

/// Build a pack as the image and `make packs` do, through
/// `scripts/build-packs.sh`, into the shared `target/packs`, and return the
/// one `.wasm` it names: the workspace package's (`["-p", NAME]`) or, with
/// no `extra`, the crate of `crate_dir`.
pub fn build_wasm(crate_dir: &Path, extra: &[&str]) -> PathBuf {
    let root = workspace_root();
    let target_dir = root.join("target").join("packs");
    let package = match extra {
        ["-p", name] => name.to_string(),
        [] => crate_name(crate_dir),
        other => panic!("build_wasm takes `-p NAME` or nothing, not {other:?}"),
    };
    let what = if extra.is_empty() {
        crate_dir.as_os_str().to_owned()
    } else {
        package.clone().into()
    };
    // The script copies the pack here too; the tests read it in place.
    let copies = tempfile::tempdir().expect("a temporary folder");
    let output = Command::new(root.join("scripts/build-packs.sh"))
        .arg(copies.path())
        .arg(what)
        .env("PACKS_TARGET_DIR", &target_dir)
        .env("CARGO_FLAGS", "--quiet")
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/build-packs.sh: {e}"));
    assert!(
        output.status.success(),
        "building {package} for wasm32-wasip2 failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        wasm.is_file(),
        "the script built {package} but {} is missing",
        wasm.display()
    );
    wasm
}

/// The package name in `dir/Cargo.toml`.
fn crate_name(dir: &Path) -> String {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a Cargo.toml");
    manifest
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("name = \"")?
                .strip_suffix('"')
                .map(String::from)
        })
        .expect("a package name")
}

/// What a rule author does: copy the classic pack into a crate of their
/// own named `name` (outside this workspace, depending on rule-sdk by
/// path), rename its pack and rule ids, apply `edit` to the source, and
/// build it with one cargo command. Returns the `.wasm`.
pub fn author_pack(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let root = workspace_root();
    let crate_dir = root.join("target").join("rule-author-test").join(name);
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).expect("create the author's crate");
    let classic = std::fs::read_to_string(root.join("rules-wasm/k8scop-classic/src/lib.rs"))
        .expect("the classic pack");
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        edit(classic.replace("k8scop-classic", name)),
    )
    .unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nrule-sdk = {{ path = {:?} }}\nserde_json = \"1\"\n\n[workspace]\n",
            root.join("rule-sdk")
        ),
    )
    .unwrap();
    // The same dependency versions as ours, so the build reuses them.
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    build_wasm(&crate_dir, &[])
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

/// Running a command that must succeed: its output, or a failed test
/// that shows what it wrote on stderr.
pub trait Succeeds {
    fn succeeds(&mut self) -> std::process::Output;
}

impl Succeeds for std::process::Command {
    fn succeeds(&mut self) -> std::process::Output {
        let output = self.output().expect("the command starts");
        assert!(
            output.status.success(),
            "{:?} failed ({}): {}",
            self.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// The alerts a `k8scop replay` wrote on stdout, one JSON document a line.
pub fn alerts_on_stdout(output: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is a JSON alert"))
        .collect()
}

/// An alert document without `event.ingested`, the time it was written:
/// two runs, or a file and an index, write the same alert at different
/// times and must otherwise agree. A document rendered to be written has
/// it (asserted here, so dropping it cannot pass unseen).
pub fn without_ingested(mut doc: serde_json::Value) -> serde_json::Value {
    if let Some(event) = doc.get_mut("event").and_then(|e| e.as_object_mut()) {
        let ingested = event.remove("ingested");
        assert!(
            ingested.as_ref().is_some_and(|t| t.is_string()),
            "an alert document without event.ingested: {doc}"
        );
    }
    doc
}

/// Status and body of `GET path` on `addr` (a sidecar's ops address), over
/// std so a test needs no async runtime; (0, "") when nothing answers.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_get::get(&format!("http://{addr}{path}"))
}
