//! One way to build the packs: `scripts/build-packs.sh`. The Dockerfile,
//! the Makefile and the tests' own pack builds (the testkit, so CI runs the
//! script on every `make test`) call it, and no second copy of the
//! wasm32-wasip2 build line drifts beside it.

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// A cargo build for the pack target: `--target wasm32-wasip2`, the
/// Makefile's `--target $(WASM_TARGET)`, or the script's `--target "$target"`.
fn builds_packs(line: &str) -> bool {
    let line = line.trim_start();
    !line.starts_with('#')
        && line.contains("build")
        && [
            "--target wasm32-wasip2",
            "--target $(WASM_TARGET)",
            "--target \"$target\"",
            "\"--target\", \"wasm32-wasip2\"",
        ]
        .iter()
        .any(|t| line.contains(t))
}

#[test]
fn the_pack_build_line_lives_only_in_the_script() {
    let script = read("scripts/build-packs.sh");
    assert_eq!(
        script.lines().filter(|l| builds_packs(l)).count(),
        1,
        "the script builds the packs with one cargo line"
    );
    for file in ["Dockerfile", "Makefile", ".ci/run", "tests/src/lib.rs"] {
        let text = read(file);
        let copies: Vec<&str> = text.lines().filter(|l| builds_packs(l)).collect();
        assert!(
            copies.is_empty(),
            "{file} builds packs itself instead of calling scripts/build-packs.sh: {copies:?}"
        );
    }
}

/// The tests build their packs with the script: CI runs it.
#[test]
fn the_tests_build_their_packs_with_the_script() {
    let testkit = read("tests/src/lib.rs");
    assert!(testkit.contains("scripts/build-packs.sh"));
    let wasm =
        k8scop_testkit::build_wasm(&k8scop_testkit::workspace_root(), &["-p", "k8scop-classic"]);
    assert!(wasm.ends_with("wasm32-wasip2/release/k8scop_classic.wasm"));
}

#[test]
fn the_dockerfile_and_the_makefile_call_the_script() {
    let docker = read("Dockerfile");
    assert!(
        docker
            .lines()
            .any(|l| !l.trim_start().starts_with('#')
                && l.contains("scripts/build-packs.sh /out/rules")),
        "the image's packs come from the script"
    );
    let make = read("Makefile");
    let target = |name: &str| -> String {
        make.split(&format!("\n{name}:"))
            .nth(1)
            .unwrap_or_else(|| panic!("no `{name}` target"))
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('\t'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for name in ["packs", "pack"] {
        assert!(
            target(name).contains("scripts/build-packs.sh"),
            "`make {name}` calls the script: {}",
            target(name)
        );
    }
    // CI is `make test`; the packs it needs are built by the testkit.
    assert!(read(".ci/run").contains("make test"));
}

/// The script builds what the Makefile's PACKS names: every crate under
/// rules-wasm/, and is executable (the Dockerfile runs it directly).
#[test]
fn the_script_is_executable_and_covers_every_pack_crate() {
    use std::os::unix::fs::PermissionsExt;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mode = std::fs::metadata(root.join("scripts/build-packs.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "scripts/build-packs.sh is executable");
    let script = read("scripts/build-packs.sh");
    assert!(script.contains("rules-wasm/*/"), "every crate by default");
    assert!(
        script.contains("rustup target add"),
        "the target added if missing"
    );
}
