//! The bearer token: fetched with client credentials, cached, refreshed before expiry,
//! one token request at a time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::{AuthError, ensure_secure_transport, resolve_secret};
use crate::config::{Profile, SecretSource};

/// Used when the token answer has no `expires_in` (Entra always sends one).
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Refresh this long before expiry at most…
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How long before expiry a token with this lifetime is refreshed: 5 minutes, or 10%
/// of the lifetime when that is shorter (so a 60 s token is not refreshed at once).
pub fn refresh_margin(ttl: Duration) -> Duration {
    MAX_REFRESH_MARGIN.min(ttl / 10)
}

/// A bearer token and the generation it belongs to (so a caller that saw a 401 can
/// invalidate exactly the token it used). `Debug` shows no token.
#[derive(Clone)]
pub struct AccessToken {
    pub secret: SecretString,
    pub generation: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("generation", &self.generation)
            .finish()
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Client-credentials token source for one profile.
///
/// `get_token` returns the cached token until it is near expiry. The cache sits behind
/// a tokio `Mutex` held across the refresh, so N concurrent callers cause one token
/// request (single-flight). The secret is resolved at each token request.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: Url,
    tenant_id: String,
    client_id: String,
    scope: String,
    secret: SecretSource,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    token_requests: AtomicU64,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = match &self.secret {
            SecretSource::Env(var) => format!("env:{var}"),
            SecretSource::Command(argv) => {
                format!("command:{}", argv.first().map(String::as_str).unwrap_or(""))
            }
            SecretSource::Value(_) => "[REDACTED]".to_string(),
        };
        f.debug_struct("TokenProvider")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("secret", &secret)
            .field("token_requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default, deserialize_with = "seconds_string_or_number")]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// v2 sends `"expires_in": 3599`, v1 sends `"expires_in": "3599"` (mde-api.md §1.2).
fn seconds_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        Num(u64),
        Float(f64),
        Str(String),
    }
    Ok(match Option::<StrOrNum>::deserialize(d)? {
        None => None,
        Some(StrOrNum::Num(n)) => Some(n),
        Some(StrOrNum::Float(f)) if f.is_finite() && f >= 0.0 => Some(f as u64),
        Some(StrOrNum::Float(_)) => None,
        Some(StrOrNum::Str(s)) => s.trim().parse().ok(),
    })
}

impl TokenProvider {
    /// A provider for `profile`, using `http` for the token requests. Refuses an
    /// authority that is not https (loopback excepted).
    pub fn new(profile: &Profile, http: reqwest::Client) -> Result<Self, AuthError> {
        let raw = profile.token_url();
        let token_url = Url::parse(&raw).map_err(|e| AuthError::InsecureAuthority {
            url: crate::sanitize::clean_truncated(&profile.authority, 200),
            reason: format!(
                "it is not a valid URL ({e}); use e.g. https://login.microsoftonline.com"
            ),
        })?;
        ensure_secure_transport(&token_url).map_err(|reason| AuthError::InsecureAuthority {
            url: crate::sanitize::clean_truncated(&profile.authority, 200),
            reason,
        })?;
        Ok(Self {
            http,
            token_url,
            tenant_id: profile.tenant_id.clone(),
            client_id: profile.client_id.clone(),
            scope: profile.scope.clone(),
            secret: profile.secret.clone(),
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
        })
    }

    /// The authority host, for messages.
    pub fn authority_host(&self) -> String {
        host_and_port(&self.token_url)
    }

    /// How many token requests were sent (for tests and diagnostics).
    pub fn request_count(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a fresh one when it is missing or near expiry.
    pub async fn get_token(&self) -> Result<AccessToken, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(cached) = cache.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                let token = fresh.token.clone();
                *cache = Some(fresh);
                Ok(token)
            }
            // Refresh failed but the old token is still good for a while: keep working
            // (Entra hiccups must not stop an isolation), and try again on the next call.
            Err(e) => match cache.as_ref() {
                Some(cached) if now + Duration::from_secs(30) < cached.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; using the cached token until it expires");
                    Ok(cached.token.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// Drop the cached token so the next `get_token` fetches a new one.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// Drop the cached token only if it is still `generation` (a 401 seen by several
    /// concurrent requests then causes one refresh, not one each).
    pub async fn invalidate_generation(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            *cache = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, AuthError> {
        let secret = resolve_secret(&self.secret).await?;
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("scope", self.scope.as_str()),
        ];
        let response = self
            .http
            .post(self.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        tracing::debug!(
            method = "POST",
            path = self.token_url.path(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "token request"
        );
        if !status.is_success() {
            return Err(AuthError::from_token_response(
                status.as_u16(),
                &body,
                &self.client_id,
                &self.tenant_id,
                &self.scope,
            ));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| AuthError::UnexpectedResponse {
                status: status.as_u16(),
                note: "a body without an access_token".to_string(),
            })?;
        if answer.access_token.trim().is_empty() {
            return Err(AuthError::UnexpectedResponse {
                status: status.as_u16(),
                note: "an empty access_token".to_string(),
            });
        }
        if let Some(kind) = answer
            .token_type
            .as_ref()
            .filter(|kind| !kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(AuthError::UnexpectedResponse {
                status: status.as_u16(),
                note: format!(
                    "a token of type {}",
                    crate::sanitize::clean_truncated(kind, 40)
                ),
            });
        }
        let ttl = answer.expires_in.map_or(DEFAULT_TTL, Duration::from_secs);
        // The token's clock starts when we asked for it, not when the answer arrived.
        let expires_at = started + ttl;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Cached {
            token: AccessToken {
                secret: SecretString::from(answer.access_token),
                generation,
            },
            refresh_at: expires_at - refresh_margin(ttl),
            expires_at,
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> AuthError {
        AuthError::Unreachable {
            host: self.authority_host(),
            reason: network_reason(e),
        }
    }
}

/// `host[:port]` of a URL, for messages.
pub(crate) fn host_and_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.as_str().to_string(),
    }
}

/// A short reason for a transport failure: the kind, and the innermost cause (which
/// names no URL and no header).
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "transport error"
    };
    let mut innermost: Option<String> = None;
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    match innermost {
        Some(cause) if !cause.is_empty() => {
            format!("{kind}: {}", crate::sanitize::clean_truncated(&cause, 160))
        }
        _ => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_five_minutes_or_a_tenth_of_short_lifetimes() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3599)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(60)),
            Duration::from_secs(6)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn expires_in_accepts_number_and_string() {
        let v2: TokenAnswer =
            serde_json::from_str(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"t"}"#)
                .expect("v2");
        assert_eq!(v2.expires_in, Some(3599));
        let v1: TokenAnswer = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3599","expires_on":"1388452167","access_token":"t"}"#,
        )
        .expect("v1");
        assert_eq!(v1.expires_in, Some(3599));
        let none: TokenAnswer = serde_json::from_str(r#"{"access_token":"t"}"#).expect("none");
        assert_eq!(none.expires_in, None);
    }
}
