//! Any bytes, read as one line of input in every event shape the decoder
//! knows, decode to a document or to a clear error; never a panic. A
//! decoded document is valid JSON that decodes the same way again.
#![no_main]

use k8scop::decode::{Decoder, EventShape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    for shape in [
        EventShape::Auto,
        EventShape::Root,
        EventShape::ElasticAgent,
        EventShape::Field("log".into()),
        EventShape::Field("event.original".into()),
        EventShape::EventList,
        EventShape::CloudWatch,
        EventShape::Gke,
        EventShape::Aks,
    ] {
        let decoder = Decoder::new(shape);
        let Ok(decoded) = decoder.decode(line.to_string(), 1) else {
            continue;
        };
        for doc in decoded.docs {
            let parsed: serde_json::Value =
                serde_json::from_str(&doc.json).expect("a decoded document is JSON");
            assert!(parsed.is_object(), "a decoded document is a JSON object");
            // An audit event reaches the packs as canonical JSON at the root:
            // decoding that again as a root document gives the same facts.
            // (A document that was not an audit event in this shape may well be
            // one at the root, so only audit events are checked.)
            if doc.kind != k8scop::contract::EventKind::Audit {
                continue;
            }
            assert_eq!(parsed["kind"], "Event", "an audit event names itself");
            let again = Decoder::new(EventShape::Root)
                .decode_line(doc.json.clone(), 1)
                .expect("a decoded document decodes again");
            assert_eq!(again.kind, doc.kind);
            assert_eq!(again.verb, doc.verb);
            assert_eq!(again.resource, doc.resource);
        }
    }
});
