//! The rule engine: loads rule packs (WebAssembly components) and evaluates
//! batches of decoded documents with them.
//!
//! Cost model (measured): parsing an event's JSON, not the call boundary,
//! is the price of rules. So the host parses each event once, natively, for
//! all packs, and hands each pack a batch (`batch.rs`) whose events it reads
//! without parsing: never one call per event, and only the events some rule
//! of the pack is interested in.

mod admission;
mod batch;
mod evaluate;
pub use evaluate::MAX_BATCHES_AT_ONCE;
mod folders;
mod instance;
mod interest;
mod meta;
mod module_cache;
mod pack;
mod registry;
mod sandbox;
mod settings;
mod sigma_files;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rule_sdk::bindings::k8scop::rules::types::TextField;
use wasmtime::component::{HasSelf, Linker};

pub use admission::{admit_alerts, check_alert_limits};
use batch::BatchText;
pub use interest::{EventFacts, PackInterest};
pub use meta::PackMeta;
pub use module_cache::default_dir as default_module_cache;
pub use pack::{LoadedPack, PackCounters};
pub use registry::{Shadowed, SyncReport};
use sandbox::PackState;
pub use sandbox::{PackConfig, SandboxLimits};

/// The Sigma files (`.yml`, `.yaml`) of one folder, in name order.
pub fn sigma_files_of(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    folders::sigma_files(&[dir.to_path_buf()])
}

use crate::contract::{Alert, EventContext, Pack, PackInfo, RuleInfo, Severity};
use crate::decode::DecodedDoc;
use crate::workers::Workers;

/// Granularity of the per-batch time budget.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum PackError {
    #[error("refused: {0}")]
    Load(String),
    #[error("{0}")]
    Trap(String),
    #[error("evaluate() returned an error: {0}")]
    Failed(String),
    #[error("{0}")]
    Limit(String),
    #[error("quarantined: {0}")]
    Quarantined(String),
}

impl PackError {
    /// The same error said on one line (see [`one_line`]).
    pub fn one_line(self) -> Self {
        match self {
            PackError::Load(m) => PackError::Load(one_line(&m)),
            PackError::Trap(m) => PackError::Trap(one_line(&m)),
            PackError::Failed(m) => PackError::Failed(one_line(&m)),
            PackError::Limit(m) => PackError::Limit(one_line(&m)),
            PackError::Quarantined(m) => PackError::Quarantined(one_line(&m)),
        }
    }
}

/// `text` on one line: each run of whitespace holding a line break (a
/// parser's source excerpt, a backtrace) becomes one space, so a log line
/// and a `/status` reason stay one line each.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// Operator settings for the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub limits: SandboxLimits,
    /// Configuration values per pack name.
    pub pack_config: BTreeMap<String, BTreeMap<String, String>>,
    /// Where compiled packs are cached (see `module_cache`); none: compile
    /// at every load.
    pub cache_dir: Option<PathBuf>,
    /// Give every pack every document, ignoring the interests the packs
    /// declared (only to measure what the interest filter saves).
    pub evaluate_everything: bool,
}

/// An alert raised by a pack, pointing at the document that triggered it.
#[derive(Debug, Clone)]
pub struct RaisedAlert {
    pub pack: Arc<PackMeta>,
    pub alert: Alert,
    /// Index of the triggering document in the batch given to `evaluate`.
    pub doc_index: usize,
}

/// A pack that could not evaluate a batch, even on a fresh instance.
#[derive(Debug, Clone)]
pub struct PackFailure {
    pub pack: String,
    pub error: PackError,
    /// How many documents of the batch the pack did not evaluate.
    pub documents: usize,
}

/// An alert refused because it did not make sense (unknown rule id, event
/// index out of range): counted and reported, never silently dropped.
#[derive(Debug, Clone)]
pub struct RejectedAlert {
    pub pack: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub alerts: Vec<RaisedAlert>,
    pub failures: Vec<PackFailure>,
    pub rejected: Vec<RejectedAlert>,
    /// (pack, documents evaluated, time spent) per pack called.
    pub evaluations: Vec<(String, usize, Duration)>,
}

