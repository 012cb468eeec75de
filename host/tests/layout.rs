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

/// Which other top-level modules each module names as `crate::<module>`,
/// with a file that does.
fn uses(modules: &BTreeMap<String, Vec<PathBuf>>) -> BTreeMap<&str, BTreeMap<&str, PathBuf>> {
    let mut graph = BTreeMap::new();
    for (module, files) in modules {
        let edges: &mut BTreeMap<&str, PathBuf> = graph.entry(module.as_str()).or_default();
        for file in files {
            // Code only: a doc comment's link is not a dependency.
            let text: String = std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some((target, _)) = modules.get_key_value(&name)
                    && target != module
                {
                    edges.entry(target.as_str()).or_insert_with(|| file.clone());
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
    let graph = uses(&modules);
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
    let graph = uses(&modules);
    assert_eq!(circle(&graph, "a"), Some(vec!["a", "b", "c"]));
    assert_eq!(circle(&graph, "d"), None);
}
