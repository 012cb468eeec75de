//! Talking to Elasticsearch (or OpenSearch): the client, server detection,
//! index naming, the alert index template, retries.

pub mod auth;
pub mod client;
pub mod indices;
pub mod retry;
pub mod server;
pub mod template;

pub use auth::Auth;
pub use client::{EsClient, EsConfig, EsError};
pub use server::{Flavor, ServerInfo};
