//! MITRE ATT&CK names for the tags rules carry: a rule says
//! `["attack.credential-access", "attack.t1552.007"]`, an alert document
//! says `threat.tactic.name: "Credential Access"` and
//! `threat.technique.subtechnique.name: "Container API"`, as ECS and Elastic
//! Security expect. The table holds what the shipped rules use (a test
//! fails for a rule tag missing here); names and ids are MITRE's
//! (Enterprise matrix).

use serde_json::{Value, json};

/// ECS `threat.framework`.
pub const FRAMEWORK: &str = "MITRE ATT&CK";

/// Tactics: (tag, id, name).
pub const TACTICS: &[(&str, &str, &str)] = &[
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// Techniques and sub-techniques: (id, name, tactic tags). A technique
/// belongs to one or more tactics (the first is used when a rule names none
/// of them); a sub-technique's tactics are its parent's.
pub const TECHNIQUES: &[(&str, &str, &[&str])] = &[
    (
        "T1027",
        "Obfuscated Files or Information",
        &["defense-evasion"],
    ),
    ("T1027.004", "Compile After Delivery", &[]),
    ("T1036", "Masquerading", &["defense-evasion"]),
    (
        "T1036.005",
        "Match Legitimate Resource Name or Location",
        &[],
    ),
    (
        "T1040",
        "Network Sniffing",
        &["credential-access", "discovery"],
    ),
    (
        "T1053",
        "Scheduled Task/Job",
        &["execution", "persistence", "privilege-escalation"],
    ),
    ("T1053.007", "Container Orchestration Job", &[]),
    ("T1059", "Command and Scripting Interpreter", &["execution"]),
    ("T1069", "Permission Groups Discovery", &["discovery"]),
    ("T1069.003", "Cloud Groups", &[]),
    ("T1070", "Indicator Removal", &["defense-evasion"]),
    (
        "T1078",
        "Valid Accounts",
        &[
            "defense-evasion",
            "persistence",
            "privilege-escalation",
            "initial-access",
        ],
    ),
    ("T1078.001", "Default Accounts", &[]),
    ("T1078.003", "Local Accounts", &[]),
    ("T1087", "Account Discovery", &["discovery"]),
    ("T1087.004", "Cloud Account", &[]),
    (
        "T1098",
        "Account Manipulation",
        &["persistence", "privilege-escalation"],
    ),
    ("T1098.001", "Additional Cloud Credentials", &[]),
    ("T1098.006", "Additional Container Cluster Roles", &[]),
    ("T1105", "Ingress Tool Transfer", &["command-and-control"]),
    ("T1110", "Brute Force", &["credential-access"]),
    (
        "T1133",
        "External Remote Services",
        &["persistence", "initial-access"],
    ),
    (
        "T1134",
        "Access Token Manipulation",
        &["defense-evasion", "privilege-escalation"],
    ),
    ("T1136", "Create Account", &["persistence"]),
    ("T1204", "User Execution", &["execution"]),
    ("T1204.003", "Malicious Image", &[]),
    ("T1485", "Data Destruction", &["impact"]),
    ("T1489", "Service Stop", &["impact"]),
    (
        "T1528",
        "Steal Application Access Token",
        &["credential-access"],
    ),
    ("T1531", "Account Access Removal", &["impact"]),
    (
        "T1543",
        "Create or Modify System Process",
        &["persistence", "privilege-escalation"],
    ),
    (
        "T1546",
        "Event Triggered Execution",
        &["privilege-escalation", "persistence"],
    ),
    (
        "T1548",
        "Abuse Elevation Control Mechanism",
        &["privilege-escalation", "defense-evasion"],
    ),
    ("T1548.003", "Sudo and Sudo Caching", &[]),
    (
        "T1550",
        "Use Alternate Authentication Material",
        &["defense-evasion", "lateral-movement"],
    ),
    ("T1550.001", "Application Access Token", &[]),
    ("T1552", "Unsecured Credentials", &["credential-access"]),
    ("T1552.005", "Cloud Instance Metadata API", &[]),
    ("T1552.007", "Container API", &[]),
    ("T1562", "Impair Defenses", &["defense-evasion"]),
    ("T1562.001", "Disable or Modify Tools", &[]),
    ("T1564", "Hide Artifacts", &["defense-evasion"]),
    ("T1565", "Data Manipulation", &["impact"]),
    ("T1565.001", "Stored Data Manipulation", &[]),
    ("T1572", "Protocol Tunneling", &["command-and-control"]),
    ("T1609", "Container Administration Command", &["execution"]),
    (
        "T1610",
        "Deploy Container",
        &["defense-evasion", "execution"],
    ),
    ("T1611", "Escape to Host", &["privilege-escalation"]),
    ("T1613", "Container and Resource Discovery", &["discovery"]),
    (
        "T1649",
        "Steal or Forge Authentication Certificates",
        &["credential-access"],
    ),
];

/// A tactic by its tag ("credential-access"): (id, name).
pub fn tactic(tag: &str) -> Option<(&'static str, &'static str)> {
    TACTICS
        .iter()
        .find(|(t, _, _)| *t == tag)
        .map(|(_, id, name)| (*id, *name))
}

/// A technique or sub-technique by its id ("T1552.007"): (name, tactics).
pub fn technique(id: &str) -> Option<(&'static str, &'static [&'static str])> {
    TECHNIQUES
        .iter()
        .find(|(i, _, _)| i.eq_ignore_ascii_case(id))
        .map(|(_, name, tactics)| (*name, *tactics))
}

/// What an `attack.*` tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Tactic(&'static str),
    /// A technique id, upper case ("T1552.007").
    Technique(String),
}

/// Read an `attack.*` tag: `Some(Err(tag))` for one the table lacks,
/// `None` for a tag that is not ATT&CK's.
pub fn parse_tag(tag: &str) -> Option<Result<Tag, String>> {
    let rest = tag.strip_prefix("attack.")?;
    if let Some((t, _, _)) = TACTICS.iter().find(|(t, _, _)| *t == rest) {
        return Some(Ok(Tag::Tactic(t)));
    }
    let id = rest.to_ascii_uppercase();
    let known = id.starts_with('T') && technique(&id).is_some();
    Some(if known {
        Ok(Tag::Technique(id))
    } else {
        Err(tag.to_string())
    })
}

/// ECS `threat`: one entry per tactic, each with the rule's techniques of
/// that tactic (sub-techniques under their technique), the shape Elastic
/// Security's own alerts have. A technique goes under the rule's tactic
/// tags it belongs to, else under its first tactic. Empty without tags.
pub fn threat(tags: &[String]) -> Value {
    let parsed: Vec<Tag> = tags.iter().filter_map(|t| parse_tag(t)?.ok()).collect();
    let rule_tactics: Vec<&str> = parsed
        .iter()
        .filter_map(|t| match t {
            Tag::Tactic(t) => Some(*t),
            Tag::Technique(_) => None,
        })
        .collect();
    // Techniques (parents) with their sub-techniques, in tag order.
    let mut techniques: Vec<(String, Vec<String>)> = Vec::new();
    for tag in &parsed {
        let Tag::Technique(id) = tag else { continue };
        let (parent, sub) = match id.split_once('.') {
            Some((p, _)) => (p.to_string(), Some(id.clone())),
            None => (id.clone(), None),
        };
        let at = match techniques.iter().position(|(p, _)| *p == parent) {
            Some(at) => at,
            None => {
                techniques.push((parent, Vec::new()));
                techniques.len() - 1
            }
        };
        if let Some(sub) = sub
            && !techniques[at].1.contains(&sub)
        {
            techniques[at].1.push(sub);
        }
    }
    // Tactic tag -> the techniques filed under it.
    let mut by_tactic: Vec<(&str, Vec<Value>)> =
        rule_tactics.iter().map(|t| (*t, Vec::new())).collect();
    for (parent, subs) in &techniques {
        let Some((name, tactics)) = technique(parent) else {
            continue;
        };
        let mine: Vec<&str> = tactics
            .iter()
            .copied()
            .filter(|t| rule_tactics.contains(t))
            .collect();
        let homes = if mine.is_empty() {
            tactics.first().copied().into_iter().collect()
        } else {
            mine
        };
        let entry = technique_entry(parent, name, subs);
        for home in homes {
            match by_tactic.iter_mut().find(|(t, _)| *t == home) {
                Some((_, list)) => list.push(entry.clone()),
                None => by_tactic.push((home, vec![entry.clone()])),
            }
        }
    }
    Value::Array(
        by_tactic
            .into_iter()
            .filter_map(|(tag, techniques)| {
                let (id, name) = tactic(tag)?;
                let mut entry = json!({
                    "framework": FRAMEWORK,
                    "tactic": {"id": id, "name": name, "reference": reference("tactics", id)},
                });
                if !techniques.is_empty() {
                    entry["technique"] = Value::Array(techniques);
                }
                Some(entry)
            })
            .collect(),
    )
}

fn technique_entry(id: &str, name: &str, subs: &[String]) -> Value {
    let mut entry = json!({"id": id, "name": name, "reference": reference("techniques", id)});
    let subs: Vec<Value> = subs
        .iter()
        .filter_map(|sub| {
            let (name, _) = technique(sub)?;
            Some(json!({"id": sub, "name": name, "reference": reference("techniques", sub)}))
        })
        .collect();
    if !subs.is_empty() {
        entry["subtechnique"] = Value::Array(subs);
    }
    entry
}

/// MITRE's page: `.../techniques/T1552/007/` for a sub-technique.
fn reference(kind: &str, id: &str) -> String {
    format!("https://attack.mitre.org/{kind}/{}/", id.replace('.', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_sub_technique_has_its_parent_and_every_tactic_is_known() {
        for (id, name, tactics) in TECHNIQUES {
            assert!(!name.is_empty());
            match id.split_once('.') {
                Some((parent, _)) => {
                    assert!(technique(parent).is_some(), "{id} without {parent}");
                    assert!(tactics.is_empty(), "{id}: tactics are its parent's");
                }
                None => assert!(!tactics.is_empty(), "{id} has no tactic"),
            }
            for t in *tactics {
                assert!(tactic(t).is_some(), "{id}: unknown tactic {t}");
            }
        }
    }

    #[test]
    fn a_sub_technique_goes_under_its_technique_and_the_rules_tactic() {
        let t = threat(&tags(&["attack.credential-access", "attack.t1552.007"]));
        assert_eq!(
            t,
            json!([{
                "framework": "MITRE ATT&CK",
                "tactic": {"id": "TA0006", "name": "Credential Access",
                    "reference": "https://attack.mitre.org/tactics/TA0006/"},
                "technique": [{"id": "T1552", "name": "Unsecured Credentials",
                    "reference": "https://attack.mitre.org/techniques/T1552/",
                    "subtechnique": [{"id": "T1552.007", "name": "Container API",
                        "reference": "https://attack.mitre.org/techniques/T1552/007/"}]}]
            }])
        );
    }

    #[test]
    fn the_rules_tactic_tag_picks_among_a_techniques_tactics() {
        // T1078 is in four tactics; the rule says persistence.
        let t = threat(&tags(&["attack.persistence", "attack.t1078"]));
        assert_eq!(t.as_array().unwrap().len(), 1);
        assert_eq!(t[0]["tactic"]["id"], "TA0003");
        assert_eq!(t[0]["technique"][0]["name"], "Valid Accounts");
        // Without a tactic tag, the technique's first tactic.
        let t = threat(&tags(&["attack.t1609"]));
        assert_eq!(t[0]["tactic"]["name"], "Execution");
        // A tactic tag without a technique is still a tactic.
        let t = threat(&tags(&["attack.impact", "attack.t1613"]));
        assert_eq!(t[0]["tactic"]["name"], "Impact");
        assert!(t[0].get("technique").is_none());
        assert_eq!(t[1]["tactic"]["name"], "Discovery");
        // No ATT&CK tags, no threat.
        assert_eq!(threat(&tags(&["k8s", "sigma"])), json!([]));
    }

    #[test]
    fn unknown_attack_tags_are_told_apart() {
        assert_eq!(
            parse_tag("attack.t1552.007"),
            Some(Ok(Tag::Technique("T1552.007".into())))
        );
        assert_eq!(
            parse_tag("attack.execution"),
            Some(Ok(Tag::Tactic("execution")))
        );
        assert_eq!(parse_tag("attack.t9999"), Some(Err("attack.t9999".into())));
        assert_eq!(
            parse_tag("attack.nonsense"),
            Some(Err("attack.nonsense".into()))
        );
        assert_eq!(parse_tag("cis.5.1.1"), None);
    }
}
