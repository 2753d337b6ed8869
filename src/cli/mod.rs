//! The scripting subcommands: `machines`, `isolate`, `unisolate`, `actions`, `cancel`.
//! Reads go through the rate-limited client; writes go through the worker, exactly as
//! the console's do, so the same checks, audit lines and reconciliation apply.

pub mod args;
pub mod commands;
pub mod output;

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

/// The longest comment cordon sends. The service does not document a limit; 1,000
/// characters holds a ticket id and a paragraph, and keeps audit lines readable.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Refuse empty, whitespace-only and overlong comments before anything is sent.
pub fn validate_comment(comment: &str) -> Result<(), CliError> {
    if comment.trim().is_empty() {
        return Err(CliError::Usage(
            "The comment is empty: give --comment a reason, e.g. a ticket id.".to_string(),
        ));
    }
    let n = comment.chars().count();
    if n > MAX_COMMENT_CHARS {
        return Err(CliError::Usage(format!(
            "The comment is {n} characters long; shorten it to {MAX_COMMENT_CHARS} or fewer."
        )));
    }
    Ok(())
}
