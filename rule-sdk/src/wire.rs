//! The layout of a `batch` of the WIT contract, written by the host and
//! read by a pack: every text of the batch in one string, and each event a
//! fixed block of `u32` words pointing into it (see `batch` in
//! `wit/k8scop-rules.wit`). Reading an event borrows its texts: no JSON
//! parse and no copy. Writer and reader live together so they cannot drift.

use std::borrow::Cow;

use crate::Event;
use crate::audit::{Body, EventMeta, ObjectReference, ResponseStatus, Text, UserInfo};
use crate::bindings::k8scop::rules::types::{ListField, TextField};

/// Words of an event's block: kind, flags, code, then two per text field
/// and two per list field.
pub const EVENT_WORDS: usize = 3 + 2 * TEXT_FIELDS + 2 * LIST_FIELDS;
const TEXT_FIELDS: usize = TextField::ResponseObject as usize + 1;
const LIST_FIELDS: usize = ListField::Annotations as usize + 1;
/// The `event-has` flags: bit n is the WIT declaration's nth flag.
mod has {
    pub const IMPERSONATED_USER: u32 = 1 << 0;
    pub const OBJECT_REF: u32 = 1 << 1;
    pub const RESPONSE_STATUS: u32 = 1 << 2;
    pub const REQUEST_OBJECT: u32 = 1 << 3;
    pub const RESPONSE_OBJECT: u32 = 1 << 4;
}
const KIND_AUDIT: u32 = 0;
const KIND_OTHER: u32 = 1;

fn text_word(field: TextField) -> usize {
    3 + 2 * field as usize
}

fn list_word(field: ListField) -> usize {
    3 + 2 * TEXT_FIELDS + 2 * field as usize
}

/// A batch being written (by the host).
#[derive(Debug, Default, Clone)]
pub struct BatchWriter {
    pub text: String,
    pub strings: Vec<u32>,
    pub events: Vec<u32>,
}

impl BatchWriter {
    pub fn with_capacity(text_bytes: usize, events: usize) -> Self {
        BatchWriter {
            text: String::with_capacity(text_bytes),
            strings: Vec::new(),
            events: Vec::with_capacity(events * EVENT_WORDS),
        }
    }

