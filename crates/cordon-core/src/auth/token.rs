//! The bearer token: fetched by the profile's sign-in method (`config::Auth`), cached,
//! refreshed before expiry, one token request at a time. Every method ends in the same
//! answer shape, checked and cached by one code path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::assertion::{Credential, unverified_claims};
use super::cache::TokenCache;
use super::sources::{AzureCli, ManagedIdentity};
use super::{AuthError, ensure_secure_transport, resolve_secret};
use crate::bounded::{ReadError, instant_after, read_capped};
use crate::config::{Auth, Profile, SecretSource};

/// `client_assertion_type` for a signed JWT (certificate, workload identity).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Used when the token answer has no usable `expires_in` (Entra always sends one).
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The longest token lifetime believed: 24 hours. Entra issues tokens for 60 to 90
/// minutes; a larger `expires_in` (u64::MAX, 1e300) reads as 24 hours, so the token is
/// fetched again at least daily and its expiry instant cannot overflow. Lifetimes are
/// bounded into `[0, MAX_TOKEN_TTL]`: a short one is believed, since it costs only a
/// token request per call and never keeps an expired token.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Most bytes read from one answer of the token endpoint. A token answer is a few kB
/// (a JWT and a handful of fields); 1 MiB is hundreds of times that, and stops a
/// captive portal or hostile endpoint from filling memory.
pub const MAX_TOKEN_BODY: usize = 1024 * 1024;

/// The longest a token request (send, answer and body) may take, whatever the HTTP
/// client passed in allows: a sign-in that drips its answer cannot hold every caller.
pub const TOKEN_REQUEST_DEADLINE: Duration = Duration::from_secs(60);
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
    /// The lifetime as taken from the answer, bounded.
    ttl: Duration,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Where tokens come from.
#[derive(Debug)]
enum Source {
    Secret(SecretSource),
    /// The PEM or PKCS#12 file (and the variable holding a PKCS#12 password), read at
    /// each token request: a renewed certificate is picked up.
    Certificate(std::path::PathBuf, Option<String>),
    /// The federated token file, read at each request (it is rotated under us).
    Federated(Result<std::path::PathBuf, String>),
    DeviceCode(TokenCache),
    AzureCli(AzureCli),
    ManagedIdentity(ManagedIdentity),
}

/// The token source of one profile.
///
/// `get_token` returns the cached token until it is near expiry. The cache sits behind
/// a tokio `Mutex` held across the refresh, so N concurrent callers cause one token
/// request (single-flight). Secrets, certificates and federated tokens are read at
/// each token request.
pub struct TokenProvider {
    http: reqwest::Client,
    /// No proxy, ever: the managed-identity endpoint is on the host or link-local.
    direct: reqwest::Client,
    token_url: Url,
    tenant_id: String,
    client_id: String,
    profile_name: String,
    scope: String,
    source: Source,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    token_requests: AtomicU64,
    principal: PrincipalSlot,
    /// For `login`: where the device-code flow runs (device-code profiles only).
    device_client: Option<super::device::Client>,
}

/// Who the latest token names, shared with the audit log so each record says who
/// acted (the analyst for a delegated sign-in, the app otherwise).
#[derive(Debug, Clone, Default)]
pub struct PrincipalSlot(std::sync::Arc<std::sync::RwLock<Option<String>>>);

