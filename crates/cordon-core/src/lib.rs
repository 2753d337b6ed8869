//! cordon's engine: everything but the terminal UI and the simulator.
//!
//! Dependency direction inside: `worker → api → auth → config`; `worker → audit`;
//! `domain`, `sanitize` and `config` are leaves. This crate depends on no terminal UI
//! (ratatui, crossterm) and no simulator (axum): `cargo tree -p cordon-core` shows it,
//! and `.ci/run` checks it.

pub mod api;
pub mod audit;
pub mod auth;
mod bounded;
pub mod config;
pub mod domain;
pub mod logging;
pub mod private_fs;
pub mod sanitize;
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