    /// Forget what was written, keeping the buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.strings.clear();
        self.events.clear();
    }

    /// Events written so far.
    pub fn len(&self) -> usize {
        self.events.len() / EVENT_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The words of the `index`th event's block.
    pub fn block(&self, index: usize) -> &[u32] {
        &self.events[index * EVENT_WORDS..][..EVENT_WORDS]
    }

    /// Append a non-audit document, as its JSON.
    pub fn push_other(&mut self, json: &str) {
        let base = self.new_block(KIND_OTHER);
        self.set_text(base, TextField::ApiVersion, json);
    }

    /// Append an audit event.
    pub fn push_audit(&mut self, e: &Event<'_>) {
        use TextField as T;
        let base = self.new_block(KIND_AUDIT);
        let mut flags = 0;
        for (field, text) in [
            (T::ApiVersion, &e.api_version),
            (T::Level, &e.level),
            (T::AuditId, &e.audit_id),
            (T::Stage, &e.stage),
            (T::RequestUri, &e.request_uri),
            (T::Verb, &e.verb),
            (T::UserAgent, &e.user_agent),
            (T::RequestReceivedTimestamp, &e.request_received_timestamp),
            (T::StageTimestamp, &e.stage_timestamp),
            (T::Timestamp, &e.timestamp),
            (T::Username, &e.user.username),
            (T::Uid, &e.user.uid),
        ] {
            self.set_text(base, field, text);
        }
        if let Some(meta) = &e.metadata {
            self.set_text(base, T::CreationTimestamp, &meta.creation_timestamp);
        }
        self.set_list(base, ListField::Groups, e.user.groups.iter());
        self.set_pairs(base, ListField::Extra, &e.user.extra);
        self.set_list(base, ListField::SourceIps, e.source_ips.iter());
        self.set_pairs(base, ListField::Annotations, &e.annotations);
        if let Some(u) = &e.impersonated_user {
            flags |= has::IMPERSONATED_USER;
            self.set_text(base, T::ImpersonatedUsername, &u.username);
            self.set_text(base, T::ImpersonatedUid, &u.uid);
            self.set_list(base, ListField::ImpersonatedGroups, u.groups.iter());
            self.set_pairs(base, ListField::ImpersonatedExtra, &u.extra);
        }
        if let Some(o) = &e.object_ref {
            flags |= has::OBJECT_REF;
            for (field, text) in [
                (T::Resource, &o.resource),
                (T::Namespace, &o.namespace),
                (T::Name, &o.name),
                (T::ObjectUid, &o.uid),
                (T::ApiGroup, &o.api_group),
                (T::ObjectApiVersion, &o.api_version),
                (T::ResourceVersion, &o.resource_version),
                (T::Subresource, &o.subresource),
            ] {
                self.set_text(base, field, text);
            }
        }
        if let Some(r) = &e.response_status {
            flags |= has::RESPONSE_STATUS;
            self.events[base + 2] = r.code as u32;
            self.set_text(base, T::Status, &r.status);
            self.set_text(base, T::Reason, &r.reason);
            self.set_text(base, T::Message, &r.message);
        }
        if let Some(body) = &e.request_body {
            flags |= has::REQUEST_OBJECT;
            self.set_text(base, T::RequestObject, body.json());
        }
        if let Some(body) = &e.response_body {
            flags |= has::RESPONSE_OBJECT;
            self.set_text(base, T::ResponseObject, body.json());
        }
        self.events[base + 1] = flags;
    }

    fn new_block(&mut self, kind: u32) -> usize {
        let base = self.events.len();
        self.events.resize(base + EVENT_WORDS, 0);
        self.events[base] = kind;
        base
    }

    /// Append a text, as (start, len). A batch's text stays far below
    /// 4 GiB: the sandbox's memory limit refuses it long before.
    fn append(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, s.len() as u32)
    }

    fn set_text(&mut self, base: usize, field: TextField, s: &str) {
        if s.is_empty() {
            return;
        }
        let (start, len) = self.append(s);
        let word = base + text_word(field);
        self.events[word] = start;
        self.events[word + 1] = len;
    }

    fn set_list<'s, S: AsRef<str> + 's>(
        &mut self,
        base: usize,
        field: ListField,
        items: impl Iterator<Item = &'s S>,
    ) {
        let first = (self.strings.len() / 2) as u32;
        for item in items {
            let (start, len) = self.append(item.as_ref());
            self.strings.extend([start, len]);
        }
        let word = base + list_word(field);
        self.events[word] = first;
        self.events[word + 1] = (self.strings.len() / 2) as u32 - first;
    }

    fn set_pairs(&mut self, base: usize, field: ListField, pairs: &[(Text<'_>, Text<'_>)]) {
        self.set_list(base, field, pairs.iter().flat_map(|(k, v)| [k, v]));
    }
}

/// One event of a batch, as a pack sees it.
pub enum BatchEvent<'e, 'a> {
    Audit(&'e Event<'a>),
    /// A non-audit document's JSON.
    Other(&'a str),
    /// A kind this SDK does not know (a newer host): skipped, and logged.
    Unknown(u32),
}

/// A batch being read (by a pack).
#[derive(Clone, Copy)]
pub struct BatchReader<'a> {
    text: &'a str,
    strings: &'a [u32],
    events: &'a [u32],
}

impl<'a> BatchReader<'a> {
    pub fn new(text: &'a str, strings: &'a [u32], events: &'a [u32]) -> Self {
        BatchReader {
            text,
            strings,
            events,
        }
    }

    pub fn len(&self) -> usize {
        self.events.len() / EVENT_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hand each event in turn to `f`, with its index. One `Event` is
    /// refilled for every audit event, so its lists keep their capacity and
    /// reading a batch allocates nothing per event.
    pub fn for_each(&self, mut f: impl FnMut(usize, BatchEvent<'_, 'a>)) {
        let mut event = Event::default();
        for (index, block) in self.events.chunks_exact(EVENT_WORDS).enumerate() {
            match block[0] {
                KIND_AUDIT => {
                    self.fill(block, &mut event);
                    f(index, BatchEvent::Audit(&event));
                }
                KIND_OTHER => f(
                    index,
                    BatchEvent::Other(self.text(block, TextField::ApiVersion)),
                ),
                kind => f(index, BatchEvent::Unknown(kind)),
            }
        }
    }

    /// The text at (start, len); empty if out of range or not on character
    /// boundaries (a host bug, never a reason to trap).
    fn span(&self, start: u32, len: u32) -> &'a str {
        let start = start as usize;
        self.text
            .get(start..start.saturating_add(len as usize))
            .unwrap_or("")
    }

