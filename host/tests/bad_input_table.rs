//! The operations guide's "What bad input gets" table names, for each kind
//! of bad input, what the user sees and the test that checks it. A row
//! naming a test that does not exist (renamed, deleted, misspelt) fails
//! here, so the table cannot drift from what is tested.

use k8scop_testkit::{workspace_file, workspace_root};

const GUIDE: &str = "docs/operations.md";
const SECTION: &str = "## What bad input gets";

/// The table's rows under the section heading: (case, the tests named).
fn rows(guide: &str) -> Vec<(String, Vec<String>)> {
    let section = guide
        .split_once(SECTION)
        .unwrap_or_else(|| panic!("{GUIDE} has no `{SECTION}` section"))
        .1;
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .skip(2) // the header and its rule
        .map(|row| {
            let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
            let case = cells.first().unwrap_or(&"").trim().to_string();
            let tests = cells
                .last()
                .unwrap_or(&"")
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (case, tests)
        })
        .collect()
}

#[test]
fn every_row_of_the_bad_input_table_names_tests_that_exist() {
    let guide = std::fs::read_to_string(workspace_file(GUIDE)).unwrap();
    let rows = rows(&guide);
    assert!(
        rows.len() >= 20,
        "the table lists {} cases; it should list every kind of bad input",
        rows.len()
    );
    let mut missing = Vec::new();
    for (case, tests) in &rows {
        assert!(!tests.is_empty(), "row `{case}` names no test");
        for test in tests {
            let (file, name) = test
                .rsplit_once("::")
                .unwrap_or_else(|| panic!("row `{case}`: `{test}` is not `path::test_name`"));
            let source = std::fs::read_to_string(workspace_root().join(file)).unwrap_or_default();
            let defined = source.contains(&format!("fn {name}("));
            // The attribute sits within the few lines above the function.
            let is_test = source
                .split(&format!("fn {name}("))
                .next()
                .is_some_and(|before| {
                    let above: Vec<&str> = before.trim_end().rsplit('\n').take(4).collect();
                    above
                        .iter()
                        .any(|l| l.contains("#[test]") || l.contains("#[tokio::test"))
                });
            if !(defined && is_test) {
                missing.push(format!("row `{case}`: no test `{name}` in {file}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
