//! What bad input and odd settings get: where settings come from (flags,
//! environment, config file, defaults), where the ops endpoints listen,
//! errors said once and on one line, odd rules-folder entries skipped with
//! the reason, and a summary whose counts add up.

mod common;

use std::path::Path;
use std::process::Output;

use clap::Parser;
use common::*;
use k8scop::cli::{Cli, Command};
use k8scop_testkit::{TestCluster, http_get, rules_dir, workspace_file};
use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `run` serves /metrics, /healthz, /readyz and /status on loopback
/// unless told otherwise.
#[test]
fn the_ops_endpoints_listen_on_loopback_by_default() {
    let cli = Cli::try_parse_from(["k8scop", "run"]).unwrap();
    let Command::Run(args) = cli.command else {
        panic!("not run")
    };
    assert!(args.listen.ip().is_loopback(), "{}", args.listen);
    assert_eq!(args.listen.port(), 9464);
    let help = k8scop(&s(&["run", "--help"])).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("[default: 127.0.0.1:9464]"), "{text}");
}

/// The rules folder is named in the error when it cannot be read: which
/// one is read shows where the setting came from.
fn rules_folder_named(config: &Path, env: Option<&str>, flag: Option<&str>) -> String {
    let mut args = s(&["replay", "--input", "/dev/null", "--config"]);
    args.push(config.to_str().unwrap().to_string());
    if let Some(flag) = flag {
        args.extend(s(&["--rules", flag]));
    }
    let mut cmd = k8scop(&args);
    cmd.env_remove("K8SCOP_RULES");
    if let Some(env) = env {
        cmd.env("K8SCOP_RULES", env);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = stderr(&out);
    let folder = stderr
        .split("cannot read the rules folder ")
        .nth(1)
        .unwrap_or_else(|| panic!("no rules folder named: {stderr}"));
    folder.split(':').next().unwrap().to_string()
}

/// A flag beats the environment, which beats the config file, which beats
/// the default.
#[test]
fn a_flag_beats_the_environment_which_beats_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(&config, "rules = \"/nonexistent/from-file\"\n").unwrap();
    assert_eq!(
        rules_folder_named(&config, None, None),
        "/nonexistent/from-file"
    );
    assert_eq!(
        rules_folder_named(&config, Some("/nonexistent/from-env"), None),
        "/nonexistent/from-env"
    );
    assert_eq!(
        rules_folder_named(
            &config,
            Some("/nonexistent/from-env"),
            Some("/nonexistent/from-flag")
        ),
        "/nonexistent/from-flag"
    );
}

/// A fatal error is said once on stderr: not a log line and an `error:`
/// line both, for a config-file error and for an error met while running.
#[test]
fn a_fatal_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(&config, "aggregate-windw = 5\n").unwrap();
    let mut args = s(&["replay", "--input", "/dev/null", "--config"]);
    args.push(config.to_str().unwrap().to_string());
    let out = k8scop(&args).env("K8SCOP_LOG", "info").output().unwrap();
    let text = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(
        text.matches("unknown key `aggregate-windw`").count(),
        1,
        "{text}"
    );

    let out = k8scop(&s(&[
        "replay",
        "--input",
        "/dev/null",
        "--rules",
        "/nonexistent/rules",
    ]))
    .env("K8SCOP_LOG", "info")
    .output()
    .unwrap();
    let text = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(
        text.matches("cannot read the rules folder /nonexistent/rules")
            .count(),
        1,
        "{text}"
    );
}

