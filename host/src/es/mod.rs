//! Talking to Elasticsearch (or OpenSearch): the client, server detection,
//! index naming, the alert index template and its retention policy, retries, cancellation, and
//! waiting for the server at start.

pub mod auth;
pub mod cancel;
pub mod client;
pub mod indices;
pub mod retention;
pub mod retry;
pub mod server;
pub mod template;
pub mod wait;

pub use auth::Auth;
pub use cancel::Cancel;
pub use client::{EsClient, EsConfig, EsError};
pub use server::{Flavor, ServerInfo};
