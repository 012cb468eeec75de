//! The command line: `k8scop replay`, `k8scop rules test`, `k8scop rules list`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::{Decoder, EventShape};
use crate::engine::{EngineConfig, RuleEngine, SandboxLimits};
use crate::pipeline::FileReplay;

#[derive(Debug, Parser)]
#[command(
    name = "k8scop",
    version,
    about = "Detection rules (sandboxed WebAssembly) over Kubernetes audit logs"
)]
pub struct Cli {
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
    /// Run the rules over recorded documents and write the alerts.
    Replay(ReplayArgs),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run a pack on test cases offline, reporting pass/fail per case.
    Test {
        /// The pack (.wasm component).
        pack: PathBuf,
        /// The cases file (JSON).
        cases: PathBuf,
        /// Fail unless every rule has a must-fire and a must-not-fire case.
        #[arg(long)]
        require_coverage: bool,
    },
    /// Load every pack of the rules folder and list packs and rules.
    List(RulesArgs),
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Folder of rule packs (.wasm).
    #[arg(long, default_value = "rules", env = "K8SCOP_RULES_DIR")]
    pub rules: PathBuf,
    /// TOML file of per-pack configuration: a table per pack name.
    #[arg(long, env = "K8SCOP_PACK_CONFIG")]
    pub pack_config: Option<PathBuf>,
    /// Memory a pack may use, in MiB.
    #[arg(long, default_value_t = 256, env = "K8SCOP_PACK_MEMORY_MIB")]
    pub pack_memory_mib: usize,
    /// Time one batch may take in one pack, in milliseconds.
    #[arg(long, default_value_t = 5000, env = "K8SCOP_PACK_BATCH_TIMEOUT_MS")]
    pub pack_batch_timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSON-lines input: audit events, other log documents or search hits
    /// (`-` for stdin).
    #[arg(long, short = 'f')]
    pub input: PathBuf,
    /// Where to write alerts as JSON lines (`-` for stdout).
    #[arg(long, short = 'o', default_value = "-")]
    pub output: PathBuf,
    /// Where the audit event sits in a document: auto, root,
    /// kubernetes.audit, or field:<name> (e.g. field:log).
    #[arg(long, default_value = "auto", env = "K8SCOP_EVENT_SHAPE")]
    pub event_shape: EventShape,
    /// Documents per batch handed to each pack.
    #[arg(long, default_value_t = 500, env = "K8SCOP_BATCH_SIZE")]
    pub batch_size: usize,
    #[command(flatten)]
    pub rules: RulesArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `rules test` reports on stdout; its logs would only be noise.
    let default_level = match cli.command {
        Command::Rules(RulesCommand::Test { .. }) => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("K8SCOP_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},wasmtime=warn,cranelift=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay(args),
        Command::Rules(RulesCommand::Test {
            pack,
            cases,
            require_coverage,
        }) => {
            let report = crate::rules_test::run(&pack, &cases)?;
            crate::rules_test::print_report(&report, require_coverage)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::List(args)) => list(args),
    }
}

/// Exit status when some documents were not evaluated by some pack.
const EXIT_INCOMPLETE: u8 = 2;

fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let engine = engine_with_rules(&args.rules)?;
    let replay = FileReplay {
        input: args.input,
        output: args.output,
        decoder: Decoder::new(args.event_shape),
        batch_size: args.batch_size,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(replay.run(engine))?;
    eprint!("{summary}");
    Ok(if summary.incomplete() {
        ExitCode::from(EXIT_INCOMPLETE)
    } else {
        ExitCode::SUCCESS
    })
}

fn list(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let (engine, refused) = load_engine(&args)?;
    for meta in engine.packs() {
        println!(
            "{} {} ({}) active",
            meta.name(),
            meta.info.version,
            meta.path.display()
        );
        for rule in &meta.info.rules {
            println!(
                "  {:<48} {:<8} {}  [{}]",
                rule.id,
                rule.severity.as_str(),
                rule.title,
                rule.tags.join(", ")
            );
        }
    }
    for (path, error) in &refused {
        println!("{} {error}", path.display());
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INCOMPLETE)
    })
}

/// The engine with every pack of the rules folder; refusing to run with no
/// pack at all, since that would silently raise nothing.
fn engine_with_rules(args: &RulesArgs) -> anyhow::Result<RuleEngine> {
    let (engine, _refused) = load_engine(args)?;
    anyhow::ensure!(
        engine.packs().next().is_some(),
        "no rule pack loaded from {}: build them with `make packs` or point --rules at a folder of .wasm packs",
        args.rules.display()
    );
    Ok(engine)
}

type Refused = Vec<(PathBuf, crate::engine::PackError)>;

fn load_engine(args: &RulesArgs) -> anyhow::Result<(RuleEngine, Refused)> {
    let config = EngineConfig {
        limits: SandboxLimits {
            memory_bytes: args.pack_memory_mib << 20,
            batch_time: Duration::from_millis(args.pack_batch_timeout_ms),
            ..SandboxLimits::default()
        },
        pack_config: match &args.pack_config {
            Some(path) => read_pack_config(path)?,
            None => BTreeMap::new(),
        },
    };
    let mut engine = RuleEngine::new(config)?;
    let refused = engine.load_dir(&args.rules)?;
    Ok((engine, refused))
}

/// `[pack-name]` tables of `key = value`; arrays become comma-separated
/// lists, numbers and booleans their text.
pub fn read_pack_config(path: &Path) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_pack_config(&text).with_context(|| format!("in pack configuration {}", path.display()))
}

pub fn parse_pack_config(text: &str) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let table: toml::Table = toml::from_str(text)?;
    let mut packs = BTreeMap::new();
    for (pack, values) in table {
        let toml::Value::Table(values) = values else {
            anyhow::bail!("`{pack}` must be a table of settings ([{pack}])");
        };
        let mut settings = BTreeMap::new();
        for (key, value) in values {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s),
                        other => Ok(other.to_string()),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
                    .join(","),
                toml::Value::Table(_) => {
                    anyhow::bail!("[{pack}] {key}: nested tables are not settings")
                }
                other => other.to_string(),
            };
            settings.insert(key, text);
        }
        packs.insert(pack, settings);
    }
    Ok(packs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_config_values_become_strings() {
        let c = parse_pack_config(
            "[k8scop-classic]\nignore_users = [\"system:node:*\", \"ci-bot\"]\nthreshold = 5\nstrict = true\nnote = \"x\"\n",
        )
        .unwrap();
        let classic = &c["k8scop-classic"];
        assert_eq!(classic["ignore_users"], "system:node:*,ci-bot");
        assert_eq!(classic["threshold"], "5");
        assert_eq!(classic["strict"], "true");
        assert_eq!(classic["note"], "x");
        assert!(parse_pack_config("ignore_users = 1").is_err());
        assert!(parse_pack_config("[p]\nx = { a = 1 }").is_err());
    }
}