/// A `.wasm` entry that cannot be a pack (a folder, a symlink loop, a
/// dangling symlink) is skipped and said, with the reason; the packs load.
#[test]
fn odd_rules_folder_entries_are_skipped_with_the_reason() {
    let rules = rules_dir(&["k8scop-classic"]);
    let at = |name: &str| rules.path().join(name);
    std::fs::create_dir(at("folder.wasm")).unwrap();
    std::os::unix::fs::symlink("loop-b.wasm", at("loop-a.wasm")).unwrap();
    std::os::unix::fs::symlink("loop-a.wasm", at("loop-b.wasm")).unwrap();
    std::os::unix::fs::symlink("gone.wasm", at("dangling.wasm")).unwrap();
    let mut args = s(&["rules", "list", "--rules"]);
    args.push(rules.path().to_str().unwrap().to_string());
    let out = k8scop(&args).env("NO_COLOR", "1").output().unwrap();
    let text = stderr(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{stdout}");
    assert!(stdout.contains("k8scop-classic"), "{stdout}");
    let skipped = |name: &str, reason: &str| {
        assert!(
            text.lines()
                .any(|l| l.contains("rules folder entry skipped")
                    && l.contains(&at(name).display().to_string())
                    && l.contains(reason)),
            "{name}: {reason}\n{text}"
        );
    };
    skipped("folder.wasm", "a folder, not a file");
    skipped("loop-a.wasm", "a symlink loop");
    skipped("loop-b.wasm", "a symlink loop");
    skipped("dangling.wasm", "a dangling symlink");
}

/// A number after `label` on a summary line.
fn number_after(summary: &str, label: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line: {summary}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{label}`: {line}"))
}

/// Documents read = documents decoded + documents failed; the events
/// unpacked from a batch are counted on their own line.
#[test]
fn the_summary_counts_add_up() {
    let sample = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let good: Vec<&str> = sample
        .lines()
        .filter(|l| l.contains("\"kind\": \"Event\"") || l.contains("\"kind\":\"Event\""))
        .take(3)
        .collect();
    assert_eq!(good.len(), 3, "three audit events of the sample");
    // The exec of the sample (a rule wants it, so its schema is checked),
    // twice with a wrong-typed field.
    let exec = sample.lines().nth(10).unwrap();
    assert!(
        exec.contains("\"exec\""),
        "line 11 of the sample is the exec"
    );
    let wrong_typed: Vec<String> = (0..2)
        .map(|i| {
            let mut event: Value = serde_json::from_str(exec).unwrap();
            event["sourceIPs"] = Value::from("203.0.113.7");
            event["auditID"] = Value::from(format!("wrong-typed-{i}"));
            event.to_string()
        })
        .collect();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes");
    let list = std::fs::read_to_string(fixtures.join("event-list.jsonl")).unwrap();
    let list = list.lines().next().unwrap();
    let items = serde_json::from_str::<Value>(list).unwrap()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(items, 3);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    let mut lines: Vec<String> = good.iter().map(|l| l.to_string()).collect();
    lines.extend(wrong_typed);
    lines.push(list.to_string());
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let rules = rules_dir(&["k8scop-classic"]);
    let mut args = s(&["replay", "--input"]);
    args.push(input.to_str().unwrap().to_string());
    args.extend(s(&["--output", "/dev/null", "--rules"]));
    args.push(rules.path().to_str().unwrap().to_string());
    let out = k8scop(&args).output().unwrap();
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    let read = number_after(&text, "lines read");
    let decoded = number_after(&text, "decoded");
    let failed = number_after(&text, "failed");
    assert_eq!(read, 6, "{text}");
    assert_eq!((decoded, failed), (4, 2), "{text}");
    assert_eq!(read, decoded + failed, "{text}");
    assert!(
        text.contains("  unpacked     3 events from 1 batch documents (event-list 3)\n"),
        "{text}"
    );
}

/// A garbage `.wasm` dropped into the rules folder is refused with a
/// reason that is one line, in the log and on /status, naming the file.
#[test]
fn a_garbage_pack_is_refused_on_one_line_in_the_log_and_on_status() {
    let cluster = TestCluster::start();
    let logs = cluster.unique_prefix("logs");
    let alerts = cluster.unique_prefix("alerts");
    let rules = rules_dir(&["k8scop-classic"]);
    let args = stream_args(
        &cluster,
        &logs,
        &alerts,
        rules.path().to_str().unwrap(),
        &["--interval", "3600", "--delay", "0"],
    );
    let LoggedRun { child, lines, addr } = LoggedRun::start(&args);
    let garbage = rules.path().join("x.wasm");
    std::fs::write(&garbage, b"(module\n  garbage\n\x00\x01 not a pack\n)\n").unwrap();
    let log_line = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the refusal's log line");
        if line.contains("rule pack refused") {
            break line;
        }
    };
    let mut reason = String::new();
    assert!(
        eventually(30, || {
            let status: Value =
                serde_json::from_str(&http_get(&addr, "/status").1).unwrap_or_default();
            reason = status["refused"][0]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            !reason.is_empty()
        }),
        "x.wasm not refused on /status"
    );
    assert!(!reason.contains('\n'), "{reason}");
    assert!(
        log_line.contains(&garbage.display().to_string()) && log_line.contains(&reason),
        "the log line holds the whole reason: {log_line}\nreason: {reason}"
    );
    let (status, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
}
