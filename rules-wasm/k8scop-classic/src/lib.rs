//! K8sCop's original detections (2019) as one k8scop rule pack: pod
//! enumeration, pod tampering, secrets access and exec into pods on the
//! Kubernetes audit log, root activity and sudo on syslog / auth logs.
//!
//! K8sCop matched regexes on `requestURI`; here the same intent is read from
//! the typed audit event (verb, objectRef, response code), which also sees
//! through URI spellings a regex misses. Control-plane identities are ignored
//! (configurable as `ignore_users`), so cluster chatter raises nothing; but
//! only while each sends its component's user agent (the table of
//! [`rule_sdk::control_plane`]): a controller's token used from kubectl is
//! seen like anyone's.
//!
//! Configuration (all optional):
//! - `ignore_users`: comma-separated users, `*` suffix for a prefix
//!   (default: the control plane's identities).
//! - `control_plane_distributions`, `control_plane_agents`: the table of
//!   control-plane components and their agents.

use rule_sdk::{
    Alerts, Config, Doc, Event, IgnoreList, Interest, Needs, Pack, Rule, Severity, export_pack,
};

const PACK: &str = "k8scop-classic";

pub const PODS_LISTED_ALL_NAMESPACES: Rule = Rule {
    id: "k8scop-classic/pods-listed-all-namespaces",
    title: "Pods listed in all namespaces",
    description: "A user listed the pods of every namespace, a first step of discovery in a cluster.",
    severity: Severity::Medium,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["pods"]),
    needs: Needs::METADATA,
};

pub const PODS_LISTED: Rule = Rule {
    id: "k8scop-classic/pods-listed",
    title: "Pods listed in a namespace",
    description: "A user listed the pods of one namespace.",
    severity: Severity::Low,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["pods"]),
    needs: Needs::METADATA,
};

pub const POD_READ: Rule = Rule {
    id: "k8scop-classic/pod-read",
    title: "Pod read",
    description: "A user read one pod's definition (kubectl get pod NAME).",
    severity: Severity::Info,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["get"], &["pods"]),
    needs: Needs::METADATA,
};

pub const POD_DESCRIBED: Rule = Rule {
    id: "k8scop-classic/pod-described",
    title: "Pod described",
    description: "A user listed the events of one pod, as `kubectl describe pod` does.",
    severity: Severity::Low,
    tags: &["attack.discovery", "attack.t1613"],
    interest: Interest::audit(&["list"], &["events"]),
    needs: Needs::METADATA,
};

pub const POD_CREATED: Rule = Rule {
    id: "k8scop-classic/pod-created",
    title: "Pod created",
    description: "A user created a pod directly (answered 201), outside the controllers that normally create pods.",
    severity: Severity::Medium,
    tags: &["attack.execution", "attack.t1610"],
    interest: Interest::audit(&["create"], &["pods"]),
    needs: Needs::METADATA,
};

pub const POD_DELETED: Rule = Rule {
    id: "k8scop-classic/pod-deleted",
    title: "Pod deleted",
    description: "A user deleted a pod (answered 200).",
    severity: Severity::Medium,
    tags: &["attack.impact", "attack.t1485"],
    interest: Interest::audit(&["delete"], &["pods"]),
    needs: Needs::METADATA,
};

