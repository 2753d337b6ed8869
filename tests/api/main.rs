//! The Defender client and configuration: `MdeClient` and the token provider against a
//! scriptable loopback mock of Entra and the Defender API, and config loading with its
//! fixtures. One test binary per layer keeps linking (most of CI's time) short.

#[path = "../support/mock_service.rs"]
mod client_support;

mod auth;
mod client;
mod config;
mod signin;
