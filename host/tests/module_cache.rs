//! The module cache holds compiled packs that are loaded as machine code:
//! it is private (created 0700, entries 0600), and an entry or folder that
//! another user owns or that group or others may write is never loaded —
//! said once with the path and the reason, and the pack compiled instead.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use k8scop_testkit::rules_dir;

/// `rules list` with the packs of `rules` through the cache in `cache`:
/// (stdout, stderr).
fn list(rules: &Path, cache: &Path) -> (String, String) {
    let mut args = s(&["rules", "list", "--rules"]);
    args.push(rules.to_str().unwrap().to_string());
    args.push("--module-cache".into());
    args.push(cache.to_str().unwrap().to_string());
    let out = k8scop(&args).env("NO_COLOR", "1").output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

/// The one entry of a cache folder.
fn only_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The cache k8scop creates is 0700 and its entries 0600.
#[test]
fn the_cache_is_created_private() {
    let rules = rules_dir(&["k8scop-classic"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("state/k8scop/module-cache");
    list(rules.path(), &cache);
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&only_entry(&cache)), 0o600);
    // A second start loads from it.
    let (stdout, _) = list(rules.path(), &cache);
    assert!(stdout.contains("k8scop-classic"), "{stdout}");
}

/// Another pack's compiled module planted under the classic pack's entry
/// name is not loaded when the entry (0666) or its folder (0777) is
/// writable by others: the classic pack's own rules run, and a warning
/// names the path and the reason.
#[test]
fn a_planted_entry_others_may_write_is_not_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    // Each pack's own entry, as k8scop writes it.
    let classic = rules_dir(&["k8scop-classic"]);
    let classic_cache = tmp.path().join("classic");
    list(classic.path(), &classic_cache);
    let classic_entry = only_entry(&classic_cache);
    let correlation = rules_dir(&["k8scop-correlation"]);
    let correlation_cache = tmp.path().join("correlation");
    list(correlation.path(), &correlation_cache);
    let planted = std::fs::read(only_entry(&correlation_cache)).unwrap();
    let name = classic_entry.file_name().unwrap();

    // An entry anyone may write, in a private folder.
    let cache = tmp.path().join("entry-0666");
    let entry = plant(&cache, 0o700, name, &planted, 0o666);
    let stderr = refused(classic.path(), &cache, &entry, "(mode 0666)");
    assert_eq!(
        stderr.matches("writable by group or others").count(),
        1,
        "said once: {stderr}"
    );
    // Compiled again and rewritten, private.
    assert_eq!(mode(&entry), 0o600);

    // A private entry in a folder anyone may write.
    let cache = tmp.path().join("dir-0777");
    let entry = plant(&cache, 0o777, name, &planted, 0o600);
    refused(classic.path(), &cache, &cache, "(mode 0777)");
    // Nothing is written into a folder others may write.
    assert_eq!(std::fs::read(&entry).unwrap(), planted);

    // Garbage under the entry's name, 0666: refused the same way.
    let cache = tmp.path().join("garbage");
    let entry = plant(&cache, 0o700, name, b"garbage", 0o666);
    refused(classic.path(), &cache, &entry, "");
}

/// A cache folder of `dir_mode` holding `bytes` under `name`, of
/// `entry_mode`; the entry's path.
fn plant(
    cache: &Path,
    dir_mode: u32,
    name: &std::ffi::OsStr,
    bytes: &[u8],
    entry_mode: u32,
) -> PathBuf {
    std::fs::create_dir(cache).unwrap();
    let entry = cache.join(name);
    std::fs::write(&entry, bytes).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(entry_mode)).unwrap();
    std::fs::set_permissions(cache, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    entry
}

/// Listing the classic pack with `cache` runs the classic pack's own rules
/// (not what was planted), and a warning names `path` as writable by
/// others, with `detail`; its stderr.
fn refused(classic: &Path, cache: &Path, path: &Path, detail: &str) -> String {
    let (stdout, stderr) = list(classic, cache);
    assert!(
        stdout.contains("k8scop-classic") && !stdout.contains("k8scop-correlation"),
        "the planted module ran: {stdout}"
    );
    let reason = format!("writable by group or others {detail}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&path.display().to_string()) && l.contains(reason.trim_end())),
        "{stderr}"
    );
    stderr
}
