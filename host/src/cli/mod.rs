//! The command line: `k8scop replay`, `k8scop run`, `k8scop rules test`,
//! `k8scop rules list` — and K8sCop's own flags, translated.

mod args;
mod compat;
pub mod config_file;
mod layered;
mod list;
mod progress;
mod replicas;
pub mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::watch;

pub use args::*;

use crate::aggregate::AggregateConfig;
use crate::chatter::ChatterFilter;
use crate::checkpoint::CheckpointStore;
use crate::decode::Decoder;
use crate::engine::{EngineConfig, RuleEngine, SandboxLimits, one_line};
use crate::es::auth::read_secret;
use crate::es::indices::LogIndices;
use crate::es::retry::Backoff;
use crate::es::{Auth, Cancel, EsClient, EsConfig, ServerInfo, template, wait};
use crate::notify::Notifier;
use crate::ops::{Health, Metrics, StatusBoard};
use crate::pipeline::{self, EsInput, Input, Output, PipelineConfig, Reload, Schedule};
use crate::rules_watch::RulesWatcher;
use crate::sink::dead_letter::DeadLetterFile;
use crate::sink::elasticsearch::{BulkConfig, BulkWriter};
use crate::source::elasticsearch::LogQuery;
use crate::summary::Summary;
use progress::ReplayProgress;

pub fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    if let Some(translated) = compat::translate(&argv[1..]) {
        argv.truncate(1);
        argv.extend(translated);
    }
    let cli = match layered::try_parse(&argv) {
        Ok(cli) => cli,
        Err(e) => match e.downcast_ref::<clap::Error>() {
            Some(clap_error) => clap_error.exit(),
            None => {
                eprintln!("error: {}", one_line(&format!("{e:#}")));
                return ExitCode::FAILURE;
            }
        },
    };
    // `rules test` reports on stdout; its logs would only be noise.
    let default_level = match cli.command {
        Command::Rules(RulesCommand::Test { .. }) => "warn",
        _ => "info",
    };
    let log_format = cli.log_format;
    init_logging(log_format, default_level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Said once: as a log record where logs are JSON (one stream for
            // the collector), else as a plain `error:` line.
            let message = one_line(&format!("{e:#}"));
            match log_format {
                LogFormat::Json => tracing::error!("{message}"),
                LogFormat::Text => eprintln!("error: {message}"),
            }
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
        Command::Replay(args) => replay(args, cli.config.as_deref()),
        Command::Run(args) => follow(args, cli.config.as_deref()),
        Command::Rules(RulesCommand::Test {
            pack,
            cases,
            require_coverage,
            alerts_out,
            sigma_pack,
        }) => {
            let under_test = crate::rules_test::UnderTest::of(&pack, sigma_pack)?;
            let report = crate::rules_test::run(&under_test, &cases)?;
            if let Some(path) = alerts_out {
                crate::rules_test::write_documents(&report, &path)?;
            }
            crate::rules_test::print_report(&report, require_coverage)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::List { rules, policy }) => {
            list::list(rules, policy.as_deref())
        }
    }
}

/// Exit status when some documents were not evaluated by some pack.
pub(crate) const EXIT_INCOMPLETE: u8 = 2;

fn finish(summary: &Summary) -> ExitCode {
    eprint!("{summary}");
    if summary.incomplete() {
        ExitCode::from(EXIT_INCOMPLETE)
    } else {
        ExitCode::SUCCESS
    }
}

fn pipeline_config(
    args: &PipelineArgs,
    flush_interval: Duration,
    metrics: &Metrics,
    health: &Health,
) -> anyhow::Result<PipelineConfig> {
    let chatter = ChatterFilter::new(args.chatter_filter, args.chatter_rules.as_deref())?;
    Ok(PipelineConfig {
        decoder: Decoder::new(args.event_shape.clone())
            .with_cluster_field(args.cluster_field.clone()),
        stages: crate::request_once::StagePolicy {
            omitted: args.audit_omit_stages.0.clone(),
            horizon: chrono::Duration::from_std(args.request_horizon)
                .unwrap_or(chrono::Duration::MAX),
        },
        batch_size: args.batch_size,
        aggregate: AggregateConfig {
            window: chrono::Duration::from_std(args.aggregate_window)
                .unwrap_or(chrono::Duration::MAX),
            max_sources: args.max_sources,
        },
        flush_interval,
        metrics: metrics.clone(),
        health: health.clone(),
        reload: None,
        status: StatusBoard::new(),
        chatter,
        notifier: Notifier::none(),
        cluster_name: args.cluster_name.clone(),
        clusters_per_document: args.cluster_field.is_some(),
    })
}

