//! The device-code sign-in (`cordon login`): the analyst opens a URL on any device,
//! types a short code and signs in there (MFA and Conditional Access apply), while
//! cordon polls the token endpoint. It works over SSH with no browser on the jump
//! host. The refresh token it yields goes to the token cache, so later commands need
//! no prompt until it expires.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::assertion::unverified_claims;
use super::cache::TokenCache;
use super::{AuthError, TokenErrorBody, principal_of};
use crate::bounded::read_capped;
use crate::config::Profile;

/// What the analyst is asked to do. `Debug` shows no device code.
pub struct Prompt {
    pub user_code: String,
    pub verification_uri: String,
    /// Entra's own sentence ("To sign in, use a web browser to open …"), cleaned.
    pub message: String,
    pub expires_in: Duration,
    interval: Duration,
    device_code: SecretString,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct CodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// Where and as whom: the parts of a profile the flow needs.
#[derive(Debug, Clone)]
pub struct Client {
    pub authority: String,
    pub tenant_id: String,
    pub client_id: String,
    /// The API's `.default` scope.
    pub scope: String,
}

impl From<&Profile> for Client {
    fn from(p: &Profile) -> Self {
        Self {
            authority: p.authority.clone(),
            tenant_id: p.tenant_id.clone(),
            client_id: p.client_id.clone(),
            scope: p.scope.clone(),
        }
    }
}

fn endpoint(profile: &Client, leaf: &str) -> Result<url::Url, AuthError> {
    let raw = format!(
        "{}/{}/oauth2/v2.0/{leaf}",
        profile.authority.trim_end_matches('/'),
        profile.tenant_id
    );
    let url = url::Url::parse(&raw).map_err(|e| AuthError::InsecureAuthority {
        url: crate::sanitize::clean_truncated(&raw, 200),
        reason: e.to_string(),
    })?;
    super::ensure_secure_transport(&url).map_err(|reason| AuthError::InsecureAuthority {
        url: crate::sanitize::clean_truncated(&raw, 200),
        reason,
    })?;
    Ok(url)
}

fn scope(profile: &Client) -> String {
    format!("{} offline_access", profile.scope)
}

/// Ask Entra for a device code.
pub async fn start(http: &reqwest::Client, profile: &Client) -> Result<Prompt, AuthError> {
    let url = endpoint(profile, "devicecode")?;
    let host = url.host_str().unwrap_or_default().to_string();
    let scope = scope(profile);
    let response = http
        .post(url)
        .form(&[("client_id", profile.client_id.as_str()), ("scope", &scope)])
        .send()
        .await
        .map_err(|e| AuthError::Unreachable {
            host: host.clone(),
            reason: super::network_reason(&e),
        })?;
    let status = response.status();
    let body = read_capped(response, super::MAX_TOKEN_BODY)
        .await
        .map_err(|_| AuthError::UnexpectedResponse {
            status: status.as_u16(),
            note: "an unreadable answer".into(),
        })?;
    if !status.is_success() {
        return Err(AuthError::from_token_response(
            status.as_u16(),
            &body,
            &profile.client_id,
            &profile.tenant_id,
            &profile.scope,
        ));
    }
    let answer: CodeAnswer =
        serde_json::from_slice(&body).map_err(|_| AuthError::UnexpectedResponse {
            status: status.as_u16(),
            note: "a body without a device code".into(),
        })?;
    let clean = |s: &str| crate::sanitize::clean_truncated(s, 300);
    Ok(Prompt {
        user_code: clean(&answer.user_code),
        verification_uri: clean(&answer.verification_uri),
        message: answer.message.as_deref().map(clean).unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}.",
                clean(&answer.verification_uri),
                clean(&answer.user_code)
            )
        }),
        // Bounded: a hostile answer cannot make cordon wait for days or spin.
        expires_in: Duration::from_secs(answer.expires_in.unwrap_or(900).clamp(30, 3600)),
        interval: Duration::from_secs(answer.interval.unwrap_or(5).clamp(1, 60)),
        device_code: SecretString::from(answer.device_code),
    })
}

/// What the console shows while the analyst signs in (no device code in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptInfo {
    pub message: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
}

impl Prompt {
    pub fn info(&self) -> PromptInfo {
        PromptInfo {
            message: self.message.clone(),
            user_code: self.user_code.clone(),
            verification_uri: self.verification_uri.clone(),
            expires_in: self.expires_in,
        }
    }
}

/// Who signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub username: Option<String>,
}

/// Poll until the analyst has signed in (then store the refresh token in `cache`),
/// declined, the code expired, or `cancel` fires. `on_wait` is told the time left
/// before each wait (the CLI shows it).
pub async fn wait(
    http: &reqwest::Client,
    profile: &Client,
    prompt: &Prompt,
    cache: &TokenCache,
    cancel: &CancellationToken,
    mut on_wait: impl FnMut(Duration),
) -> Result<SignedIn, AuthError> {
    let url = endpoint(profile, "token")?;
    let host = url.host_str().unwrap_or_default().to_string();
    let deadline = tokio::time::Instant::now() + prompt.expires_in;
    let mut interval = prompt.interval;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(AuthError::DeviceCode {
                reason: "the code expired before the sign-in finished; run login again".into(),
            });
        }
        on_wait(left);
        tokio::select! {
            () = cancel.cancelled() => {
                return Err(AuthError::DeviceCode { reason: "cancelled".into() });
            }
            () = tokio::time::sleep(interval.min(left)) => {}
        }
        let response = http
            .post(url.clone())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", profile.client_id.as_str()),
                ("device_code", prompt.device_code.expose_secret()),
            ])
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            // A network blip while waiting is not the end of the sign-in.
            Err(e) => {
                tracing::warn!(host, reason = %super::network_reason(&e), "device-code poll failed; polling again");
                continue;
            }
        };
        let status = response.status();
        let body = read_capped(response, super::MAX_TOKEN_BODY)
            .await
            .unwrap_or_default();
        if status.is_success() {
            #[derive(serde::Deserialize)]
            struct Tokens {
                access_token: String,
                #[serde(default)]
                refresh_token: Option<String>,
            }
            let tokens: Tokens =
                serde_json::from_slice(&body).map_err(|_| AuthError::UnexpectedResponse {
                    status: status.as_u16(),
                    note: "a body without tokens".into(),
                })?;
            let Some(refresh) = tokens.refresh_token else {
                return Err(AuthError::DeviceCode {
                    reason: "Entra returned no refresh token (the app registration must allow public client flows and offline_access)".into(),
                });
            };
            let username = unverified_claims(&tokens.access_token)
                .as_ref()
                .and_then(principal_of);
            cache.store(&SecretString::from(refresh), username.as_deref())?;
            return Ok(SignedIn { username });
        }
        let error = serde_json::from_slice::<TokenErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or_default();
        match error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += Duration::from_secs(5),
            "expired_token" | "code_expired" => {
                return Err(AuthError::DeviceCode {
                    reason: "the code expired before the sign-in finished; run login again".into(),
                });
            }
            "authorization_declined" | "access_denied" => {
                return Err(AuthError::DeviceCode {
                    reason: "the sign-in was declined".into(),
                });
            }
            _ => {
                return Err(AuthError::from_token_response(
                    status.as_u16(),
                    &body,
                    &profile.client_id,
                    &profile.tenant_id,
                    &profile.scope,
                ));
            }
        }
    }
}
