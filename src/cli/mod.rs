//! Scripting subcommands. Stub.
