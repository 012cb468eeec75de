//! Where alerts go.

pub mod dead_letter;
pub mod elasticsearch;
pub mod jsonl;
