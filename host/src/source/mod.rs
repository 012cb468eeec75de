//! Where documents come from: a JSON-lines file, or Elasticsearch read one
//! window at a time (replay) or followed live.

pub mod elasticsearch;
pub mod follow;
pub mod jsonl;
pub mod window;

pub use follow::{Schedule, follow};
pub use window::{EachPage, EsInput, HitSink, Seen, WindowEnd, read_window};
