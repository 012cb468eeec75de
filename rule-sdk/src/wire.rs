//! The layout of a `batch` of the WIT contract, written by the host and
//! read by a pack: every text of the batch in one string, and each event a
//! fixed block of `u32` words pointing into it (see `batch` in
//! `wit/k8scop-rules.wit`). Reading an event borrows its texts: no JSON
//! parse and no copy. Writer and reader are made from one table of where
//! an [`Event`] keeps each field, so they cannot drift.

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
pub mod has {
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

/// The text fields: each WIT `text-field` once, in the WIT's order, with
/// where an event keeps it: `event.<path>`, or `(<part>).<path>` inside an
/// optional part (present or not as a whole, by its `event-has` flag), or
/// `(body <part>)` for a request or response body. The writer reads a
/// field through `text_of`, the reader fills it through `fill_texts`; both
/// are made here, and their `match`es name every field (no wildcard), so a
/// field the WIT adds is a compile error until it has a place.
macro_rules! text_layout {
    (@get $e:ident event $(. $path:ident)+) => { Some($e $(. $path)+ .as_ref()) };
    (@get $e:ident (body $part:ident)) => { $e.$part.as_ref().map(Body::json) };
    (@get $e:ident ($part:ident) $(. $path:ident)+) => {
        $e.$part.as_ref().map(|p| p $(. $path)+ .as_ref())
    };
    (@slot $e:ident event $(. $path:ident)+) => { Some(&mut $e $(. $path)+) };
    (@slot $e:ident (body $part:ident)) => { None::<&mut Text<'_>> };
    (@slot $e:ident ($part:ident) $(. $path:ident)+) => {
        $e.$part.as_mut().map(|p| &mut p $(. $path)+)
    };
    ($($field:ident => $place:tt $(. $path:ident)*;)*) => {
        /// Every text field, in the order of the WIT's `text-field`.
        pub const TEXT_LAYOUT: [TextField; TEXT_FIELDS] = [$(TextField::$field),*];

        /// The text `e` has for `field`; `None` when its part is absent.
        fn text_of<'e>(e: &'e Event<'_>, field: TextField) -> Option<&'e str> {
            match field {
                $(TextField::$field => text_layout!(@get e $place $(. $path)*),)*
            }
        }

        /// Fill every text of `e` that has a place (its part present;
        /// bodies are filled whole, by their flags) from block `b`: one
        /// assignment per field, written out, since every pack does this
        /// for every event.
        #[inline]
        fn fill_texts<'a>(r: &BatchReader<'a>, b: &[u32], e: &mut Event<'a>) {
            $(
                if let Some(slot) = text_layout!(@slot e $place $(. $path)*) {
                    *slot = r.cow(b, TextField::$field);
                }
            )*
        }
    };
}

text_layout! {
    ApiVersion => event.api_version;
    Level => event.level;
    AuditId => event.audit_id;
    Stage => event.stage;
    RequestUri => event.request_uri;
    Verb => event.verb;
    UserAgent => event.user_agent;
    RequestReceivedTimestamp => event.request_received_timestamp;
    StageTimestamp => event.stage_timestamp;
    Timestamp => event.timestamp;
    CreationTimestamp => (metadata).creation_timestamp;
    Username => event.user.username;
    Uid => event.user.uid;
    ImpersonatedUsername => (impersonated_user).username;
    ImpersonatedUid => (impersonated_user).uid;
    Resource => (object_ref).resource;
    Namespace => (object_ref).namespace;
    Name => (object_ref).name;
    ObjectUid => (object_ref).uid;
    ApiGroup => (object_ref).api_group;
    ObjectApiVersion => (object_ref).api_version;
    ResourceVersion => (object_ref).resource_version;
    Subresource => (object_ref).subresource;
    Status => (response_status).status;
    Reason => (response_status).reason;
    Message => (response_status).message;
    RequestObject => (body request_body);
    ResponseObject => (body response_body);
}

/// A list field as an event holds it: texts, or a map as (key, value) pairs.
enum ListOf<'e, 'a> {
    Texts(&'e [Text<'a>]),
    Pairs(&'e [(Text<'a>, Text<'a>)]),
}

enum ListSlot<'e, 'a> {
    Texts(&'e mut Vec<Text<'a>>),
    Pairs(&'e mut Vec<(Text<'a>, Text<'a>)>),
}

/// The list fields, as `text_layout!` the texts: each WIT `list-field`
/// once, in order, as `Texts` or `Pairs`, with its place.
macro_rules! list_layout {
    (@get $e:ident $kind:ident event $(. $path:ident)+) => {
        Some(ListOf::$kind(&$e $(. $path)+))
    };
    (@get $e:ident $kind:ident ($part:ident) $(. $path:ident)+) => {
        $e.$part.as_ref().map(|p| ListOf::$kind(&p $(. $path)+))
    };
    (@slot $e:ident $kind:ident event $(. $path:ident)+) => {
        Some(ListSlot::$kind(&mut $e $(. $path)+))
    };
    (@slot $e:ident $kind:ident ($part:ident) $(. $path:ident)+) => {
        $e.$part.as_mut().map(|p| ListSlot::$kind(&mut p $(. $path)+))
    };
    ($($field:ident => $kind:ident $place:tt $(. $path:ident)+;)*) => {
        /// Every list field, in the order of the WIT's `list-field`.
        pub const LIST_LAYOUT: [ListField; LIST_FIELDS] = [$(ListField::$field),*];

        fn list_of<'e, 'a>(e: &'e Event<'a>, field: ListField) -> Option<ListOf<'e, 'a>> {
            match field {
                $(ListField::$field => list_layout!(@get e $kind $place $(. $path)+),)*
            }
        }

        /// Fill every list of `e` that has a place from block `b`, as
        /// `fill_texts` its texts.
        #[inline]
        fn fill_lists<'a>(r: &BatchReader<'a>, b: &[u32], e: &mut Event<'a>) {
            $(
                match list_layout!(@slot e $kind $place $(. $path)+) {
                    Some(ListSlot::Texts(into)) => r.fill_list(b, ListField::$field, into),
                    Some(ListSlot::Pairs(into)) => r.fill_pairs(b, ListField::$field, into),
                    None => {}
                }
            )*
        }
    };
}

list_layout! {
    Groups => Texts event.user.groups;
    Extra => Pairs event.user.extra;
    ImpersonatedGroups => Texts (impersonated_user).groups;
    ImpersonatedExtra => Pairs (impersonated_user).extra;
    SourceIps => Texts event.source_ips;
    Annotations => Pairs event.annotations;
}

/// A place in a [`BatchWriter`], from [`BatchWriter::mark`].
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    text: usize,
    strings: usize,
    events: usize,
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
            // A typical event's lists (groups, source IPs, annotations)
            // hold a dozen texts or so: two words each.
            strings: Vec::with_capacity(events * 32),
            events: Vec::with_capacity(events * EVENT_WORDS),
        }
    }

    /// Forget what was written, keeping the buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.strings.clear();
        self.events.clear();
    }

    /// How far the writer has written, to take back what follows.
    pub fn mark(&self) -> Mark {
        Mark {
            text: self.text.len(),
            strings: self.strings.len(),
            events: self.events.len(),
        }
    }

    /// Take back everything written since `mark` (the host drops an event
    /// it decides against right after laying it out).
    pub fn rewind(&mut self, mark: Mark) {
        self.text.truncate(mark.text);
        self.strings.truncate(mark.strings);
        self.events.truncate(mark.events);
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

    /// What was written, as a pack reads it.
    pub fn reader(&self) -> BatchReader<'_> {
        BatchReader::new(&self.text, &self.strings, &self.events)
    }

    /// Append a non-audit document, as its JSON.
    pub fn push_other(&mut self, json: &str) {
        let base = self.new_block(KIND_OTHER);
        self.set_text(base, TextField::ApiVersion, json);
    }

    /// Append an audit event.
    pub fn push_audit(&mut self, e: &Event<'_>) {
        let base = self.new_block(KIND_AUDIT);
        for field in TEXT_LAYOUT {
            if let Some(text) = text_of(e, field) {
                self.set_text(base, field, text);
            }
        }
        for field in LIST_LAYOUT {
            match list_of(e, field) {
                Some(ListOf::Texts(items)) => self.set_list(base, field, items.iter()),
                Some(ListOf::Pairs(pairs)) => self.set_pairs(base, field, pairs),
                None => {}
            }
        }
        let parts = [
            (e.impersonated_user.is_some(), has::IMPERSONATED_USER),
            (e.object_ref.is_some(), has::OBJECT_REF),
            (e.response_status.is_some(), has::RESPONSE_STATUS),
            (e.request_body.is_some(), has::REQUEST_OBJECT),
            (e.response_body.is_some(), has::RESPONSE_OBJECT),
        ];
        self.events[base + 1] = parts
            .into_iter()
            .filter(|(present, _)| *present)
            .fold(0, |flags, (_, flag)| flags | flag);
        self.events[base + 2] = e.response_code().unwrap_or(0) as u32;
    }

    /// Append the `index`th event of `page`, a writer that holds others
    /// too (the host lays out each read batch's events on one page). The
    /// spans of text and of list entries the event points into are copied
    /// whole and its words moved to where they land: an event is written
    /// in one piece, so this copies its own texts and nothing else.
    pub fn append_event(&mut self, page: &BatchWriter, index: usize) {
        let block = page.block(index);
        let spans = Spans::of(page, [block]);
        // Where the spans land: a word moves by the difference (which may be
        // negative, hence the wrapping arithmetic; the results fit).
        let text_shift = (self.text.len() as u32).wrapping_sub(spans.text.start);
        let string_shift = ((self.strings.len() / 2) as u32).wrapping_sub(spans.entries.start);
        self.text
            .push_str(&page.text[spans.text.start as usize..spans.text.end as usize]);
        self.strings.extend(spans.moved_entries(page, text_shift));
        let base = self.events.len();
        self.events.extend_from_slice(block);
        move_block(&mut self.events[base..], text_shift, string_shift);
    }

    /// Events `events` (positions among those written, in order) as a
    /// batch of their own that shares this one's text: the span of text
    /// they lie in, with their blocks and list entries (written into
    /// `blocks` and `strings`) moved to point into that span. A pack given
    /// part of a batch then gets a copy of that part's texts, not of all.
    pub fn part<'w>(
        &'w self,
        events: &[usize],
        blocks: &mut Vec<u32>,
        strings: &mut Vec<u32>,
    ) -> &'w str {
        let spans = Spans::of(self, events.iter().map(|&e| self.block(e)));
        let text_shift = spans.text.start.wrapping_neg();
        let string_shift = spans.entries.start.wrapping_neg();
        strings.clear();
        strings.extend(spans.moved_entries(self, text_shift));
        blocks.clear();
        for &event in events {
            let base = blocks.len();
            blocks.extend_from_slice(self.block(event));
            move_block(&mut blocks[base..], text_shift, string_shift);
        }
        // Spans start and end on characters, as the writer wrote them.
        self.text
            .get(spans.text.start as usize..spans.text.end as usize)
            .unwrap_or_default()
    }

    /// Add `(key, value)` to a map field of the `index`th event (the host
    /// labels an event so): its entries are copied to the end of `strings`,
    /// followed by the pair, and the field points there.
    pub fn add_pair(&mut self, index: usize, field: ListField, key: &str, value: &str) {
        let word = index * EVENT_WORDS + list_word(field);
        let (first, count) = (self.events[word] as usize, self.events[word + 1] as usize);
        let moved = (self.strings.len() / 2) as u32;
        self.strings
            .extend_from_within(first * 2..(first + count) * 2);
        for text in [key, value] {
            let (start, len) = self.append_text(text);
            self.strings.extend([start, len]);
        }
        self.events[word] = moved;
        self.events[word + 1] = (count + 2) as u32;
    }

    fn new_block(&mut self, kind: u32) -> usize {
        let base = self.events.len();
        self.events.resize(base + EVENT_WORDS, 0);
        self.events[base] = kind;
        base
    }

    /// Append a text, as (start, len). A batch's text stays far below
    /// 4 GiB: the sandbox's memory limit refuses it long before.
    fn append_text(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, s.len() as u32)
    }

    fn set_text(&mut self, base: usize, field: TextField, s: &str) {
        if s.is_empty() {
            return;
        }
        let (start, len) = self.append_text(s);
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
            let (start, len) = self.append_text(item.as_ref());
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

/// The span of text and the span of list entries (in pairs) that some
/// events' blocks of a writer point into, the texts of those entries
/// included: what copying or sharing those events takes.
struct Spans {
    text: std::ops::Range<u32>,
    entries: std::ops::Range<u32>,
}

impl Spans {
    fn of<'b>(writer: &BatchWriter, blocks: impl IntoIterator<Item = &'b [u32]>) -> Spans {
        let (mut text_lo, mut text_hi) = (u32::MAX, 0);
        let (mut first, mut last) = (u32::MAX, 0);
        for block in blocks {
            for field in TEXT_LAYOUT {
                let (start, len) = (block[text_word(field)], block[text_word(field) + 1]);
                if len != 0 {
                    (text_lo, text_hi) = (text_lo.min(start), text_hi.max(start + len));
                }
            }
            for field in LIST_LAYOUT {
                let (start, count) = (block[list_word(field)], block[list_word(field) + 1]);
                if count != 0 {
                    (first, last) = (first.min(start), last.max(start + count));
                }
            }
        }
        let entries = first.min(last)..last;
        for pair in Self::slice(writer, &entries).chunks_exact(2) {
            (text_lo, text_hi) = (text_lo.min(pair[0]), text_hi.max(pair[0] + pair[1]));
        }
        Spans {
            text: text_lo.min(text_hi)..text_hi,
            entries,
        }
    }

    fn slice<'w>(writer: &'w BatchWriter, entries: &std::ops::Range<u32>) -> &'w [u32] {
        writer
            .strings
            .get(entries.start as usize * 2..entries.end as usize * 2)
            .unwrap_or(&[])
    }

    /// The list entries, their texts' offsets moved by `text_shift`.
    fn moved_entries<'w>(
        &self,
        writer: &'w BatchWriter,
        text_shift: u32,
    ) -> impl Iterator<Item = u32> + use<'w> {
        Self::slice(writer, &self.entries)
            .chunks_exact(2)
            .flat_map(move |s| [s[0].wrapping_add(text_shift), s[1]])
    }
}

