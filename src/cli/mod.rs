//! The scripting subcommands: `machines`, `isolate`, `unisolate`, `actions`, `cancel`.
//! Reads go through the rate-limited client; writes go through the worker, exactly as
//! the console's do, so the same checks, audit lines and reconciliation apply.

pub mod args;
pub mod commands;
pub mod output;
pub mod plan;
pub mod signin;

/// How a subcommand ended, mapped to the documented exit codes.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 2: bad arguments, unknown or ambiguous machine, bad filter. Nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// Exit 3: sign-in failed.
    #[error("{0}")]
    SignIn(String),
    /// Exit 1: the service refused or failed the request.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::SignIn(_) => 3,
        }
    }

    /// Classify an API error met while reading (resolving machines, listing).
    pub fn from_api(err: &cordon_core::api::ApiError) -> Self {
        use cordon_core::api::ApiError;
        match err {
            // A secret variable that is not set is the set-up's fault, not the sign-in's.
            ApiError::Auth(
                cordon_core::auth::AuthError::SecretEnvMissing { .. }
                | cordon_core::auth::AuthError::SecretEnvNotUnicode { .. },
            ) => Self::Usage(err.to_string()),
            ApiError::Auth(_) => Self::SignIn(err.to_string()),
            ApiError::Service { status: 401, .. } => Self::SignIn(err.explain()),
            ApiError::Service { status: 400, body } if body.code == "ODataError" => {
                Self::Usage(err.explain())
            }
            ApiError::InvalidInput(_) => Self::Usage(err.explain()),
            // The service's fault, not the caller's: an oversized answer, a page link
            // that is bad, foreign or loops.
            ApiError::TooLarge { .. } | ApiError::Paging(_) => Self::Failed(err.explain()),
            _ => Self::Failed(err.explain()),
        }
    }
}

pub use cordon_core::domain::MAX_COMMENT_CHARS;

/// The comment rule (one for the CLI, the console and the worker) as a usage error:
/// nothing is sent (exit 2).
pub fn parse_comment(
    comment: &str,
    rule: &cordon_core::domain::CommentRule,
) -> Result<cordon_core::domain::Comment, CliError> {
    rule.parse(comment)
        .map_err(|e| CliError::Usage(e.to_string()))
}
