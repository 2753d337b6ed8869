//! Config file and profiles.
pub mod profile;
pub use profile::{Cloud, Profile, SecretSource};