    fn text(&self, block: &[u32], field: TextField) -> &'a str {
        let word = text_word(field);
        self.span(block[word], block[word + 1])
    }

    fn cow(&self, block: &[u32], field: TextField) -> Text<'a> {
        Cow::Borrowed(self.text(block, field))
    }

    fn list(&self, block: &[u32], field: ListField) -> impl Iterator<Item = Text<'a>> + '_ {
        let word = list_word(field);
        let first = block[word] as usize * 2;
        let words = (block[word + 1] as usize).saturating_mul(2);
        self.strings
            .get(first..first.saturating_add(words))
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|s| Cow::Borrowed(self.span(s[0], s[1])))
    }

    fn fill_list(&self, block: &[u32], field: ListField, into: &mut Vec<Text<'a>>) {
        into.clear();
        into.extend(self.list(block, field));
    }

    fn fill_pairs(&self, block: &[u32], field: ListField, into: &mut Vec<(Text<'a>, Text<'a>)>) {
        into.clear();
        let mut texts = self.list(block, field);
        while let (Some(k), Some(v)) = (texts.next(), texts.next()) {
            into.push((k, v));
        }
    }

    fn fill_user(
        &self,
        b: &[u32],
        fields: [TextField; 2],
        lists: [ListField; 2],
        u: &mut UserInfo<'a>,
    ) {
        u.username = self.cow(b, fields[0]);
        u.uid = self.cow(b, fields[1]);
        self.fill_list(b, lists[0], &mut u.groups);
        self.fill_pairs(b, lists[1], &mut u.extra);
    }

    /// Make `e` the event of block `b`, reusing its lists' buffers.
    fn fill(&self, b: &[u32], e: &mut Event<'a>) {
        use TextField as T;
        let flags = b[1];
        let present = |flag: u32| flags & flag != 0;
        e.kind = Cow::Borrowed("Event");
        e.api_version = self.cow(b, T::ApiVersion);
        e.level = self.cow(b, T::Level);
        e.audit_id = self.cow(b, T::AuditId);
        e.stage = self.cow(b, T::Stage);
        e.request_uri = self.cow(b, T::RequestUri);
        e.verb = self.cow(b, T::Verb);
        self.fill_user(
            b,
            [T::Username, T::Uid],
            [ListField::Groups, ListField::Extra],
            &mut e.user,
        );
        if present(has::IMPERSONATED_USER) {
            self.fill_user(
                b,
                [T::ImpersonatedUsername, T::ImpersonatedUid],
                [ListField::ImpersonatedGroups, ListField::ImpersonatedExtra],
                e.impersonated_user.get_or_insert_with(UserInfo::default),
            );
        } else {
            e.impersonated_user = None;
        }
        self.fill_list(b, ListField::SourceIps, &mut e.source_ips);
        e.user_agent = self.cow(b, T::UserAgent);
        e.object_ref = present(has::OBJECT_REF).then(|| ObjectReference {
            resource: self.cow(b, T::Resource),
            namespace: self.cow(b, T::Namespace),
            name: self.cow(b, T::Name),
            uid: self.cow(b, T::ObjectUid),
            api_group: self.cow(b, T::ApiGroup),
            api_version: self.cow(b, T::ObjectApiVersion),
            resource_version: self.cow(b, T::ResourceVersion),
            subresource: self.cow(b, T::Subresource),
        });
        e.response_status = present(has::RESPONSE_STATUS).then(|| ResponseStatus {
            code: b[2] as i32,
            status: self.cow(b, T::Status),
            reason: self.cow(b, T::Reason),
            message: self.cow(b, T::Message),
        });
        let body = |flag, field| present(flag).then(|| Body::from_json(self.text(b, field)));
        e.request_body = body(has::REQUEST_OBJECT, T::RequestObject);
        e.response_body = body(has::RESPONSE_OBJECT, T::ResponseObject);
        e.request_received_timestamp = self.cow(b, T::RequestReceivedTimestamp);
        e.stage_timestamp = self.cow(b, T::StageTimestamp);
        self.fill_pairs(b, ListField::Annotations, &mut e.annotations);
        e.timestamp = self.cow(b, T::Timestamp);
        let created = self.text(b, T::CreationTimestamp);
        e.metadata = (!created.is_empty()).then_some(EventMeta {
            creation_timestamp: Cow::Borrowed(created),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of an event survives writing and reading, including
    /// texts JSON had to escape, v1beta1 times, maps and bodies.
    #[test]
    fn an_event_reads_back_as_it_was_written() {
        let json = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
            "auditID":"a-1","stage":"ResponseComplete",
            "requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh\u0026command=-c\u0026command=id",
            "verb":"create",
            "user":{"username":"alice","uid":"u-1","groups":["dev","system:authenticated"],
                    "extra":{"scopes":["a","b"],"authentication.kubernetes.io/pod-name":["p"]}},
            "impersonatedUser":{"username":"system:admin","groups":["system:masters"]},
            "sourceIPs":["10.0.0.7","::1"],"userAgent":"kubectl/v1.29.0 \"quoted\" é",
            "objectRef":{"resource":"pods","namespace":"default","name":"web","uid":"o-1","apiGroup":"",
                         "apiVersion":"v1","resourceVersion":"42","subresource":"exec"},
            "responseStatus":{"metadata":{},"code":-7,"status":"Failure","reason":"Forbidden","message":"no"},
            "requestObject":{"kind":"PodExecOptions","command":["sh"]},
            "responseObject":null,
            "requestReceivedTimestamp":"2024-03-01T10:00:00.000000Z","stageTimestamp":"2024-03-01T10:00:01.000000Z",
            "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""},
            "timestamp":"2019-02-12T12:30:00Z","metadata":{"creationTimestamp":"2019-02-12T12:30:01Z"}}"#;
        let sparse = r#"{"kind":"Event","verb":"get"}"#;
        let written = [
            Event::from_json(json).unwrap(),
            Event::from_json(sparse).unwrap(),
        ];
        let mut writer = BatchWriter::default();
        writer.push_audit(&written[0]);
        writer.push_other(r#"{"message":"sshd: accepted"}"#);
        writer.push_audit(&written[1]);
        assert_eq!(writer.len(), 3);

        let reader = BatchReader::new(&writer.text, &writer.strings, &writer.events);
        let mut read = Vec::new();
        reader.for_each(|index, event| {
            read.push(match event {
                BatchEvent::Audit(e) => {
                    if index == 0 {
                        assert_eq!(e.query_param("command").as_deref(), Some("sh -c id"));
                        assert_eq!(e.user_agent, "kubectl/v1.29.0 \"quoted\" é");
                        assert_eq!(e.user_extra("scopes").collect::<Vec<_>>(), ["a", "b"]);
                        assert_eq!(e.response_code(), Some(-7));
                        assert_eq!(e.request_str("/command/0"), Some("sh"));
                        assert!(e.response_object().is_none());
                        assert_eq!(e.time(), "2024-03-01T10:00:01.000000Z");
                    }
                    // Debug shows every field (bodies as their text).
                    format!("{e:?}")
                }
                BatchEvent::Other(json) => json.to_string(),
                BatchEvent::Unknown(kind) => panic!("kind {kind}"),
            })
        });
        // Escapes undone on the way in, every field read back; and the
        // event refilled for the sparse one kept nothing of the full one.
        assert_eq!(
            read,
            [
                format!("{:?}", written[0]).replace("Owned(", "Borrowed("),
                r#"{"message":"sshd: accepted"}"#.to_string(),
                format!("{:?}", written[1]),
            ]
        );
    }

    /// Spans a faulty host might send read as empty texts, never a trap.
    #[test]
    fn spans_out_of_range_or_inside_a_character_read_as_empty() {
        let mut events = vec![0u32; EVENT_WORDS];
        let verb = text_word(TextField::Verb);
        events[verb] = 1; // inside "é"
        events[verb + 1] = 1;
        let user = text_word(TextField::Username);
        events[user] = 0;
        events[user + 1] = 99;
        let groups = list_word(ListField::Groups);
        events[groups] = 5;
        events[groups + 1] = u32::MAX;
        let mut audits = 0;
        BatchReader::new("é", &[], &events).for_each(|_, event| {
            let BatchEvent::Audit(e) = event else {
                panic!("not an audit event");
            };
            assert_eq!(e.verb, "");
            assert_eq!(e.username(), "");
            assert!(e.user.groups.is_empty());
            audits += 1;
        });
        assert_eq!(audits, 1);
        // A trailing partial block is not an event.
        assert_eq!(
            BatchReader::new("", &[], &events[..EVENT_WORDS - 1]).len(),
            0
        );
    }
}
