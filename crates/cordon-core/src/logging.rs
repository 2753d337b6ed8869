//! The debug log: tracing to a file in the data dir, never to the screen (the console
//! owns it). `CORDON_LOG` sets the filter (e.g. `debug`, `cordon::worker=trace`).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot open the log file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("logging was already set up")]
    AlreadySet,
}

/// Start logging to `log_path` (appending). Keep the guard alive until exit: dropping
/// it flushes the log.
pub fn init(log_path: &Path) -> Result<WorkerGuard, LoggingError> {
    let open_err = |source| LoggingError::Open {
        path: log_path.display().to_string(),
        source,
    };
    if let Some(dir) = log_path.parent() {
        crate::private_fs::create_private_dir(dir).map_err(open_err)?;
    }
    // Private (the log names machines and quotes comments, never secrets), and never
    // through a planted link.
    let file = crate::private_fs::open_private_append(log_path).map_err(open_err)?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,cordon=info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|_| LoggingError::AlreadySet)?;
    Ok(guard)
}
