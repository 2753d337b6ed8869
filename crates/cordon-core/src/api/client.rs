//! `MdeClient`: the Defender for Endpoint REST API over HTTPS (mde-api.md §3, §5, §7).
//!
//! Safety rules carried out here:
//! * the bearer token goes only to the profile's `api_base` over https (or loopback),
//!   never to a host an `@odata.nextLink` names, and never through a redirect;
//! * reads retry transient failures with jittered backoff; writes are never replayed
//!   after an ambiguous failure (timeout, reset, 5xx, unreadable 2xx) — the worker
//!   reconciles by reading the machine's actions. A 401 (replayed once with a fresh
//!   token) and a 429 (after `Retry-After`) are safe to replay even for writes: the
//!   service did not act on them;
//! * the client acts on the error envelope's `code`, never on its `message`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::api::models::{CommentBody, ErrorBody, ErrorEnvelope, IsolateBody, TokenErrorBody};
use crate::api::{
    ActionFilter, ApiError, DefenderApi, IsolationType, MAX_PAGE, Machine, MachineAction,
    MachineRecord, ODataPage, PageRequest, PagingFault, ScopeBook,
};
use crate::auth::{AccessToken, AuthError, TokenProvider, ensure_secure_transport, is_loopback};
use crate::bounded::{ReadError, read_capped};
use crate::config::Profile;
use crate::sanitize::clean_truncated;

/// A 429 with `Retry-After: 0` still waits this long, so a misbehaving server cannot
/// make the client spin.
const MIN_THROTTLE_WAIT: Duration = Duration::from_millis(100);
/// At most this many 429 waits for one call, whatever their length.
const MAX_THROTTLE_ROUNDS: u32 = 32;

/// Most bytes read from one Defender API answer. A full page of 10,000 machines is a
/// few MB of JSON; 64 MiB leaves ten times that room, while a broken or hostile
/// service can no longer fill memory (a 2 GiB or endless body stops at 64 MiB).
pub const MAX_API_BODY: usize = 64 * 1024 * 1024;

/// The longest `Retry-After` taken from the service, as parsed: one hour. The quotas
/// are per minute and per hour, so no honest answer asks for more; a larger number,
/// or a date further ahead, reads as one hour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Tuning of [`MdeClient`]. `Default` gives production values.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request deadline: connect, send, the answer's headers and its whole body
    /// (reqwest's total timeout covers the body stream, and the client also bounds the
    /// exchange itself), so a body that drips for ever ends here. Default 30 s.
    pub request_timeout: Duration,
    /// TCP + TLS connect limit. Default 10 s.
    pub connect_timeout: Duration,
    /// Attempts for a read (GET) that fails transiently, counting the first. Default 4.
    pub max_read_attempts: u32,
    /// Total time one call may wait on 429 `Retry-After`. A `Retry-After` that would
    /// take the call past it fails the call at once with `ApiError::Throttled` naming
    /// the wait, without sleeping. Default 120 s.
    pub max_throttle_wait: Duration,
    /// The `User-Agent` header. Default `cordon/<version>`.
    pub user_agent: String,
    /// Read retry backoff: full jitter in `[0, min(cap, base·2^n)]`. Default 250 ms.
    pub backoff_base: Duration,
    /// Default 8 s.
    pub backoff_cap: Duration,
    /// The wait for a 429 without `Retry-After`. Default 10 s.
    pub default_retry_after: Duration,
    /// Isolation types of the actions cordon sent (seeded from the audit log), filled
    /// into the `scope` the service leaves null. Default: empty.
    pub scopes: ScopeBook,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_read_attempts: 4,
            max_throttle_wait: Duration::from_secs(120),
            user_agent: format!("cordon/{}", env!("CARGO_PKG_VERSION")),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(8),
            default_retry_after: Duration::from_secs(10),
            scopes: ScopeBook::default(),
        }
    }
}

/// The real Defender API. Cheap to clone (shared inner state).
#[derive(Clone)]
pub struct MdeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    tokens: TokenProvider,
    options: ClientOptions,
    profile_name: String,
    readonly: bool,
    requests: AtomicU64,
    scopes: ScopeBook,
}

