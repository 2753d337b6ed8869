//! File logging (tracing). Stub: replaced by the config work.
