//! `k8scop replay --input FILE`: the whole pipeline, file in, alerts out,
//! run as the binary a user runs.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use k8scop_testkit::{alerts_on_stdout, rules_dir, workspace_file};
use serde_json::Value;

fn replay(args: &[&str], rules: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .arg("replay")
        .args(args)
        .arg("--rules")
        .arg(rules)
        .env("K8SCOP_LOG", "warn")
        .output()
        .expect("run k8scop")
}

fn alerts(output: &Output) -> Vec<Value> {
    k8scop_testkit::alerts_on_stdout(output)
}

#[test]
fn sample_raises_the_attack_and_nothing_for_control_plane_chatter() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = workspace_file("samples/audit-sample.jsonl");
    let out = replay(&["--input", sample.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let alerts = alerts(&out);
    let got: BTreeSet<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["user"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("pods-listed-all-namespaces", "alice"),
        ("secrets-listed-all-namespaces", "alice"),
        ("pod-exec", "alice"),
        ("secret-read", "bob"),
        ("pod-deleted", "carol"),
        ("user-sudoed", "dave"),
        ("root-activity", "root"),
        // The webhook batch (EventList), GKE, AKS and EKS (CloudWatch) shapes.
        ("secret-read", "erin"),
        ("pod-exec", "erin"),
        ("pod-exec", "gina@example.com"),
        ("secrets-listed-all-namespaces", "henry@contoso.com"),
        ("secrets-listed", "ivan"),
        ("secret-read", "ivan"),
    ]
    .iter()
    .map(|(r, u)| (format!("k8scop-classic/{r}"), u.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(alerts.len(), want.len(), "one alert per attack step");
    // The control plane and the forbidden create raise nothing.
    assert!(
        alerts
            .iter()
            .all(|a| !a["user"]["name"].as_str().unwrap().starts_with("system:"))
    );
    assert!(alerts.iter().all(|a| a["user"]["name"] != "mallory"));

    let exec = alerts
        .iter()
        .find(|a| a["rule"]["id"] == "k8scop-classic/pod-exec")
        .unwrap();
    assert_eq!(exec["event"]["kind"], "alert");
    assert_eq!(exec["k8scop"]["severity"], "high");
    assert_eq!(exec["container"]["name"], "api");
    assert_eq!(
        exec["process"]["command_line"],
        "/bin/sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    assert_eq!(exec["orchestrator"]["namespace"], "payments");
    assert_eq!(exec["source"]["ip"], "203.0.113.7");
    assert_eq!(exec["@timestamp"], "2024-03-01T10:01:30.120Z");
    assert_eq!(exec["k8scop"]["sources"][0]["line"], 11);
    assert!(
        exec["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "attack.t1609")
    );
    // The id is a field of the document; `_id` is not (it would not load).
    assert_eq!(exec["k8scop"]["alert_id"].as_str().unwrap().len(), 32);
    assert!(exec.get("_id").is_none());

    // The malformed line is counted and named, and the run still succeeds.
    assert!(stderr.contains("lines read   33"), "{stderr}");
    assert!(
        stderr.contains("decoded      32 (audit documents 29: root 23, kubernetes.audit 1, field 1, event-list 1, cloudwatch 1, gke 1, aks 1; other documents 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("failed       1 (lines 22)"), "{stderr}");
    // frank's attach, still open when the log ends, was also logged before
    // the decision: that stage is folded, counted.
    assert!(
        stderr.contains("stages       1 folded: each request counts once, when decided (1 before the decision, 0 later stages)"),
        "{stderr}"
    );
    assert!(stderr.contains("alerts       13"), "{stderr}");
}

#[test]
fn output_is_the_same_whatever_the_batch_size_and_run() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = workspace_file("samples/audit-sample.jsonl");
    // Alike but for `event.ingested`, when each was written.
    let runs: Vec<Vec<Value>> = ["1", "3", "500", "500"]
        .iter()
        .map(|size| {
            let out = replay(
                &["--input", sample.to_str().unwrap(), "--batch-size", size],
                rules.path(),
            );
            assert!(out.status.success());
            alerts_on_stdout(&out)
                .into_iter()
                .map(k8scop_testkit::without_ingested)
                .collect()
        })
        .collect();
    assert!(!runs[0].is_empty());
    assert!(
        runs.windows(2).all(|w| w[0] == w[1]),
        "alerts differ between batch sizes or runs"
    );
}

#[test]
fn writes_to_a_file_and_reads_stdin() {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("alerts.jsonl");
    let sample = std::fs::read(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args([
            "replay",
            "--input",
            "-",
            "--output",
            output.to_str().unwrap(),
            "--rules",
        ])
        .arg(rules.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&sample).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "alerts went to the file, not stdout");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap().lines().count(),
        13
    );
}

#[test]
fn a_forced_event_shape_is_honoured() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = workspace_file("samples/audit-sample.jsonl");
    // With the shape forced to `root`, the kubernetes.audit and log-field
    // events are plain documents: their alerts (bob, carol) disappear.
    let out = replay(
        &["--input", sample.to_str().unwrap(), "--event-shape", "root"],
        rules.path(),
    );
    assert!(out.status.success());
    let users: BTreeSet<String> = alerts(&out)
        .iter()
        .map(|a| a["user"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !users.contains("bob") && !users.contains("carol"),
        "{users:?}"
    );
    assert!(users.contains("alice"));
    let bad = replay(
        &[
            "--input",
            sample.to_str().unwrap(),
            "--event-shape",
            "sideways",
        ],
        rules.path(),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown event shape"));
}

#[test]
fn an_empty_rules_folder_is_an_error_not_a_silent_run() {
    let empty = tempfile::tempdir().unwrap();
    let sample = workspace_file("samples/audit-sample.jsonl");
    let out = replay(&["--input", sample.to_str().unwrap()], empty.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rule loaded"));
    // The Sigma pack with no Sigma file beside it has no rule either.
    let idle = rules_dir(&["k8scop-sigma"]);
    let out = replay(&["--input", sample.to_str().unwrap()], idle.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no rule loaded") && stderr.contains("needs Sigma .yml files"),
        "{stderr}"
    );
}

/// An audit event whose fields have the wrong types (a string where the
/// schema has a list) reaches no pack: it is counted and named as
/// malformed, and the documents around it are evaluated as usual.
#[test]
fn an_audit_event_of_the_wrong_schema_is_counted_as_malformed() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let exec = sample.lines().nth(10).unwrap();
    assert!(
        exec.contains("\"exec\""),
        "line 11 of the sample is the exec"
    );
    let mut wrong: Value = serde_json::from_str(exec).unwrap();
    wrong["sourceIPs"] = Value::from("203.0.113.7");
    wrong["auditID"] = Value::from("wrong-schema");
    // Another request of the same command (each request counts once).
    let mut again: Value = serde_json::from_str(exec).unwrap();
    again["auditID"] = Value::from("again");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, format!("{exec}\n{wrong}\n{again}\n")).unwrap();

    let out = replay(
        &["--input", input.to_str().unwrap(), "--batch-size", "3"],
        rules.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Read once, decoded or failed, never both: 3 = 2 + 1.
    assert!(stderr.contains("lines read   3"), "{stderr}");
    assert!(stderr.contains("decoded      2 "), "{stderr}");
    assert!(stderr.contains("failed       1 (lines 2)"), "{stderr}");
    assert!(
        stderr.contains("line 2: looks like root audit data but does not decode: not an audit event of the audit.k8s.io schema"),
        "{stderr}"
    );
    // Both good lines raised the exec alert (merged into one aggregate).
    let alerts = alerts(&out);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"]["id"], "k8scop-classic/pod-exec");
    assert_eq!(alerts[0]["k8scop"]["count"], 2, "{}", alerts[0]);
}

/// `--output` naming the input file (spelled alike, or through another
/// path to the same file) is refused before anything is opened for
/// writing: the log is left whole.
#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_left_whole() {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.jsonl");
    let sample = std::fs::read(workspace_file("samples/audit-sample.jsonl")).unwrap();
    std::fs::write(&input, &sample).unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let dotted = dir.path().join(".").join("audit.jsonl");
    for output in [&input, &link, &dotted] {
        let out = replay(
            &[
                "--input",
                input.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ],
            rules.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", output.display());
        assert!(stderr.contains("is the input file"), "{stderr}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            sample,
            "the input is intact"
        );
    }
}

/// Audit events in the managed clouds' and the webhook's shapes reach the
/// packs through the real binary: a secrets listing in a GKE entry, in an
/// AKS record, in a CloudWatch envelope and in an EventList, and an exec
/// in a GKE entry, each alert pointing back at its own line (and item).
#[test]
fn events_of_every_shape_raise_alerts() {
    let rules = rules_dir(&["k8scop-classic"]);
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes");
    let read = |file: &str| std::fs::read_to_string(fixtures.join(file)).unwrap();
    // gke.jsonl: an exec (line 1), a secrets list (line 2); aks.jsonl: a
    // secrets list across namespaces (line 3); event-list.jsonl's first: an
    // exec logged at two stages (it counts once) and a secrets list across
    // namespaces (line 4); cloudwatch.jsonl's first: a secrets list and an
    // exec (line 5).
    let input = [
        read("gke.jsonl")
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n"),
        read("aks.jsonl").lines().next().unwrap().to_string(),
        read("event-list.jsonl").lines().next().unwrap().to_string(),
        read("cloudwatch.jsonl").lines().next().unwrap().to_string(),
    ]
    .join("\n");
    let path = dir.path().join("shapes.jsonl");
    std::fs::write(&path, input + "\n").unwrap();
    let out = replay(&["--input", path.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "decoded      5 (audit documents 5: event-list 1, cloudwatch 1, gke 2, aks 1; other documents 0)\n"
        ) && stderr.contains("  unpacked     5 events from 2 batch documents (event-list 3, cloudwatch 2)\n"),
        "{stderr}"
    );
    let alerts = alerts(&out);
    let got: BTreeSet<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            let source = &a["k8scop"]["sources"][0];
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["user"]["name"].as_str().unwrap().to_string(),
                format!("{}#{}", source["line"], source["item"]),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("pod-exec", "nina@acme.example", "1#null"),
        ("secrets-listed", "nina@acme.example", "2#null"),
        (
            "secrets-listed-all-namespaces",
            "paul@contoso.example",
            "3#null",
        ),
        // The exec counts at its start (item 0), its completion is folded.
        ("pod-exec", "jack", "4#0"),
        ("secrets-listed-all-namespaces", "jack", "4#2"),
        (
            "secrets-listed",
            "arn:aws:sts::111122223333:assumed-role/dev/lee",
            "5#0",
        ),
        (
            "pod-exec",
            "arn:aws:sts::111122223333:assumed-role/dev/lee",
            "5#1",
        ),
    ]
    .iter()
    .map(|(r, u, s)| (format!("k8scop-classic/{r}"), u.to_string(), s.to_string()))
    .collect();
    assert_eq!(got, want, "{alerts:#?}");
}

/// A batch with one bad item: the others are evaluated, the bad one is
/// counted as failed and named by its line and position; a GKE entry whose
/// method does not parse is a failure too, never a plain document.
#[test]
fn a_bad_item_of_a_batch_is_counted_by_position_and_the_others_alert() {
    let rules = rules_dir(&["k8scop-classic"]);
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes");
    let list = std::fs::read_to_string(fixtures.join("event-list.jsonl")).unwrap();
    let mut list: Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    list["items"][1] = Value::from("not an event");
    let gke = std::fs::read_to_string(fixtures.join("gke.jsonl")).unwrap();
    let mut gke: Value = serde_json::from_str(gke.lines().next().unwrap()).unwrap();
    gke["protoPayload"]["methodName"] = Value::from("io.k8s.core.pods.exec.create");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, format!("{list}\n{gke}\n")).unwrap();
    let out = replay(&["--input", path.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The batch is a decoded document; its bad item fails on its own.
    assert!(stderr.contains("failed       1 (lines 2)"), "{stderr}");
    assert!(
        stderr.contains("  unpacked     2 events from 1 batch documents (event-list 2); 1 items failed\n    line 1: item 1: looks like event-list audit data but does not decode"),
        "{stderr}"
    );
    assert!(
        stderr.contains("    line 2: looks like gke audit data but does not decode: methodName"),
        "{stderr}"
    );
    assert!(
        stderr.contains("decoded      1 (audit documents 1: event-list 1; other documents 0)"),
        "{stderr}"
    );
    let rules: BTreeSet<String> = alerts(&out)
        .iter()
        .map(|a| a["rule"]["id"].as_str().unwrap().to_string())
        .collect();
    // The exec counts at its start (item 0), the request decided there;
    // item 2 lists the secrets.
    assert_eq!(
        rules,
        BTreeSet::from([
            "k8scop-classic/pod-exec".to_string(),
            "k8scop-classic/secrets-listed-all-namespaces".to_string()
        ])
    );
}

/// What a GKE entry is translated into reaches the rules that read it: the
/// request body (a privileged container in a Deployment), the gRPC status
/// (PERMISSION_DENIED is a 403), the API group from a reversed-domain
/// method (rbac.authorization.k8s.io).
#[test]
fn gke_entries_feed_bodies_status_codes_and_groups_to_the_packs() {
    let rules = rules_dir(&["k8scop-falco", "k8scop-sigma-elastic"]);
    let gke =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes/gke.jsonl");
    let out = replay(&["--input", gke.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got: BTreeSet<(String, u64)> = alerts(&out)
        .iter()
        .map(|a| {
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["k8scop"]["sources"][0]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    for want in [
        ("k8scop-falco/privileged-pod", 3),
        ("k8scop-falco/secret-get-failed", 4),
        ("k8scop-sigma-elastic/request-forbidden", 4),
        ("k8scop-falco/clusterrolebinding-created", 5),
        ("k8scop-falco/pod-exec-attach", 1),
    ] {
        assert!(
            got.contains(&(want.0.to_string(), want.1)),
            "{want:?} in {got:?}"
        );
    }
}

/// Secrets stay out of what k8scop prints: `--help` does not show the
/// values of the URL (it may carry credentials) or of secret variables,
/// and a config file's syntax error names the line and key, not the value.
#[test]
fn help_and_config_errors_show_no_secret() {
    let help = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["replay", "--help"])
        .env("K8SCOP_ES_URL", "http://u:PwUrl123@es:9200")
        .env("K8SCOP_ES_PASSWORD", "PwEnv456")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    assert!(text.contains("--es-url"), "{text}");
    assert!(
        !text.contains("PwUrl123") && !text.contains("PwEnv456"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(
        &config,
        "es-url = \"http://es:9200\"\nes-password = \"PwSecret987\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .arg("--config")
        .arg(&config)
        .args(["replay", "--input", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("PwSecret987"), "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("es-password"),
        "{stderr}"
    );
}

/// A replay whose rules folder holds a file that is not a valid pack stops
/// (its report would be silently incomplete), unless the operator asks for
/// it with --allow-refused-packs; the other packs then run.
#[test]
fn a_refused_pack_stops_a_replay_unless_allowed() {
    let rules = rules_dir(&["k8scop-classic"]);
    std::fs::write(rules.path().join("broken.wasm"), b"not a component").unwrap();
    let sample = workspace_file("samples/audit-sample.jsonl");
    let out = replay(&["--input", sample.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken.wasm of the rules folder is refused")
            && stderr.contains("--allow-refused-packs"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no alert written");

    let out = replay(
        &["--input", sample.to_str().unwrap(), "--allow-refused-packs"],
        rules.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!alerts(&out).is_empty());
}

/// A config file key that names no flag is an error naming the file, the
/// key and the closest flag: ignored, it would leave the default on.
#[test]
fn a_misspelt_config_key_is_an_error_naming_the_closest_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("k8scop.toml");
    std::fs::write(&config, "batch-size = 100\naggregate-windw = 5\n").unwrap();
    let run = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .arg("--config")
            .arg(config)
            .args(["replay", "--input", "/dev/null", "--rules"])
            .arg(rules_dir(&["k8scop-classic"]).path())
            .output()
            .unwrap()
    };
    let out = run(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("k8scop.toml")
            && stderr.contains("unknown key `aggregate-windw` (did you mean `aggregate-window`?)"),
        "{stderr}"
    );
    std::fs::write(&config, "batch-size = 100\naggregate_window = 5\n").unwrap();
    let out = run(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An event whose stage time does not parse is dated by its next time
/// (when the request was received), never by the clock, and counted.
#[test]
fn a_bad_stage_time_falls_back_to_the_events_other_times_never_the_clock() {
    let rules = rules_dir(&["k8scop-classic"]);
    let sample = std::fs::read_to_string(workspace_file("samples/audit-sample.jsonl")).unwrap();
    let mut exec: Value = serde_json::from_str(sample.lines().nth(10).unwrap()).unwrap();
    assert_eq!(exec["objectRef"]["subresource"], "exec");
    exec["stageTimestamp"] = Value::from("yesterday");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, format!("{exec}\n")).unwrap();
    let out = replay(&["--input", input.to_str().unwrap()], rules.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let alerts = alerts(&out);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["@timestamp"], "2024-03-01T10:01:30.100Z",
        "the requestReceivedTimestamp"
    );
    assert!(
        stderr.contains("times        1 events dated by their next time"),
        "{stderr}"
    );
}