impl fmt::Debug for MdeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MdeClient")
            .field("profile", &self.inner.profile_name)
            .field("api_base", &self.inner.api_base.as_str())
            .field("readonly", &self.inner.readonly)
            .field("tokens", &self.inner.tokens)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// What one HTTP exchange produced.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl MdeClient {
    /// A client for `profile`. Refuses a plain-http `api_base` or authority unless the
    /// host is loopback. Nothing is sent until the first call.
    pub fn new(profile: &Profile, options: ClientOptions) -> Result<Self, ApiError> {
        let api_base = parse_api_base(&profile.api_base)?;
        // Extra roots for a TLS-inspecting proxy or a private CA: added to the
        // system's (which honour SSL_CERT_FILE), never replacing them.
        let extra_roots = match &profile.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    ApiError::InvalidInput(format!(
                        "cannot read ca_file {} ({e}); point it at a PEM bundle of CA certificates",
                        path.display()
                    ))
                })?;
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                    ApiError::InvalidInput(format!(
                        "ca_file {} holds no PEM certificate; point it at a PEM bundle of CA certificates",
                        path.display()
                    ))
                })?
            }
            None => Vec::new(),
        };
        let proxy = match &profile.proxy {
            Some(url) => Some(reqwest::Proxy::all(url).map_err(|_| {
                ApiError::InvalidInput(
                    "the profile's proxy is not a usable proxy URL; use e.g. http://proxy.corp:3128"
                        .into(),
                )
            })?),
            None => None,
        };
        // One client per endpoint, each deciding about proxies for itself: a plain-http
        // endpoint (allowed only on loopback) never goes through a proxy, so a secret or
        // token sent in clear never leaves the machine; an https loopback endpoint uses
        // only the profile's own proxy; a remote one the profile's proxy, else
        // HTTPS_PROXY/HTTP_PROXY/NO_PROXY as usual.
        let build = |url: &Url| {
            let loopback = is_loopback(url);
            let mut builder = reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                .timeout(options.request_timeout)
                .connect_timeout(options.connect_timeout)
                // A redirect would carry the request (and the token) to a host we did not
                // choose.
                .redirect(reqwest::redirect::Policy::none());
            if !extra_roots.is_empty() {
                builder = builder.tls_certs_merge(extra_roots.iter().cloned());
            }
            match (&proxy, url.scheme(), loopback) {
                (_, "http", _) => builder = builder.no_proxy(),
                (Some(p), _, _) => builder = builder.proxy(p.clone()),
                (None, _, true) => builder = builder.no_proxy(),
                (None, _, false) => {}
            }
            builder.build().map_err(|e| {
                ApiError::InvalidInput(format!(
                    "cannot set up the HTTP client ({}); check the TLS and proxy settings",
                    clean_truncated(&e.to_string(), 160)
                ))
            })
        };
        let http = build(&api_base)?;
        // An authority that is not a URL is refused by the token provider, with advice.
        let auth_http = match Url::parse(&profile.token_url()) {
            Ok(token_url) => build(&token_url)?,
            Err(_) => build(&api_base)?,
        };
        let tokens = TokenProvider::new(profile, auth_http)?;
        let scopes = options.scopes.clone();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_base,
                tokens,
                options,
                profile_name: profile.name.clone(),
                readonly: profile.readonly,
                requests: AtomicU64::new(0),
                scopes,
            }),
        })
    }

    /// API requests sent so far (token requests not included; see
    /// [`TokenProvider::request_count`]). Every attempt counts.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    pub fn token_provider(&self) -> &TokenProvider {
        &self.inner.tokens
    }

    /// Keep a delegated profile's sign-in in `dir` instead of the data dir (tests).
    pub fn with_token_cache_dir(self, dir: &std::path::Path, profile: &Profile) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.tokens = inner.tokens.with_token_cache_dir(dir, profile);
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    pub fn api_base(&self) -> &Url {
        &self.inner.api_base
    }

    /// Fetch a token now (for `check-auth` and start-up): proves the tenant, client id
    /// and secret, not the API permissions.
    pub async fn check_sign_in(&self) -> Result<(), ApiError> {
        self.inner.tokens.get_token().await?;
        Ok(())
    }

    /// `{api_base}/seg/seg/…`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.inner.api_base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                ApiError::InvalidInput("the profile's api_base cannot take a path".to_string())
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// Validate an `@odata.nextLink`: it must point at the same scheme, host and port
    /// as `api_base`, or our token would go wherever the server said.
    fn follow(&self, link: &str) -> Result<Url, ApiError> {
        let base = &self.inner.api_base;
        let url = base.join(link.trim()).map_err(|_| PagingFault::NotAUrl {
            link: clean_truncated(link, 120),
        })?;
        let same_origin = url.scheme() == base.scheme()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none();
        if !same_origin {
            return Err(PagingFault::ForeignHost {
                origin: clean_truncated(&origin(&url), 120),
                api_host: origin(base),
            }
            .into());
        }
        Ok(url)
    }

    /// One call: token, send, 401 replay, 429 wait, read retries, decode.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        kind: Kind,
        on_not_found: Option<fn() -> T>,
    ) -> Result<T, ApiError> {
        let options = &self.inner.options;
        let mut failures: u32 = 0;
        let mut throttled_for = Duration::ZERO;
        let mut throttle_rounds: u32 = 0;
        let mut replayed_after_401 = false;
        loop {
            let token = self.inner.tokens.get_token().await?;
            let error = match self.send_once(&method, &url, body.as_deref(), &token).await {
                Err(error) => error,
                Ok(answer) if answer.status.is_success() => {
                    match serde_json::from_slice::<T>(&answer.body) {
                        Ok(value) => return Ok(value),
                        Err(e) => ApiError::Decode(format!(
                            "{} (HTTP {})",
                            clean_truncated(&e.to_string(), 160),
                            answer.status.as_u16()
                        )),
                    }
                }
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED => {
                    if replayed_after_401 {
                        return Err(ApiError::Auth(AuthError::TokenRejected {
                            api_host: origin(&self.inner.api_base),
                        }));
                    }
                    // The token may have been revoked or expired early: get a new one
                    // and replay once. The service did not act on a 401.
                    replayed_after_401 = true;
                    self.inner
                        .tokens
                        .invalidate_generation(token.generation)
                        .await;
                    continue;
                }
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = answer
                        .retry_after
                        .unwrap_or(options.default_retry_after)
                        .max(MIN_THROTTLE_WAIT);
                    throttle_rounds += 1;
                    // Saturating: `wait` is the service's number (bounded when parsed, but
                    // the default is a setting).
                    if throttled_for.saturating_add(wait) > options.max_throttle_wait
                        || throttle_rounds > MAX_THROTTLE_ROUNDS
                    {
                        return Err(ApiError::Throttled {
                            retry_after: Some(wait),
                        });
                    }
                    tracing::debug!(
                        path = url.path(),
                        wait_ms = wait.as_millis() as u64,
                        "throttled; waiting for Retry-After"
                    );
                    tokio::time::sleep(wait).await;
                    throttled_for = throttled_for.saturating_add(wait);
                    continue;
                }
                Ok(answer) => {
                    let documented_empty = answer.status == StatusCode::NOT_FOUND
                        && is_documented_not_found(&answer.body);
                    if let Some(empty) = on_not_found.filter(|_| documented_empty) {
                        return Ok(empty());
                    }
                    error_from_response(answer.status, &answer.body)
                }
            };
            failures += 1;
            let retry = kind == Kind::Read
                && is_retryable(&error)
                && failures < options.max_read_attempts.max(1);
            if !retry {
                return Err(error);
            }
            let delay = backoff_delay(failures, options.backoff_base, options.backoff_cap);
            tracing::debug!(
                path = url.path(),
                attempt = failures,
                delay_ms = delay.as_millis() as u64,
                code = error.code(),
                "retrying a read"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange. Transport failures come back as `ApiError::Network`.
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        token: &AccessToken,
    ) -> Result<Answer, ApiError> {
        // The header is built from the secret only here, and marked sensitive so
        // HTTP/2 does not index it and debug output of the header map hides it.
        let mut authorization = {
            let raw = Zeroizing::new(format!("Bearer {}", token.secret.expose_secret()));
            HeaderValue::from_str(&raw).map_err(|_| {
                ApiError::Auth(AuthError::UnexpectedResponse {
                    status: 200,
                    note: "an access token that cannot go in a header".to_string(),
                })
            })?
        };
        authorization.set_sensitive(true);

        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_vec());
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = self.inner.options.request_timeout;
        let exchange = async {
            let response = request.send().await.map_err(ReadError::Transport)?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            // Streamed with a cap: a huge or endless body is abandoned, not buffered.
            let body = read_capped(response, MAX_API_BODY).await?;
            Ok::<_, ReadError>(Answer {
                status,
                retry_after,
                body,
            })
        };
        // reqwest's total timeout already spans the body; this keeps the deadline a
        // property of this function whatever the transport does.
        let result = tokio::time::timeout(deadline, exchange).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let what = || format!("{} {}", method, clean_truncated(url.path(), 120));
        match result {
            Err(_elapsed) => {
                tracing::debug!(method = %method, path = url.path(), elapsed_ms, "api request timed out");
                Err(ApiError::Network(format!(
                    "{}: timed out after {} ms",
                    what(),
                    deadline.as_millis()
                )))
            }
            Ok(Err(ReadError::TooLarge)) => {
                tracing::debug!(method = %method, path = url.path(), elapsed_ms, limit = MAX_API_BODY, "api answer over the size cap");
                Err(ApiError::TooLarge {
                    limit: MAX_API_BODY,
                })
            }
            Ok(Ok(answer)) => {
                tracing::debug!(
                    method = %method,
                    path = url.path(),
                    status = answer.status.as_u16(),
                    elapsed_ms,
                    "api request"
                );
                Ok(answer)
            }
            Ok(Err(ReadError::Transport(e))) => {
                let reason = crate::auth::network_reason(&e);
                tracing::debug!(method = %method, path = url.path(), elapsed_ms, error = %reason, "api request failed");
                Err(ApiError::Network(format!("{}: {reason}", what())))
            }
        }
    }

    fn check_write(&self, comment: &str) -> Result<(), ApiError> {
        if self.inner.readonly {
            return Err(ApiError::ReadOnly {
                profile: self.inner.profile_name.clone(),
            });
        }
        // The one comment rule, also for callers that bypass the worker.
        crate::domain::Comment::parse(comment)
            .map(drop)
            .map_err(|e| ApiError::InvalidInput(e.to_string()))
    }
}

