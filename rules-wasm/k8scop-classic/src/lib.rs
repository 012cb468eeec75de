//! K8sCop's original detections (2019) as one k8scop rule pack: pod
//! enumeration, pod tampering, secrets access and exec into pods on the
//! Kubernetes audit log, root activity and sudo on syslog / auth logs.
//!
//! K8sCop matched regexes on `requestURI`; here the same intent is read from
//! the typed audit event (verb, objectRef, response code), which also sees
//! through URI spellings a regex misses. Control-plane identities are ignored
//! (configurable as `ignore_users`), so cluster chatter raises nothing.
//!
//! Configuration (all optional):
//! - `ignore_users`: comma-separated users, `*` suffix for a prefix.

use rule_sdk::{Alerts, Config, Doc, Event, Interest, Pack, Patterns, Rule, Severity, export_pack};

const PACK: &str = "k8scop-classic";

/// Identities of the control plane and nodes, whose reads of pods and
/// secrets are the cluster working as designed.
pub const DEFAULT_IGNORED_USERS: &[&str] = &[
    "system:apiserver",
    "system:kube-scheduler",
    "system:kube-controller-manager",
    "system:kube-proxy",
    "system:node:*",
    "system:serviceaccount:kube-system:*",
];

pub const PODS_LISTED_ALL_NAMESPACES: Rule = Rule {
    id: "k8scop-classic/pods-listed-all-namespaces",
    title: "Pods listed in all namespaces",
    description: "A user listed the pods of every namespace, a first step of discovery in a cluster.",
    severity: Severity::Medium,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["pods"]),
};

pub const PODS_LISTED: Rule = Rule {
    id: "k8scop-classic/pods-listed",
    title: "Pods listed in a namespace",
    description: "A user listed the pods of one namespace.",
    severity: Severity::Low,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["pods"]),
};

pub const POD_READ: Rule = Rule {
    id: "k8scop-classic/pod-read",
    title: "Pod read",
    description: "A user read one pod's definition (kubectl get pod NAME).",
    severity: Severity::Info,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["get"], &["pods"]),
};

pub const POD_DESCRIBED: Rule = Rule {
    id: "k8scop-classic/pod-described",
    title: "Pod described",
    description: "A user listed the events of one pod, as `kubectl describe pod` does.",
    severity: Severity::Low,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["events"]),
};

pub const POD_CREATED: Rule = Rule {
    id: "k8scop-classic/pod-created",
    title: "Pod created",
    description: "A user created a pod directly (answered 201), outside the controllers that normally create pods.",
    severity: Severity::Medium,
    tags: &["attack.execution", "attack.t1610"],
    interest: Interest::audit(&["create"], &["pods"]),
};

pub const POD_DELETED: Rule = Rule {
    id: "k8scop-classic/pod-deleted",
    title: "Pod deleted",
    description: "A user deleted a pod (answered 200).",
    severity: Severity::Medium,
    tags: &["attack.impact", "attack.t1485"],
    interest: Interest::audit(&["delete"], &["pods"]),
};

pub const SECRETS_LISTED_ALL_NAMESPACES: Rule = Rule {
    id: "k8scop-classic/secrets-listed-all-namespaces",
    title: "Secrets listed in all namespaces",
    description: "A user listed the secrets of every namespace: credential access across the cluster.",
    severity: Severity::High,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["list"], &["secrets"]),
};

pub const SECRETS_LISTED: Rule = Rule {
    id: "k8scop-classic/secrets-listed",
    title: "Secrets listed in a namespace",
    description: "A user listed the secrets of one namespace.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["list"], &["secrets"]),
};

pub const SECRET_READ: Rule = Rule {
    id: "k8scop-classic/secret-read",
    title: "Secret read",
    description: "A user read one secret.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["get"], &["secrets"]),
};

pub const POD_EXEC: Rule = Rule {
    id: "k8scop-classic/pod-exec",
    title: "Command executed in a pod",
    description: "A user ran a command inside a pod's container (kubectl exec); the container and command come from the request URI.",
    severity: Severity::High,
    tags: &["attack.execution", "attack.t1609"],
    interest: Interest::audit(&["create", "get"], &["pods/exec"]),
};

pub const ROOT_ACTIVITY: Rule = Rule {
    id: "k8scop-classic/root-activity",
    title: "Root activity detected",
    description: "A session for root was opened on a node (su, sudo -i, login).",
    severity: Severity::High,
    tags: &["attack.privilege-escalation", "attack.t1078.003"],
    interest: Interest::OTHER,
};

pub const USER_SUDOED: Rule = Rule {
    id: "k8scop-classic/user-sudoed",
    title: "User sudoed",
    description: "A user ran a command with sudo on a node.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1548.003"],
    interest: Interest::OTHER,
};

pub struct Classic {
    ignored_users: Patterns,
}

impl Pack for Classic {
    const NAME: &'static str = PACK;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const RULES: &'static [&'static Rule] = &[
        &PODS_LISTED_ALL_NAMESPACES,
        &PODS_LISTED,
        &POD_READ,
        &POD_DESCRIBED,
        &POD_CREATED,
        &POD_DELETED,
        &SECRETS_LISTED_ALL_NAMESPACES,
        &SECRETS_LISTED,
        &SECRET_READ,
        &POD_EXEC,
        &ROOT_ACTIVITY,
        &USER_SUDOED,
    ];

    fn new(config: &Config) -> Self {
        Classic {
            ignored_users: config.patterns("ignore_users", DEFAULT_IGNORED_USERS),
        }
    }

    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts) {
        match doc {
            Doc::Audit(event) => self.on_audit(event, out),
            Doc::Other(_) => {
                if let Some(message) = doc.message() {
                    on_syslog(doc, message, out);
                }
            }
        }
    }
}

