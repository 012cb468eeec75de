//! Several rules folders (`--rules` repeated): the shipped packs, then an
//! operator's overrides. A later folder's pack replaces the earlier
//! folder's pack of the same name (shadowed, not refused), live: dropping
//! the override in swaps it in, removing it brings the shipped one back.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use common::*;
use k8scop::engine::{EngineConfig, RuleEngine};
use k8scop_testkit::{TestCluster, author_pack, http_get, rules_dir};

/// The classic pack as an operator's override: the same pack name
/// (`k8scop-classic`), its rules renamed `<crate>/...` so an alert or a
/// listing says which copy is running. One crate per test (`crate_name`):
/// nextest runs each test in its own process, and an author's crate is
/// rebuilt from scratch, so two tests must not share one.
fn override_pack(crate_name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            author_pack(crate_name, |source| {
                source.replace(
                    &format!("const PACK: &str = \"{crate_name}\";"),
                    "const PACK: &str = \"k8scop-classic\";",
                )
            })
        })
        .clone()
}

/// Where each loaded pack comes from, by name.
fn loaded(engine: &RuleEngine) -> Vec<(String, PathBuf)> {
    engine
        .packs()
        .map(|p| (p.name().to_string(), p.path.clone()))
        .collect()
}

fn put(pack: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(pack, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[test]
fn a_later_folder_replaces_a_pack_of_the_same_name_and_gives_it_back() {
    let shipped = rules_dir(&["k8scop-classic", "k8scop-falco"]);
    let local = tempfile::tempdir().unwrap();
    let dirs = [shipped.path().to_path_buf(), local.path().to_path_buf()];
    let shipped_classic = shipped.path().join("k8scop_classic.wasm");
    let shipped_falco = shipped.path().join("k8scop_falco.wasm");
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    assert!(engine.load_dirs(&dirs).unwrap().is_empty());
    assert_eq!(
        loaded(&engine),
        [
            ("k8scop-classic".into(), shipped_classic.clone()),
            ("k8scop-falco".into(), shipped_falco.clone())
        ]
    );

    // The override arrives: it replaces the shipped pack, which is
    // shadowed by it, not refused.
    let over = local.path().join("classic.wasm");
    put(&override_pack("override-sync"), &over);
    let report = engine.sync_dirs(&dirs).unwrap();
    assert_eq!(report.replaced, ["k8scop-classic"], "{report:?}");
    assert_eq!(report.shadowed, ["k8scop-classic"], "{report:?}");
    assert!(
        report.refused.is_empty() && report.unloaded == 0,
        "{report:?}"
    );
    let classic = engine
        .packs()
        .find(|p| p.name() == "k8scop-classic")
        .unwrap();
    assert_eq!(classic.path, over);
    assert!(classic.info.rules[0].id.starts_with("override-sync/"));
    assert_eq!(engine.refused().count(), 0);
    let shadowed: Vec<_> = engine.shadowed().collect();
    assert_eq!(shadowed.len(), 1);
    assert_eq!(*shadowed[0].0, shipped_classic);
    assert_eq!(shadowed[0].1.by, over);
    let status = engine.status_json();
    assert_eq!(status["shadowed"][0]["state"], "shadowed");
    assert_eq!(status["shadowed"][0]["by"], over.to_str().unwrap());
    assert_eq!(status["refused"], serde_json::json!([]));
    // Nothing changed: nothing reloads, nothing is said again.
    assert!(engine.sync_dirs(&dirs).unwrap().is_empty());

    // A broken override is refused; the override loaded keeps running.
    std::fs::write(&over, b"garbage").unwrap();
    let report = engine.sync_dirs(&dirs).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(
        engine
            .packs()
            .find(|p| p.name() == "k8scop-classic")
            .unwrap()
            .path,
        over
    );

    // The override removed: the shipped pack is back.
    std::fs::remove_file(&over).unwrap();
    let report = engine.sync_dirs(&dirs).unwrap();
    assert_eq!(report.replaced, ["k8scop-classic"], "{report:?}");
    assert_eq!(
        loaded(&engine),
        [
            ("k8scop-falco".into(), shipped_falco.clone()),
            ("k8scop-classic".into(), shipped_classic.clone())
        ]
    );
    assert_eq!(engine.shadowed().count(), 0);
    assert_eq!(engine.refused().count(), 0);

    // The folders' order decides, not their paths: the other way round,
    // the shipped pack shadows the local one.
    put(&override_pack("override-sync"), &over);
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    let reversed = [local.path().to_path_buf(), shipped.path().to_path_buf()];
    assert!(engine.load_dirs(&reversed).unwrap().is_empty());
    let classic = engine
        .packs()
        .find(|p| p.name() == "k8scop-classic")
        .unwrap();
    assert_eq!(classic.path, shipped_classic);
    assert_eq!(engine.shadowed().next().unwrap().0, &over);
}

/// Two packs of one name in the same folder stay a clash: the second is
/// refused, as with one folder, and shadowing does not hide it.
#[test]
fn two_packs_of_one_name_in_one_folder_are_still_refused() {
    let shipped = rules_dir(&["k8scop-classic"]);
    let local = tempfile::tempdir().unwrap();
    put(
        &override_pack("override-clash"),
        &local.path().join("a.wasm"),
    );
    put(
        &override_pack("override-clash"),
        &local.path().join("b.wasm"),
    );
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    let refused = engine
        .load_dirs(&[shipped.path().into(), local.path().into()])
        .unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, local.path().join("b.wasm"));
    assert!(
        refused[0]
            .1
            .to_string()
            .contains("a pack named k8scop-classic is already loaded"),
        "{}",
        refused[0].1
    );
    assert_eq!(
        engine.packs().next().unwrap().path,
        local.path().join("a.wasm")
    );
}

/// An override refused for a rule id another pack declares leaves the
/// earlier folder's pack of its name running (not shadowed), as a refused
/// new version leaves the old one running in one folder.
#[test]
fn a_refused_override_leaves_the_earlier_pack_running() {
    let shipped = rules_dir(&["k8scop-classic", "k8scop-falco"]);
    let local = tempfile::tempdir().unwrap();
    let dirs = [shipped.path().to_path_buf(), local.path().to_path_buf()];
    let mut engine = RuleEngine::new(EngineConfig::default()).unwrap();
    assert!(engine.load_dirs(&dirs).unwrap().is_empty());
    let clashing = author_pack("override-idclash", |source| {
        source
            .replace(
                "const PACK: &str = \"override-idclash\";",
                "const PACK: &str = \"k8scop-classic\";",
            )
            .replace(
                "id: \"override-idclash/pods-listed\",",
                "id: \"k8scop-falco/secret-get\",",
            )
    });
    let over = local.path().join("classic.wasm");
    put(&clashing, &over);
    let report = engine.sync_dirs(&dirs).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].0, over);
    assert!(
        report.refused[0]
            .1
            .to_string()
            .contains("rule id k8scop-falco/secret-get is already declared"),
        "{}",
        report.refused[0].1
    );
    assert!(
        report.loaded.is_empty() && report.replaced.is_empty() && report.unloaded == 0,
        "the shipped pack ran on, untouched: {report:?}"
    );
    assert!(report.shadowed.is_empty(), "{report:?}");
    let classic = engine
        .packs()
        .find(|p| p.name() == "k8scop-classic")
        .unwrap();
    assert_eq!(classic.path, shipped.path().join("k8scop_classic.wasm"));
    assert_eq!(engine.shadowed().count(), 0);
    assert_eq!(engine.packs().count(), 2);
}

