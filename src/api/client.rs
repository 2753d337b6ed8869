//! Stub: replaced by the client work.