/// Move an event's block words by the shifts its texts and list entries
/// moved by (wrapping: a shift may be negative). Empty fields point
/// nowhere and stay as they are.
fn move_block(block: &mut [u32], text_shift: u32, string_shift: u32) {
    for field in TEXT_LAYOUT {
        let word = text_word(field);
        if block[word + 1] != 0 {
            block[word] = block[word].wrapping_add(text_shift);
        }
    }
    for field in LIST_LAYOUT {
        let word = list_word(field);
        if block[word + 1] != 0 {
            block[word] = block[word].wrapping_add(string_shift);
        }
    }
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

    /// The `index`th event, read field by field without building an
    /// [`Event`].
    pub fn view(&self, index: usize) -> Option<EventView<'a>> {
        let block = self.events.get(index * EVENT_WORDS..)?.get(..EVENT_WORDS)?;
        Some(EventView {
            reader: *self,
            block,
        })
    }

    /// The text at (start, len); empty if out of range or not on character
    /// boundaries (a host bug, never a reason to trap).
    #[inline]
    fn span(&self, start: u32, len: u32) -> &'a str {
        if len == 0 {
            return "";
        }
        let start = start as usize;
        self.text
            .get(start..start.saturating_add(len as usize))
            .unwrap_or("")
    }

    #[inline]
    fn text(&self, block: &[u32], field: TextField) -> &'a str {
        let word = text_word(field);
        self.span(block[word], block[word + 1])
    }

    #[inline]
    fn cow(&self, block: &[u32], field: TextField) -> Text<'a> {
        Cow::Borrowed(self.text(block, field))
    }

    fn list(self, block: &[u32], field: ListField) -> impl Iterator<Item = &'a str> + use<'a> {
        let word = list_word(field);
        let first = block[word] as usize * 2;
        let words = (block[word + 1] as usize).saturating_mul(2);
        self.strings
            .get(first..first.saturating_add(words))
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(move |s| self.span(s[0], s[1]))
    }

    fn fill_list(&self, block: &[u32], field: ListField, into: &mut Vec<Text<'a>>) {
        into.clear();
        into.extend(self.list(block, field).map(Cow::Borrowed));
    }

    fn fill_pairs(&self, block: &[u32], field: ListField, into: &mut Vec<(Text<'a>, Text<'a>)>) {
        into.clear();
        let mut texts = self.list(block, field);
        while let (Some(k), Some(v)) = (texts.next(), texts.next()) {
            into.push((Cow::Borrowed(k), Cow::Borrowed(v)));
        }
    }

    /// Make `e` the event of block `b`, reusing its lists' buffers: the
    /// optional parts exist by their flags (v1beta1's metadata by its one
    /// text), then the layout fills every field.
    fn fill(&self, b: &[u32], e: &mut Event<'a>) {
        let present = |flag: u32| b[1] & flag != 0;
        e.kind = Cow::Borrowed("Event");
        if present(has::IMPERSONATED_USER) {
            e.impersonated_user.get_or_insert_with(UserInfo::default);
        } else {
            e.impersonated_user = None;
        }
        e.object_ref = present(has::OBJECT_REF).then(ObjectReference::default);
        e.response_status = present(has::RESPONSE_STATUS).then(|| ResponseStatus {
            code: b[2] as i32,
            ..Default::default()
        });
        e.metadata =
            (!self.text(b, TextField::CreationTimestamp).is_empty()).then(EventMeta::default);
        let body = |flag, field| present(flag).then(|| Body::from_json(self.text(b, field)));
        e.request_body = body(has::REQUEST_OBJECT, TextField::RequestObject);
        e.response_body = body(has::RESPONSE_OBJECT, TextField::ResponseObject);
        fill_texts(self, b, e);
        fill_lists(self, b, e);
    }
}