impl PrincipalSlot {
    pub fn get(&self) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, principal: Option<String>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = principal;
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = match &self.source {
            Source::Secret(SecretSource::Env(var)) => format!("env:{var}"),
            Source::Secret(SecretSource::Command(argv)) => {
                format!("command:{}", argv.first().map(String::as_str).unwrap_or(""))
            }
            Source::Secret(SecretSource::Value(_)) => "[REDACTED]".to_string(),
            Source::Certificate(p, _) => format!("certificate:{}", p.display()),
            Source::Federated(_) => "workload-identity".to_string(),
            Source::DeviceCode(_) => "device-code".to_string(),
            Source::AzureCli(_) => "azure-cli".to_string(),
            Source::ManagedIdentity(_) => "managed-identity".to_string(),
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
    /// Delegated grants only: kept in the token cache, never anywhere else.
    #[serde(default)]
    refresh_token: Option<String>,
    /// Whole seconds, already bounded into `[0, MAX_TOKEN_TTL]`.
    #[serde(default, deserialize_with = "seconds_string_or_number")]
    expires_in: Option<u64>,
    /// v1 only: the expiry as Unix seconds; used when `expires_in` is missing.
    #[serde(default, deserialize_with = "number_or_string")]
    expires_on: Option<f64>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    Num(u64),
    Float(f64),
    Str(String),
    /// Anything else (true, an object) is ignored rather than failing the answer.
    Other(serde::de::IgnoredAny),
}

/// v2 sends `"expires_in": 3599`, v1 sends `"expires_in": "3599"` (mde-api.md §1.2).
/// Bounded as [`parse_expires_in`] says.
fn seconds_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let lifetime = match Option::<StrOrNum>::deserialize(d)? {
        None | Some(StrOrNum::Other(_)) => None,
        Some(StrOrNum::Num(n)) => Some(Duration::from_secs(n).min(MAX_TOKEN_TTL)),
        Some(StrOrNum::Float(f)) => lifetime_from_secs(f),
        Some(StrOrNum::Str(s)) => parse_expires_in(&s),
    };
    Ok(lifetime.map(|d| d.as_secs()))
}

/// A number, or a string holding one (unbounded: the caller bounds what it derives).
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<StrOrNum>::deserialize(d)? {
        None | Some(StrOrNum::Other(_)) => None,
        Some(StrOrNum::Num(n)) => Some(n as f64),
        Some(StrOrNum::Float(f)) => Some(f),
        Some(StrOrNum::Str(s)) => s.trim().parse().ok(),
    })
}

/// A token lifetime from the text of `expires_in`: seconds, whole or decimal, bounded
/// into `[0, MAX_TOKEN_TTL]` (0 to 24 hours; more reads as 24 hours). None when it is
/// not a non-negative number (negative, NaN, text): the default lifetime applies.
pub fn parse_expires_in(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs).min(MAX_TOKEN_TTL)),
        Err(_) => text.parse::<f64>().ok().and_then(lifetime_from_secs),
    }
}

/// Seconds as a lifetime in `[0, MAX_TOKEN_TTL]`; None for negative or NaN.
fn lifetime_from_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    // Compared as floats first: 1e300 (or infinity) does not fit a Duration.
    if secs >= MAX_TOKEN_TTL.as_secs_f64() {
        return Some(MAX_TOKEN_TTL);
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO))
}

