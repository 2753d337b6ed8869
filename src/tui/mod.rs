//! The console. Stub: replaced by the TUI work.
