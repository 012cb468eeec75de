//! What the triggering audit event says about the request, read on the
//! host from the event the engine evaluated: the packs' alert fields are
//! free-form strings and the WIT contract stays as it is, while ECS wants
//! the audit ID, the URI, the response code, the user's groups, ...

use rule_sdk::bindings::k8scop::rules::types::{ListField, TextField};

use crate::contract::{EventContext, EventKind};
use crate::decode::DecodedDoc;

/// The request behind an alert. Empty (not `audit`) for a document that
/// is not an audit event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFacts {
    pub audit: bool,
    pub audit_id: String,
    pub request_uri: String,
    pub verb: String,
    pub username: String,
    pub impersonated_user: String,
    pub groups: Vec<String>,
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub api_group: String,
    pub api_version: String,
    pub response_code: Option<i32>,
    /// The cluster's name: the operator's `--cluster-name`, else what the
    /// document's envelope named.
    pub cluster: Option<String>,
}

/// The name `--cluster-name` gives a document's alerts. Without
/// `--cluster-field` it names the one cluster k8scop watches, over what an
/// envelope says; with it, each document names its own cluster, and this is
/// the name of those that do not.
pub fn configured_cluster<'a>(
    doc: &DecodedDoc,
    name: Option<&'a str>,
    clusters_per_document: bool,
) -> Option<&'a str> {
    match (clusters_per_document, &doc.cluster) {
        (true, Some(_)) => None,
        _ => name,
    }
}

impl EventFacts {
    pub fn of(doc: &DecodedDoc) -> Self {
        let cluster = doc.cluster.clone();
        if doc.kind != EventKind::Audit {
            return EventFacts {
                cluster,
                ..Default::default()
            };
        }
        let view = doc.view();
        let text = |f: TextField| view.text(f).to_string();
        EventFacts {
            audit: true,
            audit_id: text(TextField::AuditId),
            request_uri: text(TextField::RequestUri),
            verb: text(TextField::Verb),
            username: text(TextField::Username),
            impersonated_user: text(TextField::ImpersonatedUsername),
            groups: view.list(ListField::Groups).map(str::to_string).collect(),
            source_ips: view
                .list(ListField::SourceIps)
                .map(str::to_string)
                .collect(),
            user_agent: text(TextField::UserAgent),
            resource: text(TextField::Resource),
            subresource: text(TextField::Subresource),
            namespace: text(TextField::Namespace),
            name: text(TextField::Name),
            api_group: text(TextField::ApiGroup),
            api_version: text(TextField::ObjectApiVersion),
            response_code: view.response_code(),
            cluster,
        }
    }

    /// The configured cluster name wins over the envelope's.
    pub fn with_cluster(mut self, configured: Option<&str>) -> Self {
        if let Some(name) = configured.filter(|n| !n.is_empty()) {
            self.cluster = Some(name.to_string());
        }
        self
    }

    /// The fields of the triggering event an alert names by its
    /// `context`, as the SDK's `audit_context` and `user_groups` describe
    /// them, in that order; empty ones are left out, as a pack's are.
    pub fn context_fields(&self, context: EventContext) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        let mut add = |flag: EventContext, key: &'static str, value: &dyn Fn() -> String| {
            if context.contains(flag) {
                let value = value();
                if !value.is_empty() {
                    fields.push((key, value));
                }
            }
        };
        add(EventContext::USER, "user", &|| self.username.clone());
        add(
            EventContext::IMPERSONATED_USER,
            "impersonated_user",
            &|| self.impersonated_user.clone(),
        );
        add(EventContext::SOURCE_IP, "source_ip", &|| {
            self.source_ips.first().cloned().unwrap_or_default()
        });
        add(EventContext::USER_AGENT, "user_agent", &|| {
            self.user_agent.clone()
        });
        add(EventContext::VERB, "verb", &|| self.verb.clone());
        add(
            EventContext::RESOURCE,
            "resource",
            &|| match self.subresource.as_str() {
                "" => self.resource.clone(),
                sub => format!("{}/{sub}", self.resource),
            },
        );
        add(EventContext::NAMESPACE, "namespace", &|| {
            self.namespace.clone()
        });
        add(EventContext::NAME, "name", &|| self.name.clone());
        add(EventContext::RESPONSE_CODE, "response_code", &|| {
            self.response_code
                .map(|c| c.to_string())
                .unwrap_or_default()
        });
        add(EventContext::AUDIT_ID, "audit_id", &|| {
            self.audit_id.clone()
        });
        add(EventContext::GROUPS, "groups", &|| self.groups.join(","));
        fields
    }

    /// `orchestrator.api_version`: the object's group and version as
    /// Kubernetes writes them (`apps/v1`; `v1` for the core group).
    pub fn group_version(&self) -> String {
        match (self.api_group.as_str(), self.api_version.as_str()) {
            (_, "") => String::new(),
            ("", v) => v.to_string(),
            (g, v) => format!("{g}/{v}"),
        }
    }
}