fn replay(args: ReplayArgs, config_file: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if let (Some(input), Some(output)) = (&args.input, &args.output) {
        refuse_output_over_input(input, output)?;
    }
    let channels = config_file::read_notify(config_file)?;
    let (engine, refused) = engine_and_refusals(&args.common.rules)?;
    // A replay is a report of a past range: one missing pack makes it
    // incomplete, unless the operator accepts that.
    if let Some((path, error)) = refused.first()
        && !args.allow_refused_packs
    {
        anyhow::bail!(
            "{} of the rules folder is refused ({error}){}; fix or remove it, or replay without it with --allow-refused-packs",
            path.display(),
            match refused.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            }
        );
    }
    let mut config = pipeline_config(
        &args.common.pipeline,
        args.common.alerts.flush_interval,
        &Metrics::new(),
        &Health::new(),
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (_stop, shutdown) = watch::channel(false);
    let summary = runtime.block_on(async {
        config.notifier = Notifier::start(channels, &config.metrics)?;
        let mut progress = None;
        let input = match (&args.input, args.from, args.to) {
            (Some(path), _, _) => Input::File(path.clone()),
            (None, Some(from), Some(to)) => {
                anyhow::ensure!(from < to, "--from must be before --to");
                let es = es_input(&args.common.es, &args.common.logs, &Cancel::new()).await?;
                progress = Some(ReplayProgress::start(&es, from, to, &config.metrics).await);
                Input::Replay { es, from, to }
            }
            _ => {
                anyhow::bail!("say what to replay: --input FILE, or --from and --to with --es-url")
            }
        };
        let output = match (&args.output, &args.input) {
            (Some(path), _) => Output::File(path.clone()),
            (None, Some(_)) => Output::File(PathBuf::from("-")),
            (None, None) => es_output(&args.common.es, &args.common.alerts, &Cancel::new()).await?,
        };
        let summary = pipeline::run(config, input, output, engine, shutdown).await;
        if let Some(progress) = progress {
            progress.finish();
        }
        summary
    })?;
    Ok(finish(&summary))
}

/// Writing the alerts over the log being read would empty it before a
/// line is read: refused before anything is opened for writing, whether
/// the two paths are spelled alike or reach the same file (a link, `./`).
fn refuse_output_over_input(input: &Path, output: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if input == Path::new("-") || output == Path::new("-") {
        return Ok(());
    }
    let same_file = match (std::fs::metadata(input), std::fs::metadata(output)) {
        (Ok(i), Ok(o)) => i.dev() == o.dev() && i.ino() == o.ino(),
        _ => false,
    };
    anyhow::ensure!(
        input != output && !same_file,
        "--output {} is the input file {}: the alerts would overwrite the log being read; write them elsewhere",
        output.display(),
        input.display()
    );
    Ok(())
}