impl Classic {
    fn on_audit(&self, e: &Event, out: &mut Alerts) {
        // One request is logged at several stages; count it once, when its
        // answer is known.
        if !e.is_final_stage() || self.ignored_users.matches(e.username()) {
            return;
        }
        let all_namespaces = e.namespace().is_empty();
        let rule = match (e.verb.as_str(), e.resource(), e.subresource()) {
            ("list", "pods", "") if all_namespaces => &PODS_LISTED_ALL_NAMESPACES,
            ("list", "pods", "") => &PODS_LISTED,
            ("get", "pods", "") => &POD_READ,
            ("list", "events", "") if describes_a_pod(e) => &POD_DESCRIBED,
            ("create", "pods", "") if e.response_code() == Some(201) => &POD_CREATED,
            ("delete", "pods", "") if e.response_code() == Some(200) => &POD_DELETED,
            ("list", "secrets", "") if all_namespaces => &SECRETS_LISTED_ALL_NAMESPACES,
            ("list", "secrets", "") => &SECRETS_LISTED,
            ("get", "secrets", "") => &SECRET_READ,
            ("create" | "get", "pods", "exec") => return self.on_exec(e, out),
            _ => return,
        };
        // Reads and tampering only count when the API server allowed them.
        if !e.was_allowed() {
            return;
        }
        out.raise(rule)
            .group(&[e.username(), e.namespace(), e.name()])
            .audit_context(e);
    }

    fn on_exec(&self, e: &Event, out: &mut Alerts) {
        if !e.was_allowed() {
            return;
        }
        let container = e.query_param("container").unwrap_or_default();
        let command = e.query_param("command").unwrap_or_default();
        out.raise(&POD_EXEC)
            .title(format!(
                "Command executed in pod {}/{}",
                e.namespace(),
                e.name()
            ))
            .group(&[e.username(), e.namespace(), e.name(), &container, &command])
            .audit_context(e)
            .field("pod", e.name())
            .field("container", container)
            .field("command", command);
    }
}

/// `kubectl describe pod` lists the events whose involved object is the pod.
fn describes_a_pod(e: &Event) -> bool {
    e.query_param("fieldSelector").is_some_and(|s| {
        s.contains("involvedObject.name=") && !s.contains("involvedObject.kind=Node")
    })
}

fn on_syslog(doc: &Doc<'_>, message: &str, out: &mut Alerts) {
    let host = doc
        .str_field("host.name")
        .or_else(|| doc.str_field("hostname"))
        .or_else(|| doc.str_field("host"))
        .unwrap_or_default();
    if let Some(sudo) = parse_sudo(message) {
        out.raise(&USER_SUDOED)
            .title(format!("User {} sudoed", sudo.user))
            .group(&[host, sudo.user, sudo.command])
            .field("host", host)
            .field("user", sudo.user)
            .field("target_user", sudo.target_user)
            .field("command", sudo.command)
            .field("message", message);
    } else if let Some(via) = root_session(message) {
        out.raise(&ROOT_ACTIVITY)
            .group(&[host, via])
            .field("host", host)
            .field("user", "root")
            .field("via", via)
            .field("message", message);
    }
}

struct Sudo<'a> {
    user: &'a str,
    target_user: &'a str,
    command: &'a str,
}

/// `sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls`
fn parse_sudo(message: &str) -> Option<Sudo<'_>> {
    let rest = &message[message.find("sudo:")? + "sudo:".len()..];
    let (user, details) = rest.split_once(" : ")?;
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let mut sudo = Sudo {
        user,
        target_user: "",
        command: "",
    };
    for part in details.split(" ; ") {
        if let Some(v) = part.trim().strip_prefix("USER=") {
            sudo.target_user = v;
        } else if let Some(v) = part.trim().strip_prefix("COMMAND=") {
            sudo.command = v;
        }
    }
    (!sudo.command.is_empty()).then_some(sudo)
}

/// How a root session was opened, if this line records one.
fn root_session(message: &str) -> Option<&'static str> {
    let m = message;
    if m.contains("session opened for user root") {
        Some(if m.contains("su:") || m.contains("su-l:") {
            "su"
        } else if m.contains("sudo:") {
            "sudo"
        } else if m.contains("sshd") {
            "ssh"
        } else {
            "login"
        })
    } else if m.contains("Accepted") && m.contains(" for root from ") {
        Some("ssh")
    } else if m.contains("(to root)") {
        Some("su")
    } else {
        None
    }
}

export_pack!(Classic);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_lines() {
        let s = parse_sudo("Feb 12 12:30:00 node-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow").unwrap();
        assert_eq!(
            (s.user, s.target_user, s.command),
            ("alice", "root", "/usr/bin/cat /etc/shadow")
        );
        assert!(parse_sudo("sudo: pam_unix(sudo:session): session opened for user root").is_none());
        assert!(parse_sudo("nothing to see").is_none());
    }

    #[test]
    fn root_sessions() {
        assert_eq!(
            root_session(
                "su: pam_unix(su:session): session opened for user root by alice(uid=1000)"
            ),
            Some("su")
        );
        assert_eq!(
            root_session("sshd[1]: Accepted publickey for root from 10.1.1.1 port 22"),
            Some("ssh")
        );
        assert_eq!(
            root_session("sshd[1]: Accepted publickey for alice from 10.1.1.1 port 22"),
            None
        );
    }
}
