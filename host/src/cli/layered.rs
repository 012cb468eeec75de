//! Where a setting comes from: a flag, else its environment variable
//! (`K8SCOP_...`), else the config file (`--config` or `K8SCOP_CONFIG`),
//! else the built-in default. The file's values are handed to clap as the
//! flags' defaults, so clap applies the one rule to all four and nothing
//! writes the process environment.

use std::collections::BTreeMap;

use clap::{CommandFactory, FromArgMatches};

use super::{Cli, config_file};

/// The command line, with the config file's values under the flags and
/// the environment. A clap error (including `--help` and `--version`) is
/// returned as a `clap::Error` inside the `anyhow::Error`, to be shown by
/// clap (`Error::exit`).
pub fn try_parse(argv: &[String]) -> anyhow::Result<Cli> {
    let mut command = Cli::command();
    if let Some(path) = config_path(argv) {
        let values = config_file::values_from_file(
            path.as_ref(),
            &flag_names(&command),
            &list_flags(&command),
        )?;
        command = with_defaults(command, &values);
    }
    let matches = command.try_get_matches_from_mut(argv)?;
    Ok(Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?)
}

/// `--config FILE`, `--config=FILE`, else `K8SCOP_CONFIG`.
fn config_path(argv: &[String]) -> Option<String> {
    let from_flag = argv.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=").map(String::from).or_else(|| {
            (a == "--config")
                .then(|| argv.get(i + 1).cloned())
                .flatten()
        })
    });
    from_flag.or_else(|| std::env::var("K8SCOP_CONFIG").ok())
}

/// Every flag a config file may set: those with an environment variable.
pub fn flag_names(command: &clap::Command) -> Vec<String> {
    settable_flags(command, |_| Some(()))
        .into_iter()
        .map(|(name, ())| name)
        .collect()
}

/// The flags a config file may give as a list: those that take a list
/// with a delimiter (`--rules`), the file's list joined with it.
pub fn list_flags(command: &clap::Command) -> Vec<(String, char)> {
    settable_flags(command, clap::Arg::get_value_delimiter)
}

/// The flags of `command` and its subcommands that a config file may set
/// (those with an environment variable) and that `pick` keeps, each once,
/// sorted by name.
fn settable_flags<T: Ord>(
    command: &clap::Command,
    pick: impl Fn(&clap::Arg) -> Option<T> + Copy,
) -> Vec<(String, T)> {
    fn walk<T>(
        command: &clap::Command,
        pick: impl Fn(&clap::Arg) -> Option<T> + Copy,
        out: &mut Vec<(String, T)>,
    ) {
        for arg in command.get_arguments() {
            if let (Some(long), Some(_), Some(value)) = (arg.get_long(), arg.get_env(), pick(arg)) {
                out.push((long.to_string(), value));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, pick, out);
        }
    }
    let mut out = Vec::new();
    walk(command, pick, &mut out);
    out.sort();
    out.dedup();
    out
}

