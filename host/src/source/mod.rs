//! Where documents come from.

pub mod elasticsearch;
pub mod jsonl;
