//! What a rule author implements: rules as constants, a [`Pack`] holding
//! them, and [`Alerts`] to raise alerts into.

use crate::bindings::k8scop::rules::types as wit;
use crate::{Config, Doc, EventKind, Severity};

/// One detection rule's description. Declared as a `const` so an alert is
/// raised by naming the rule, never by retyping its id.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable and unique across every loaded pack: `"<pack>/<rule>"`.
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub severity: Severity,
    /// MITRE ATT&CK techniques as `"attack.t1609"`, plus free-form tags.
    pub tags: &'static [&'static str],
    pub interest: Interest,
    /// What the cluster's audit Policy must log for this rule to see what
    /// it looks for; the host checks a Policy against it.
    pub needs: Needs,
}

pub use crate::bindings::k8scop::rules::types::{AuditLevel, AuditStage, EventContext};

/// The audit level a rule needs for the events of its interest, and the
/// stages of which one must be logged (not in the Policy's `omitStages`).
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub level: AuditLevel,
    pub stages: &'static [AuditStage],
}

impl Needs {
    const DECIDED: &'static [AuditStage] =
        &[AuditStage::ResponseStarted, AuditStage::ResponseComplete];

    /// Who did what to which object, and the answer.
    pub const METADATA: Needs = Needs {
        level: AuditLevel::Metadata,
        stages: Self::DECIDED,
    };
    /// Also the request body: a pod spec, a role's rules, a binding's subjects.
    pub const REQUEST: Needs = Needs {
        level: AuditLevel::Request,
        stages: Self::DECIDED,
    };

    /// Seen while the session is open (exec, attach, port-forward): the
    /// Policy must log `ResponseStarted`, since `ResponseComplete` comes
    /// only when the session ends.
    pub const fn while_open(self) -> Needs {
        Needs {
            level: self.level,
            stages: &[AuditStage::ResponseStarted],
        }
    }

    pub fn to_wit(self) -> wit::AuditNeeds {
        wit::AuditNeeds {
            level: self.level,
            stages: self.stages.to_vec(),
        }
    }
}

/// The events a rule can possibly match; empty lists mean "any". The host
/// does not send a pack events none of its rules is interested in.
#[derive(Debug, Clone, Copy)]
pub struct Interest {
    pub kinds: &'static [EventKind],
    pub verbs: &'static [&'static str],
    /// `"pods"`, or with a subresource `"pods/exec"`.
    pub resources: &'static [&'static str],
}

impl Interest {
    /// Audit events with one of these verbs on one of these resources.
    pub const fn audit(verbs: &'static [&'static str], resources: &'static [&'static str]) -> Self {
        Interest {
            kinds: &[EventKind::Audit],
            verbs,
            resources,
        }
    }

    /// Every audit event.
    pub const ANY_AUDIT: Interest = Interest::audit(&[], &[]);

    /// Documents that are not audit events (syslog, auth logs, ...).
    pub const OTHER: Interest = Interest {
        kinds: &[EventKind::Other],
        verbs: &[],
        resources: &[],
    };

    pub fn to_wit(self) -> wit::Interest {
        let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        wit::Interest {
            kinds: self.kinds.to_vec(),
            verbs: strings(self.verbs),
            resources: strings(self.resources),
        }
    }
}

impl Rule {
    pub(crate) fn to_wit(self) -> wit::RuleInfo {
        wit::RuleInfo {
            id: self.id.to_string(),
            title: self.title.to_string(),
            description: self.description.to_string(),
            severity: self.severity,
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            interest: self.interest.to_wit(),
            needs: self.needs.to_wit(),
        }
    }
}

/// The tag by which a rule says its alerts for an event depend on that
/// event alone (and the configuration), never on events before it. A pack
/// whose rules all carry it may be run as several instances, each given a
/// part of a batch; [`Pack::STATELESS`] adds it to every rule. A tag, not a
/// new field of the WIT contract, so packs built before it load unchanged
/// (and stay stateful).
pub const STATELESS_TAG: &str = "k8scop.stateless";

/// A rule pack. One instance lives across batches, so `&mut self` may keep
/// state: counts over a window, identities seen before.
pub trait Pack: Sized + 'static {
    const NAME: &'static str;
    const VERSION: &'static str;
    const RULES: &'static [&'static Rule];
    /// True when `on_event` keeps nothing from one event to the next (only
    /// the configuration): the host may then run several instances of the
    /// pack, each on a part of a batch, on several cores. A pack that
    /// counts, remembers or correlates must leave it false.
    const STATELESS: bool = false;

    /// Build the pack from the operator's configuration (allow-lists,
    /// thresholds). Called once, before the first batch.
    fn new(config: &Config) -> Self;

    /// Look at one event, raising alerts into `out`. Events come in time
    /// order within a batch and batches in time order.
    fn on_event(&mut self, doc: &Doc<'_>, out: &mut Alerts);

    /// The rules this instance holds, as `describe` declares them: by
    /// default [`Self::RULES`]. A pack whose rules come from its
    /// configuration (k8scop-sigma reads Sigma files so) declares them
    /// here; the host describes such a pack again once its configuration
    /// is set.
    fn rules(&self) -> Vec<RuleInfo> {
        Self::RULES.iter().map(|r| r.to_wit()).collect()
    }
}