/// `command` (and its subcommands) with the file's `values` as the
/// defaults of the flags they name. A secret's value is never shown as a
/// default in `--help`.
fn with_defaults(mut command: clap::Command, values: &BTreeMap<String, String>) -> clap::Command {
    let filled: Vec<(clap::Id, Vec<&'static str>, bool)> = command
        .get_arguments()
        .filter(|arg| arg.get_env().is_some())
        .filter_map(|arg| {
            let value = values.get(arg.get_long()?)?;
            // Once per flag per process: clap keeps `&'static str` defaults.
            let value: &'static str = Box::leak(value.clone().into_boxed_str());
            // A list flag's value is its items, as clap splits the flag's.
            let value = match arg.get_value_delimiter() {
                Some(delimiter) => value.split(delimiter).collect(),
                None => vec![value],
            };
            let secret = arg.is_hide_env_values_set() && arg.get_action().takes_values();
            Some((arg.get_id().clone(), value, secret))
        })
        .collect();
    for (id, value, secret) in filled {
        command = command.mut_arg(id, |arg| {
            let arg = arg.default_values(value);
            if secret {
                arg.hide_default_value(true)
            } else {
                arg
            }
        });
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subcommands {
        command = command.mut_subcommand(name, |sub| with_defaults(sub, values));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once("k8scop")
            .chain(args.iter().copied())
            .map(String::from)
            .collect()
    }

    fn replay_args(cli: Cli) -> crate::cli::ReplayArgs {
        match cli.command {
            Command::Replay(args) => args,
            other => panic!("not a replay: {other:?}"),
        }
    }

    /// The file fills what no flag sets, a flag wins over the file, and
    /// the built-in default is left where neither speaks.
    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        std::fs::write(
            &config,
            "batch-size = 7\nalerts_prefix = \"from-file\"\nno-module-cache = true\ncluster-name = \"prod-eu\"\n",
        )
        .unwrap();
        let config = config.to_str().unwrap();
        let args = replay_args(
            try_parse(&argv(&[
                "--config",
                config,
                "replay",
                "--input",
                "x",
                "--alerts-prefix",
                "from-flag",
            ]))
            .unwrap(),
        );
        assert_eq!(args.common.pipeline.batch_size, 7);
        assert_eq!(
            args.common.pipeline.cluster_name.as_deref(),
            Some("prod-eu")
        );
        assert!(args.common.rules.no_module_cache);
        assert_eq!(args.common.alerts.alerts_prefix, "from-flag");
        assert_eq!(args.common.logs.page_size, 5000, "the built-in default");
        // The file may come after the subcommand too.
        let args =
            replay_args(try_parse(&argv(&["replay", "--input", "x", "--config", config])).unwrap());
        assert_eq!(args.common.alerts.alerts_prefix, "from-file");
    }

    /// `rules` takes a list in the file (or one folder, or `a:b`); a flag
    /// given replaces the whole list.
    #[test]
    fn the_rules_folders_may_be_a_list_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        let config_arg = config.to_str().unwrap();
        let rules = |text: &str, extra: &[&str]| {
            std::fs::write(&config, text).unwrap();
            let mut args = vec!["--config", config_arg, "replay", "--input", "x"];
            args.extend(extra);
            replay_args(try_parse(&argv(&args)).unwrap())
                .common
                .rules
                .rules
        };
        let paths = |p: &[&str]| p.iter().map(std::path::PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            rules("rules = [\"/a\", \"/b\"]\n", &[]),
            paths(&["/a", "/b"])
        );
        assert_eq!(rules("rules = \"/a:/b\"\n", &[]), paths(&["/a", "/b"]));
        assert_eq!(rules("rules = \"/a\"\n", &[]), paths(&["/a"]));
        assert_eq!(
            rules(
                "rules = [\"/a\", \"/b\"]\n",
                &["--rules", "/c", "--rules", "/d"]
            ),
            paths(&["/c", "/d"])
        );
        assert_eq!(rules("", &[]), paths(&["rules"]), "the default");
    }

    /// `partition` is a list in the file (a table of queries would be
    /// one more syntax to learn); flags repeat. Each entry is parsed.
    #[test]
    fn partitions_may_be_a_list_in_the_file_or_repeated_flags() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        std::fs::write(
            &config,
            "partition = [\"east=orchestrator.cluster.name:east-1,east-2\", 'prod={\"term\": {\"ns\": \"prod\"}}', \"rest=*\"]\n",
        )
        .unwrap();
        let config_arg = config.to_str().unwrap();
        let partitions = |args: &[&str]| match try_parse(&argv(args)).unwrap().command {
            Command::Run(run) => run.partitions,
            other => panic!("not a run: {other:?}"),
        };
        let names = |specs: Vec<crate::replicas::PartitionSpec>| {
            specs.into_iter().map(|p| p.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(partitions(&["--config", config_arg, "run"])),
            ["east", "prod", "rest"]
        );
        assert_eq!(
            names(partitions(&[
                "run",
                "--partition",
                "a=c:x",
                "--partition",
                "b=c:y"
            ])),
            ["a", "b"]
        );
        assert!(try_parse(&argv(&["run", "--partition", "nameless"])).is_err());
    }

    /// Loading a config file leaves the process environment as it was:
    /// its values reach the flags only.
    #[test]
    fn a_config_file_does_not_touch_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        std::fs::write(
            &config,
            "es-url = \"http://es-from-file:9200\"\nlogs-prefix = \"audit\"\n",
        )
        .unwrap();
        let args = replay_args(
            try_parse(&argv(&[
                "--config",
                config.to_str().unwrap(),
                "replay",
                "--input",
                "x",
            ]))
            .unwrap(),
        );
        assert_eq!(
            args.common.es.es_url.as_deref(),
            Some("http://es-from-file:9200")
        );
        assert_eq!(args.common.logs.logs_prefix.as_deref(), Some("audit"));
        assert!(std::env::var_os("K8SCOP_ES_URL").is_none());
        assert!(std::env::var_os("K8SCOP_LOGS_PREFIX").is_none());
    }

    /// A secret set in the file is not shown as a default by `--help`.
    #[test]
    fn help_does_not_show_a_secret_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        std::fs::write(
            &config,
            "es-password = \"PwFile321\"\nes-url = \"http://u:PwUrl321@es:9200\"\nbatch-size = 9\n",
        )
        .unwrap();
        let err = try_parse(&argv(&[
            "--config",
            config.to_str().unwrap(),
            "replay",
            "--help",
        ]))
        .unwrap_err();
        let help = err.downcast_ref::<clap::Error>().unwrap().to_string();
        assert!(help.contains("[default: 9]"), "{help}");
        assert!(
            !help.contains("PwFile321") && !help.contains("PwUrl321"),
            "{help}"
        );
    }

    /// A wrong key or a wrong type is an error naming the file and the key.
    #[test]
    fn a_wrong_key_or_type_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        for (text, says) in [
            (
                "batch-sise = 5\n",
                "unknown key `batch-sise` (did you mean `batch-size`?)",
            ),
            (
                "batch-size = [5]\n",
                "`batch-size` must be a string, number or boolean",
            ),
        ] {
            std::fs::write(&config, text).unwrap();
            let err = try_parse(&argv(&[
                "--config",
                config.to_str().unwrap(),
                "replay",
                "--input",
                "x",
            ]))
            .unwrap_err();
            let err = format!("{err:#}");
            assert!(err.contains("k8scop.toml") && err.contains(says), "{err}");
        }
    }

    /// `--threads`: the file's value under the flag's, unset by default
    /// (the cgroup's cores then), and 0 refused saying why, from the flag
    /// and from the file alike.
    #[test]
    fn threads_are_layered_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("k8scop.toml");
        let config_arg = config.to_str().unwrap();
        let threads = |text: &str, extra: &[&str]| {
            std::fs::write(&config, text).unwrap();
            let mut args = vec!["--config", config_arg, "replay", "--input", "x"];
            args.extend(extra);
            try_parse(&argv(&args)).map(|cli| replay_args(cli).common.rules.threads)
        };
        assert_eq!(threads("", &[]).unwrap(), None, "the default: the cgroup's");
        assert_eq!(threads("threads = 3\n", &[]).unwrap(), Some(3));
        assert_eq!(
            threads("threads = 3\n", &["--threads", "5"]).unwrap(),
            Some(5)
        );
        for (text, extra) in [("", &["--threads", "0"][..]), ("threads = 0\n", &[][..])] {
            let err = threads(text, extra).unwrap_err();
            let err = err.downcast_ref::<clap::Error>().unwrap().to_string();
            assert!(
                err.contains("--threads") && err.contains("must be at least 1"),
                "{err}"
            );
        }
    }
}
