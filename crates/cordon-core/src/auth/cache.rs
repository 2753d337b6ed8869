//! The token cache of delegated (device-code) profiles: the refresh token and who it
//! belongs to, so the analyst signs in once a day rather than per command. One file
//! per profile (tenant, client, authority and profile name hashed into its name) in
//! the data dir's `tokens/`, 0600 in a 0700 directory, refused when anyone else could
//! have read it. A file rather than the OS keyring: jump hosts are headless SSH
//! sessions where no keyring daemon runs, and a file under the same rules as the audit
//! log behaves the same everywhere. The refresh token never leaves this file and the
//! token request; no log, message or screen shows it.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::config::Profile;

/// What is kept for a signed-in analyst.
#[derive(Serialize, Deserialize)]
struct Stored {
    refresh_token: String,
    #[serde(default)]
    username: Option<String>,
    tenant_id: String,
    client_id: String,
    saved: String,
}

/// A cached sign-in. `Debug` shows no token.
pub struct CachedSignIn {
    pub refresh_token: SecretString,
    pub username: Option<String>,
}

impl std::fmt::Debug for CachedSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSignIn")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
    tenant_id: String,
    client_id: String,
}

impl TokenCache {
    /// The cache file of `profile` under `dir` (the data dir's `tokens/`).
    pub fn for_profile(profile: &Profile, dir: &std::path::Path) -> Self {
        let key = format!(
            "{}\n{}\n{}\n{}",
            profile.name, profile.tenant_id, profile.client_id, profile.authority
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let hex: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            path: dir.join(format!("{hex}.json")),
            tenant_id: profile.tenant_id.clone(),
            client_id: profile.client_id.clone(),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn error(&self, reason: impl std::fmt::Display) -> AuthError {
        AuthError::TokenCache {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// The cached sign-in, if any.
    pub fn load(&self) -> Result<Option<CachedSignIn>, AuthError> {
        let Some(bytes) = crate::private_fs::read_private(&self.path).map_err(|e| self.error(e))?
        else {
            return Ok(None);
        };
        let bytes = secrecy::zeroize::Zeroizing::new(bytes);
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|_| {
            self.error("it is not a cordon token cache; delete it and sign in again")
        })?;
        // A cache written for another tenant or app is not this profile's sign-in.
        if stored.tenant_id != self.tenant_id || stored.client_id != self.client_id {
            return Ok(None);
        }
        Ok(Some(CachedSignIn {
            refresh_token: SecretString::from(stored.refresh_token),
            username: stored.username,
        }))
    }

    pub fn store(
        &self,
        refresh_token: &SecretString,
        username: Option<&str>,
    ) -> Result<(), AuthError> {
        let stored = Stored {
            refresh_token: refresh_token.expose_secret().to_string(),
            username: username.map(str::to_string),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            saved: chrono::Utc::now().to_rfc3339(),
        };
        let bytes = secrecy::zeroize::Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| self.error(e))?,
        );
        crate::private_fs::write_private(&self.path, &bytes).map_err(|e| self.error(e))
    }

    /// Forget the sign-in. True when there was one.
    pub fn remove(&self) -> Result<bool, AuthError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }
}
