//! Entra ID sign-in (docs/mde-api.md §1): one token source per profile, chosen by its
//! `auth` method — client secret, certificate (signed assertion), workload identity
//! (federated token), device code (as the analyst, refresh token cached), the Azure
//! CLI, or a managed identity.
//!
//! * [`resolve_secret`] turns a profile's [`SecretSource`](crate::config::SecretSource)
//!   into a `SecretString` (env var, command, or in-memory value).
//! * [`TokenProvider`] fetches, caches and refreshes the bearer token, one request at a
//!   time however many callers wait for it.
//! * [`AuthError`] says in one sentence what went wrong and what to do next. No variant
//!   ever carries a secret or a token.

pub mod assertion;
pub mod cache;
pub mod device;
mod error;
mod secret;
pub mod sources;
mod token;

pub use crate::domain::transport::{ensure_secure_transport, is_loopback};
pub use error::{AuthError, TokenErrorBody};
pub use secret::{SECRET_COMMAND_TIMEOUT, resolve_secret, resolve_secret_with_timeout};
pub(crate) use token::network_reason;
pub use token::{
    AccessToken, MAX_TOKEN_BODY, MAX_TOKEN_TTL, PrincipalSlot, TOKEN_REQUEST_DEADLINE,
    TokenProvider, parse_expires_in, principal_of, refresh_margin,
};
