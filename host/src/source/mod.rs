//! Where documents come from.

pub mod jsonl;