fn follow(args: RunArgs, config_file: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let channels = config_file::read_notify(config_file)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (stop, shutdown) = watch::channel(false);
        let cancel = Cancel::new();
        crate::shutdown::on_termination(stop, cancel.clone(), args.shutdown_grace)?;
        // Deploying a rule is dropping it into the folder. Watch before
        // loading, so no change falls between the two.
        let (_watcher, signals) =
            RulesWatcher::start_all(&args.common.rules.rules, Duration::from_millis(300))
                .with_context(|| {
                    format!(
                        "cannot watch the rules folders {}",
                        folders_text(&args.common.rules.rules)
                    )
                })?;
        let engine = engine_with_rules(&args.common.rules)?;
        let (metrics, health) = (Metrics::new(), Health::new());
        metrics.set_packs_loaded(engine.packs().count());
        let config = pipeline_config(
            &args.common.pipeline,
            args.common.alerts.flush_interval,
            &metrics,
            &health,
        )?;
        let mut config = config;
        config.reload = Some(Reload {
            dirs: args.common.rules.rules.clone(),
            signals,
        });
        config.notifier = Notifier::start(channels, &metrics)?;
        let mut server_stop = shutdown.clone();
        let (addr, _server) = crate::ops::serve_with_status(
            args.listen,
            metrics.clone(),
            health.clone(),
            config.status.clone(),
            async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            },
        )
        .await
        .with_context(|| format!("cannot serve metrics on {}", args.listen))?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz and /status");
        // Elasticsearch may come up after k8scop: wait for it, live but
        // not ready.
        let client = es_client(&args.common.es, &cancel)?;
        // Refused before waiting for Elasticsearch: a configuration error.
        let state = CheckpointStore::new(
            client.clone(),
            &args.common.alerts.alerts_prefix,
            &args.instance,
        );
        crate::es::retention::refuse_state_in_alerts(
            state.index(),
            &args.common.alerts.alerts_prefix,
        )?;
        crate::replicas::resolve(&args.partitions)?;
        if wait::until_up(&client, &mut shutdown.clone())
            .await?
            .is_none()
        {
            tracing::info!("termination requested while waiting for Elasticsearch");
            return Ok(finish(&Summary::default()));
        }
        // Alive as long as windows keep completing.
        health.set_stall_timeout((args.interval * 10).max(Duration::from_secs(120)));
        if !args.partitions.is_empty() {
            // Each partition gets its own engine and pipeline.
            drop(engine);
            state.prepare().await?;
            let setup = replicas::Setup {
                metrics,
                health,
                status: config.status.clone(),
                cancel,
                config_file: config_file.map(Path::to_path_buf),
            };
            return replicas::follow_partitions(args, setup, client, shutdown).await;
        }
        let es = es_input(&args.common.es, &args.common.logs, &cancel).await?;
        let checkpoints = CheckpointStore::new(
            es.client.clone(),
            &args.common.alerts.alerts_prefix,
            &args.instance,
        );
        let output = es_output(&args.common.es, &args.common.alerts, &cancel).await?;
        let input = Input::Stream {
            es,
            start: args.start,
            schedule: schedule(&args)?,
            checkpoints,
        };
        // Rules loaded and Elasticsearch answered.
        health.set_ready(true);
        let summary = pipeline::run(config, input, output, engine, shutdown).await?;
        Ok(finish(&summary))
    })
}

/// Streaming's windows: every interval, `[cursor - overlap, now - delay)`.
fn schedule(args: &RunArgs) -> anyhow::Result<Schedule> {
    Ok(Schedule {
        interval: args.interval.max(Duration::from_millis(10)),
        delay: chrono::Duration::from_std(args.delay)?,
        overlap: chrono::Duration::from_std(args.overlap)?,
    })
}

fn es_client(args: &EsArgs, cancel: &Cancel) -> anyhow::Result<EsClient> {
    let url = args
        .es_url
        .clone()
        .context("no Elasticsearch URL: set --es-url (or K8SCOP_ES_URL)")?;
    let mut config = EsConfig::new(url);
    let password = read_secret(args.es_password.clone(), args.es_password_file.as_deref())?;
    let api_key = read_secret(args.es_api_key.clone(), args.es_api_key_file.as_deref())?;
    let bearer = read_secret(
        args.es_bearer_token.clone(),
        args.es_bearer_token_file.as_deref(),
    )?;
    config.auth = match (api_key, bearer, &args.es_username, password) {
        (Some(key), None, None, None) => Auth::ApiKey(key),
        (None, Some(token), None, None) => Auth::Bearer(token),
        (None, None, Some(user), password) => Auth::Basic {
            username: user.clone(),
            password: password.unwrap_or_default(),
        },
        (None, None, None, None) => Auth::None,
        _ => anyhow::bail!(
            "give one kind of Elasticsearch credential: an API key, a bearer token, or a username and password"
        ),
    };
    config.ca_file = args.es_ca_file.clone();
    config.insecure_skip_verify = args.es_insecure_skip_verify;
    Ok(EsClient::new(&config)?.cancelled_by(cancel.clone()))
}

