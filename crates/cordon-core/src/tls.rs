//! The TLS crypto provider. reqwest is built without one (no C toolchain step in a fresh
//! build); rustls's ring provider is installed once, before any client is built.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Install ring as the process's rustls provider (idempotent; a provider installed by
/// someone else first is kept).
pub fn ensure_provider() {
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