pub const SECRETS_LISTED_ALL_NAMESPACES: Rule = Rule {
    id: "k8scop-classic/secrets-listed-all-namespaces",
    title: "Secrets listed in all namespaces",
    description: "A user listed the secrets of every namespace: credential access across the cluster.",
    severity: Severity::High,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["list"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const SECRETS_LISTED: Rule = Rule {
    id: "k8scop-classic/secrets-listed",
    title: "Secrets listed in a namespace",
    description: "A user listed the secrets of one namespace.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["list"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const SECRET_READ: Rule = Rule {
    id: "k8scop-classic/secret-read",
    title: "Secret read",
    description: "A user read one secret.",
    severity: Severity::Medium,
    tags: &["attack.credential-access", "attack.t1552.007"],
    interest: Interest::audit(&["get"], &["secrets"]),
    needs: Needs::METADATA,
};

pub const POD_EXEC: Rule = Rule {
    id: "k8scop-classic/pod-exec",
    title: "Command executed in a pod",
    description: "A user ran a command inside a pod's container (kubectl exec); the container and command come from the request URI.",
    severity: Severity::High,
    tags: &["attack.execution", "attack.t1609"],
    interest: Interest::audit(&["create", "get"], &["pods/exec"]),
    needs: Needs::METADATA.while_open(),
};

pub const ROOT_ACTIVITY: Rule = Rule {
    id: "k8scop-classic/root-activity",
    title: "Root activity detected",
    description: "A session for root was opened on a node (su, sudo -i, login).",
    severity: Severity::High,
    tags: &["attack.privilege-escalation", "attack.t1078.003"],
    interest: Interest::OTHER,
    needs: Needs::METADATA,
};

pub const USER_SUDOED: Rule = Rule {
    id: "k8scop-classic/user-sudoed",
    title: "User sudoed",
    description: "A user ran a command with sudo on a node.",
    severity: Severity::Medium,
    tags: &["attack.privilege-escalation", "attack.t1548.003"],
    interest: Interest::OTHER,
    needs: Needs::METADATA,
};

pub struct Classic {
    ignored_users: IgnoreList,
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
    // Each alert depends on its event alone: the host may run several
    // instances side by side.
    const STATELESS: bool = true;

    fn new(config: &Config) -> Self {
        Classic {
            ignored_users: IgnoreList::from_config(config),
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
        // The host hands over each request once, at the stage that decided
        // it (ResponseStarted for an exec); RequestReceived has no answer.
        if !e.carries_decision() || self.ignored_users.ignores(e) {
            return;
        }
        // Only the core API group's pods and secrets (metrics.k8s.io also
        // has "pods"), and only requests that were not dry runs.
        if !e.api_group().is_empty() || e.has_query_param("dryRun") {
            return;
        }
        let all_namespaces = e.namespace().is_empty();
        let rule = match (e.verb.as_ref(), e.resource(), e.subresource()) {
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
            .audit_context();
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
            .audit_context()
            .field("pod", e.name())
            .field("container", container)
            .field("command", command);
    }
}

/// `kubectl describe pod` lists the events whose involved object is the pod.
fn describes_a_pod(e: &Event) -> bool {
    e.query_param("fieldSelector").is_some_and(|s| {
        let terms: Vec<&str> = s.split(',').collect();
        terms.iter().any(|t| t.starts_with("involvedObject.name="))
            && terms.contains(&"involvedObject.kind=Pod")
    })
}

fn on_syslog(doc: &Doc<'_>, message: &str, out: &mut Alerts) {
    let host = doc
        .str_field("host.name")
        .or_else(|| doc.str_field("hostname"))
        .or_else(|| doc.str_field("host"))
        .unwrap_or_default();
    // Syslog parsers may split the program name out of the message.
    let program = ["ident", "process.name", "syslog.appname"]
        .iter()
        .find_map(|f| doc.str_field(f))
        .unwrap_or_default();
    if let Some(sudo) = parse_sudo(message, program == "sudo") {
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
/// (also `sudo[123]:`, or the bare `alice : ...` when a syslog parser has
/// already taken the program name out). Refusals (`user NOT in sudoers ;
/// ...`, `3 incorrect password attempts ; ...`) name a COMMAND that never
/// ran: the first part of a command that ran is a `KEY=value`.
fn parse_sudo(message: &str, program_is_sudo: bool) -> Option<Sudo<'_>> {
    let rest = match sudo_tag_end(message) {
        Some(end) => &message[end..],
        None if program_is_sudo => message,
        None => return None,
    };
    let (user, details) = rest.split_once(" : ")?;
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let mut parts = details.split(" ; ").map(str::trim).peekable();
    let ran = parts
        .peek()
        .and_then(|first| first.split_once('='))
        .is_some_and(|(key, _)| !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase()));
    if !ran {
        return None;
    }
    let mut sudo = Sudo {
        user,
        target_user: "",
        command: "",
    };
    for part in parts {
        if let Some(v) = part.strip_prefix("USER=") {
            sudo.target_user = v;
        } else if let Some(v) = part.strip_prefix("COMMAND=") {
            sudo.command = v;
        }
    }
    (!sudo.command.is_empty()).then_some(sudo)
}

/// Where the text after a `sudo:` or `sudo[PID]:` program tag starts.
fn sudo_tag_end(message: &str) -> Option<usize> {
    message.match_indices("sudo").find_map(|(start, _)| {
        if start > 0 && message.as_bytes()[start - 1] != b' ' {
            return None;
        }
        let after = &message[start + "sudo".len()..];
        let rest = after.strip_prefix(':').or_else(|| {
            let (pid, rest) = after.strip_prefix('[')?.split_once("]:")?;
            (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
        })?;
        Some(message.len() - rest.len())
    })
}

/// How a root session was opened, if this line records one. Cron's
/// sessions for root (every minute on most nodes) and failed attempts are
/// not root activity.
fn root_session(m: &str) -> Option<&'static str> {
    if m.contains("FAILED") || m.contains("cron:session") || m.contains("CRON[") {
        return None;
    }
    if opens_session_for_root(m) {
        Some(if m.contains("su:") || m.contains("su-l:") {
            "su"
        } else if m.contains("sudo:") || m.contains("sudo[") {
            "sudo"
        } else if m.contains("sshd") {
            "ssh"
        } else {
            "login"
        })
    } else if m.contains("Accepted ") && m.contains(" for root from ") {
        Some("ssh")
    } else if m.contains("(to root)") {
        Some("su")
    } else {
        None
    }
}

/// `session opened for user root` with `root` as the whole user name
/// (then the end, a space or `(uid=0)`), not `rootless`.
fn opens_session_for_root(m: &str) -> bool {
    const OPENED: &str = "session opened for user root";
    m.match_indices(OPENED)
        .any(|(i, _)| matches!(m[i + OPENED.len()..].chars().next(), None | Some(' ' | '(')))
}

export_pack!(Classic);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_lines() {
        let line = "Feb 12 12:30:00 node-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow";
        let s = parse_sudo(line, false).unwrap();
        assert_eq!(
            (s.user, s.target_user, s.command),
            ("alice", "root", "/usr/bin/cat /etc/shadow")
        );
        let s = parse_sudo(
            "node-1 sudo[2345]:    bob : TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
            false,
        )
        .unwrap();
        assert_eq!((s.user, s.command), ("bob", "/bin/sh"));
        let bare = "carol : TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/id";
        assert_eq!(parse_sudo(bare, true).unwrap().user, "carol");
        assert!(parse_sudo(bare, false).is_none());
        for refused in [
            "sudo: pam_unix(sudo:session): session opened for user root",
            "sudo: bob : user NOT in sudoers ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/bash",
            "sudo: alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
            "pseudo: x : TTY=a ; COMMAND=b",
            "nothing to see",
        ] {
            assert!(parse_sudo(refused, false).is_none(), "{refused}");
        }
    }

    #[test]
    fn root_sessions() {
        let cases = [
            (
                "su: pam_unix(su:session): session opened for user root by alice(uid=1000)",
                Some("su"),
            ),
            (
                "sshd[1]: Accepted publickey for root from 10.1.1.1 port 22",
                Some("ssh"),
            ),
            (
                "login[7]: pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0)",
                Some("login"),
            ),
            (
                "sshd[1]: Accepted publickey for alice from 10.1.1.1 port 22",
                None,
            ),
            ("su[4411]: FAILED SU (to root) alice on pts/0", None),
            (
                "CRON[5120]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                None,
            ),
            (
                "login[7]: pam_unix(login:session): session opened for user rootless(uid=1001)",
                None,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(root_session(line), want, "{line}");
        }
    }
}
