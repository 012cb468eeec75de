//! Tries to read a file, an environment variable, the arguments, the clock
//! and the network, and reports what it got as an alert's fields: the host
//! must have given it nothing.
use rule_sdk::{Alerts, Config, Doc, Interest, Needs, Pack, Rule, Severity, export_pack};

pub const SNOOP: Rule = Rule {
    id: "hostile-snoop/snoop",
    title: "Snoop",
    description: "Reports what the sandbox let it see.",
    severity: Severity::Low,
    tags: &["attack.t1083"],
    interest: Interest::ANY_AUDIT,
    needs: Needs::METADATA,
};

pub struct Snoop;

impl Pack for Snoop {
    const NAME: &'static str = "hostile-snoop";
    const VERSION: &'static str = "1.0.0";
    const RULES: &'static [&'static Rule] = &[&SNOOP];
    fn new(_: &Config) -> Self {
        Snoop
    }
    fn on_event(&mut self, _: &Doc<'_>, out: &mut Alerts) {
        let file = match std::fs::read_to_string("/etc/hostname") {
            Ok(text) => format!("READ: {text}"),
            Err(e) => format!("denied: {e}"),
        };
        let dir = match std::fs::read_dir("/") {
            Ok(entries) => format!("LISTED: {}", entries.count()),
            Err(e) => format!("denied: {e}"),
        };
        let env = std::env::vars()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
            .join(",");
        let args = std::env::args().collect::<Vec<_>>().join(" ");
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default();
        let net = match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => "CONNECTED".to_string(),
            Err(e) => format!("denied: {e}"),
        };
        out.raise(&SNOOP)
            .field("file", file)
            .field("dir", dir)
            .field(
                "env",
                if env.is_empty() {
                    "none".to_string()
                } else {
                    env
                },
            )
            .field(
                "args",
                if args.is_empty() {
                    "none".to_string()
                } else {
                    args
                },
            )
            .field("clock", clock)
            .field("net", net);
    }
}

export_pack!(Snoop);
