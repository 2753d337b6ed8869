//! The real `cordon` binary: in a pseudo-terminal (portable-pty + vt100), as a CLI
//! against `cordon simulate` and against hostile loopback services, and over real SSH
//! when `.ci/run` installed sshd (skipped, with the reason, otherwise).

#[path = "../support/mock_service.rs"]
mod client_support;
#[path = "../support/pty.rs"]
mod common;

mod console;
mod hostile;
mod listing;
mod reliability;
mod signin;
mod sim_process;
mod simulate;
mod ssh;
