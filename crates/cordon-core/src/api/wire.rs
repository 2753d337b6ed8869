//! The request and response envelopes of the Defender API that are not entities: the
//! OData page, the PascalCase request bodies and the error envelope (docs/mde-api.md §3,
//! §5). The entities are in `crate::domain::models`.

use serde::{Deserialize, Serialize};

pub use crate::auth::TokenErrorBody;
use crate::domain::models::IsolationType;

/// One OData collection page: `{"@odata.context": .., "value": [..], "@odata.nextLink": ..}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ODataPage<T> {
    #[serde(
        rename = "@odata.context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<String>,
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
}

/// `POST /api/machines/{id}/isolate` body. PascalCase keys are case-sensitive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolateBody {
    #[serde(rename = "Comment")]
    pub comment: String,
    #[serde(rename = "IsolationType")]
    pub isolation_type: IsolationType,
}

/// Body of unisolate and cancel: `{"Comment": ".."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentBody {
    #[serde(rename = "Comment")]
    pub comment: String,
}

/// The MDE error envelope: `{"error": {"code", "message", "target"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}
