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

    /// 429, with the server's `Retry-After` (bounded when parsed) when it sent one.
    /// Also returned at once, without waiting, when the service asks for a longer wait
    /// than the client's budget.
    #[error("throttled by the service (429){}", wait_text(*.retry_after))]
    Throttled { retry_after: Option<Duration> },

    /// The answer was longer than cordon reads for one request (`limit` bytes). It was
    /// abandoned unread and is never retried: asking again would download it again.
    #[error(
        "the service sent an oversized answer (more than {}, cordon's cap for one answer); it was not read, and the request is not retried",
        crate::bounded::mib(*.limit)
    )]
    TooLarge { limit: usize },

    /// A listing the service pages wrongly. A fault of the service, not of the request.
    #[error(transparent)]
    Paging(#[from] PagingFault),

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

/// Why a listing stopped following `@odata.nextLink`. Quoted links are sanitized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingFault {
    #[error(
        "the service sent an @odata.nextLink that is not a URL ({link}); the listing stopped here"
    )]
    NotAUrl { link: String },

    /// Following it would send the token to a host we did not choose.
    #[error(
        "refusing to follow an @odata.nextLink to {origin}: it is not the API host {api_host}, so the token is not sent there; the listing stopped here"
    )]
    ForeignHost { origin: String, api_host: String },

    /// The same link came twice in one listing: following it would loop for ever.
    #[error(
        "the service's page link repeats (@odata.nextLink {link} came twice in one listing); the listing stopped here instead of looping"
    )]
    Repeated { link: String },

    #[error(
        "the listing exceeded {limit} pages, more than any tenant has; the service's paging looks broken, so the listing stopped here"
    )]
    TooManyPages { limit: usize },
}

fn wait_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(
            "; it asked cordon to wait {} s before calling again; try again after that",
            wait.as_secs_f64().ceil()
        ),
        None => "; try again in a minute".to_string(),
    }
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
            Self::Auth(crate::auth::AuthError::SignInRequired { .. }) => "SignInRequired",
            Self::Auth(_) => "AuthenticationFailed",
            Self::Network(_) => "NetworkError",
            Self::Decode(_) => "InvalidResponse",
            Self::TooLarge { .. } => "ResponseTooLarge",
            Self::Paging(_) => "InvalidPaging",
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
    /// The worker reconciles by reading the machine's actions before deciding. An
    /// oversized answer is ambiguous too (the service may have acted), though the client
    /// never repeats the request itself.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Network(_) | Self::Decode(_) | Self::TooLarge { .. } => true,
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
