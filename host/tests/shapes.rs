//! Every audit fixture under `tests/fixtures/shapes/` names its shape by
//! its file name (`gke.jsonl` holds GKE entries): each of its lines decodes,
//! by auto-detection and by forcing that shape, into audit events of that
//! shape only (never an "other document", never a failure), as many as
//! `expected.json` says, each of the audit schema the packs read.

use std::collections::BTreeMap;
use std::path::Path;

use k8scop::contract::EventKind;
use k8scop::decode::{Decoder, EventShape};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes")
}

#[test]
fn each_fixture_decodes_as_the_shape_its_file_names() {
    let expected: BTreeMap<String, Vec<usize>> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "every fixture has its expected counts, and only fixtures do"
    );
    let mut shapes_seen = Vec::new();
    for file in &files {
        let shape_name = file.strip_suffix(".jsonl").unwrap();
        // The forced shape: `field` fixtures name the field per line.
        let forced = match shape_name {
            "field" => None,
            name => Some(name.parse::<EventShape>().expect("a shape's name")),
        };
        let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected[file].len(), "{file}: lines");
        for (n, (line, want)) in lines.iter().zip(&expected[file]).enumerate() {
            let at = format!("{file}:{}", n + 1);
            let mut decoders = vec![Decoder::default()];
            decoders.extend(forced.clone().map(Decoder::new));
            for decoder in decoders {
                let decoded = decoder
                    .decode(line.to_string(), n as u64 + 1)
                    .unwrap_or_else(|e| panic!("{at} ({}): {e}", decoder.shape()));
                assert!(decoded.failed.is_empty(), "{at}: {:?}", decoded.failed);
                assert_eq!(decoded.docs.len(), *want, "{at}: events");
                for doc in &decoded.docs {
                    assert_eq!(doc.kind, EventKind::Audit, "{at}: never an other document");
                    assert_eq!(
                        doc.shape.map(|s| s.as_str()),
                        Some(shape_name),
                        "{at} ({})",
                        decoder.shape()
                    );
                    let event = doc.audit_event().expect("an audit event");
                    assert_eq!(event.kind, "Event", "{at}");
                    assert!(event.api_version.starts_with("audit.k8s.io/"), "{at}");
                    assert!(!event.verb.is_empty(), "{at}: a verb");
                    assert!(!event.username().is_empty(), "{at}: a user");
                    assert_eq!(doc.verb(), event.verb, "{at}");
                    if *want > 1 {
                        assert!(doc.origin.item.is_some(), "{at}: an item's position");
                    }
                }
            }
        }
        shapes_seen.push(shape_name.to_string());
    }
    // A fixture for every shape the decoder names.
    let mut all: Vec<String> = k8scop::decode::Shape::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    all.sort();
    shapes_seen.sort();
    assert_eq!(shapes_seen, all);
}