pub struct RuleEngine {
    /// Files refused at the last load or sync, with the reason.
    refused: std::collections::BTreeMap<PathBuf, String>,
    /// Files of an earlier rules folder replaced by a later folder's pack
    /// of the same name.
    shadowed: std::collections::BTreeMap<PathBuf, Shadowed>,
    /// The Sigma files of the rules folders, for the packs that take them.
    sigma: sigma_files::SigmaFiles,
    /// The host's own "pack", naming the alerts the engine raises itself.
    host_meta: Arc<PackMeta>,
    wasm: wasmtime::Engine,
    linker: Linker<PackState>,
    packs: Vec<LoadedPack>,
    /// The batches being written, kept between calls so their buffers are
    /// reused rather than allocated (and page-faulted in) per batch.
    texts: Vec<BatchText>,
    config: EngineConfig,
    /// The threads packs are evaluated on.
    workers: Workers,
    ticker_stop: Arc<AtomicBool>,
}

impl RuleEngine {
    pub fn new(config: EngineConfig) -> anyhow::Result<Self> {
        let mut wasm_config = wasmtime::Config::new();
        wasm_config.wasm_component_model(true);
        wasm_config.epoch_interruption(true);
        // For rule authors profiling a pack: `perf record` then resolves the
        // JIT-compiled pack code through /tmp/perf-<pid>.map.
        if std::env::var_os("K8SCOP_WASM_PERFMAP").is_some() {
            wasm_config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let wasm = wasmtime::Engine::new(&wasm_config)?;
        let mut linker = Linker::new(&wasm);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Pack::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(wasm.clone(), ticker_stop.clone());
        Ok(RuleEngine {
            refused: Default::default(),
            shadowed: Default::default(),
            sigma: Default::default(),
            host_meta: Arc::new(host_meta()),
            wasm,
            linker,
            packs: Vec::new(),
            texts: Vec::new(),
            workers: Workers::single(),
            config,
            ticker_stop,
        })
    }

    /// Evaluate on `threads` threads (`--threads`; 1, the default: on the
    /// caller's). The alerts, their order and the counters are the same
    /// whatever the number.
    pub fn set_threads(&mut self, threads: usize) -> anyhow::Result<()> {
        self.workers = Workers::new(threads)?;
        Ok(())
    }

    /// The engine's threads, for the stages that share them (decoding).
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    pub fn packs(&self) -> impl Iterator<Item = &Arc<PackMeta>> {
        self.packs.iter().map(|p| &p.meta)
    }

    /// Whether any loaded pack declares a rule (a Sigma pack with no Sigma
    /// files declares none): without one, nothing would be evaluated.
    pub fn has_rules(&self) -> bool {
        self.packs.iter().any(|p| !p.meta.info.rules.is_empty())
    }

    /// Files refused (at the last load or sync), with the reason.
    pub fn refused(&self) -> impl Iterator<Item = (&PathBuf, &String)> {
        self.refused.iter()
    }

    /// The status as JSON, for `/status`.
    pub fn status_json(&self) -> serde_json::Value {
        let packs: Vec<serde_json::Value> = self
            .status()
            .into_iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name, "version": p.version, "path": p.path, "rules": p.rules,
                    "state": if p.quarantined.is_some() { "quarantined" } else { "active" },
                    "reason": p.quarantined,
                    "documents_evaluated": p.counters.documents_evaluated,
                    "documents_unevaluated": p.counters.documents_unevaluated,
                    "batches": p.counters.batches,
                    "batches_failed": p.counters.batches_failed,
                    "alerts": p.counters.alerts,
                    "instances": p.instances,
                })
            })
            .collect();
        let refused: Vec<serde_json::Value> = self
            .refused
            .iter()
            .map(|(path, reason)| serde_json::json!({"path": path, "state": "refused", "reason": reason}))
            .collect();
        let shadowed: Vec<serde_json::Value> = self
            .shadowed
            .iter()
            .map(|(path, s)| serde_json::json!({"path": path, "name": s.name, "state": "shadowed", "by": s.by}))
            .collect();
        serde_json::json!({"packs": packs, "refused": refused, "shadowed": shadowed, "sigma_files": self.sigma.status_json()})
    }

    /// Every loaded pack with its state and counters.
    pub fn status(&self) -> Vec<PackStatus> {
        self.packs
            .iter()
            .map(|p| PackStatus {
                name: p.name().to_string(),
                version: p.meta.info.version.clone(),
                path: p.meta.path.clone(),
                rules: p.meta.info.rules.len(),
                quarantined: p.quarantined.clone(),
                counters: p.counters.clone(),
                instances: p.instance_count(),
            })
            .collect()
    }

    /// Give every pack a fresh instance, forgetting state (between the
    /// independent cases of `rules test`).
    pub fn reset_all(&mut self) -> Result<(), PackError> {
        self.packs.iter_mut().try_for_each(LoadedPack::reset)
    }
}

