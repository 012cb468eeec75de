//! The command line's shape (clap). Every flag has an environment variable
//! (`K8SCOP_...`) and a config-file key of the same name.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::time::{parse_seconds, parse_time};
use crate::decode::EventShape;

#[derive(Debug, Parser)]
#[command(
    name = "k8scop",
    version,
    about = "Detection rules (sandboxed WebAssembly) over Kubernetes audit logs"
)]
pub struct Cli {
    /// Configuration file (TOML): flag names as keys. Flags and environment
    /// variables win over it.
    #[arg(long, global = true, env = "K8SCOP_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "K8SCOP_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the rules over a recorded time range (from Elasticsearch) or a
    /// JSON-lines file, and write the alerts.
    Replay(ReplayArgs),
    /// Follow Elasticsearch live: every interval, evaluate what arrived.
    Run(RunArgs),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run a pack on test cases offline, reporting pass/fail per case.
    Test {
        /// The pack (.wasm component); or Sigma rules: a .yml/.yaml file,
        /// or a folder of them, run by the k8scop-sigma pack.
        pack: PathBuf,
        /// The cases file (JSON).
        cases: PathBuf,
        /// Fail unless every rule has a must-fire and a must-not-fire case.
        #[arg(long)]
        require_coverage: bool,
        /// Also write the alert documents the cases' alerts make (JSON
        /// lines, as `replay --output` writes them): what the rules' alerts
        /// will look like in Elasticsearch.
        #[arg(long)]
        alerts_out: Option<PathBuf>,
        /// The pack that runs Sigma rules (when PACK is Sigma): by
        /// default k8scop-sigma.wasm next to the rules, else in `rules/`.
        #[arg(long, env = "K8SCOP_SIGMA_PACK")]
        sigma_pack: Option<PathBuf>,
    },
    /// Load every pack of the rules folder and list packs and rules, with
    /// the audit level each rule needs.
    List {
        #[command(flatten)]
        rules: RulesArgs,
        /// Check this audit Policy (the API server's --audit-policy-file)
        /// against what each rule needs: exits 1 and names every rule the
        /// Policy leaves blind, and any secret bodies it logs.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Folder of rule packs (.wasm). Several, in order: repeat the flag,
    /// or separate them with `:` (K8SCOP_RULES=/a:/b), or give a list in
    /// the config file. A pack in a later folder replaces (shadows) the
    /// pack of the same name of an earlier one.
    #[arg(long, default_value = "rules", env = "K8SCOP_RULES", value_delimiter = ':', action = clap::ArgAction::Append)]
    pub rules: Vec<PathBuf>,
    /// TOML file of per-pack configuration: a table per pack name.
    #[arg(long, env = "K8SCOP_PACK_CONFIG")]
    pub pack_config: Option<PathBuf>,
    /// Memory a pack may use, in MiB.
    #[arg(long, default_value_t = 256, env = "K8SCOP_PACK_MEMORY_MIB")]
    pub pack_memory_mib: usize,
    /// Time one batch may take in one pack, in milliseconds.
    #[arg(long, default_value_t = 5000, env = "K8SCOP_PACK_BATCH_TIMEOUT_MS")]
    pub pack_batch_timeout_ms: u64,
    /// Folder of compiled packs, by content hash, for fast restarts:
    /// created 0700; never loaded from if another user owns it or group or
    /// others may write it or its entries. Default:
    /// $XDG_STATE_HOME/k8scop/module-cache, else
    /// $HOME/.local/state/k8scop/module-cache, else
    /// <temporary folder>/k8scop-<uid>/module-cache.
    #[arg(long, default_value_os_t = crate::engine::default_module_cache(), env = "K8SCOP_MODULE_CACHE")]
    pub module_cache: PathBuf,
    /// Compile packs at every load instead.
    #[arg(long, env = "K8SCOP_NO_MODULE_CACHE")]
    pub no_module_cache: bool,
    /// Threads that evaluate packs and decode documents. Default: the
    /// cores of the container's CPU limit (cgroup cpu.max, or v1's
    /// cpu.cfs_quota_us), at most the CPUs available. The alerts are the
    /// same, in the same order, whatever the number.
    #[arg(long, value_parser = parse_threads, env = "K8SCOP_THREADS")]
    pub threads: Option<usize>,
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => {
            Err("must be at least 1 (leave it unset for the cores the container may use)".into())
        }
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a number of threads: {e}")),
    }
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Where the audit event sits in a document: auto (each document
    /// recognised by its shape), or one forced: root, kubernetes.audit,
    /// field:<name> (e.g. field:log), event-list (webhook EventList),
    /// cloudwatch (CloudWatch Logs envelope, EKS), gke (Cloud Logging
    /// entry), aks (Azure diagnostic record, properties.log).
    #[arg(long, default_value = "auto", env = "K8SCOP_EVENT_SHAPE")]
    pub event_shape: EventShape,
    /// Documents per batch handed to each pack.
    #[arg(long, default_value_t = 500, env = "K8SCOP_BATCH_SIZE")]
    pub batch_size: usize,
    /// D, in seconds: an alert repeating within D of the last one of the
    /// same rule and group is merged into it (K8sCop's -D).
    #[arg(long, default_value = "600", value_parser = parse_seconds, env = "K8SCOP_AGGREGATE_WINDOW")]
    pub aggregate_window: Duration,
    /// How many source documents an alert lists (its count stays exact).
    #[arg(long, default_value_t = 20, env = "K8SCOP_MAX_SOURCES")]
    pub max_sources: usize,
    /// Control-plane chatter (leases, informer watches, node and pod
    /// status, health probes): off, drop (counted, never evaluated) or
    /// label (annotated k8scop.io/chatter).
    #[arg(long, value_enum, default_value_t = crate::chatter::ChatterMode::Off, env = "K8SCOP_CHATTER_FILTER")]
    pub chatter_filter: crate::chatter::ChatterMode,
    /// TOML file of extra chatter rules ([[rule]] tables), added to the
    /// built-in ones.
    #[arg(long, env = "K8SCOP_CHATTER_RULES")]
    pub chatter_rules: Option<PathBuf>,
    /// The stages your audit Policy's `omitStages` leaves out (comma-
    /// separated, or `none`). Each request counts once, at the first
    /// stage that carries the API server's decision (ResponseStarted for
    /// exec, attach, port-forward, proxy and watch, so an open shell alerts
    /// while it is open); this says which later stages to wait for. The
    /// default matches the shipped Policy.
    #[arg(long, default_value = "RequestReceived", value_parser = parse_stages, env = "K8SCOP_AUDIT_OMIT_STAGES")]
    pub audit_omit_stages: OmittedStages,
    /// How long, in seconds, a request counted at ResponseStarted is
    /// remembered when its ResponseComplete never comes (a session left
    /// open): a later stage after that counts again.
    #[arg(long, default_value = "86400", value_parser = parse_seconds, env = "K8SCOP_REQUEST_HORIZON")]
    pub request_horizon: Duration,
    /// The cluster's name, for alert documents (orchestrator.cluster.name).
    /// Unset, a document's managed-cloud envelope names it where it can
    /// (EKS log group, GKE resource labels, AKS resourceId, Elastic Agent).
    #[arg(long, env = "K8SCOP_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// The document field that names each document's cluster, when a
    /// fleet's audit logs share one index (e.g. orchestrator.cluster.name,
    /// kubernetes.cluster.name; nested or dotted keys). Alerts, their
    /// aggregation and the packs' per-identity state are then per cluster;
    /// --cluster-name is the name of documents that carry none.
    #[arg(long, env = "K8SCOP_CLUSTER_FIELD")]
    pub cluster_field: Option<String>,
}

/// The audit stages a Policy omits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmittedStages(pub Vec<crate::request_once::Stage>);

fn parse_stages(text: &str) -> Result<OmittedStages, String> {
    if matches!(text.trim(), "" | "none") {
        return Ok(OmittedStages(Vec::new()));
    }
    text.split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map(OmittedStages)
}

#[derive(Debug, Args)]
pub struct EsArgs {
    /// Elasticsearch or OpenSearch URL. Its value is not shown in `--help`:
    /// a URL may carry credentials (`https://user:password@...`).
    #[arg(long, env = "K8SCOP_ES_URL", hide_env_values = true)]
    pub es_url: Option<String>,
    #[arg(long, env = "K8SCOP_ES_USERNAME")]
    pub es_username: Option<String>,
    /// Prefer --es-password-file or the environment: flags show in `ps`.
    #[arg(long, env = "K8SCOP_ES_PASSWORD", hide_env_values = true)]
    pub es_password: Option<String>,
    #[arg(long, env = "K8SCOP_ES_PASSWORD_FILE")]
    pub es_password_file: Option<PathBuf>,
    /// API key, encoded (base64 of id:key).
    #[arg(long, env = "K8SCOP_ES_API_KEY", hide_env_values = true)]
    pub es_api_key: Option<String>,
    #[arg(long, env = "K8SCOP_ES_API_KEY_FILE")]
    pub es_api_key_file: Option<PathBuf>,
    #[arg(long, env = "K8SCOP_ES_BEARER_TOKEN", hide_env_values = true)]
    pub es_bearer_token: Option<String>,
    #[arg(long, env = "K8SCOP_ES_BEARER_TOKEN_FILE")]
    pub es_bearer_token_file: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long, env = "K8SCOP_ES_CA_FILE")]
    pub es_ca_file: Option<PathBuf>,
    /// Accept any TLS certificate. For tests only.
    #[arg(long, env = "K8SCOP_ES_INSECURE_SKIP_VERIFY")]
    pub es_insecure_skip_verify: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Log indices are daily: <prefix>-YYYY.MM.DD (K8sCop's -I).
    #[arg(long, env = "K8SCOP_LOGS_PREFIX", conflicts_with = "logs_pattern")]
    pub logs_prefix: Option<String>,
    /// Or any index pattern / data stream, e.g. logs-kubernetes.audit_logs-*.
    #[arg(long, env = "K8SCOP_LOGS_PATTERN")]
    pub logs_pattern: Option<String>,
    /// The documents' time field.
    #[arg(long, default_value = "@timestamp", env = "K8SCOP_TIME_FIELD")]
    pub time_field: String,
    /// An extra filter (Elasticsearch query DSL, JSON), e.g.
    /// '{"term":{"origin":"audit"}}'.
    #[arg(long, env = "K8SCOP_QUERY")]
    pub query: Option<String>,
    /// Documents per search page (at most 10000).
    #[arg(long, default_value_t = 5000, env = "K8SCOP_PAGE_SIZE")]
    pub page_size: usize,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Alerts go to daily indices <prefix>-YYYY.MM.DD (K8sCop's -i).
    #[arg(long, default_value = "k8scop-alerts", env = "K8SCOP_ALERTS_PREFIX")]
    pub alerts_prefix: String,
    /// How long alert indices are kept: an age (90d, 12h, ...) after which
    /// a lifecycle policy installed at start (ILM on Elasticsearch, ISM on
    /// OpenSearch) deletes each daily index; 0 or off installs none.
    #[arg(long, default_value = crate::es::retention::DEFAULT_RETENTION, env = "K8SCOP_ALERTS_RETENTION")]
    pub alerts_retention: crate::es::retention::Retention,
    /// Where alerts Elasticsearch refuses for good are kept (JSON lines).
    #[arg(long, env = "K8SCOP_DEAD_LETTER")]
    pub dead_letter: Option<PathBuf>,
    /// How often growing alerts are rewritten, in seconds.
    #[arg(long, default_value = "1", value_parser = parse_seconds, env = "K8SCOP_FLUSH_INTERVAL")]
    pub flush_interval: Duration,
    #[arg(long, default_value_t = 1000, env = "K8SCOP_BULK_MAX_DOCS")]
    pub bulk_max_docs: usize,
    #[arg(long, default_value_t = 5 << 20, env = "K8SCOP_BULK_MAX_BYTES")]
    pub bulk_max_bytes: usize,
    /// The most one alert write may take, retries included (seconds); then
    /// the run stops naming the index, and the unwritten alerts are written
    /// again from the checkpoint at the next start.
    #[arg(long, default_value = "60", value_parser = parse_seconds, env = "K8SCOP_WRITE_TIMEOUT")]
    pub write_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSON-lines input instead of Elasticsearch: audit events, other log
    /// documents or search hits (`-` for stdin).
    #[arg(long, short = 'f', conflicts_with_all = ["from", "to"])]
    pub input: Option<PathBuf>,
    /// Start of the range (RFC 3339, or K8sCop's 2019-2-12-12-30-0 in UTC).
    #[arg(long, value_parser = parse_time, requires = "to")]
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive.
    #[arg(long, value_parser = parse_time, requires = "from")]
    pub to: Option<DateTime<Utc>>,
    /// Write alerts as JSON lines here (`-` for stdout) instead of to
    /// Elasticsearch. The default with --input.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Replay even when the rules folder holds a file that is not a valid
    /// pack (it is refused, and its rules do not run): without this flag
    /// such a replay stops, since its alerts would be silently incomplete.
    #[arg(long, env = "K8SCOP_ALLOW_REFUSED_PACKS")]
    pub allow_refused_packs: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where `run` serves its operator endpoints unless told: this host only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// d, in seconds: how often to read what arrived (K8sCop's -d).
    #[arg(long, default_value = "5", value_parser = parse_seconds, env = "K8SCOP_INTERVAL")]
    pub interval: Duration,
    /// Read only up to now minus this (seconds): shippers index late.
    #[arg(long, default_value = "30", value_parser = parse_seconds, env = "K8SCOP_DELAY")]
    pub delay: Duration,
    /// Re-read this much before the cursor (seconds) to catch documents
    /// indexed even later; those already seen are skipped.
    #[arg(long, default_value = "300", value_parser = parse_seconds, env = "K8SCOP_OVERLAP")]
    pub overlap: Duration,
    /// Where to start when there is no checkpoint (default: now). No
    /// document before it is evaluated: the overlap that re-reads late
    /// documents never reaches before the start. The first window ends at
    /// now minus --delay, so with the default start it comes --delay after.
    #[arg(long, value_parser = parse_time, env = "K8SCOP_START")]
    pub start: Option<DateTime<Utc>>,
    /// Name of this sidecar's checkpoint (one per sidecar watching the
    /// same alert prefix). With --partition, the name replicas sharing the
    /// partitions have in common.
    #[arg(long, default_value = "default", env = "K8SCOP_INSTANCE")]
    pub instance: String,
    /// Serve /metrics, /healthz, /readyz and /status here. Loopback by
    /// default: in a pod, set the pod's address (or 0.0.0.0) so the probes
    /// and Prometheus reach it.
    #[arg(long, default_value = DEFAULT_LISTEN, env = "K8SCOP_LISTEN")]
    pub listen: std::net::SocketAddr,
    /// After SIGTERM, how long (seconds) the window being read and the
    /// alert writes may take to finish; then requests still in flight are
    /// cancelled (the window is read again at the next start) and k8scop
    /// exits. Keep it under the pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "10", value_parser = parse_seconds, env = "K8SCOP_SHUTDOWN_GRACE")]
    pub shutdown_grace: Duration,
    /// A partition of the logs, NAME=QUERY; repeat it for each. Replicas
    /// sharing an --instance split the partitions, each read (with its own
    /// checkpoint) by the replica holding its lease. QUERY is
    /// field:value1,value2, query DSL (JSON), or * for every document no
    /// other partition matches. Several in the environment: `;` between.
    /// None: this process reads everything, alone.
    #[arg(long = "partition", env = "K8SCOP_PARTITION", value_delimiter = ';', action = clap::ArgAction::Append)]
    pub partitions: Vec<crate::replicas::PartitionSpec>,
    /// With --partition: how long (seconds) a replica's lease on a
    /// partition lasts unrenewed. Renewed every third of it; a replica
    /// that dies loses its partitions this long after its last renewal.
    #[arg(long, default_value = "30", value_parser = parse_seconds, env = "K8SCOP_LEASE_TTL")]
    pub lease_ttl: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What replay and run share: rules, the pipeline, both ends.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub es: EsArgs,
    #[command(flatten)]
    pub logs: LogsArgs,
    #[command(flatten)]
    pub alerts: AlertsArgs,
}
