//! cordon: a keyboard-driven console for Microsoft Defender for Endpoint device isolation.
//!
//! Dependency direction: `tui → worker::protocol` (types only); `worker → api → auth`;
//! `config` and `sanitize` are leaves; `sim` serves the same `api::models` and nothing in
//! production code depends on it except `--demo`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod logging;
pub mod sanitize;
pub mod sim;
pub mod tui;
pub mod worker;
