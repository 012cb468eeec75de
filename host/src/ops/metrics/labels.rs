//! The label values and label sets of the metrics: closed sets rendered
//! lower-case, and the pack, rule and reason labels.

use std::fmt;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// What a fetched document decoded into (`kind` label of
/// `k8scop_documents_decoded_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A Kubernetes audit event.
    Audit,
    /// Valid JSON that is not an audit event.
    Other,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Audit => "audit",
            DocumentKind::Other => "other",
        }
    }
}

/// What a bulk retry re-sent (`kind` label of `k8scop_bulk_retries_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryKind {
    /// Single items the bulk response rejected with a retryable status.
    Item,
    /// A whole bulk request that failed (transport error, 429, 5xx).
    Request,
}

impl RetryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryKind::Item => "item",
            RetryKind::Request => "request",
        }
    }
}

// Lower-case label values; the crate's derive would write the variant name.
impl EncodeLabelValue for DocumentKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for RetryKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DocumentKindLabel {
    pub(super) kind: DocumentKind,
}

/// The shape an audit event was found in (`shape` label of
/// `k8scop_audit_events_by_shape_total`): a closed set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct ShapeValue(pub(super) crate::decode::Shape);

impl EncodeLabelValue for ShapeValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ShapeLabel {
    pub(super) shape: ShapeValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RetryKindLabel {
    pub(super) kind: RetryKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct FoldLabel {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct PackLabel {
    pub(super) pack: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RuleLabel {
    pub(super) rule: String,
}

impl PackLabel {
    pub(super) fn new(pack: &str) -> Self {
        PackLabel {
            pack: pack.to_owned(),
        }
    }
}
