//! The crate's floors run one way: no module of `host/src` (or of
//! `rule-sdk/src`) reaches, through `crate::` paths, a module that reaches
//! it back. A circle is named with the files that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8scop_testkit::workspace_root;

/// Top-level modules of a crate's `src`, each with the `.rs` files it is made of.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            modules
                .entry(name)
                .or_insert_with(Vec::new)
                .extend(rs_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs")
            && !["lib", "main"].contains(&name.as_str())
        {
            modules.entry(name).or_insert_with(Vec::new).push(path);
        }
    }
    modules
}

fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rs_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files
}

/// Names `lib.rs` re-exports (`pub use module::{A, B};`), each with the
/// module it comes from: `crate::A` reaches that module.
fn reexports(src: &Path, modules: &BTreeMap<String, Vec<PathBuf>>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let Ok(lib) = std::fs::read_to_string(src.join("lib.rs")) else {
        return names;
    };
    for statement in code(&lib).split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        if !modules.contains_key(module) {
            continue;
        }
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            if !name.is_empty() && !name.contains("::") {
                names.insert(name.to_string(), module.to_string());
            }
        }
    }
    names
}

/// Code only: a doc comment's link is not a dependency.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names a path reaches after `crate::` or `super::`: one, or each of
/// a `{a, b}` group.
fn names_after(rest: &str) -> Vec<String> {
    let names: Vec<&str> = match rest.strip_prefix('{') {
        Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
        None => vec![rest],
    };
    names
        .into_iter()
        .map(|name| {
            name.trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Which other top-level modules each module names as `crate::<module>`
/// (or `crate::{<module>, ...}`, or a name `lib.rs` re-exports from it),
/// with a file that does.
fn uses<'a>(
    modules: &'a BTreeMap<String, Vec<PathBuf>>,
    reexports: &'a BTreeMap<String, String>,
) -> BTreeMap<&'a str, BTreeMap<&'a str, PathBuf>> {
    let mut graph = BTreeMap::new();
    for (module, files) in modules {
        let edges: &mut BTreeMap<&str, PathBuf> = graph.entry(module.as_str()).or_default();
        for file in files {
            let text = code(&std::fs::read_to_string(file).unwrap());
            for (at, _) in text.match_indices("crate::") {
                for name in names_after(&text[at + "crate::".len()..]) {
                    let target = modules
                        .get_key_value(&name)
                        .map(|(target, _)| target.as_str())
                        .or_else(|| reexports.get(&name).map(String::as_str));
                    if let Some(target) = target
                        && target != module
                    {
                        let target = modules.get_key_value(target).unwrap().0.as_str();
                        edges.entry(target).or_insert_with(|| file.clone());
                    }
                }
            }
        }
    }
    graph
}

/// A circle through `start`, if there is one.
fn circle<'a>(
    graph: &BTreeMap<&'a str, BTreeMap<&'a str, PathBuf>>,
    start: &'a str,
) -> Option<Vec<&'a str>> {
    fn walk<'a>(
        graph: &BTreeMap<&'a str, BTreeMap<&'a str, PathBuf>>,
        start: &'a str,
        path: &mut Vec<&'a str>,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        let here = *path.last().unwrap();
        for next in graph.get(here).into_iter().flat_map(|e| e.keys()) {
            if *next == start {
                return true;
            }
            if seen.insert(next) {
                path.push(next);
                if walk(graph, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    walk(graph, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

fn assert_no_circle(crate_src: &str) {
    let src = workspace_root().join(crate_src);
    let modules = modules(&src);
    assert!(modules.len() > 3, "{crate_src}: modules not found");
    let reexports = reexports(&src, &modules);
    let graph = uses(&modules, &reexports);
    for module in graph.keys() {
        if let Some(path) = circle(&graph, module) {
            let mut steps = Vec::new();
            for (i, from) in path.iter().enumerate() {
                let to = path[(i + 1) % path.len()];
                let file = &graph[from][to];
                steps.push(format!(
                    "{from} -> {to} ({})",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
            panic!(
                "{crate_src}: modules in a circle:\n  {}",
                steps.join("\n  ")
            );
        }
    }
}

/// The files (and folders) of one folder module, each a unit, and which
/// of its siblings each names as `super::<sibling>` (from a file directly in
/// the folder) or `crate::<folder path>::<sibling>`.
fn sibling_uses(src: &Path, dir: &Path) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut units = modules(dir);
    units.remove("mod");
    let prefix = format!(
        "crate::{}::",
        dir.strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('/', "::")
    );
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (unit, files) in &units {
        let edges = graph.entry(unit.clone()).or_default();
        for file in files {
            let text = code(&std::fs::read_to_string(file).unwrap());
            let mut heads = vec![prefix.as_str()];
            if file.parent() == Some(dir) {
                heads.push("super::");
            }
            for head in heads {
                for (at, _) in text.match_indices(head) {
                    // `super::super::x` is not a sibling.
                    if head == "super::" && text[..at].ends_with("super::") {
                        continue;
                    }
                    for name in names_after(&text[at + head.len()..]) {
                        if units.contains_key(&name) && &name != unit {
                            edges.entry(name).or_insert_with(|| file.clone());
                        }
                    }
                }
            }
        }
    }
    graph
}

/// Inside every folder module too, the files run one way.
fn assert_no_sibling_circle(crate_src: &str) {
    let src = workspace_root().join(crate_src);
    let mut dirs = vec![src.clone()];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_dir() {
                continue;
            }
            dirs.push(path.clone());
            let graph = sibling_uses(&src, &path);
            let graph: BTreeMap<&str, BTreeMap<&str, PathBuf>> = graph
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        v.iter().map(|(t, f)| (t.as_str(), f.clone())).collect(),
                    )
                })
                .collect();
            for unit in graph.keys() {
                if let Some(path_found) = circle(&graph, unit) {
                    panic!(
                        "{}: files in a circle: {}",
                        path.strip_prefix(&src).unwrap().display(),
                        path_found.join(" -> ")
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 3, "{crate_src}: folder modules not found");
}

#[test]
fn the_files_of_each_host_folder_form_no_circle() {
    assert_no_sibling_circle("host/src");
}

/// The folder check finds a circle between two files of one folder.
#[test]
fn a_circle_between_sibling_files_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    std::fs::write(engine.join("mod.rs"), "mod pack; mod meta;").unwrap();
    std::fs::write(engine.join("pack.rs"), "use super::meta::Meta;").unwrap();
    std::fs::write(engine.join("meta.rs"), "use crate::engine::{pack, other};").unwrap();
    std::fs::write(engine.join("other.rs"), "use super::super::pack;").unwrap();
    let graph = sibling_uses(dir.path(), &engine);
    assert_eq!(graph["pack"].keys().collect::<Vec<_>>(), ["meta"]);
    assert_eq!(graph["meta"].keys().collect::<Vec<_>>(), ["other", "pack"]);
    assert!(graph["other"].is_empty(), "super::super:: is not a sibling");
}

#[test]
fn host_modules_form_no_circle() {
    assert_no_circle("host/src");
}

#[test]
fn rule_sdk_modules_form_no_circle() {
    assert_no_circle("rule-sdk/src");
}

/// The check itself finds a circle where there is one.
#[test]
fn a_circle_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::X;").unwrap();
    std::fs::write(dir.path().join("b.rs"), "fn f() { crate::c::g() }").unwrap();
    std::fs::write(dir.path().join("c.rs"), "use crate::a;").unwrap();
    std::fs::write(dir.path().join("d.rs"), "use crate::a;").unwrap();
    let modules = modules(dir.path());
    let no_reexports = BTreeMap::new();
    let graph = uses(&modules, &no_reexports);
    assert_eq!(circle(&graph, "a"), Some(vec!["a", "b", "c"]));
    assert_eq!(circle(&graph, "d"), None);
}

/// Also through `crate::{...}` groups and names `lib.rs` re-exports (how
/// rule-sdk's modules name each other: `use crate::{Config, Event}`).
#[test]
fn a_circle_through_a_reexport_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "pub use b::{Bee, Other};").unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::{Bee, c};").unwrap();
    std::fs::write(
        dir.path().join("b.rs"),
        "pub struct Bee; fn f() { crate::c::g() }",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.rs"), "use crate::a::X;").unwrap();
    let modules = modules(dir.path());
    let reexports = reexports(dir.path(), &modules);
    assert_eq!(reexports["Bee"], "b");
    let graph = uses(&modules, &reexports);
    assert_eq!(circle(&graph, "b"), Some(vec!["b", "c", "a"]));
}
