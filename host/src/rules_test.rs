//! `k8scop rules test PACK.wasm CASES.json`: run a pack offline on test
//! cases and report pass/fail per case with a diff.
//!
//! A cases file is JSON:
//!
//! ```json
//! {"cases": [
//!   {"name": "exec into a pod fires",
//!    "rule": "k8scop-classic/pod-exec",
//!    "config": {"ignore_users": ""},
//!    "events": [ {..audit event or any document..} ],
//!    "expect": [ {"rule": "k8scop-classic/pod-exec", "event": 0,
//!                 "severity": "high", "fields": {"container": "app"}} ]}
//! ]}
//! ```
//!
//! The alerts raised must match `expect` one to one: every expected alert
//! found (`rule` always; `event`, `severity`, `group`, `title` and each of
//! `fields` when given), and no other alert raised. An empty `expect` is a
//! must-not-fire case. `rule` says which rule a case is about, so a case
//! without an alert of that rule counts as that rule's negative case; with
//! `--require-coverage` every rule of the pack needs a positive and a
//! negative case. Each case runs on a fresh instance of the pack.
//!
//! A case's events reach the pack as one batch, or with `"batch_size": N`
//! as consecutive batches of N (the last may be shorter), the way a long
//! log does: a stateful pack's case shows its state crosses batches. `event`
//! indices always count from the case's first event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::aggregate::{AggregateConfig, Aggregator};
use crate::alert::{EventFacts, PendingAlert, alert_fields, alert_title};
use crate::contract::{EventContext, Severity};
use crate::decode::Decoder;
use crate::engine::{EngineConfig, RaisedAlert, RuleEngine, SandboxLimits};
use crate::request_once::{RequestOnce, StagePolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The rule this case is about.
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub events: Vec<Value>,
    /// Feed the events in batches of this many (default: one batch).
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub expect: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub rule: String,
    #[serde(default)]
    pub event: Option<u32>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// What happened to one case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    /// Human-readable differences (empty when passed).
    pub diff: String,
    /// How many batches the case's events were fed in.
    pub batches: usize,
    /// The alert documents the case's alerts make, aggregated as in a run
    /// (`rules test --alerts-out`: what a rule's alerts will look like).
    pub documents: Vec<serde_json::Value>,
}

#[derive(Debug)]
pub struct TestReport {
    pub pack: String,
    pub results: Vec<CaseResult>,
    /// Rules of the pack lacking a positive or a negative case.
    pub uncovered: Vec<String>,
}

impl TestReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }
}

/// What `rules test` runs the cases on.
#[derive(Debug, Clone)]
pub enum UnderTest {
    /// A compiled pack.
    Pack(PathBuf),
    /// Sigma files, run by the pack that takes Sigma rules.
    Sigma { files: Vec<PathBuf>, pack: PathBuf },
}

impl UnderTest {
    /// `path` as given on the command line: a `.wasm` pack, a Sigma file,
    /// or a folder of Sigma files (then `sigma_pack`, or the
    /// k8scop-sigma.wasm found next to them or in `rules/`, runs them).
    pub fn of(path: &Path, sigma_pack: Option<PathBuf>) -> anyhow::Result<Self> {
        let is_sigma = |p: &Path| p.extension().is_some_and(|x| x == "yml" || x == "yaml");
        let (files, folder) = if path.is_dir() {
            let files = crate::engine::sigma_files_of(path)?;
            if files.is_empty() {
                bail!("{} holds no Sigma file (.yml, .yaml)", path.display());
            }
            (files, path.to_path_buf())
        } else if is_sigma(path) {
            let folder = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (vec![path.to_path_buf()], folder)
        } else {
            return Ok(UnderTest::Pack(path.to_path_buf()));
        };
        let pack = match sigma_pack {
            Some(pack) => pack,
            None => [folder.as_path(), Path::new("rules")]
                .into_iter()
                .flat_map(|dir| SIGMA_PACK_FILES.map(|name| dir.join(name)))
                .find(|p| p.is_file())
                .with_context(|| {
                    format!("no {} next to the Sigma rules nor in rules/: give the pack with --sigma-pack", SIGMA_PACK_FILES[0])
                })?,
        };
        Ok(UnderTest::Sigma { files, pack })
    }

    fn pack(&self) -> &Path {
        match self {
            UnderTest::Pack(pack) | UnderTest::Sigma { pack, .. } => pack,
        }
    }
}

/// The file names the k8scop-sigma pack goes by (`make packs` and the
/// image write the second).
const SIGMA_PACK_FILES: [&str; 2] = ["k8scop-sigma.wasm", "k8scop_sigma.wasm"];

