//! The token sources that are not an Entra token request of the app's own: the Azure
//! CLI's signed-in account and the host's managed identity. Each returns the same
//! answer shape as the token endpoint, so one code path checks and caches it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::zeroize::Zeroizing;
use url::Url;

use super::AuthError;
use crate::sanitize::clean_truncated;

/// How long `az account get-access-token` may run (it can refresh its own token).
pub const AZ_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the Azure CLI is, and how it is asked.
#[derive(Debug, Clone)]
pub struct AzureCli {
    pub program: PathBuf,
}

impl Default for AzureCli {
    fn default() -> Self {
        Self {
            program: PathBuf::from("az"),
        }
    }
}

#[derive(serde::Deserialize)]
struct AzAnswer {
    #[serde(rename = "accessToken")]
    access_token: String,
    /// Unix seconds (az 2.54+).
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
    #[serde(default, rename = "tokenType")]
    token_type: Option<String>,
}

impl AzureCli {
    /// A token for `resource` in `tenant`, as the JSON body the token endpoint would
    /// give (`access_token`, `expires_on`, `token_type`). argv only, never a shell.
    pub async fn token(
        &self,
        resource: &str,
        tenant: &str,
    ) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        let program = self.program.display().to_string();
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args([
                "account",
                "get-access-token",
                "--resource",
                resource,
                "--tenant",
                tenant,
                "--output",
                "json",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| AuthError::AzureCli {
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not installed or not on PATH; install the Azure CLI, or choose another auth for this profile")
            } else {
                format!("cannot start {program} ({e})")
            },
        })?;
        let output = tokio::time::timeout(AZ_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| AuthError::AzureCli {
                reason: format!(
                    "{program} did not answer within {} s; run `az account get-access-token` by hand to see why",
                    AZ_TIMEOUT.as_secs()
                ),
            })?
            .map_err(|e| AuthError::AzureCli {
                reason: format!("{program} failed ({e})"),
            })?;
        let stdout = Zeroizing::new(output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no message");
            let advice = if stderr.contains("az login") || stderr.contains("AADSTS") {
                format!("; run: az login --tenant {tenant}")
            } else {
                String::new()
            };
            return Err(AuthError::AzureCli {
                reason: format!(
                    "{program} exited with {} ({}){advice}",
                    output.status,
                    clean_truncated(first, 200)
                ),
            });
        }
        let answer: AzAnswer =
            serde_json::from_slice(&stdout).map_err(|_| AuthError::AzureCli {
                reason: format!("{program} printed something that is not its token JSON"),
            })?;
        let body = serde_json::json!({
            "access_token": answer.access_token,
            "expires_on": answer.expires_on,
            "token_type": answer.token_type.unwrap_or_else(|| "Bearer".into()),
        });
        Ok(Zeroizing::new(body.to_string().into_bytes()))
    }
}

/// The managed-identity endpoint: App Service, Container Apps and Arc set
/// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`; elsewhere it is Azure's instance metadata
/// service (IMDS), whose host `AZURE_POD_IDENTITY_AUTHORITY_HOST` may replace (as the
/// Azure SDKs allow; the simulator uses it).
#[derive(Debug, Clone)]
pub struct ManagedIdentity {
    pub client_id: Option<String>,
}

/// IMDS: plain http by design, to a link-local address that is never routed off the
/// host; the one http endpoint a token comes from besides loopback.
pub const IMDS_HOST: &str = "169.254.169.254";

impl ManagedIdentity {
    /// The request to send: URL and the one header the endpoint requires.
    pub fn request(
        &self,
        resource: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Url, (&'static str, String)), AuthError> {
        let bad = |reason: String| AuthError::ManagedIdentity { reason };
        let (mut url, header, api_version) =
            match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
                (Some(endpoint), Some(secret)) if !endpoint.is_empty() => {
                    let url = Url::parse(&endpoint)
                        .map_err(|_| bad("IDENTITY_ENDPOINT is not a URL".into()))?;
                    crate::domain::transport::ensure_secure_transport(&url)
                        .map_err(|r| bad(format!("refusing IDENTITY_ENDPOINT: {r}")))?;
                    (url, ("X-IDENTITY-HEADER", secret), "2019-08-01")
                }
                _ => {
                    let host = env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| format!("http://{IMDS_HOST}"));
                    let url = Url::parse(&format!(
                        "{}/metadata/identity/oauth2/token",
                        host.trim_end_matches('/')
                    ))
                    .map_err(|_| bad("AZURE_POD_IDENTITY_AUTHORITY_HOST is not a URL".into()))?;
                    if url.host_str() != Some(IMDS_HOST) {
                        crate::domain::transport::ensure_secure_transport(&url).map_err(|r| {
                            bad(format!("refusing AZURE_POD_IDENTITY_AUTHORITY_HOST: {r}"))
                        })?;
                    }
                    (url, ("Metadata", "true".to_string()), "2018-02-01")
                }
            };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            q.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        Ok((url, header))
    }
}
