//! Logging through the host, which tags every line with the pack's name.

pub use crate::host::LogLevel;
use crate::host::log as host_log;

pub fn debug(message: &str) {
    host_log(LogLevel::Debug, message)
}

pub fn info(message: &str) {
    host_log(LogLevel::Info, message)
}

pub fn warn(message: &str) {
    host_log(LogLevel::Warn, message)
}

pub fn error(message: &str) {
    host_log(LogLevel::Error, message)
}
