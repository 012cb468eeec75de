//! Where an audit event sits in a document: the shape an operator may
//! force (`--event-shape`), and the shape each event was found in.

use std::fmt;
use std::str::FromStr;

/// Where the audit event sits in a document (`--event-shape`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventShape {
    /// Recognise each document by its shape: `kubernetes.audit`, the root,
    /// an EventList, a CloudWatch envelope, a GKE entry, an AKS record (or
    /// an Event Hub message of them), then the `log`, `message` and
    /// `event.original` string fields.
    #[default]
    Auto,
    Root,
    /// `kubernetes.audit`, Elastic Agent's Kubernetes integration.
    ElasticAgent,
    /// A JSON string in this (dotted) field.
    Field(String),
    /// A webhook `EventList` (`items`).
    EventList,
    /// A CloudWatch Logs subscription envelope (`logEvents`), as EKS ships.
    CloudWatch,
    /// GKE's Cloud Logging entry (`protoPayload`).
    Gke,
    /// AKS's diagnostic log record (`properties.log`).
    Aks,
}

/// How an audit event was found: what the summary and the metrics count
/// audit events by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    Root,
    ElasticAgent,
    Field,
    EventList,
    CloudWatch,
    Gke,
    Aks,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::Root,
        Shape::ElasticAgent,
        Shape::Field,
        Shape::EventList,
        Shape::CloudWatch,
        Shape::Gke,
        Shape::Aks,
    ];

    /// The name `--event-shape` forces it by (`field` for any field).
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Root => "root",
            Shape::ElasticAgent => "kubernetes.audit",
            Shape::Field => "field",
            Shape::EventList => "event-list",
            Shape::CloudWatch => "cloudwatch",
            Shape::Gke => "gke",
            Shape::Aks => "aks",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => EventShape::Auto,
            "root" => EventShape::Root,
            "kubernetes.audit" | "elastic-agent" => EventShape::ElasticAgent,
            "event-list" => EventShape::EventList,
            "cloudwatch" => EventShape::CloudWatch,
            "gke" => EventShape::Gke,
            "aks" => EventShape::Aks,
            other => match other.strip_prefix("field:") {
                Some(field) if !field.is_empty() => EventShape::Field(field.to_string()),
                _ => {
                    return Err(format!(
                        "unknown event shape {other:?}: use auto, root, kubernetes.audit, field:<name> (e.g. field:log), event-list, cloudwatch, gke or aks"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for EventShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventShape::Auto => f.write_str("auto"),
            EventShape::Root => f.write_str("root"),
            EventShape::ElasticAgent => f.write_str("kubernetes.audit"),
            EventShape::Field(name) => write!(f, "field:{name}"),
            EventShape::EventList => f.write_str("event-list"),
            EventShape::CloudWatch => f.write_str("cloudwatch"),
            EventShape::Gke => f.write_str("gke"),
            EventShape::Aks => f.write_str("aks"),
        }
    }
}
