//! cordon: a keyboard-driven console for Microsoft Defender for Endpoint device isolation.
//!
//! This crate is the face: the scripting CLI (`cli`) and the console (`tui`). The
//! engine (config, sign-in, the Defender client, the worker, the audit log) is
//! `cordon-core`; the embedded simulator is `cordon-sim`. Both are used, never the
//! other way round.

pub mod cli;
pub mod tui;