/// One event of a batch read field by field from its block, borrowing its
/// texts: what the host's own filters read, without building an [`Event`].
#[derive(Clone, Copy)]
pub struct EventView<'a> {
    reader: BatchReader<'a>,
    block: &'a [u32],
}

impl<'a> EventView<'a> {
    pub fn is_audit(&self) -> bool {
        self.block[0] == KIND_AUDIT
    }

    /// A text field ("" when absent).
    pub fn text(&self, field: TextField) -> &'a str {
        self.reader.text(self.block, field)
    }

    /// The texts of a list field (a map's as key, value, key, value, ...).
    pub fn list(&self, field: ListField) -> impl Iterator<Item = &'a str> + use<'a> {
        self.reader.list(self.block, field)
    }

    /// The value of a map field's key.
    pub fn value_of(&self, field: ListField, key: &str) -> Option<&'a str> {
        let mut texts = self.list(field);
        while let (Some(k), Some(v)) = (texts.next(), texts.next()) {
            if k == key {
                return Some(v);
            }
        }
        None
    }

    /// Whether the event has an optional part (a [`has`] flag).
    pub fn has(&self, part: u32) -> bool {
        self.block[1] & part != 0
    }

    pub fn response_code(&self) -> Option<i32> {
        self.has(has::RESPONSE_STATUS)
            .then_some(self.block[2] as i32)
    }

    /// The whole event, as a pack reads it.
    pub fn event(&self) -> Event<'a> {
        let mut event = Event::default();
        self.reader.fill(self.block, &mut event);
        event
    }

    /// A non-audit document's JSON.
    pub fn other_json(&self) -> Option<&'a str> {
        (self.block[0] == KIND_OTHER).then(|| self.text(TextField::ApiVersion))
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

    /// The layout names each field of the WIT's `text-field` and
    /// `list-field` exactly once, in the WIT's order (the words of a block
    /// are in that order).
    #[test]
    fn the_layout_names_every_wit_field_once_in_order() {
        let wit = include_str!("../../wit/k8scop-rules.wit");
        let cases = |name: &str| -> Vec<String> {
            let body = wit
                .split(&format!("enum {name} {{"))
                .nth(1)
                .and_then(|rest| rest.split('}').next())
                .unwrap_or_else(|| panic!("no enum {name} in the WIT"));
            body.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .map(|l| l.trim_end_matches(',').trim_start_matches('%').to_string())
                .collect()
        };
        // The bindings' Debug name (`TextField::ApiVersion`) in the WIT's
        // kebab case.
        let kebab = |debug: String| -> String {
            let name = debug.rsplit("::").next().unwrap_or_default();
            let mut out = String::new();
            for c in name.chars() {
                if c.is_uppercase() && !out.is_empty() {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        };
        let texts: Vec<String> = TEXT_LAYOUT
            .iter()
            .map(|f| kebab(format!("{f:?}")))
            .collect();
        let lists: Vec<String> = LIST_LAYOUT
            .iter()
            .map(|f| kebab(format!("{f:?}")))
            .collect();
        assert_eq!(texts, cases("text-field"));
        assert_eq!(lists, cases("list-field"));
        for (i, field) in TEXT_LAYOUT.iter().enumerate() {
            assert_eq!(*field as usize, i, "{field:?} out of place");
        }
        for (i, field) in LIST_LAYOUT.iter().enumerate() {
            assert_eq!(*field as usize, i, "{field:?} out of place");
        }
    }

    /// An event taken back leaves the page as if it had never been written.
    #[test]
    fn rewinding_takes_back_the_last_event() {
        let event = |verb: &str| {
            format!(
                r#"{{"kind":"Event","verb":"{verb}","sourceIPs":["10.0.0.{}"]}}"#,
                verb.len()
            )
        };
        let (a, b, c) = (event("get"), event("delete"), event("watch"));
        let mut page = BatchWriter::default();
        page.push_audit(&Event::from_json(&a).unwrap());
        let mark = page.mark();
        page.push_audit(&Event::from_json(&b).unwrap());
        page.rewind(mark);
        page.push_audit(&Event::from_json(&c).unwrap());
        let mut written = BatchWriter::default();
        written.push_audit(&Event::from_json(&a).unwrap());
        written.push_audit(&Event::from_json(&c).unwrap());
        assert_eq!(page.text, written.text);
        assert_eq!(page.strings, written.strings);
        assert_eq!(page.events, written.events);
    }

    /// An event copied off a page of several reads as it did on the page,
    /// a labelled one and a non-audit document included.
    #[test]
    fn an_event_copied_off_a_page_reads_as_on_it() {
        let first = Event::from_json(
            r#"{"kind":"Event","verb":"get","user":{"username":"ann","groups":["a","b"]},
                "objectRef":{"resource":"pods","subresource":"exec"},"responseStatus":{"code":101},
                "annotations":{"k":"v"}}"#,
        )
        .unwrap();
        let second = Event::from_json(
            r#"{"kind":"Event","verb":"list","sourceIPs":["10.1.1.1"],"userAgent":"kubectl"}"#,
        )
        .unwrap();
        let mut page = BatchWriter::default();
        page.push_audit(&first);
        page.push_other(r#"{"msg":"hi"}"#);
        page.push_audit(&second);
        page.add_pair(0, ListField::Annotations, "label", "yes");
        let shown = |w: &BatchWriter, i: usize| match w.reader().view(i).unwrap() {
            view if view.is_audit() => format!("{:?}", view.event()),
            view => view.other_json().unwrap_or_default().to_string(),
        };
        let mut copied = BatchWriter::default();
        for i in [2, 0, 1] {
            copied.append_event(&page, i);
        }
        assert_eq!(copied.len(), 3);
        for (at, i) in [(0, 2), (1, 0), (2, 1)] {
            assert_eq!(shown(&copied, at), shown(&page, i), "event {i}");
        }
        assert!(shown(&copied, 1).contains(r#"("label", "yes")"#));
        // Only the event's own texts are copied.
        let mut one = BatchWriter::default();
        one.append_event(&page, 1);
        assert_eq!(one.text, r#"{"msg":"hi"}"#);
    }

    /// A part of a batch reads as those events did in the whole, and its
    /// text is the span they lie in, not the whole batch's.
    #[test]
    fn a_part_reads_as_its_events_in_the_whole_and_holds_only_their_texts() {
        let json = |i: usize| {
            format!(
                r#"{{"kind":"Event","verb":"get","user":{{"username":"u{i}","groups":["g{i}","all"],
                    "extra":{{"k{i}":["v{i}"]}}}},"sourceIPs":["10.0.0.{i}"],
                    "objectRef":{{"resource":"pods","name":"p{i}"}},"annotations":{{"a":"{i}"}}}}"#
            )
        };
        let mut whole = BatchWriter::default();
        for i in 0..6 {
            match i {
                3 => whole.push_other(r#"{"msg":"other"}"#),
                _ => whole.push_audit(&Event::from_json(&json(i)).unwrap()),
            }
        }
        whole.add_pair(2, ListField::Annotations, "label", "yes");
        let shown = |r: BatchReader<'_>, i: usize| match r.view(i).unwrap() {
            view if view.is_audit() => format!("{:?}", view.event()),
            view => view.other_json().unwrap_or_default().to_string(),
        };
        let (mut blocks, mut strings) = (Vec::new(), Vec::new());
        for events in [vec![1, 2, 3], vec![2, 4], vec![5], vec![0, 1, 2, 3, 4, 5]] {
            let text = whole.part(&events, &mut blocks, &mut strings);
            let part = BatchReader::new(text, &strings, &blocks);
            assert_eq!(part.len(), events.len());
            for (at, &i) in events.iter().enumerate() {
                assert_eq!(
                    shown(part, at),
                    shown(whole.reader(), i),
                    "event {i} of {events:?}"
                );
            }
            if events.len() < 6 {
                assert!(text.len() < whole.text.len(), "{events:?}: the whole text");
            }
        }
        assert!(
            whole.part(&[5], &mut blocks, &mut strings).contains("u5")
                && !whole.part(&[5], &mut blocks, &mut strings).contains("u4")
        );
        assert_eq!(whole.part(&[], &mut blocks, &mut strings), "");
        assert!(blocks.is_empty() && strings.is_empty());
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
