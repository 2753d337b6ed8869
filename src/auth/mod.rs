//! Entra ID sign-in (client credentials, v2 endpoint). Stub: replaced by the auth work.

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign-in failed: {0}")]
    Failed(String),
}