/// `rules list` takes the folders from repeated flags, from `:` in
/// K8SCOP_RULES and from a list in the config file, and shows the
/// shadowed pack as shadowed, not refused (exit 0).
#[test]
fn rules_list_takes_several_folders_every_way() {
    let shipped = rules_dir(&["k8scop-classic"]);
    let local = tempfile::tempdir().unwrap();
    put(
        &override_pack("override-list"),
        &local.path().join("classic.wasm"),
    );
    let (s, l) = (
        shipped.path().to_str().unwrap().to_string(),
        local.path().to_str().unwrap().to_string(),
    );
    let config = local.path().join("k8scop.toml");
    std::fs::write(&config, format!("rules = [{s:?}, {l:?}]\n")).unwrap();
    let ways: [(Vec<String>, Option<String>); 3] = [
        (
            vec!["--rules".into(), s.clone(), "--rules".into(), l.clone()],
            None,
        ),
        (vec![], Some(format!("{s}:{l}"))),
        (
            vec!["--config".into(), config.to_str().unwrap().into()],
            None,
        ),
    ];
    for (flags, env) in ways {
        let mut args = vec!["rules".to_string(), "list".to_string()];
        args.extend(flags.clone());
        let mut cmd = k8scop(&args);
        cmd.env_remove("K8SCOP_RULES");
        if let Some(env) = &env {
            cmd.env("K8SCOP_RULES", env);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{flags:?} {env:?}: {stdout}");
        assert!(stdout.contains("override-list/pods-listed"), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "k8scop-classic ({s}/k8scop_classic.wasm) shadowed by {l}/classic.wasm"
            )),
            "{flags:?} {env:?}: {stdout}"
        );
        assert!(!stdout.contains("refused"), "{stdout}");
    }
}

/// Live: `k8scop run --rules shipped --rules local` swaps the override in
/// when it is dropped into the later folder, and the shipped pack back
/// when it is removed, within the bound of any hot reload.
#[test]
fn the_override_swaps_in_and_out_while_running() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let shipped = rules_dir(&["k8scop-classic"]);
    let local = tempfile::tempdir().unwrap();
    let local_arg = local.path().to_str().unwrap().to_string();
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        shipped.path().to_str().unwrap(),
        &["--rules", &local_arg, "--interval", "3600", "--delay", "0"],
    );
    let LoggedRun {
        child,
        lines: rx,
        addr,
    } = LoggedRun::start(&args);
    let status = || -> serde_json::Value {
        serde_json::from_str(&http_get(&addr, "/status").1).unwrap_or_default()
    };
    let classic_path = || -> Option<String> {
        status()["packs"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "k8scop-classic")?["path"]
            .as_str()
            .map(String::from)
    };
    while !rx
        .recv_timeout(StdDuration::from_secs(30))
        .expect("the first window's log line")
        .contains("window done")
    {}
    let shipped_classic = shipped.path().join("k8scop_classic.wasm");
    assert_eq!(classic_path().as_deref(), shipped_classic.to_str());

    let over = local.path().join("classic.wasm");
    put(&override_pack("override-live"), &over);
    assert!(
        eventually(30, || classic_path().as_deref() == over.to_str()),
        "the override is not running: {}",
        status()
    );
    let s = status();
    assert_eq!(s["shadowed"][0]["path"], shipped_classic.to_str().unwrap());
    assert_eq!(s["refused"], serde_json::json!([]));

    std::fs::remove_file(&over).unwrap();
    assert!(
        eventually(30, || classic_path().as_deref() == shipped_classic.to_str()),
        "the shipped pack is not back: {}",
        status()
    );
    assert_eq!(status()["shadowed"], serde_json::json!([]));
    let (code, stderr) = terminate(child);
    assert!(code.success(), "{stderr}");
}