fn check_id<'a>(what: &str, id: &'a str) -> Result<&'a str, ApiError> {
    let trimmed = id.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return Err(ApiError::InvalidInput(format!(
            "the {what} is empty or invalid; pick one from the list"
        )));
    }
    Ok(trimmed)
}

fn parse_api_base(raw: &str) -> Result<Url, ApiError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        ApiError::InvalidInput(format!(
            "the profile's api_base {} is not a URL ({e}); use e.g. https://api.securitycenter.microsoft.com",
            clean_truncated(raw, 120)
        ))
    })?;
    ensure_secure_transport(&url).map_err(|reason| {
        ApiError::InvalidInput(format!(
            "refusing the profile's api_base {}: {reason}",
            clean_truncated(raw, 120)
        ))
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ApiError::InvalidInput(format!(
            "the profile's api_base {} has no host; use e.g. https://api.securitycenter.microsoft.com",
            clean_truncated(raw, 120)
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::InvalidInput(
            "the profile's api_base must not carry a user name or password; remove them"
                .to_string(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `scheme://host[:port]`.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Worth another try for a read: no answer, an unreadable 2xx, a server error, 408.
fn is_retryable(error: &ApiError) -> bool {
    match error {
        ApiError::Network(_) | ApiError::Decode(_) => true,
        ApiError::Service { status, .. } => matches!(status, 408 | 500 | 502 | 503 | 504),
        _ => false,
    }
}

/// Full jitter: uniform in `[0, min(cap, base · 2^(failures-1))]`.
fn backoff_delay(failures: u32, base: Duration, cap: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    let millis = ceiling.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// `Retry-After`: delay-seconds (integer or decimal) or an HTTP-date, as a wait in
/// `[0, MAX_RETRY_AFTER]` (0 to 1 hour): a longer wait, a huge number or a date far
/// ahead reads as one hour, a date in the past as no wait. None for what is not a
/// wait at all (a negative number, NaN, text), so the caller's default applies.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        // Compared as floats first: 1e300 (or infinity) does not fit a Duration.
        return Some(if secs >= MAX_RETRY_AFTER.as_secs_f64() {
            MAX_RETRY_AFTER
        } else {
            // try_: -0.0 is neither below zero nor a valid Duration everywhere.
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
        });
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ahead = when.with_timezone(&chrono::Utc).signed_duration_since(now);
    Some(
        ahead
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// A 404 on the machine list means "no recent machines" when the body is empty or the
/// API's own envelope; an HTML 404 (wrong host or path) stays an error.
fn is_documented_not_found(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<ErrorEnvelope>(body).is_ok()
}

/// The typed error for a non-2xx answer. Strings are sanitized and cut: they may reach
/// a terminal.
fn error_from_response(status: StatusCode, body: &[u8]) -> ApiError {
    let status_code = status.as_u16();
    if let Ok(envelope) = serde_json::from_slice::<ErrorEnvelope>(body) {
        return ApiError::Service {
            status: status_code,
            body: ErrorBody {
                code: clean_truncated(&envelope.error.code, 80),
                message: clean_truncated(&envelope.error.message, 400),
                target: envelope.error.target.map(|t| clean_truncated(&t, 80)),
            },
        };
    }
    // Entra's shape (`error` is a string) when a gateway answers for the API.
    if let Ok(entra) = serde_json::from_slice::<TokenErrorBody>(body) {
        return ApiError::Service {
            status: status_code,
            body: ErrorBody {
                code: clean_truncated(&entra.error, 80),
                message: clean_truncated(entra.error_description.as_deref().unwrap_or(""), 400),
                target: None,
            },
        };
    }
    let message = if body.iter().all(u8::is_ascii_whitespace) {
        format!("the service answered {status_code} with an empty body")
    } else {
        format!(
            "the service answered {status_code} with a body that is not the API's JSON: {}",
            snippet(body)
        )
    };
    ApiError::Service {
        status: status_code,
        body: ErrorBody {
            code: format!("Http{status_code}"),
            message,
            target: None,
        },
    }
}

/// A short, sanitized, tag-free excerpt of a non-JSON body (an HTML error page).
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c => out.push(c),
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    clean_truncated(&collapsed, 120)
}

/// Percent-encode a query value: everything but RFC 3986 unreserved characters, so
/// spaces are `%20` (not `+`) and quotes survive.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `$filter=…&$top=…` with the `$` kept literal, as the OData docs write it.
fn odata_query(filter: Option<&str>, top: Option<u32>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(filter) = filter.filter(|f| !f.trim().is_empty()) {
        parts.push(format!("$filter={}", encode_query_value(filter)));
    }
    if let Some(top) = top {
        parts.push(format!("$top={}", top.clamp(1, MAX_PAGE)));
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("&"))
    }
}

fn empty_page<T>() -> ODataPage<T> {
    ODataPage {
        context: None,
        value: Vec::new(),
        next_link: None,
    }
}

fn json_body<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body)
        .map_err(|e| ApiError::InvalidInput(format!("cannot encode the request body ({e})")))
}

impl DefenderApi for MdeClient {
    async fn machines_page<T: MachineRecord>(
        &self,
        page: PageRequest,
    ) -> Result<ODataPage<T>, ApiError> {
        let url = match page {
            PageRequest::First { filter, top } => {
                let mut url = self.endpoint(&["api", "machines"])?;
                url.set_query(odata_query(filter.as_deref(), Some(top)).as_deref());
                url
            }
            PageRequest::Next(link) => self.follow(&link)?,
        };
        self.call(Method::GET, url, None, Kind::Read, Some(empty_page::<T>))
            .await
    }

    async fn get_machine(&self, id_or_name: &str) -> Result<Machine, ApiError> {
        let id = check_id("machine id or name", id_or_name)?;
        let url = self.endpoint(&["api", "machines", id])?;
        self.call(Method::GET, url, None, Kind::Read, None).await
    }

    async fn actions_page(
        &self,
        filter: &ActionFilter,
        next: Option<String>,
    ) -> Result<ODataPage<MachineAction>, ApiError> {
        let url = match next {
            Some(link) => self.follow(&link)?,
            None => {
                let mut url = self.endpoint(&["api", "machineactions"])?;
                // Ask for the largest page: the default size is not documented.
                url.set_query(odata_query(filter.to_odata().as_deref(), Some(MAX_PAGE)).as_deref());
                url
            }
        };
        let mut page: ODataPage<MachineAction> =
            self.call(Method::GET, url, None, Kind::Read, None).await?;
        self.inner.scopes.fill_all(&mut page.value);
        Ok(page)
    }

    async fn get_action(&self, action_id: &str) -> Result<MachineAction, ApiError> {
        let id = check_id("action id", action_id)?;
        let url = self.endpoint(&["api", "machineactions", id])?;
        let mut action: MachineAction = self.call(Method::GET, url, None, Kind::Read, None).await?;
        self.inner.scopes.fill(&mut action);
        Ok(action)
    }

    async fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: IsolationType,
    ) -> Result<MachineAction, ApiError> {
        self.check_write(comment)?;
        let id = check_id("machine id", machine_id)?;
        let url = self.endpoint(&["api", "machines", id, "isolate"])?;
        let body = json_body(&IsolateBody {
            comment: comment.to_string(),
            isolation_type,
        })?;
        let mut action: MachineAction = self
            .call(Method::POST, url, Some(body), Kind::Write, None)
            .await?;
        // The service answers with `scope` null: what we asked for is the record.
        if action.isolation_scope().is_none() {
            self.inner.scopes.note(&action.id, isolation_type);
        }
        self.inner.scopes.fill(&mut action);
        Ok(action)
    }

    async fn unisolate(&self, machine_id: &str, comment: &str) -> Result<MachineAction, ApiError> {
        self.check_write(comment)?;
        let id = check_id("machine id", machine_id)?;
        let url = self.endpoint(&["api", "machines", id, "unisolate"])?;
        let body = json_body(&CommentBody {
            comment: comment.to_string(),
        })?;
        self.call(Method::POST, url, Some(body), Kind::Write, None)
            .await
    }

    fn note_scope(&self, action_id: &str, scope: IsolationType) {
        self.inner.scopes.note(action_id, scope);
    }

    async fn sign_in(
        &self,
        cancel: tokio_util::sync::CancellationToken,
        on_prompt: impl FnOnce(crate::auth::device::PromptInfo) + Send,
    ) -> Result<Option<String>, ApiError> {
        let signed_in = self
            .inner
            .tokens
            .login(&cancel, |prompt| on_prompt(prompt.info()), |_| {})
            .await?;
        Ok(signed_in.username)
    }

    async fn cancel_action(
        &self,
        action_id: &str,
        comment: &str,
    ) -> Result<MachineAction, ApiError> {
        self.check_write(comment)?;
        let id = check_id("action id", action_id)?;
        let url = self.endpoint(&["api", "machineactions", id, "cancel"])?;
        let body = json_body(&CommentBody {
            comment: comment.to_string(),
        })?;
        self.call(Method::POST, url, Some(body), Kind::Write, None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .expect("now")
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 31 Dec 2023 23:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn absurd_retry_after_values_are_bounded_to_an_hour() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .expect("now")
            .with_timezone(&chrono::Utc);
        for huge in [
            "18446744073709551615",
            "999999999",
            "99999999999999999999999999",
            "1e300",
            "inf",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        for junk in ["-1", "-0.5", "NaN", "-inf", "", "1 2", "0x10"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk}");
        }
        assert_eq!(parse_retry_after("-0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3600", now), Some(MAX_RETRY_AFTER));
    }

    proptest::proptest! {
        #[test]
        fn retry_after_of_any_text_never_panics_and_stays_bounded(
            text in "\\PC{0,40}",
            secs in proptest::num::i64::ANY,
        ) {
            let now = chrono::Utc::now();
            let wait = parse_retry_after(&text, now);
            proptest::prop_assert!(wait.is_none_or(|w| w <= MAX_RETRY_AFTER));
            let wait = parse_retry_after(&secs.to_string(), now);
            proptest::prop_assert!(wait.is_none_or(|w| w <= MAX_RETRY_AFTER));
            proptest::prop_assert_eq!(wait.is_some(), secs >= 0);
        }

        #[test]
        fn retry_after_of_any_number_never_panics_and_stays_bounded(
            secs in proptest::num::f64::ANY,
            whole in proptest::num::u64::ANY,
        ) {
            let now = chrono::Utc::now();
            for text in [secs.to_string(), format!("{secs:e}"), whole.to_string()] {
                let wait = parse_retry_after(&text, now);
                proptest::prop_assert!(wait.is_none_or(|w| w <= MAX_RETRY_AFTER), "{}", text);
            }
            proptest::prop_assert_eq!(
                parse_retry_after(&whole.to_string(), now),
                Some(Duration::from_secs(whole).min(MAX_RETRY_AFTER))
            );
        }

        #[test]
        fn retry_after_of_any_date_never_panics_and_stays_bounded(
            // Years 100 to 9999: RFC 2822 has four-digit years.
            offset in -60_000_000_000i64..250_000_000_000i64,
        ) {
            let now = chrono::Utc::now();
            if let Some(when) = now.checked_add_signed(chrono::TimeDelta::seconds(offset)) {
                let text = when.to_rfc2822();
                let wait = parse_retry_after(&text, now);
                proptest::prop_assert!(wait.is_some_and(|w| w <= MAX_RETRY_AFTER), "{}", text);
            }
        }
    }

    #[test]
    fn backoff_stays_under_the_exponential_ceiling_and_the_cap() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(8);
        for failures in 1..=12 {
            let ceiling = (base * 2u32.pow(failures - 1)).min(cap);
            for _ in 0..50 {
                assert!(backoff_delay(failures, base, cap) <= ceiling);
            }
        }
    }

    #[test]
    fn query_values_are_strictly_encoded() {
        assert_eq!(
            odata_query(Some("computerDnsName eq 'a b'"), Some(20_000)).as_deref(),
            Some("$filter=computerDnsName%20eq%20%27a%20b%27&$top=10000")
        );
        assert_eq!(odata_query(None, None), None);
        assert_eq!(odata_query(Some("  "), Some(0)).as_deref(), Some("$top=1"));
    }

    #[test]
    fn html_error_bodies_become_short_clean_snippets() {
        let err = error_from_response(
            StatusCode::BAD_GATEWAY,
            b"<html><head><title>502 Bad Gateway</title></head><body>\x1b[31mnginx</body></html>",
        );
        assert_eq!(err.code(), "Http502");
        let text = err.to_string();
        assert!(text.contains("502 Bad Gateway"), "{text}");
        assert!(!text.contains('<') && !text.contains('\u{1b}'), "{text}");
        assert!(err.is_ambiguous());
    }

    #[test]
    fn api_base_must_be_https_unless_loopback() {
        assert!(parse_api_base("https://api.securitycenter.microsoft.com").is_ok());
        assert!(parse_api_base("http://127.0.0.1:8080").is_ok());
        assert!(parse_api_base("http://[::1]:8080").is_ok());
        assert!(parse_api_base("http://localhost:8080").is_ok());
        assert!(parse_api_base("http://api.securitycenter.microsoft.com").is_err());
        assert!(parse_api_base("https://user:pw@api.securitycenter.microsoft.com").is_err());
        assert!(parse_api_base("not a url").is_err());
    }
}
