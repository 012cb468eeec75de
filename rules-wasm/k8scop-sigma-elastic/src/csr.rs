//! The subject a CertificateSigningRequest asks for.
//!
//! `spec.request` is a base64-encoded PEM `CERTIFICATE REQUEST`. The API
//! server authenticates a client certificate as user = subject CN and
//! groups = subject O, so the CN and O of the request say which identity
//! the certificate would grant (`O=system:masters` is cluster-admin).
//! Only the subject's CN and O attributes are read; nothing is verified.

/// The identity a CSR would grant once signed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CsrSubject {
    pub common_name: String,
    pub organizations: Vec<String>,
}

/// The subject of a CSR from its `spec.request` value, or `None` when the
/// value is not a base64 PEM certificate request.
pub fn subject_of(spec_request: &str) -> Option<CsrSubject> {
    let pem = String::from_utf8(base64_decode(spec_request)?).ok()?;
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64_decode(&body)?;
    Some(subject_in_der(&der))
}

// OIDs 2.5.4.3 (commonName) and 2.5.4.10 (organizationName), DER-encoded.
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x0a];

/// Each attribute of a DER name is `SEQUENCE { OID, string }`; the subject
/// comes first in a request, before the key and the extensions, so the
/// first CN is the subject's.
fn subject_in_der(der: &[u8]) -> CsrSubject {
    let mut subject = CsrSubject::default();
    let mut i = 0;
    while i + OID_CN.len() < der.len() {
        let rest = &der[i..];
        let is_cn = rest.starts_with(OID_CN);
        if (is_cn || rest.starts_with(OID_O))
            && let Some((value, used)) = der_string(&rest[OID_CN.len()..])
        {
            if is_cn && subject.common_name.is_empty() {
                subject.common_name = value;
            } else if !is_cn {
                subject.organizations.push(value);
            }
            i += OID_CN.len() + used;
            continue;
        }
        i += 1;
    }
    subject
}

/// A DER string (UTF8String, PrintableString, IA5String, T61String) at the
/// start of `bytes`: its text and how many bytes it took.
fn der_string(bytes: &[u8]) -> Option<(String, usize)> {
    let (&tag, rest) = bytes.split_first()?;
    if !matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) {
        return None;
    }
    let (len, header) = match *rest.first()? {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (*rest.get(1)? as usize, 3),
        0x82 => ((*rest.get(1)? as usize) << 8 | *rest.get(2)? as usize, 4),
        _ => return None,
    };
    let value = bytes.get(header..header + len)?;
    Some((String::from_utf8_lossy(value).into_owned(), header + len))
}

/// Standard base64 (padding optional, whitespace ignored).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // openssl req -new -newkey ec -subj "/O=system:masters/CN=mallory-admin"
    const MASTERS: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIck1JR1RBZ0VBTURFeEZ6QVZCZ05WQkFvTURuTjVjM1JsYlRwdFlYTjBaWEp6TVJZd0ZBWURWUVFEREExdApZV3hzYjNKNUxXRmtiV2x1TUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFRjFFVlBFTkZLdlVmCkF5bUljQUxLWFNoOGFqTSszYmwrckpoWjU4Y3lBc0VRTnoyY2hjNlVRbmt5UWRjbUg4NnAvVFRxcTVYUThtMWoKcDU3c1dZZTVPS0FBTUFvR0NDcUdTTTQ5QkFNQ0EwY0FNRVFDSUJicHhabTJNck5OS2tCQ29ZQmVxMnh5Q1NBeQpLaFRWUHo4MXhJaDY3SkJHQWlBSEUxVUdXVVN6aHVCaHZlc2VqV1pqRFhsUnFCWkFtVUlwTmo4YXNNdUpmUT09Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo=";
    // openssl req -new -newkey ec -subj "/O=system:nodes/CN=system:node:kind-worker3"
    const NODE: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIMU1JR2NBZ0VBTURveEZUQVRCZ05WQkFvTURITjVjM1JsYlRwdWIyUmxjekVoTUI4R0ExVUVBd3dZYzNsegpkR1Z0T201dlpHVTZhMmx1WkMxM2IzSnJaWEl6TUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFCmpaWU9yWVdoVE1SaE1IQisxTFM4U29pWHFmTStXVFI4MnhuY3ZHTjBkOVd6YVRKU2t3N1hHdFdoamFHazQ0SUgKbjRWMENJR0ZDQjNTdkEvQlowbDgycUFBTUFvR0NDcUdTTTQ5QkFNQ0EwZ0FNRVVDSVFDQndRS25hbzdUVXVhNgpVSUdWM1JIdEUvWmplSS9Ma0t4NWJKb2tVV3BIZndJZ0JoTERkL05pakZDZGsveHRyV3dEaGZjSnhNU1c0bVNqCkhqRDBZanNkR0hJPQotLS0tLUVORCBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K";

    #[test]
    fn reads_cn_and_organizations() {
        assert_eq!(
            subject_of(MASTERS),
            Some(CsrSubject {
                common_name: "mallory-admin".into(),
                organizations: vec!["system:masters".into()],
            })
        );
        let node = subject_of(NODE).unwrap();
        assert_eq!(node.common_name, "system:node:kind-worker3");
        assert_eq!(node.organizations, ["system:nodes"]);
    }

    #[test]
    fn garbage_is_not_a_subject() {
        assert_eq!(subject_of("not base64!"), None);
        // Valid base64 of text without a PEM block: an empty subject.
        assert_eq!(subject_of("aGVsbG8="), Some(CsrSubject::default()));
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
    }
}
