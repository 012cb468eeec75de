//! Compiled packs, cached on disk by content hash, so a restart (or a
//! reload of a file that did not really change) skips compiling: loading a
//! precompiled pack takes about a millisecond against a hundred or more to
//! compile it.
//!
//! Loading a precompiled module trusts its bytes as machine code, so the
//! cache folder must be writable by k8scop alone. Wasmtime refuses artifacts
//! from another version or configuration; those, and any unreadable entry,
//! are compiled again and rewritten. The cache can be lost at any time.

use std::path::{Path, PathBuf};

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
    let entry = entry_path(dir, hash);
    if entry.is_file() {
        // Read into memory rather than mapping the file: a file truncated
        // under a mapping would crash the process.
        let cached = std::fs::read(&entry).map_err(wasmtime::Error::from);
        // SAFETY: the entry was written by `Component::serialize` into a
        // folder only k8scop writes (see the module docs); wasmtime checks
        // that it matches this engine's version and configuration.
        match cached.and_then(|bytes| unsafe { Component::deserialize(engine, bytes) }) {
            Ok(component) => return Ok((component, true)),
            Err(e) => {
                tracing::warn!(entry = %entry.display(), error = %e, "cached module unusable; compiling again")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&component, dir, &entry) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the module cache; packs will be compiled at each start");
    }
    Ok((component, false))
}

fn entry_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join(format!("{hash}-wasmtime{}.cwasm", wasmtime_version()))
}

fn wasmtime_version() -> &'static str {
    // The artifact format follows the wasmtime release; keep entries of
    // different hosts apart even when they share a folder.
    "48"
}

/// Write through a temporary name and rename, so a reader never sees half.
fn store(component: &Component, dir: &Path, entry: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
