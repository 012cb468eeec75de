//! Alerts as JSON lines to a file or stdout: the file-out half of the
//! offline pipeline. Each line is the alert document as indexed, without
//! `_id` (a document field Elasticsearch refuses), so the file bulk-loads
//! as is; the id is the document's `k8scop.alert_id`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::alert::AlertDoc;

pub struct JsonlSink {
    out: Box<dyn Write + Send>,
    written: u64,
}

impl JsonlSink {
    /// Write to `path`, or stdout for `-`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(BufWriter::new(io::stdout()))
        } else {
            let file = File::create(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
            })?;
            Box::new(BufWriter::new(file))
        };
        Ok(JsonlSink { out, written: 0 })
    }

    pub fn write(&mut self, alert: &AlertDoc) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &alert.body)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<u64> {
        self.out.flush()?;
        Ok(self.written)
    }
}
