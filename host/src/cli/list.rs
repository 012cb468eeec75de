//! `k8scop rules list`: the packs of the rules folder and their rules, the
//! files refused, and optionally what an audit Policy leaves them blind to.

use std::process::ExitCode;

use super::{EXIT_INCOMPLETE, RulesArgs, load_engine};

pub(crate) fn list(args: RulesArgs, policy: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
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
                "  {:<48} {:<8} {:<8} {}  [{}]",
                rule.id,
                rule.severity.as_str(),
                rule.needs.level.as_str(),
                rule.title,
                rule.tags.join(", ")
            );
        }
        for setting in &meta.info.settings {
            if setting.key == rule_sdk::sigma::SETTING {
                println!(
                    "  Sigma files: the .yml/.yaml files of the rules folders (set by k8scop)"
                );
                continue;
            }
            println!(
                "  setting {} ({}, default {:?})",
                setting.key,
                setting.kind.as_str(),
                setting.default,
            );
        }
    }
    // Replaced by a later folder's pack of the same name: not loaded, and
    // not an error.
    for (path, shadowed) in engine.shadowed() {
        println!(
            "{} ({}) shadowed by {}",
            shadowed.name,
            path.display(),
            shadowed.by.display()
        );
    }
    for (path, error) in &refused {
        println!("{} {error}", path.display());
    }
    if let Some(path) = policy {
        let policy = crate::audit_policy::Policy::read(path)?;
        let rules = engine.packs().flat_map(|meta| meta.info.rules.iter());
        let shortfalls = policy.check(rules);
        if shortfalls.is_empty() {
            println!(
                "audit Policy {}: every rule sees what it needs",
                path.display()
            );
        } else {
            println!(
                "audit Policy {}: {} shortfalls",
                path.display(),
                shortfalls.len()
            );
            for shortfall in &shortfalls {
                println!("  {shortfall}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INCOMPLETE)
    })
}
