//! Any bytes, read as one line of input in every event shape the decoder
//! knows, decode to a document or to a clear error; never a panic. A
//! decoded audit event reads back from its layout as written.
#![no_main]

use k8scop::decode::{Decoder, EventShape};
use libfuzzer_sys::fuzz_target;
use rule_sdk::wire::BatchWriter;

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
            if let Some(json) = doc.other_json() {
                let parsed: serde_json::Value =
                    serde_json::from_str(json).expect("a document's source is JSON");
                assert!(parsed.is_object(), "a document is a JSON object");
                continue;
            }
            // An audit event reaches the packs laid out once: it reads back
            // naming itself, with the facts the host routed it by, and
            // written again reads back the same.
            let event = doc.audit_event().expect("an audit event");
            assert_eq!(event.kind, "Event", "an audit event names itself");
            assert!(event.api_version.starts_with("audit.k8s.io/"));
            assert_eq!(event.verb, doc.verb());
            assert_eq!(event.resource(), doc.resource());
            let mut again = BatchWriter::default();
            again.push_audit(&event);
            let reread = again.reader().view(0).expect("one event laid out").event();
            assert_eq!(format!("{reread:?}"), format!("{event:?}"));
        }
    }
});
