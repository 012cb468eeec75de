//! Reading a `batch` of the WIT contract: every text of an audit event is a
//! span of the batch's one `text`, so building an [`Event`] borrows and
//! neither parses nor copies. The host laid the batch out from its own
//! parse of the JSON; see `host/src/engine/batch.rs` for the writing side.

use std::borrow::Cow;

use crate::audit::{Body, EventMeta, ObjectReference, ResponseStatus, Text, UserInfo};
use crate::bindings::k8scop::rules::types as wit;
use crate::Event;

/// The batch's text and string table, which every span points into.
#[derive(Clone, Copy)]
pub struct Spans<'a> {
    pub text: &'a str,
    pub strings: &'a [wit::Span],
}

impl<'a> Spans<'a> {
    /// The text of a span; empty if the span is out of range or splits a
    /// character (a host bug, never a reason to trap).
    pub fn str(&self, span: wit::Span) -> &'a str {
        let start = span.start as usize;
        self.text
            .get(start..start.saturating_add(span.len as usize))
            .unwrap_or("")
    }

    fn text(&self, span: wit::Span) -> Text<'a> {
        Cow::Borrowed(self.str(span))
    }

    fn list(&self, list: wit::SpanList) -> &'a [wit::Span] {
        let first = list.first as usize;
        self.strings
            .get(first..first.saturating_add(list.count as usize))
            .unwrap_or(&[])
    }

    fn texts(&self, list: wit::SpanList) -> Vec<Text<'a>> {
        self.list(list).iter().map(|&s| self.text(s)).collect()
    }

    fn pairs(&self, list: wit::SpanList) -> Vec<(Text<'a>, Text<'a>)> {
        self.list(list)
            .chunks_exact(2)
            .map(|kv| (self.text(kv[0]), self.text(kv[1])))
            .collect()
    }

    fn user(&self, u: &wit::UserInfo) -> UserInfo<'a> {
        UserInfo {
            username: self.text(u.username),
            uid: self.text(u.uid),
            groups: self.texts(u.groups),
            extra: self.pairs(u.extra),
        }
    }

    /// The audit event a record describes.
    pub fn audit_event(&self, e: &wit::AuditEvent) -> Event<'a> {
        let is_empty = |s: wit::Span| s.len == 0;
        Event {
            kind: Cow::Borrowed("Event"),
            api_version: self.text(e.api_version),
            level: self.text(e.level),
            audit_id: self.text(e.audit_id),
            stage: self.text(e.stage),
            request_uri: self.text(e.request_uri),
            verb: self.text(e.verb),
            user: self.user(&e.user),
            impersonated_user: e.impersonated_user.as_ref().map(|u| self.user(u)),
            source_ips: self.texts(e.source_ips),
            user_agent: self.text(e.user_agent),
            object_ref: e.object_ref.as_ref().map(|o| ObjectReference {
                resource: self.text(o.resource),
                namespace: self.text(o.namespace),
                name: self.text(o.name),
                uid: self.text(o.uid),
                api_group: self.text(o.api_group),
                api_version: self.text(o.api_version),
                resource_version: self.text(o.resource_version),
                subresource: self.text(o.subresource),
            }),
            response_status: e.response_status.as_ref().map(|r| ResponseStatus {
                code: r.code,
                status: self.text(r.status),
                reason: self.text(r.reason),
                message: self.text(r.message),
            }),
            request_body: e.request_object.map(|s| Body::from_json(self.str(s))),
            response_body: e.response_object.map(|s| Body::from_json(self.str(s))),
            request_received_timestamp: self.text(e.request_received_timestamp),
            stage_timestamp: self.text(e.stage_timestamp),
            annotations: self.pairs(e.annotations),
            timestamp: self.text(e.timestamp),
            metadata: (!is_empty(e.creation_timestamp)).then(|| EventMeta {
                creation_timestamp: self.text(e.creation_timestamp),
            }),
        }
    }
}
