//! The runtime profile: one tenant in one cloud, with everything resolved.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Which Microsoft cloud a profile talks to (docs/mde-api.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    #[default]
    Commercial,
    Gcc,
    GccHigh,
    Dod,
}

/// The API base, sign-in authority and token scope a cloud implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudPreset {
    pub api_base: &'static str,
    pub authority: &'static str,
    pub scope: &'static str,
}

impl Cloud {
    pub fn preset(self) -> CloudPreset {
        match self {
            Self::Commercial => CloudPreset {
                api_base: "https://api.securitycenter.microsoft.com",
                authority: "https://login.microsoftonline.com",
                scope: "https://api.securitycenter.microsoft.com/.default",
            },
            Self::Gcc => CloudPreset {
                api_base: "https://api-gcc.securitycenter.microsoft.us",
                authority: "https://login.microsoftonline.com",
                scope: "https://api-gcc.securitycenter.microsoft.us/.default",
            },
            Self::GccHigh => CloudPreset {
                api_base: "https://api-gov.securitycenter.microsoft.us",
                authority: "https://login.microsoftonline.us",
                scope: "https://api-gov.securitycenter.microsoft.us/.default",
            },
            Self::Dod => CloudPreset {
                api_base: "https://api-gov.securitycenter.microsoft.us",
                authority: "https://login.microsoftonline.us",
                scope: "https://api-gov.securitycenter.microsoft.us/.default",
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commercial => "commercial",
            Self::Gcc => "gcc",
            Self::GccHigh => "gcc-high",
            Self::Dod => "dod",
        }
    }
}

/// Where the client secret comes from. Never a literal in the config file.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// The name of an environment variable.
    Env(String),
    /// argv of a command whose trimmed stdout is the secret (e.g. `pass show mde/prod`).
    Command(Vec<String>),
    /// Already in memory: the `env` profile (AZURE_CLIENT_SECRET) and the demo.
    Value(SecretString),
}

/// A fully resolved profile. `Debug` shows no secret: `SecretString` redacts itself.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub secret: SecretSource,
    pub cloud: Cloud,
    /// e.g. `https://api.securitycenter.microsoft.com` (no trailing slash).
    pub api_base: String,
    /// e.g. `https://login.microsoftonline.com` (no trailing slash).
    pub authority: String,
    pub scope: String,
    pub readonly: bool,
    /// Header tint, e.g. "red" for production.
    pub color: Option<String>,
}

impl Profile {
    /// `{authority}/{tenant_id}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant_id
        )
    }
}
