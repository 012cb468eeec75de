//! The key of an identity's state. A fleet's audit logs may share one
//! index, and the same user name (or source address) in two clusters is two
//! identities: state is kept per cluster, where the host names it.

use rule_sdk::Event;

/// `name` (a user name or an address) within the event's cluster.
pub fn in_cluster(e: &Event, name: &str) -> String {
    match e.cluster() {
        "" => name.to_string(),
        cluster => format!("{cluster}\u{1f}{name}"),
    }
}