/// Load the pack under test alone and run every case of `cases` against it.
pub fn run(under_test: &UnderTest, cases: &Path) -> anyhow::Result<TestReport> {
    let text = std::fs::read_to_string(cases)
        .with_context(|| format!("cannot read {}", cases.display()))?;
    let file: CaseFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid cases file", cases.display()))?;
    let mut engines: BTreeMap<BTreeMap<String, String>, RuleEngine> = BTreeMap::new();
    let mut pack_name = String::new();
    let mut results = Vec::new();
    let mut positive: BTreeMap<String, usize> = BTreeMap::new();
    let mut negative: BTreeMap<String, usize> = BTreeMap::new();
    for case in &file.cases {
        // One engine per distinct configuration, reset between cases.
        if !engines.contains_key(&case.config) {
            engines.insert(case.config.clone(), load_alone(under_test, &case.config)?);
        }
        let engine = engines.get_mut(&case.config).expect("inserted above");
        engine.reset_all().map_err(|e| anyhow::anyhow!("{e}"))?;
        pack_name = engine
            .packs()
            .next()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let mut result = run_case(engine, case);
        // A case about a rule the pack does not have tests nothing: a typo
        // in an id, or a rule renamed since.
        let declared = |id: &str| engine.packs().any(|m| m.rule(id).is_some());
        let unknown: Vec<&str> = case
            .rule
            .iter()
            .chain(case.expect.iter().map(|e| &e.rule))
            .map(String::as_str)
            .filter(|id| !declared(id))
            .collect();
        if !unknown.is_empty() {
            result.passed = false;
            let _ = writeln!(
                result.diff,
                "  names rule {}, which pack {pack_name} does not declare",
                unknown.join(", ")
            );
        }
        for e in &case.expect {
            *positive.entry(e.rule.clone()).or_default() += 1;
        }
        if let Some(rule) = &case.rule
            && !case.expect.iter().any(|e| &e.rule == rule)
        {
            *negative.entry(rule.clone()).or_default() += 1;
        }
        results.push(result);
    }
    let mut uncovered = Vec::new();
    if let Some(engine) = engines.values().next() {
        for meta in engine.packs() {
            for rule in &meta.info.rules {
                let missing: Vec<&str> = [("positive", &positive), ("negative", &negative)]
                    .into_iter()
                    .filter(|(_, m)| !m.contains_key(&rule.id))
                    .map(|(kind, _)| kind)
                    .collect();
                if !missing.is_empty() {
                    uncovered.push(format!("{} (no {} case)", rule.id, missing.join(" or ")));
                }
            }
        }
    }
    Ok(TestReport {
        pack: pack_name,
        results,
        uncovered,
    })
}

fn load_alone(
    under_test: &UnderTest,
    config: &BTreeMap<String, String>,
) -> anyhow::Result<RuleEngine> {
    let pack = under_test.pack();
    let engine = |config: EngineConfig| -> anyhow::Result<RuleEngine> {
        let mut engine = RuleEngine::new(config)?;
        if let UnderTest::Sigma { files, .. } = under_test {
            engine.use_sigma_files(files)?;
        }
        Ok(engine)
    };
    // The config applies to whichever name the pack gives itself; load once
    // to learn the name, then with the config under that name.
    let mut probe = engine(EngineConfig::default())?;
    let name = probe
        .load_file(pack)
        .map_err(|e| anyhow::anyhow!("{}: {e}", pack.display()))?
        .name()
        .to_string();
    if config.is_empty() {
        return Ok(probe);
    }
    let mut engine = engine(EngineConfig {
        limits: SandboxLimits::default(),
        pack_config: BTreeMap::from([(name, config.clone())]),
        cache_dir: None,
        evaluate_everything: false,
    })?;
    engine
        .load_file(pack)
        .map_err(|e| anyhow::anyhow!("{}: {e}", pack.display()))?;
    Ok(engine)
}

