//! Compiled packs, cached on disk by content hash, so a restart (or a
//! reload of a file that did not really change) skips compiling: loading a
//! precompiled pack takes about a millisecond against a hundred or more to
//! compile it.
//!
//! Loading a precompiled module trusts its bytes as machine code, so the
//! cache is private: its folder is created 0700, entries are written 0600,
//! and a folder or entry that is not owned by k8scop's user, or that group
//! or others may write, is never loaded (said once, with the reason; the
//! pack is compiled instead). Wasmtime refuses artifacts from another
//! version or configuration; those, and any unreadable entry, are compiled
//! again and rewritten. The cache can be lost at any time.

use std::collections::HashSet;
use std::fs::{DirBuilder, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Compile `bytes` (whose SHA-256 is `hash`), through the cache in `dir` if
/// any. Returns the component and whether it came from the cache.
pub fn compile(
    engine: &Engine,
    bytes: &[u8],
    hash: &str,
    dir: Option<&Path>,
) -> wasmtime::Result<(Component, bool)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, bytes)?, false));
    };
    if let Err(reason) = private_dir(dir) {
        warn_once(
            dir,
            &reason,
            "module cache folder not used; packs are compiled",
        );
        return Ok((Component::new(engine, bytes)?, false));
    }
    let entry = entry_path(dir, hash);
    match read_private(&entry) {
        Ok(Some(cached)) => {
            // SAFETY: the entry is a regular file owned by this process's
            // user, writable by nobody else, in a folder of the same kind
            // (checked above), so only k8scop (or root) wrote it, with
            // `Component::serialize`; wasmtime checks that it matches this
            // engine's version and configuration.
            match unsafe { Component::deserialize(engine, cached) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    tracing::warn!(entry = %entry.display(), error = %e, "cached module unusable; compiling again")
                }
            }
        }
        Ok(None) => {}
        Err(reason) => warn_once(&entry, &reason, "cached module not loaded; compiling again"),
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&component, &entry) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the module cache; packs will be compiled at each start");
    }
    Ok((component, false))
}

/// The default cache folder: `$XDG_STATE_HOME/k8scop/module-cache`, else
/// `$HOME/.local/state/k8scop/module-cache`, else a folder of this user's
/// own under the temporary folder (`k8scop-<uid>/module-cache`).
pub fn default_dir() -> PathBuf {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return state.join("k8scop").join("module-cache");
    }
    if let Some(home) = absolute("HOME").filter(|h| h != Path::new("/")) {
        return home.join(".local/state/k8scop/module-cache");
    }
    let user = own_uid().map_or_else(|| "user".to_string(), |uid| uid.to_string());
    std::env::temp_dir()
        .join(format!("k8scop-{user}"))
        .join("module-cache")
}

fn entry_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join(format!("{hash}-wasmtime{}.cwasm", wasmtime_version()))
}

fn wasmtime_version() -> &'static str {
    // The artifact format follows the wasmtime release; keep entries of
    // different hosts apart even when they share a folder.
    "48"
}

/// `dir`, created 0700 (with its missing parents) if missing, is a folder
/// of this user's that nobody else may write; else why not.
fn private_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("not a folder (a symlink or a file)".into());
    }
    private(&meta)
}

/// The bytes of the cache entry at `entry`, if there is one and it is a
/// regular file of this user's that nobody else may write; `Err(reason)`
/// for an entry that is there but may not be trusted.
fn read_private(entry: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::symlink_metadata(entry) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
        Ok(meta) if !meta.is_file() => return Err("not a regular file (a symlink?)".into()),
        Ok(_) => {}
    }
    // Read into memory rather than mapping the file: a file truncated
    // under a mapping would crash the process. Checked on the open file,
    // so what is checked is what is read.
    let mut file = std::fs::File::open(entry).map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    private(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    Ok(Some(bytes))
}

/// Owned by this process's user and writable by no one else.
fn private(meta: &Metadata) -> Result<(), String> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {mode:04o}); make it 0700 (folder) or 0600 (file)"
        ));
    }
    match own_uid() {
        Some(uid) if uid == meta.uid() => Ok(()),
        Some(uid) => Err(format!(
            "owned by uid {}, not by k8scop's user (uid {uid})",
            meta.uid()
        )),
        None => Err("cannot tell which user k8scop runs as".into()),
    }
}

/// The uid files this process creates get: the owner of `/proc/self`, else
/// of a file it just created.
fn own_uid() -> Option<u32> {
    static UID: OnceLock<Option<u32>> = OnceLock::new();
    *UID.get_or_init(|| {
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return Some(meta.uid());
        }
        let probe = std::env::temp_dir().join(format!(
            "k8scop-uid-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&probe)
            .ok()?;
        let uid = file.metadata().ok().map(|m| m.uid());
        let _ = std::fs::remove_file(&probe);
        uid
    })
}

/// Warn about `path` once per process: a refused cache is said, not
/// repeated at every pack and every reload.
fn warn_once(path: &Path, reason: &str, what: &str) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(path.to_path_buf())
    {
        tracing::warn!(path = %path.display(), reason, "{what}");
    }
}

/// Write 0600 through a temporary name and rename (over an entry refused
/// above too), so a reader never sees half.
fn store(component: &Component, entry: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&bytes)?;
    drop(file);
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