impl Drop for RuleEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// What the interest filter looks at in a document.
pub fn facts(doc: &DecodedDoc) -> EventFacts<'_> {
    // One view for the three texts: this runs for every document and pack.
    let view = doc.view();
    EventFacts {
        kind: doc.kind,
        verb: view.text(TextField::Verb),
        resource: view.text(TextField::Resource),
        subresource: view.text(TextField::Subresource),
    }
}

pub(crate) fn content_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A loaded pack as an operator sees it.
#[derive(Debug, Clone)]
pub struct PackStatus {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub rules: usize,
    /// `Some(reason)` once quarantined.
    pub quarantined: Option<String>,
    pub counters: pack::PackCounters,
    /// Live instances: 1, or for a stateless pack evaluated on several
    /// threads, up to one per thread.
    pub instances: usize,
}

/// The rules the host raises alerts for itself.
pub const PACK_QUARANTINED: &str = "k8scop-host/pack-quarantined";

pub(crate) fn host_meta() -> PackMeta {
    let rule = RuleInfo {
        id: PACK_QUARANTINED.into(),
        title: "Rule pack quarantined".into(),
        description: "A rule pack kept failing (trapping, looping or exceeding its limits) and is no longer run until its file changes: the detections it holds are off.".into(),
        severity: Severity::High,
        tags: vec!["attack.t1562.001".into()],
        interest: crate::contract::Interest { kinds: vec![], verbs: vec![], resources: vec![] },
        needs: crate::contract::AuditNeeds::metadata(),
    };
    let info = PackInfo {
        name: "k8scop-host".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        rules: vec![rule],
        settings: vec![],
    };
    PackMeta::new(info, PathBuf::new(), String::new(), false)
}

/// The alert saying `pack` is quarantined, pinned to the batch's first
/// document it could not evaluate.
fn quarantine_alert(
    host: &Arc<PackMeta>,
    pack: &LoadedPack,
    reason: &str,
    doc: &DecodedDoc,
    doc_index: usize,
) -> RaisedAlert {
    RaisedAlert {
        pack: host.clone(),
        alert: Alert {
            rule_id: PACK_QUARANTINED.into(),
            title: format!("Rule pack {} quarantined", pack.name()),
            severity: Severity::High,
            group_key: format!("{}|{}", pack.name(), pack.meta.info.version),
            event_time: doc.time.clone(),
            event_index: 0,
            context: EventContext::empty(),
            fields: vec![
                ("pack".into(), pack.name().into()),
                ("pack_version".into(), pack.meta.info.version.clone()),
                ("path".into(), pack.meta.path.display().to_string()),
                ("reason".into(), sandbox::truncate(reason, 1000).into()),
            ],
        },
        doc_index,
    }
}

/// Advances the wasmtime epoch, which bounds how long a pack's call may run.
fn spawn_epoch_ticker(engine: wasmtime::Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("k8scop-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawn the epoch ticker thread");
}
