//! Credentials minted: certificates signed (or asked for) through
//! CertificateSigningRequests, service-account tokens.

use rule_sdk::{Alerts, Event, Severity, Value};

use crate::rules::*;
use crate::settings::Settings;
use crate::{csr, str_at};

pub(crate) fn csr(s: &Settings, e: &Event, ignored: bool, out: &mut Alerts) {
    let approval = e.subresource() == "approval";
    if approval && !matches!(e.verb.as_ref(), "update" | "patch") {
        return;
    }
    if !approval && e.verb != "create" {
        return;
    }
    let body = e.request_object();
    // Approval and denial are the same subresource; only the body says which.
    if approval && !body.is_some_and(is_approved) {
        return;
    }
    // A patch of the approval carries only the condition; the whole CSR
    // is in the response at RequestResponse level.
    let spec = [body, e.response_object()]
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("spec"))
        .find(|s| s.get("request").is_some())
        .or_else(|| body.and_then(|b| b.get("spec")));
    let subject = spec
        .and_then(|s| s.get("request"))
        .and_then(Value::as_str)
        .and_then(csr::subject_of)
        .unwrap_or_default();
    let privileged: Vec<&str> = std::iter::once(subject.common_name.as_str())
        .chain(subject.organizations.iter().map(String::as_str))
        .filter(|n| !n.is_empty() && s.csr_privileged_subjects.matches(n))
        .collect();
    let action = if approval { "approved" } else { "requested" };
    let rule = if !privileged.is_empty() {
        &CSR_PRIVILEGED_IDENTITY
    } else if ignored {
        return;
    } else if approval {
        &CSR_APPROVED
    } else {
        &CSR_CREATED
    };
    let spec_str = |k: &str| {
        spec.and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let usages = spec
        .and_then(|s| s.get("usages"))
        .and_then(Value::as_array)
        .map(|u| {
            u.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut alert = out.raise(rule).group(&[e.username(), e.name()]);
    if !privileged.is_empty() {
        alert = alert.title(format!(
            "Certificate {action} for privileged identity {}",
            privileged.join(", ")
        ));
    }
    alert
        .audit_context()
        .user_groups()
        .field("action", action)
        .field("csr", e.name())
        .field("signer", spec_str("signerName"))
        .field("requestor", spec_str("username"))
        .field("subject_cn", subject.common_name.as_str())
        .field("subject_o", subject.organizations.join(","))
        .field("usages", usages)
        .field("privileged_subject", privileged.join(","));
}

pub(crate) fn token(s: &Settings, e: &Event, out: &mut Alerts) {
    if e.verb != "create" {
        return;
    }
    let target = format!("system:serviceaccount:{}:{}", e.namespace(), e.name());
    // A workload refreshing its own token is how projected tokens work.
    if e.effective_username() == target {
        return;
    }
    let spec = e.request_object().and_then(|b| b.get("spec"));
    let expiration = spec
        .and_then(|s| s.get("expirationSeconds"))
        .and_then(Value::as_i64)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let audiences = spec
        .and_then(|s| s.get("audiences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let bound = spec
        .and_then(|s| s.get("boundObjectRef"))
        .map(|b| format!("{} {}", str_at(b, &["kind"]), str_at(b, &["name"])))
        .unwrap_or_default();
    let alert = out
        .raise(&SERVICEACCOUNT_TOKEN_CREATED)
        .title(format!(
            "{} minted a token for {}/{}",
            e.username(),
            e.namespace(),
            e.name()
        ))
        .group(&[e.username(), e.namespace(), e.name()])
        .audit_context()
        .user_groups()
        .field("service_account", format!("{}/{}", e.namespace(), e.name()))
        .field("expiration_seconds", expiration)
        .field("audiences", audiences)
        .field("bound_object", bound.trim());
    if s.system_namespaces.matches(e.namespace()) {
        alert.severity(Severity::High);
    }
}

/// A CSR's `status.conditions` holds an `Approved` condition that is not false.
fn is_approved(csr: &Value) -> bool {
    csr.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| str_at(c, &["type"]) == "Approved" && str_at(c, &["status"]) != "False")
        })
}
