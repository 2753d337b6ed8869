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

/// Time since the process started, for the start-up timings in the debug log.
pub mod timing {
    use std::sync::OnceLock;
    use std::time::Instant;

    static STARTED: OnceLock<Instant> = OnceLock::new();

    /// Call first thing in `main`.
    pub fn mark_start() {
        STARTED.get_or_init(Instant::now);
    }

    pub fn since_start_ms() -> f64 {
        STARTED
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0)
    }
}