/// A rule as `describe` declares it, built at run time (see
/// [`Pack::rules`]); a [`Rule`] constant is the static form.
pub use crate::bindings::k8scop::rules::types::RuleInfo;

/// The alerts raised during one batch.
pub struct Alerts {
    pub(crate) raised: Vec<wit::Alert>,
    pub(crate) event_index: u32,
}

impl Alerts {
    pub(crate) fn new() -> Self {
        Alerts {
            raised: Vec::new(),
            event_index: 0,
        }
    }

    /// Raise an alert of `rule` for the current event. Refine it with the
    /// returned handle: group key, fields. Its title is the rule's and its
    /// time the event's unless set: the host fills them in, so that no text
    /// the host already has is copied out of the sandbox.
    pub fn raise(&mut self, rule: &Rule) -> RaisedAlert<'_> {
        self.raised.push(wit::Alert {
            rule_id: rule.id.to_string(),
            title: String::new(),
            severity: rule.severity,
            group_key: String::new(),
            event_time: String::new(),
            event_index: self.event_index,
            context: EventContext::empty(),
            fields: Vec::new(),
        });
        RaisedAlert(self.raised.last_mut().expect("just pushed"))
    }

    /// Raise an alert of a rule declared at run time ([`Pack::rules`]);
    /// its title is the one declared there.
    pub fn raise_as(&mut self, id: &str, severity: Severity) -> RaisedAlert<'_> {
        self.raise(&Rule {
            id: "",
            title: "",
            description: "",
            severity,
            tags: &[],
            interest: Interest::ANY_AUDIT,
            needs: Needs::METADATA,
        })
        .id(id)
    }

    pub fn len(&self) -> usize {
        self.raised.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raised.is_empty()
    }
}

/// A just-raised alert, to refine.
pub struct RaisedAlert<'a>(&'a mut wit::Alert);

impl RaisedAlert<'_> {
    /// What makes two alerts of this rule "the same" for aggregation; the
    /// parts are joined with `|`. Without it every alert of the rule is the same.
    pub fn group(self, parts: &[&str]) -> Self {
        self.0.group_key = parts.join("|");
        self
    }

    /// A field an analyst needs (user, namespace, pod, command, ...). Empty
    /// values are left out.
    pub fn field(self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.0.fields.push((key.to_string(), value));
        }
        self
    }

    /// The fields every audit alert needs, from the triggering event: who
    /// (`user`, `impersonated_user`), from where (`source_ip`,
    /// `user_agent`), what (`verb`, `resource`, `namespace`, `name`), the
    /// answer (`response_code`) and the `audit_id`. The host adds them from
    /// the event it parsed; a [`Self::field`] of the same name wins.
    pub fn audit_context(self) -> Self {
        // Named one by one: a flag added to the contract later is not
        // part of what this method promised.
        self.context(
            EventContext::USER
                | EventContext::IMPERSONATED_USER
                | EventContext::SOURCE_IP
                | EventContext::USER_AGENT
                | EventContext::VERB
                | EventContext::RESOURCE
                | EventContext::NAMESPACE
                | EventContext::NAME
                | EventContext::RESPONSE_CODE
                | EventContext::AUDIT_ID,
        )
    }

    /// The user's groups, joined by commas (`groups`), from the triggering
    /// event, added by the host as [`Self::audit_context`]'s fields are.
    pub fn user_groups(self) -> Self {
        self.context(EventContext::GROUPS)
    }

    /// Any of the triggering event's own fields, named by [`EventContext`].
    pub fn context(self, fields: EventContext) -> Self {
        self.0.context |= fields;
        self
    }

    fn id(self, id: &str) -> Self {
        self.0.rule_id = id.to_string();
        self
    }

    /// A title for this alert instead of the rule's (e.g. naming the user).
    pub fn title(self, title: impl Into<String>) -> Self {
        self.0.title = title.into();
        self
    }

    /// A severity for this alert instead of the rule's default.
    pub fn severity(self, severity: Severity) -> Self {
        self.0.severity = severity;
        self
    }
}
