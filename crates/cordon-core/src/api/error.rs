//! Errors of the Defender API client. The client acts on the envelope's `code`, never
//! on its free-text `message`.

use std::time::Duration;

use crate::api::models::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with its error envelope (or an unparseable body, in which
    /// case `code` is synthesised from the HTTP status).
    #[error("{status} {}: {}", .body.code, .body.message)]
    Service { status: u16, body: ErrorBody },

    /// 429, with the server's `Retry-After` when it sent one.
    #[error("throttled by the service; retry after {retry_after:?}")]
    Throttled { retry_after: Option<Duration> },

    /// Sign-in failed or a token was refused twice in a row.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),

    /// The request never got an HTTP answer (connect error, reset, timeout). For a
    /// write this is *ambiguous*: the service may or may not have acted on it.
    #[error("network error: {0}")]
    Network(String),

    /// A 2xx answer whose body is not what the API documents (truncated or garbage).
    #[error("the service answered with a body cordon cannot read: {0}")]
    Decode(String),

    /// The profile refuses every write.
    #[error("profile '{profile}' is read-only; writes are refused")]
    ReadOnly { profile: String },

    /// Refused before anything was sent (empty comment, bad argument).
    #[error("{0}")]
    InvalidInput(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Service { status, .. } => Some(*status),
            Self::Throttled { .. } => Some(429),
            _ => None,
        }
    }

    /// The envelope's `code`, or a stable code of cordon's own for the other cases.
    pub fn code(&self) -> &str {
        match self {
            Self::Service { body, .. } => &body.code,
            Self::Throttled { .. } => "TooManyRequests",
            Self::Auth(_) => "AuthenticationFailed",
            Self::Network(_) => "NetworkError",
            Self::Decode(_) => "InvalidResponse",
            Self::ReadOnly { .. } => "ReadOnlyProfile",
            Self::InvalidInput(_) => "InvalidInput",
        }
    }

    /// 400 `ActiveRequestAlreadyExists`: the service already has this action pending.
    pub fn is_already_active(&self) -> bool {
        self.code() == "ActiveRequestAlreadyExists"
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self.status(), Some(404))
    }

    /// For a write: the outcome is unknown (the request may have reached the service).
    /// The worker reconciles by reading the machine's actions before deciding.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Network(_) | Self::Decode(_) => true,
            Self::Service { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// For a read: worth another try with backoff.
    pub fn is_transient(&self) -> bool {
        self.is_ambiguous() || matches!(self, Self::Throttled { .. })
    }

    /// One sentence for a person: what went wrong and what to do next.
    pub fn explain(&self) -> String {
        match self {
            Self::Service { status: 403, body } => format!(
                "Access denied ({}): the app needs the Machine.Isolate permission (or Machine.Read.All to read), and a user needs the \"Active remediation actions\" role. {}",
                body.code, body.message
            ),
            Self::Service { status: 404, .. } => {
                "Machine or action not found: check the name or id, or refresh the list."
                    .to_string()
            }
            Self::Service { body, .. } if body.code == "ActiveRequestAlreadyExists" => {
                "An isolation action is already in progress for this machine; wait for it or cancel it."
                    .to_string()
            }
            Self::Service { body, .. } if body.code == "ODataError" => {
                format!("The filter was rejected by the service: {}", body.message)
            }
            other => other.to_string(),
        }
    }
}
