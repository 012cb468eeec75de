//! Where alerts go.

pub mod alert_writes;
pub mod dead_letter;
pub mod elasticsearch;
pub mod jsonl;

use std::path::PathBuf;

use elasticsearch::BulkWriter;

// One per run, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    File(PathBuf),
    Elasticsearch {
        writer: BulkWriter,
        alerts_prefix: String,
    },
}
