//! The rules folders, in order, and which of their pack files are in
//! effect. `--rules` may name several folders (the shipped packs, then an
//! operator's overrides): a pack in a later folder replaces the pack of the
//! same name (from `describe`) of every earlier folder, which is then
//! shadowed, not refused. Two files of one name in the same folder are a
//! clash the registry refuses, as with one folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a pack file stands after the folders are ranked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Loaded (or refused by the registry's own checks).
    Active,
    /// A later folder has a pack of the same name: this one is not loaded.
    Shadowed { by: PathBuf },
}

/// A pack file whose pack name is known: its folder's rank (0 first),
/// its path and its name.
#[derive(Debug, Clone)]
pub struct Named {
    pub rank: usize,
    pub path: PathBuf,
    pub name: String,
}

/// Each file's place: for every name, the files of the last folder that
/// has the name are active; the earlier folders' files of the name are
/// shadowed by the first of them (in name order). Order of `files` kept.
pub fn resolve(files: &[Named]) -> Vec<(PathBuf, Place)> {
    // The winning folder of each name, and its first file there.
    let mut winner: HashMap<&str, (usize, &Path)> = HashMap::new();
    for f in files {
        let entry = winner.entry(&f.name).or_insert((f.rank, &f.path));
        if f.rank > entry.0 || (f.rank == entry.0 && f.path.as_path() < entry.1) {
            *entry = (f.rank, &f.path);
        }
    }
    files
        .iter()
        .map(|f| {
            let (rank, by) = winner[f.name.as_str()];
            let place = if f.rank == rank {
                Place::Active
            } else {
                Place::Shadowed {
                    by: by.to_path_buf(),
                }
            };
            (f.path.clone(), place)
        })
        .collect()
}

/// The `.wasm` files of every folder, each with its folder's rank, in
/// folder order then name order. A folder that cannot be read is an error.
pub fn pack_files(dirs: &[PathBuf]) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let mut files = Vec::new();
    for (rank, dir) in dirs.iter().enumerate() {
        files.extend(files_of(dir, &["wasm"])?.into_iter().map(|p| (rank, p)));
    }
    Ok(files)
}

/// The Sigma rule files (`.yml`, `.yaml`) of every folder, in folder order
/// then name order.
pub fn sigma_files(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(files_of(dir, &["yml", "yaml"])?);
    }
    Ok(files)
}

/// The files of `dir` with one of `extensions` (symlinks followed, as
/// ConfigMaps use them; hidden entries, such as a ConfigMap's `..data`,
/// skipped), in name order. An entry that is not a file to read (a
/// folder, a dangling symlink, a symlink loop) is skipped, and said with
/// the reason.
fn files_of(dir: &Path, extensions: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the rules folder {}: {e}", dir.display()))?;
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden
            || path
                .extension()
                .is_none_or(|x| !extensions.iter().any(|e| x == *e))
        {
            continue;
        }
        match skip_reason(&path) {
            None => paths.push(path),
            Some(reason) => {
                tracing::warn!(path = %path.display(), %reason, "rules folder entry skipped")
            }
        }
    }
    paths.sort();
    Ok(paths)
}

/// Why `path` is not a pack file to read, if it is not.
fn skip_reason(path: &Path) -> Option<String> {
    let error = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => return None,
        Ok(meta) if meta.is_dir() => return Some("a folder, not a file".into()),
        Ok(_) => return Some("not a regular file (a socket, FIFO or device)".into()),
        Err(e) => e,
    };
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    Some(if !is_link {
        format!("cannot read it: {error}")
    } else if error.kind() == std::io::ErrorKind::NotFound {
        let target = std::fs::read_link(path).unwrap_or_default();
        format!(
            "a dangling symlink: its target {} does not exist",
            target.display()
        )
    } else if symlink_loops(path) {
        "a symlink loop".into()
    } else {
        format!("a symlink that cannot be followed: {error}")
    })
}