async fn es_input(es: &EsArgs, logs: &LogsArgs, cancel: &Cancel) -> anyhow::Result<EsInput> {
    let client = es_client(es, cancel)?;
    let flavor = ServerInfo::detect(&client).await?.flavor;
    let indices = match (&logs.logs_prefix, &logs.logs_pattern) {
        (_, Some(pattern)) => LogIndices::Pattern(pattern.clone()),
        (Some(prefix), None) => LogIndices::DailyPrefix(prefix.clone()),
        (None, None) => LogIndices::DailyPrefix("logs".into()),
    };
    let extra_query = logs
        .query
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .context("--query is not valid JSON")?;
    Ok(EsInput {
        client,
        flavor,
        query: LogQuery {
            indices,
            time_field: logs.time_field.clone(),
            extra_query,
            page_size: logs.page_size,
        },
    })
}

async fn es_output(es: &EsArgs, alerts: &AlertsArgs, cancel: &Cancel) -> anyhow::Result<Output> {
    let client = es_client(es, cancel)?;
    // Retention first: the template names the policy only once it exists.
    let flavor = ServerInfo::detect(&client).await?.flavor;
    let (_, lifecycle) = crate::es::retention::install(
        &client,
        &flavor,
        &alerts.alerts_prefix,
        &alerts.alerts_retention,
    )
    .await;
    template::install_with_lifecycle(&client, &alerts.alerts_prefix, lifecycle.as_deref()).await?;
    let dead_letter = alerts
        .dead_letter
        .as_deref()
        .map(DeadLetterFile::open)
        .transpose()?;
    let bulk = BulkConfig {
        max_docs: alerts.bulk_max_docs,
        max_bytes: alerts.bulk_max_bytes,
        backoff: Backoff::default(),
    };
    Ok(Output::Elasticsearch {
        writer: BulkWriter::new(client, bulk, dead_letter).with_write_timeout(alerts.write_timeout),
        alerts_prefix: alerts.alerts_prefix.clone(),
    })
}

/// The engine with every pack of the rules folder; refusing to run with no
/// pack at all, since that would silently raise nothing.
fn engine_with_rules(args: &RulesArgs) -> anyhow::Result<RuleEngine> {
    engine_and_refusals(args).map(|(engine, _)| engine)
}

/// The engine with every valid pack of the rules folder, and the files
/// refused; refusing to run with no pack at all.
fn engine_and_refusals(args: &RulesArgs) -> anyhow::Result<(RuleEngine, Refused)> {
    let (engine, refused) = load_engine(args)?;
    anyhow::ensure!(
        engine.has_rules(),
        "no rule loaded from {}: build the packs with `make packs` and point --rules at a folder of .wasm packs (k8scop-sigma.wasm needs Sigma .yml files beside it)",
        folders_text(&args.rules)
    );
    Ok((engine, refused))
}

/// The rules folders as said in messages: `a, b`.
fn folders_text(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

type Refused = Vec<(PathBuf, crate::engine::PackError)>;

pub(crate) fn load_engine(args: &RulesArgs) -> anyhow::Result<(RuleEngine, Refused)> {
    let config = EngineConfig {
        limits: SandboxLimits {
            memory_bytes: args.pack_memory_mib << 20,
            batch_time: Duration::from_millis(args.pack_batch_timeout_ms),
            ..SandboxLimits::default()
        },
        pack_config: match &args.pack_config {
            Some(path) => config_file::read_pack_config(path)?,
            None => BTreeMap::new(),
        },
        cache_dir: (!args.no_module_cache).then(|| args.module_cache.clone()),
        evaluate_everything: false,
    };
    let tables: Vec<String> = config.pack_config.keys().cloned().collect();
    let mut engine = RuleEngine::new(config)?;
    let threads = args.threads.unwrap_or_else(crate::cores::available);
    tracing::info!(threads, "threads for evaluating and decoding");
    engine.set_threads(threads)?;
    let refused = engine.load_dirs(&args.rules)?;
    // A pack may arrive later (hot reload): its table is checked then.
    for table in tables {
        if !engine.packs().any(|p| p.name() == table) {
            tracing::warn!(pack = %table, "the pack configuration has a table for a pack that is not loaded: checked when it loads");
        }
    }
    Ok((engine, refused))
}
