//! The worker: owns HTTP, rate limiting and polling. Stub: replaced by the worker work.
pub mod protocol;