/// Following the links from `path` comes back to one already followed.
fn symlink_loops(path: &Path) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut at = path.to_path_buf();
    while let Ok(target) = std::fs::read_link(&at) {
        if !seen.insert(at.clone()) || seen.len() > 40 {
            return true;
        }
        at = at.parent().unwrap_or(Path::new("")).join(target);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(rank: usize, path: &str, name: &str) -> Named {
        Named {
            rank,
            path: PathBuf::from(path),
            name: name.into(),
        }
    }

    fn places(files: &[Named]) -> Vec<(String, Place)> {
        resolve(files)
            .into_iter()
            .map(|(p, place)| (p.display().to_string(), place))
            .collect()
    }

    fn by(path: &str) -> Place {
        Place::Shadowed {
            by: PathBuf::from(path),
        }
    }

    /// The later folder's pack of a name wins; the earlier one is shadowed
    /// by it; other names of the earlier folder stay.
    #[test]
    fn a_later_folder_shadows_the_same_name() {
        let files = [
            named(0, "/shipped/classic.wasm", "k8scop-classic"),
            named(0, "/shipped/falco.wasm", "k8scop-falco"),
            named(1, "/local/my-classic.wasm", "k8scop-classic"),
        ];
        assert_eq!(
            places(&files),
            [
                ("/shipped/classic.wasm".into(), by("/local/my-classic.wasm")),
                ("/shipped/falco.wasm".into(), Place::Active),
                ("/local/my-classic.wasm".into(), Place::Active),
            ]
        );
    }

    /// Order is the folders' order, not the paths': the same folders given
    /// the other way round swap who wins.
    #[test]
    fn the_last_folder_wins_whatever_the_paths() {
        let files = [
            named(0, "/z/a.wasm", "p"),
            named(1, "/a/a.wasm", "p"),
            named(2, "/m/a.wasm", "p"),
        ];
        assert_eq!(
            places(&files),
            [
                ("/z/a.wasm".into(), by("/m/a.wasm")),
                ("/a/a.wasm".into(), by("/m/a.wasm")),
                ("/m/a.wasm".into(), Place::Active),
            ]
        );
    }

    /// Two of a name in one folder are both active here: the registry
    /// refuses the second, as with one folder. An earlier folder's copy is
    /// shadowed by the first of them.
    #[test]
    fn two_of_a_name_in_one_folder_are_left_to_the_clash_check() {
        let files = [
            named(0, "/shipped/p.wasm", "p"),
            named(1, "/local/b.wasm", "p"),
            named(1, "/local/a.wasm", "p"),
        ];
        assert_eq!(
            places(&files),
            [
                ("/shipped/p.wasm".into(), by("/local/a.wasm")),
                ("/local/b.wasm".into(), Place::Active),
                ("/local/a.wasm".into(), Place::Active),
            ]
        );
    }

    /// With the override gone, the earlier folder's pack is active again.
    #[test]
    fn removing_the_override_brings_the_earlier_pack_back() {
        let files = [named(0, "/shipped/classic.wasm", "k8scop-classic")];
        assert_eq!(
            places(&files),
            [("/shipped/classic.wasm".into(), Place::Active)]
        );
    }

    #[test]
    fn pack_files_rank_by_folder_then_name() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (dir, file) in [
            (&a, "z.wasm"),
            (&a, "b.wasm"),
            (&b, "a.wasm"),
            (&b, "x.txt"),
        ] {
            std::fs::write(dir.path().join(file), b"").unwrap();
        }
        let files = pack_files(&[a.path().into(), b.path().into()]).unwrap();
        assert_eq!(
            files,
            [
                (0, a.path().join("b.wasm")),
                (0, a.path().join("z.wasm")),
                (1, b.path().join("a.wasm")),
            ]
        );
        assert!(pack_files(&[a.path().join("missing")]).is_err());
    }
}
