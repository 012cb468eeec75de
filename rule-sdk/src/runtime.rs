//! The glue between the WIT exports and a [`Pack`]; used by [`export_pack!`]
//! and by [`crate::native`], so WASM and native runs execute the same code.

use std::cell::RefCell;

use crate::bindings::k8scop::rules::host::LogLevel;
use crate::bindings::k8scop::rules::types as wit;
use crate::{Alerts, Config, Doc, Event, EventKind, Pack, Value};

/// The pack instance, created on first use with the operator's config.
pub struct PackCell<P>(RefCell<Option<P>>);

impl<P: Pack> PackCell<P> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        PackCell(RefCell::new(None))
    }

    pub fn evaluate_wit(&self, events: Vec<wit::Event>) -> Result<Vec<wit::Alert>, String> {
        let mut slot = self.0.borrow_mut();
        let pack = slot.get_or_insert_with(|| P::new(&Config::new()));
        Ok(evaluate_batch(
            pack,
            events.iter().map(|e| (e.kind, e.json.as_str())),
        ))
    }
}

pub fn describe<P: Pack>() -> wit::PackInfo {
    wit::PackInfo {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        rules: P::RULES.iter().map(|r| r.to_wit()).collect(),
    }
}

/// Parse each event once and hand it to the pack. An event the pack cannot
/// parse is logged (with its batch index) and skipped: the host already
/// validated it as JSON, so this means a field of an unexpected type.
pub fn evaluate_batch<'a, P: Pack>(
    pack: &mut P,
    events: impl Iterator<Item = (EventKind, &'a str)>,
) -> Vec<wit::Alert> {
    let mut out = Alerts::new();
    for (index, (kind, json)) in events.enumerate() {
        out.event_index = index as u32;
        let first_new = out.raised.len();
        let time = match kind {
            EventKind::Audit => match serde_json::from_str::<Event>(json) {
                Ok(event) => {
                    pack.on_event(&Doc::Audit(&event), &mut out);
                    event_time_if_raised(&out, first_new, || Doc::Audit(&event).time().to_string())
                }
                Err(e) => {
                    host_log(
                        LogLevel::Warn,
                        &format!("event {index}: not an audit event: {e}"),
                    );
                    None
                }
            },
            EventKind::Other => match serde_json::from_str::<Value>(json) {
                Ok(value) => {
                    pack.on_event(&Doc::Other(&value), &mut out);
                    event_time_if_raised(&out, first_new, || Doc::Other(&value).time().to_string())
                }
                Err(e) => {
                    host_log(LogLevel::Warn, &format!("event {index}: invalid JSON: {e}"));
                    None
                }
            },
        };
        // The event's time is copied only into alerts that were raised.
        if let Some(time) = time {
            for alert in &mut out.raised[first_new..] {
                if alert.event_time.is_empty() {
                    alert.event_time.clone_from(&time);
                }
            }
        }
    }
    out.raised
}

fn event_time_if_raised(
    out: &Alerts,
    first_new: usize,
    time: impl FnOnce() -> String,
) -> Option<String> {
    (out.raised.len() > first_new).then(time)
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn host_config(key: &str) -> Option<String> {
    crate::bindings::k8scop::rules::host::config(key)
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn host_log(level: LogLevel, message: &str) {
    crate::bindings::k8scop::rules::host::log(level, message)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn host_config(key: &str) -> Option<String> {
    crate::native::config_value(key)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn host_log(level: LogLevel, message: &str) {
    crate::native::log(level, message)
}
