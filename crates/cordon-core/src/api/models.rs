//! Everything the client sends and receives, under one name: the entities (from the
//! domain) and the wire envelopes.

pub use super::wire::*;
pub use crate::domain::models::*;
