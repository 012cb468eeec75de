//! Sigma rules (<https://sigmahq.io>) over Kubernetes audit events: rules
//! written as YAML, loaded at run time, evaluated inside the sandbox like
//! any compiled rule. The k8scop-sigma pack is built on this module.
//!
//! The host reads the `.yml`/`.yaml` files of the rules folders, checks
//! each with [`check_file`] (this same code, so a file the host admits
//! loads in the pack) and hands the admitted ones to the pack as one
//! configuration value, [`SETTING`], written by [`encode`]. The pack builds
//! [`SigmaRules`] from it and evaluates each audit event with them.
//!
//! Parsing and matching are rsigma's (rsigma-parser, rsigma-eval). This
//! module maps the audit event's fields for it ([`AuditFields`], and the
//! documented [`ALIASES`]), derives each rule's interest so the host sends
//! only the events a rule can match, and names the file, rule and line of
//! every problem for operators.

mod bundle;
mod event;
mod fields;
mod interest;
mod load;
mod locate;
mod rules;

pub use bundle::{RuleFile, decode, encode};
pub use event::AuditFields;
pub use fields::{ALIASES, reachable};
pub use load::{Checked, Refusal, check_file, rule_keys};
pub use locate::line_of;
pub use rules::SigmaRules;

/// The configuration key by which the host hands a pack the Sigma files:
/// set by the host, never by the operator.
pub const SETTING: &str = "sigma-rules";
