//! The vocabulary every layer shares, written once: the service's entities
//! ([`models`]), what a write is ([`WriteRequest`]),
//! what a valid comment is ([`Comment`]), which actions a question is about
//! ([`ActionFilter`]), how actions are ordered and what isolation state they add up to,
//! and which URLs may carry a token ([`transport`]). The worker, the audit log, the CLI
//! and the console all depend on this module; it depends on nothing else in the crate
//! but `sanitize`.

pub mod comment;
pub mod filter;
pub mod isolation;
pub mod models;
pub mod protection;
pub mod transport;
pub mod write;

pub use comment::{Comment, CommentError, CommentRule, MAX_COMMENT_CHARS};
pub use filter::ActionFilter;
pub use isolation::{isolation_states, newest_first};
pub use write::{RequestId, WriteOp, WriteRequest};