/// The lifetime a token answer gives: `expires_in`, else `expires_on` against our clock
/// (ignored when already past: a skewed clock must not mean a token request per call),
/// else an hour. Always within `[0, MAX_TOKEN_TTL]`.
fn answer_lifetime(answer: &TokenAnswer, now_unix: f64) -> Duration {
    if let Some(secs) = answer.expires_in {
        return Duration::from_secs(secs).min(MAX_TOKEN_TTL);
    }
    answer
        .expires_on
        .map(|on| on - now_unix)
        .filter(|left| *left > 0.0)
        .and_then(lifetime_from_secs)
        .unwrap_or(DEFAULT_TTL)
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
        let source = match &profile.auth {
            Auth::ClientSecret(secret) => Source::Secret(secret.clone()),
            Auth::Certificate { file, password_env } => {
                Source::Certificate(file.clone(), password_env.clone())
            }
            Auth::WorkloadIdentity { token_file } => Source::Federated(
                token_file
                    .clone()
                    .or_else(|| std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").map(Into::into))
                    .ok_or_else(|| "AZURE_FEDERATED_TOKEN_FILE is not set".to_string()),
            ),
            Auth::DeviceCode => Source::DeviceCode(TokenCache::for_profile(
                profile,
                &crate::config::data_dir().join("tokens"),
            )),
            Auth::AzureCli => Source::AzureCli(AzureCli::default()),
            Auth::ManagedIdentity { client_id } => Source::ManagedIdentity(ManagedIdentity {
                client_id: client_id.clone(),
            }),
        };
        let direct = reqwest::Client::builder()
            .no_proxy()
            .timeout(TOKEN_REQUEST_DEADLINE)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Ok(Self {
            http,
            direct,
            token_url,
            tenant_id: profile.tenant_id.clone(),
            client_id: profile.client_id.clone(),
            profile_name: profile.name.clone(),
            scope: profile.scope.clone(),
            source,
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            principal: PrincipalSlot::default(),
            device_client: matches!(profile.auth, Auth::DeviceCode)
                .then(|| super::device::Client::from(profile)),
        })
    }

    /// The slot holding who the latest token names (`AuditLog::with_principal`).
    pub fn principal_slot(&self) -> PrincipalSlot {
        self.principal.clone()
    }

    /// Use this Azure CLI program (tests put a stand-in in its place).
    pub fn with_azure_cli(mut self, program: std::path::PathBuf) -> Self {
        if let Source::AzureCli(az) = &mut self.source {
            az.program = program;
        }
        self
    }

    /// Keep a delegated profile's sign-in in this cache directory.
    pub fn with_token_cache_dir(mut self, dir: &std::path::Path, profile: &Profile) -> Self {
        if let Source::DeviceCode(cache) = &mut self.source {
            *cache = TokenCache::for_profile(profile, dir);
        }
        self
    }

    /// The token cache of a delegated profile.
    pub fn token_cache(&self) -> Option<&TokenCache> {
        match &self.source {
            Source::DeviceCode(cache) => Some(cache),
            _ => None,
        }
    }

    /// The resource the scope names (`https://api.securitycenter.microsoft.com`): what
    /// the Azure CLI and managed identities ask for.
    fn resource(&self) -> &str {
        self.scope
            .strip_suffix("/.default")
            .unwrap_or(&self.scope)
            .trim_end_matches('/')
    }

    /// Who the current token names: the user (UPN) for a delegated sign-in, else the
    /// app (its display name, or its id). Read from the token's claims, for the audit
    /// log and `whoami`; None before the first token or for an opaque token.
    pub async fn principal(&self) -> Option<String> {
        let cache = self.cache.lock().await;
        let token = cache.as_ref()?.token.secret.expose_secret().to_string();
        drop(cache);
        principal_of(&unverified_claims(&token)?)
    }

    /// Sign in as the analyst with the device-code flow (`cordon login`): `on_prompt`
    /// is given the URL and code to show, `on_wait` the time left while waiting. The
    /// refresh token goes to the cache; the next `get_token` uses it.
    pub async fn login(
        &self,
        cancel: &tokio_util::sync::CancellationToken,
        on_prompt: impl FnOnce(&super::device::Prompt),
        on_wait: impl FnMut(Duration),
    ) -> Result<super::device::SignedIn, AuthError> {
        let (Source::DeviceCode(cache), Some(client)) = (&self.source, &self.device_client) else {
            return Err(AuthError::DeviceCode {
                reason: format!(
                    "profile {} does not sign in as you, so it needs no login; login is for auth = \"device-code\"",
                    self.profile_name,
                ),
            });
        };
        let prompt = super::device::start(&self.http, client).await?;
        on_prompt(&prompt);
        let signed_in =
            super::device::wait(&self.http, client, &prompt, cache, cancel, on_wait).await?;
        self.invalidate().await;
        Ok(signed_in)
    }

    /// Forget a delegated profile's sign-in (`cordon logout`). True when there was one.
    pub async fn logout(&self) -> Result<bool, AuthError> {
        self.invalidate().await;
        match &self.source {
            Source::DeviceCode(cache) => cache.remove(),
            _ => Ok(false),
        }
    }

    /// The claims of the current token (fetching one if needed), for `whoami`.
    pub async fn claims(&self) -> Result<Option<serde_json::Value>, AuthError> {
        let token = self.get_token().await?;
        Ok(unverified_claims(token.secret.expose_secret()))
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

    /// The lifetime of the cached token as cordon took it from the answer (bounded into
    /// `[0, MAX_TOKEN_TTL]`); None before the first token.
    pub async fn token_lifetime(&self) -> Option<Duration> {
        self.cache.lock().await.as_ref().map(|c| c.ttl)
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
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let client_id = self.client_id.as_str();
        let scope = self.scope.as_str();
        let (status, body) = match &self.source {
            Source::Secret(src) => {
                let secret = resolve_secret(src).await?;
                self.post_token(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose_secret()),
                    ("scope", scope),
                ])
                .await?
            }
            Source::Certificate(file, password_env) => {
                let credential = Credential::load_with_password(file, password_env.as_deref())?;
                let assertion = credential.assertion(
                    client_id,
                    self.token_url.as_str(),
                    i64::try_from(now_unix).unwrap_or(i64::MAX),
                )?;
                self.post_assertion(assertion.expose_secret()).await?
            }
            Source::Federated(file) => {
                let assertion = read_federated_token(file)?;
                self.post_assertion(assertion.expose_secret()).await?
            }
            Source::DeviceCode(cache) => {
                let Some(signed_in) = cache.load()? else {
                    return Err(AuthError::SignInRequired {
                        profile: self.profile_name.clone(),
                        why: String::new(),
                    });
                };
                let scope = format!("{scope} offline_access");
                let (status, body) = self
                    .post_token(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id),
                        ("refresh_token", signed_in.refresh_token.expose_secret()),
                        ("scope", scope.as_str()),
                    ])
                    .await?;
                // An expired or revoked refresh token: only a new sign-in helps.
                if status.as_u16() == 400
                    && serde_json::from_slice::<super::TokenErrorBody>(&body)
                        .is_ok_and(|e| e.error == "invalid_grant")
                {
                    return Err(AuthError::SignInRequired {
                        profile: self.profile_name.clone(),
                        why: " (it has expired or was revoked)".into(),
                    });
                }
                (status, body)
            }
            Source::AzureCli(az) => (
                reqwest::StatusCode::OK,
                az.token(self.resource(), &self.tenant_id).await?.to_vec(),
            ),
            Source::ManagedIdentity(mi) => self.managed_identity(mi).await?,
        };
        tracing::debug!(
            method = match self.source {
                Source::AzureCli(_) => "az",
                Source::ManagedIdentity(_) => "GET",
                _ => "POST",
            },
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "token request"
        );
        if !status.is_success() {
            if let Source::ManagedIdentity(_) = self.source {
                return Err(AuthError::ManagedIdentity {
                    reason: format!(
                        "the endpoint answered {} ({}); check that the identity exists and, for a user-assigned one, managed_identity_client_id",
                        status.as_u16(),
                        crate::sanitize::clean_truncated(&String::from_utf8_lossy(&body), 160)
                    ),
                });
            }
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
        // A delegated grant hands back a (rotated) refresh token: keep it for next time.
        if let (Source::DeviceCode(cache), Some(refresh)) = (&self.source, &answer.refresh_token) {
            let username = unverified_claims(&answer.access_token)
                .as_ref()
                .and_then(principal_of);
            cache.store(&SecretString::from(refresh.clone()), username.as_deref())?;
        }
        self.principal.set(
            unverified_claims(&answer.access_token)
                .as_ref()
                .and_then(principal_of),
        );
        let ttl = answer_lifetime(&answer, now_unix as f64);
        // The token's clock starts when we asked for it, not when the answer arrived.
        let expires_at = instant_after(started, ttl, MAX_TOKEN_TTL);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Cached {
            token: AccessToken {
                secret: SecretString::from(answer.access_token),
                generation,
            },
            ttl,
            refresh_at: expires_at
                .checked_sub(refresh_margin(ttl))
                .unwrap_or(expires_at),
            expires_at,
        })
    }

    /// Client credentials with a signed assertion instead of a secret.
    async fn post_assertion(
        &self,
        assertion: &str,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), AuthError> {
        self.post_token(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", self.scope.as_str()),
        ])
        .await
    }

    /// One form POST to the token endpoint, its answer read with a cap and a deadline.
    async fn post_token(
        &self,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, Vec<u8>), AuthError> {
        let request = self.http.post(self.token_url.clone()).form(form);
        self.exchange(request, &self.authority_host()).await
    }

    async fn managed_identity(
        &self,
        mi: &ManagedIdentity,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), AuthError> {
        let (url, (name, value)) = mi.request(self.resource(), &|k| std::env::var(k).ok())?;
        let host = host_and_port(&url);
        let request = self.direct.get(url).header(name, value);
        self.exchange(request, &host).await.map_err(|e| match e {
            AuthError::Unreachable { host, reason } => AuthError::ManagedIdentity {
                reason: format!(
                    "no managed-identity endpoint answered at {host} ({reason}); is this an Azure host with a managed identity assigned?"
                ),
            },
            other => other,
        })
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        host: &str,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), AuthError> {
        let unreachable = |e: &reqwest::Error| AuthError::Unreachable {
            host: host.to_string(),
            reason: network_reason(e),
        };
        let exchange = async {
            let response = request.send().await.map_err(|e| unreachable(&e))?;
            let status = response.status();
            // Streamed with a cap, error answers too: they are the endpoint's bytes.
            let body = read_capped(response, MAX_TOKEN_BODY)
                .await
                .map_err(|e| match e {
                    ReadError::Transport(e) => unreachable(&e),
                    ReadError::TooLarge => AuthError::OversizedAnswer {
                        status: status.as_u16(),
                        limit: MAX_TOKEN_BODY,
                    },
                })?;
            Ok::<_, AuthError>((status, body))
        };
        tokio::time::timeout(TOKEN_REQUEST_DEADLINE, exchange)
            .await
            .map_err(|_| AuthError::Unreachable {
                host: host.to_string(),
                reason: format!(
                    "no complete answer within {} s",
                    TOKEN_REQUEST_DEADLINE.as_secs()
                ),
            })?
    }
}

