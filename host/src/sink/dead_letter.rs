//! Documents Elasticsearch refused for good (a mapping error, say), kept as
//! JSON lines with the reason, so nothing is dropped silently and an
//! operator can fix and re-send them.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub struct DeadLetterFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl DeadLetterFile {
    /// Append to `path`, creating it if needed.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open the dead-letter file {}: {e}", path.display()),
                )
            })?;
        Ok(DeadLetterFile {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(
        &mut self,
        index: &str,
        id: &str,
        status: u16,
        error: &Value,
        document: &Value,
    ) -> std::io::Result<()> {
        let line = json!({
            "@timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "index": index,
            "id": id,
            "status": status,
            "error": error,
            "document": document,
        });
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
