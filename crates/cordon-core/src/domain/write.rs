//! What a write is, from the moment the analyst confirms it to its audit lines.

use serde::Serialize;

use super::Comment;
use crate::domain::models::IsolationType;

/// Identifies one requested write (one machine, one action) from request to outcome.
pub type RequestId = u64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteRequest {
    pub request_id: RequestId,
    pub machine_id: String,
    pub machine_name: String,
    pub op: WriteOp,
    pub comment: Comment,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action")]
pub enum WriteOp {
    Isolate { isolation_type: IsolationType },
    Unisolate,
    Cancel { action_id: String },
}

impl WriteOp {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Isolate { .. } => "Isolate",
            Self::Unisolate => "Release",
            Self::Cancel { .. } => "Cancel",
        }
    }

    /// The audit log's `action` field.
    pub fn audit_name(&self) -> &'static str {
        match self {
            Self::Isolate { .. } => "Isolate",
            Self::Unisolate => "Unisolate",
            Self::Cancel { .. } => "Cancel",
        }
    }
}