/// The federated token (a JWT the platform wrote to a file), trimmed.
fn read_federated_token(
    file: &Result<std::path::PathBuf, String>,
) -> Result<SecretString, AuthError> {
    let path = file.as_ref().map_err(|reason| AuthError::FederatedToken {
        path: "(none)".into(),
        reason: reason.clone(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| AuthError::FederatedToken {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let text = secrecy::zeroize::Zeroizing::new(text);
    if text.trim().is_empty() {
        return Err(AuthError::FederatedToken {
            path: path.display().to_string(),
            reason: "it is empty".into(),
        });
    }
    Ok(SecretString::from(text.trim().to_string()))
}

/// The user (UPN) a delegated token names, or the app an app-only token names.
pub fn principal_of(claims: &serde_json::Value) -> Option<String> {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| crate::sanitize::clean_truncated(s, 120))
    };
    text("upn")
        .or_else(|| text("preferred_username"))
        .or_else(|| text("unique_name"))
        .or_else(|| text("app_displayname").map(|name| format!("app {name}")))
        .or_else(|| text("appid").map(|id| format!("app {id}")))
        .or_else(|| text("azp").map(|id| format!("app {id}")))
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
    let reason = match &innermost {
        Some(cause) if !cause.is_empty() => {
            format!("{kind}: {}", crate::sanitize::clean_truncated(cause, 160))
        }
        _ => kind.to_string(),
    };
    // rustls says "invalid peer certificate: UnknownIssuer" and the like: the usual
    // cause on a jump host is a TLS-inspecting proxy whose CA the profile lacks.
    if innermost.is_some_and(|c| c.contains("certificate") || c.contains("UnknownIssuer")) {
        format!(
            "{reason}; the server's TLS certificate is not trusted: if a proxy inspects TLS, set ca_file in the profile to its CA certificate (PEM), or SSL_CERT_FILE"
        )
    } else {
        reason
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

    fn lifetime_of(expires: &str) -> Duration {
        let answer: TokenAnswer =
            serde_json::from_str(&format!(r#"{{"access_token":"t",{expires}}}"#)).expect("answer");
        answer_lifetime(&answer, 1_700_000_000.0)
    }

    #[test]
    fn absurd_lifetimes_are_bounded() {
        let day = MAX_TOKEN_TTL;
        assert_eq!(lifetime_of(r#""expires_in":18446744073709551615"#), day);
        assert_eq!(lifetime_of(r#""expires_in":1e300"#), day);
        assert_eq!(lifetime_of(r#""expires_in":"1e300""#), day);
        assert_eq!(
            lifetime_of(r#""expires_in":"99999999999999999999999""#),
            day
        );
        assert_eq!(lifetime_of(r#""expires_in":"inf""#), day);
        // Not a lifetime: the default hour.
        for junk in [
            r#""expires_in":-5"#,
            r#""expires_in":"-5""#,
            r#""expires_in":"NaN""#,
            r#""expires_in":"soon""#,
            r#""expires_in":true"#,
            r#""expires_in":{"a":1}"#,
        ] {
            assert_eq!(lifetime_of(junk), DEFAULT_TTL, "{junk}");
        }
        assert_eq!(
            lifetime_of(r#""expires_in":"59.9""#),
            Duration::from_secs(59)
        );
        // expires_on only without expires_in; a past one is ignored.
        assert_eq!(
            lifetime_of(r#""expires_on":"1700000600""#),
            Duration::from_secs(600)
        );
        assert_eq!(lifetime_of(r#""expires_on":1e300"#), day);
        assert_eq!(lifetime_of(r#""expires_on":"1600000000""#), DEFAULT_TTL);
        assert_eq!(
            lifetime_of(r#""expires_in":60,"expires_on":"1800000000""#),
            Duration::from_secs(60)
        );
    }

    proptest::proptest! {
        #[test]
        fn expires_in_of_any_text_never_panics_and_stays_bounded(text in "\\PC{0,40}") {
            proptest::prop_assert!(parse_expires_in(&text).is_none_or(|d| d <= MAX_TOKEN_TTL));
            let json = serde_json::json!({"access_token": "t", "expires_in": text, "expires_on": text});
            let answer: TokenAnswer = serde_json::from_value(json).expect("parses");
            proptest::prop_assert!(answer_lifetime(&answer, 1_700_000_000.0) <= MAX_TOKEN_TTL);
        }

        #[test]
        fn expires_in_of_any_number_never_panics_and_stays_bounded(
            float in proptest::num::f64::ANY,
            whole in proptest::num::u64::ANY,
            signed in proptest::num::i64::ANY,
        ) {
            for text in [float.to_string(), format!("{float:e}"), whole.to_string(), signed.to_string()] {
                let lifetime = parse_expires_in(&text);
                proptest::prop_assert!(lifetime.is_none_or(|d| d <= MAX_TOKEN_TTL), "{}", text);
                // The same as a JSON number, where JSON can carry it.
                if let Ok(answer) = serde_json::from_str::<TokenAnswer>(
                    &format!(r#"{{"access_token":"t","expires_in":{text}}}"#),
                ) {
                    proptest::prop_assert!(answer_lifetime(&answer, 0.0) <= MAX_TOKEN_TTL);
                }
            }
            proptest::prop_assert_eq!(
                parse_expires_in(&whole.to_string()),
                Some(Duration::from_secs(whole).min(MAX_TOKEN_TTL))
            );
            proptest::prop_assert_eq!(parse_expires_in(&signed.to_string()).is_some(), signed >= 0);
        }
    }
}