fn run_case(engine: &mut RuleEngine, case: &Case) -> CaseResult {
    let decoder = Decoder::default();
    let mut docs = Vec::new();
    for (i, event) in case.events.iter().enumerate() {
        // An event may be a batch (an EventList, a CloudWatch envelope):
        // its events are the case's, in order; any that fails fails it.
        let decoded = match decoder.decode(event.to_string(), i as u64 + 1) {
            Ok(decoded) => match decoded.failed.into_iter().next() {
                Some((origin, e)) => Err(format!("item {}: {e}", origin.item.unwrap_or(0))),
                None => Ok(decoded.docs),
            },
            Err(e) => Err(e.to_string()),
        };
        match decoded {
            Ok(decoded) => docs.extend(decoded),
            Err(e) => {
                return CaseResult {
                    name: case.name.clone(),
                    passed: false,
                    diff: format!("  event {i} does not decode: {e}\n"),
                    batches: 0,
                    documents: Vec::new(),
                };
            }
        }
    }
    // As in a run: each request reaches the pack once, at the stage that
    // carries the decision (see `request_once`).
    RequestOnce::new(StagePolicy::default()).retain(&mut docs);
    let batch_size = match case.batch_size {
        Some(0) => {
            return CaseResult {
                name: case.name.clone(),
                passed: false,
                diff: "  batch_size must be at least 1\n".to_string(),
                batches: 0,
                documents: Vec::new(),
            };
        }
        Some(n) => n,
        None => docs.len().max(1),
    };
    let mut diff = String::new();
    let mut alerts: Vec<RaisedAlert> = Vec::new();
    let mut batches = 0;
    let mut aggregator = Aggregator::new(AggregateConfig::default());
    for (n, batch) in docs.chunks(batch_size).enumerate() {
        let outcome = engine.evaluate(batch);
        batches += 1;
        for failure in &outcome.failures {
            let _ = writeln!(diff, "  ! pack failed on batch {n}: {}", failure.error);
        }
        for rejected in &outcome.rejected {
            let _ = writeln!(diff, "  ! alert rejected: {}", rejected.reason);
        }
        // Indices count from the case's first event, not the batch's; the
        // line a document was decoded from is its place in the case.
        let case_index = |i: usize| batch[i].origin.line.map_or(i, |line| line as usize - 1);
        for a in &outcome.alerts {
            let doc = &batch[a.doc_index];
            aggregator.add(PendingAlert::new(a.clone(), doc, None), doc.origin.clone());
        }
        // Cases are checked against what the alert documents show: the
        // title and the fields the host fills in from the event.
        alerts.extend(outcome.alerts.into_iter().map(|mut a| {
            let facts = EventFacts::of(&batch[a.doc_index]);
            a.alert.fields = alert_fields(&a, &facts);
            a.alert.context = EventContext::empty();
            a.alert.title = alert_title(&a).to_string();
            a.doc_index = case_index(a.doc_index);
            a
        }));
    }
    let mut unmatched: Vec<&RaisedAlert> = alerts.iter().collect();
    for expected in &case.expect {
        match unmatched.iter().position(|a| matches(expected, a)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => {
                let _ = writeln!(diff, "  - expected {}", show_expected(expected));
            }
        }
    }
    for actual in unmatched {
        let _ = writeln!(diff, "  + unexpected {}", show_actual(actual));
    }
    if !diff.is_empty() && !alerts.is_empty() {
        let _ = writeln!(diff, "  raised:");
        for actual in &alerts {
            let _ = writeln!(diff, "    {}", show_actual(actual));
        }
    }
    CaseResult {
        name: case.name.clone(),
        passed: diff.is_empty(),
        diff,
        batches,
        documents: aggregator.close_all().into_iter().map(|d| d.body).collect(),
    }
}

fn matches(e: &Expected, a: &RaisedAlert) -> bool {
    let alert = &a.alert;
    e.rule == alert.rule_id
        && e.event.is_none_or(|i| i as usize == a.doc_index)
        && e.severity
            .as_deref()
            .is_none_or(|s| s.parse::<Severity>().ok() == Some(alert.severity))
        && e.group.as_deref().is_none_or(|g| g == alert.group_key)
        && e.title.as_deref().is_none_or(|t| t == alert.title)
        && e.fields
            .iter()
            .all(|(k, v)| alert.fields.iter().any(|(fk, fv)| fk == k && fv == v))
}

fn show_expected(e: &Expected) -> String {
    let mut s = format!("rule={}", e.rule);
    if let Some(i) = e.event {
        let _ = write!(s, " event={i}");
    }
    for (name, value) in [
        ("severity", &e.severity),
        ("group", &e.group),
        ("title", &e.title),
    ] {
        if let Some(v) = value {
            let _ = write!(s, " {name}={v:?}");
        }
    }
    if !e.fields.is_empty() {
        let _ = write!(s, " fields={:?}", e.fields);
    }
    s
}

fn show_actual(a: &RaisedAlert) -> String {
    let alert = &a.alert;
    let fields: BTreeMap<&str, &str> = alert
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!(
        "rule={} event={} severity={:?} group={:?} title={:?} fields={:?}",
        alert.rule_id,
        a.doc_index,
        alert.severity.as_str(),
        alert.group_key,
        alert.title,
        fields
    )
}

/// Print the report; an error when a case failed or, with
/// `require_coverage`, a rule lacks a positive or negative case.
/// Every case's alert documents, one a line, in the order of the cases.
pub fn write_documents(report: &TestReport, path: &Path) -> anyhow::Result<()> {
    let mut out = String::new();
    for doc in report.results.iter().flat_map(|r| &r.documents) {
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

pub fn print_report(report: &TestReport, require_coverage: bool) -> anyhow::Result<()> {
    for r in &report.results {
        if r.passed {
            println!("PASS  {}", r.name);
        } else {
            println!("FAIL  {}\n{}", r.name, r.diff.trim_end());
        }
    }
    let failed = report.failed();
    println!(
        "pack {}: {} cases, {} passed, {} failed",
        report.pack,
        report.results.len(),
        report.results.len() - failed,
        failed
    );
    for rule in &report.uncovered {
        println!(
            "{} rule {rule}",
            if require_coverage {
                "UNCOVERED"
            } else {
                "note:"
            }
        );
    }
    if failed > 0 {
        bail!("{failed} of {} cases failed", report.results.len());
    }
    if require_coverage && !report.uncovered.is_empty() {
        bail!(
            "{} rules lack a positive or negative case",
            report.uncovered.len()
        );
    }
    Ok(())
}
