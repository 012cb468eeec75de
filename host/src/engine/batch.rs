//! Writing a `batch` of the WIT contract: the host parses each audit event
//! once, natively, and lays out all of a batch's texts in one string, so a
//! pack reads an event without parsing JSON and every pack of a deployment
//! shares that one parse. The reading side is `rule-sdk/src/wire.rs`.

use rule_sdk::Event as ParsedEvent;

use super::bindings::{AuditEvent, Batch, Event, ObjectRef, ResponseStatus, Span, SpanList, UserInfo};
use crate::decode::DecodedDoc;
use crate::engine::EventKind;

/// The texts and string table of one batch, and each document as an event
/// record pointing into them.
#[derive(Default)]
pub struct BatchText {
    text: String,
    strings: Vec<Span>,
}

impl BatchText {
    pub fn with_capacity(bytes: usize) -> Self {
        BatchText {
            text: String::with_capacity(bytes),
            strings: Vec::new(),
        }
    }

    /// The record of one decoded document, its texts appended to the batch.
    /// An audit event whose fields do not have the audit schema's types
    /// (a string where a list belongs, ...) is an error, for the caller to
    /// count: it reached no pack.
    pub fn push(&mut self, doc: &DecodedDoc) -> Result<Event, String> {
        match doc.kind {
            EventKind::Audit => {
                let event = ParsedEvent::from_json(&doc.json)
                    .map_err(|e| format!("not an audit event of the audit.k8s.io schema: {e}"))?;
                Ok(Event::Audit(self.audit_event(&event)))
            }
            EventKind::Other => Ok(Event::Other(self.span(&doc.json))),
        }
    }

    /// The batch a pack is called with: these texts and its own events.
    pub fn batch<'a>(&'a self, events: &'a [Event]) -> Batch<'a> {
        Batch {
            text: &self.text,
            strings: &self.strings,
            events,
        }
    }

    fn span(&mut self, s: &str) -> Span {
        // A batch's text is bounded far below 4 GiB: the sandbox's memory
        // limit refuses it long before.
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    fn list<'s>(&mut self, items: impl IntoIterator<Item = &'s str>) -> SpanList {
        let first = self.strings.len() as u32;
        for item in items {
            let span = self.span(item);
            self.strings.push(span);
        }
        SpanList {
            first,
            count: self.strings.len() as u32 - first,
        }
    }

    fn pairs<'s>(&mut self, pairs: impl IntoIterator<Item = (&'s str, &'s str)>) -> SpanList {
        self.list(pairs.into_iter().flat_map(|(k, v)| [k, v]))
    }

    fn user(&mut self, u: &rule_sdk::UserInfo) -> UserInfo {
        UserInfo {
            username: self.span(&u.username),
            uid: self.span(&u.uid),
            groups: self.list(u.groups.iter().map(|g| g.as_ref())),
            extra: self.pairs(u.extra.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))),
        }
    }

    fn audit_event(&mut self, e: &ParsedEvent) -> AuditEvent {
        AuditEvent {
            api_version: self.span(&e.api_version),
            level: self.span(&e.level),
            audit_id: self.span(&e.audit_id),
            stage: self.span(&e.stage),
            request_uri: self.span(&e.request_uri),
            verb: self.span(&e.verb),
            user: self.user(&e.user),
            impersonated_user: e.impersonated_user.as_ref().map(|u| self.user(u)),
            source_ips: self.list(e.source_ips.iter().map(|ip| ip.as_ref())),
            user_agent: self.span(&e.user_agent),
            object_ref: e.object_ref.as_ref().map(|o| ObjectRef {
                resource: self.span(&o.resource),
                namespace: self.span(&o.namespace),
                name: self.span(&o.name),
                uid: self.span(&o.uid),
                api_group: self.span(&o.api_group),
                api_version: self.span(&o.api_version),
                resource_version: self.span(&o.resource_version),
                subresource: self.span(&o.subresource),
            }),
            response_status: e.response_status.as_ref().map(|r| ResponseStatus {
                code: r.code,
                status: self.span(&r.status),
                reason: self.span(&r.reason),
                message: self.span(&r.message),
            }),
            request_object: e.request_body.as_ref().map(|b| self.span(b.json())),
            response_object: e.response_body.as_ref().map(|b| self.span(b.json())),
            request_received_timestamp: self.span(&e.request_received_timestamp),
            stage_timestamp: self.span(&e.stage_timestamp),
            annotations: self.pairs(e.annotations.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))),
            timestamp: self.span(&e.timestamp),
            creation_timestamp: self.span(
                e.metadata
                    .as_ref()
                    .map_or("", |m| m.creation_timestamp.as_ref()),
            ),
        }
    }
}
