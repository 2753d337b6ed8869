//! The runtime profile: one tenant in one cloud, with everything resolved.

use std::path::PathBuf;

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

/// How a profile signs in (the `auth` key). Each is a token source behind
/// `auth::TokenProvider`; nothing above it changes with the method.
#[derive(Debug, Clone)]
pub enum Auth {
    /// App-only: client credentials with a client secret.
    ClientSecret(SecretSource),
    /// App-only: client credentials with an assertion signed by the certificate's key:
    /// a PEM file holding the private key and the certificate, or a PKCS#12 (.pfx)
    /// file whose password is in the environment variable `password_env`.
    Certificate {
        file: PathBuf,
        password_env: Option<String>,
    },
    /// As the analyst (delegated): the device-code flow once, then the cached refresh
    /// token (`cordon login`).
    DeviceCode,
    /// The Azure CLI's signed-in account (`az account get-access-token`).
    AzureCli,
    /// The host's managed identity (App Service/Container Apps/Arc endpoint, or IMDS);
    /// `client_id` picks a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
    /// App-only: a federated token from a file (`AZURE_FEDERATED_TOKEN_FILE`) as the
    /// client assertion (Kubernetes workload identity, CI pipelines).
    WorkloadIdentity { token_file: Option<PathBuf> },
}

impl Auth {
    /// The `auth` value naming this method.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientSecret(_) => "client-secret",
            Self::Certificate { .. } => "certificate",
            Self::DeviceCode => "device-code",
            Self::AzureCli => "azure-cli",
            Self::ManagedIdentity { .. } => "managed-identity",
            Self::WorkloadIdentity { .. } => "workload-identity",
        }
    }

    /// Signs in as a person (delegated) rather than as the app.
    pub fn is_delegated(&self) -> bool {
        matches!(self, Self::DeviceCode | Self::AzureCli)
    }
}

/// Every `auth` value, for messages.
pub const AUTH_METHODS: &str =
    "client-secret, certificate, device-code, azure-cli, managed-identity, workload-identity";

/// A fully resolved profile. `Debug` shows no secret: `SecretString` redacts itself.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub auth: Auth,
    /// PEM bundle of extra CA certificates trusted for this profile's endpoints (a
    /// TLS-inspecting proxy's CA), added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// A proxy URL for this profile, instead of HTTPS_PROXY.
    pub proxy: Option<String>,
    pub cloud: Cloud,
    /// e.g. `https://api.securitycenter.microsoft.com` (no trailing slash).
    pub api_base: String,
    /// e.g. `https://login.microsoftonline.com` (no trailing slash).
    pub authority: String,
    pub scope: String,
    pub readonly: bool,
    /// Writes need the profile name (or a bulk's size) typed to confirm.
    pub protected: bool,
    /// Machine tags protected in every profile (the config's `protected_tags`).
    pub protected_tags: Vec<String>,
    /// `comment_pattern`: what every comment must match.
    pub comment_rule: crate::domain::CommentRule,
    /// `comment_template`: what the console's comment box starts with.
    pub comment_template: Option<String>,
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
