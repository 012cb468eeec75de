//! The batch layout of the WIT contract (`rule_sdk::wire`), both ways:
//! any audit event the host can parse reads back in the pack exactly as
//! written (writing what was read gives the same batch again), and any
//! words at all, however inconsistent, read without a panic (a pack must
//! never trap on what a faulty host sends).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rule_sdk::Event;
use rule_sdk::wire::{BatchEvent, BatchReader, BatchWriter};

#[derive(Debug, Arbitrary)]
enum Input {
    /// An audit event's JSON, as the host would parse it.
    Json(String),
    /// Raw batch blocks, as a faulty host might send them.
    Words {
        text: String,
        strings: Vec<u32>,
        events: Vec<u32>,
    },
}

fn write_back(reader: &BatchReader<'_>) -> BatchWriter {
    let mut writer = BatchWriter::default();
    reader.for_each(|_, event| match event {
        BatchEvent::Audit(e) => writer.push_audit(e),
        BatchEvent::Other(json) => writer.push_other(json),
        BatchEvent::Unknown(_) => {}
    });
    writer
}

fuzz_target!(|input: Input| {
    match input {
        Input::Json(json) => {
            let Ok(event) = Event::from_json(&json) else {
                return;
            };
            let mut written = BatchWriter::default();
            written.push_audit(&event);
            written.push_other(&json);
            let reader = BatchReader::new(&written.text, &written.strings, &written.events);
            let again = write_back(&reader);
            assert_eq!(written.text, again.text);
            assert_eq!(written.strings, again.strings);
            assert_eq!(written.events, again.events);
        }
        Input::Words {
            text,
            strings,
            events,
        } => {
            BatchReader::new(&text, &strings, &events).for_each(|_, event| {
                if let BatchEvent::Audit(e) = event {
                    // Touch what rules touch, bodies included.
                    let _ = (e.time(), e.resource_path(), e.request_object());
                    let _ = e.annotation("authorization.k8s.io/decision");
                }
            });
        }
    }
});
