//! # rule-sdk: write k8scop detection rules in Rust
//!
//! A *rule pack* is one WebAssembly component holding one or more rules. You
//! declare your rules as [`Rule`] constants, implement [`Pack`] and call
//! [`export_pack!`] once; `cargo build --target wasm32-wasip2 --release`
//! then produces the `.wasm` that k8scop loads from its rules folder.
//!
//! ```
//! use rule_sdk::*;
//!
//! const SECRETS_LISTED: Rule = Rule {
//!     id: "my-pack/secrets-listed",
//!     title: "Secrets listed",
//!     description: "Someone listed secrets.",
//!     severity: Severity::Medium,
//!     tags: &["attack.t1552.007"],
//!     interest: Interest::audit(&["list"], &["secrets"]),
//!     // What the cluster's audit Policy must log (checked by
//!     // `k8scop rules list --policy`).
//!     needs: Needs::METADATA,
//! };
//!
//! #[derive(Default)]
//! struct MyPack;
//!
//! impl Pack for MyPack {
//!     const NAME: &'static str = "my-pack";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const RULES: &'static [&'static Rule] = &[&SECRETS_LISTED];
//!     fn new(_config: &Config) -> Self { MyPack }
//!     fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
//!         let Some(e) = doc.audit() else { return };
//!         if e.verb == "list" && e.resource() == "secrets" && e.succeeded() {
//!             out.raise(&SECRETS_LISTED).group(&[e.username()]).field("user", e.username());
//!         }
//!     }
//! }
//!
//! export_pack!(MyPack);
//!
//! // Natively (tests, benchmarks), the same pack runs without WebAssembly:
//! let mut pack = rule_sdk::native::NativePack::<MyPack>::new(&[]);
//! let listing = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"list",
//!     "user":{"username":"alice"},"objectRef":{"resource":"secrets"},
//!     "responseStatus":{"code":200},"stageTimestamp":"2024-03-01T10:00:00Z"}"#;
//! let alerts = pack.evaluate([(EventKind::Audit, listing)]);
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].rule_id, "my-pack/secrets-listed");
//! assert_eq!(alerts[0].event_index, 0);
//! ```
//!
//! The wit-bindgen bindings are generated here once, so rule authors never
//! see them. The same pack also links natively (as an `rlib`), which is how
//! the benchmarks compare WASM with native Rust; see [`native`].

extern crate self as rule_sdk;

pub mod audit;
mod bytes;
pub mod config;
pub mod control_plane;
pub mod doc;
pub mod fnv;
mod host;
pub mod image;
pub mod log;
mod memcmp;
pub mod native;
pub mod object;
pub mod owner;
pub mod pack;
pub mod patch;
pub mod patterns;
pub mod pod;
pub mod rbac;
#[cfg(feature = "sigma")]
pub mod sigma;
#[cfg_attr(not(all(feature = "talc", target_family = "wasm")), allow(dead_code))]
mod small_blocks;
pub mod time;
pub mod uri;
#[doc(hidden)]
pub mod wire;

#[doc(hidden)]
pub mod runtime;

pub use audit::{Body, Event, ObjectReference, ResponseStatus, Text, UserInfo};
pub use config::Config;
pub use control_plane::{ControlPlane, IgnoreList, Verdict};
pub use doc::Doc;
pub use pack::{
    Alerts, AuditLevel, AuditStage, EventContext, Interest, Needs, Pack, RaisedAlert, Rule,
    RuleInfo, STATELESS_TAG,
};
pub use patterns::Patterns;
pub use pod::{Container, ContainerKind, PodSpec};
pub use rbac::{Binding, PolicyRule, Role, RoleRef, Subject};
pub use serde_json;
pub use serde_json::Value;

/// The kind of document an event is.
pub use bindings::k8scop::rules::types::EventKind;
/// The severity of a rule or an alert.
pub use bindings::k8scop::rules::types::Severity;

/// Bindings generated from `wit/`, the host contract. Rule authors do not
/// need them; [`export_pack!`] wires a [`Pack`] to them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "pack",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_pack_world",
        default_bindings_module: "::rule_sdk::bindings",
        runtime_path: "::rule_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Talc instead of the standard library's dlmalloc inside the sandbox: a
/// pack allocates for every alert and every parsed body, and dlmalloc's
/// malloc and free were a sixth of the Falco pack's time (BENCHMARKS.md);
/// small blocks are reused before Talc is asked ([`small_blocks`]).
/// A pack that brings its own allocator turns off the `talc` feature.
#[cfg(all(
    feature = "talc",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: small_blocks::SmallBlocks<talc::wasm::WasmDynamicTalc> =
    small_blocks::SmallBlocks::new(talc::wasm::new_wasm_dynamic_allocator());

/// Export a type implementing [`Pack`] as this component's rule pack.
/// Call it once, at the root of the pack's crate.
#[macro_export]
macro_rules! export_pack {
    ($pack:ty) => {
        // Only a WebAssembly build exports the contract; natively (tests,
        // benchmarks, `rules::native`) the pack is plain Rust, and the
        // export names (`k8scop:rules/rule-pack@0.4.0#evaluate`) are not
        // valid native symbols.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __K8scopPackExport;

            ::std::thread_local! {
                static __K8SCOP_PACK: $crate::runtime::PackCell<$pack> =
                    $crate::runtime::PackCell::new();
            }

            impl $crate::bindings::exports::k8scop::rules::rule_pack::Guest for __K8scopPackExport {
                fn describe() -> $crate::bindings::k8scop::rules::types::PackInfo {
                    $crate::runtime::describe::<$pack>()
                }

                fn evaluate(
                    batch: $crate::bindings::k8scop::rules::types::Batch,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::bindings::k8scop::rules::types::Alert>,
                    ::std::string::String,
                > {
                    __K8SCOP_PACK.with(|cell| cell.evaluate_wit(batch))
                }
            }

            $crate::bindings::__export_pack_world!(__K8scopPackExport with_types_in $crate::bindings);
        };
    };
}
