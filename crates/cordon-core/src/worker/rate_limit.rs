//! Client-side rate limiting: Defender allows 100 calls per minute and 1,500 per hour
//! for each API. Calls wait for a free slot in sliding windows, so a tenant's quota is
//! used at nearly its full rate without provoking 429s; a 429 that still arrives pauses
//! that API until its `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::api::models::{Machine, MachineAction, ODataPage};
use crate::api::{ActionFilter, ApiError, DefenderApi, IsolationType, MachineRecord, PageRequest};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_minute: crate::api::QUOTA_PER_MINUTE,
            per_hour: crate::api::QUOTA_PER_HOUR,
        }
    }
}

/// Each documented API has its own quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKind {
    ListMachines,
    GetMachine,
    ListActions,
    GetAction,
    Isolate,
    Unisolate,
    Cancel,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Slack so that network jitter cannot squeeze 101 arrivals into the server's minute.
const MINUTE_MARGIN: Duration = Duration::from_millis(500);
const HOUR_MARGIN: Duration = Duration::from_secs(1);
/// When a 429 carries no Retry-After.
const DEFAULT_PAUSE: Duration = Duration::from_secs(10);
/// The longest pause a 429 imposes on an API: the client's bound on `Retry-After`
/// (one hour). The `Retry-After` is the service's number; this one is ours.
const MAX_PAUSE: Duration = crate::api::client::MAX_RETRY_AFTER;
/// A call to a paused API waits for the pause to end only when it ends within this
/// (the client's default 429 budget); otherwise it fails at once with
/// `ApiError::Throttled` naming the wait, so nothing shows "Loading…" for an hour.
pub const MAX_PAUSE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct Bucket {
    /// Start instants of the calls of the last hour, oldest first.
    calls: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl Bucket {
    fn prune(&mut self, now: Instant) {
        while self
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= HOUR + HOUR_MARGIN)
        {
            self.calls.pop_front();
        }
    }

    fn in_last_minute(&self, now: Instant) -> usize {
        let idx = self
            .calls
            .partition_point(|t| now.duration_since(*t) >= MINUTE + MINUTE_MARGIN);
        self.calls.len() - idx
    }

    /// Take a slot now, or say when to try again (and whether that is the end of a
    /// pause the service asked for).
    fn try_take(&mut self, now: Instant, limits: &RateLimits) -> Option<Instant> {
        self.try_take_or_pause(now, limits).map(|(at, _)| at)
    }

    fn try_take_or_pause(&mut self, now: Instant, limits: &RateLimits) -> Option<(Instant, bool)> {
        self.prune(now);
        if let Some(until) = self.paused_until {
            if until > now {
                return Some((until, true));
            }
            self.paused_until = None;
        }
        let per_hour = limits.per_hour.max(1) as usize;
        let per_minute = limits.per_minute.max(1) as usize;
        if self.calls.len() >= per_hour {
            let oldest = self.calls[self.calls.len() - per_hour];
            return Some((oldest + HOUR + HOUR_MARGIN, false));
        }
        if self.in_last_minute(now) >= per_minute {
            let oldest = self.calls[self.calls.len() - per_minute];
            return Some((oldest + MINUTE + MINUTE_MARGIN, false));
        }
        self.calls.push_back(now);
        None
    }
}

/// A caller's own share of an API's quota (the poller's), whatever else uses the API.
///
/// The minute is a sliding window. The hour is a token bucket: a burst of `burst`
/// calls, then a steady `per_hour - burst` an hour, so no sliding hour holds more than
/// `per_hour` calls and a busy caller slows down smoothly instead of exhausting the hour
/// and then stalling for the rest of it.
#[derive(Debug)]
pub struct Pacer {
    minute: Bucket,
    per_minute: u32,
    burst: f64,
    refill_per_sec: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Pacer {
    /// `burst` must be below `limits.per_hour`.
    pub fn new(limits: RateLimits, burst: u32) -> Self {
        let burst = f64::from(burst.min(limits.per_hour.saturating_sub(1)).max(1));
        Self {
            minute: Bucket::default(),
            per_minute: limits.per_minute,
            burst,
            refill_per_sec: (f64::from(limits.per_hour) - burst).max(1.0) / HOUR.as_secs_f64(),
            tokens: burst,
            refilled_at: Instant::now(),
        }
    }

    /// Wait until the share allows a call, and take it.
    pub async fn acquire(&mut self) {
        let minute_only = RateLimits {
            per_minute: self.per_minute,
            per_hour: u32::MAX,
        };
        loop {
            let now = Instant::now();
            let secs = now.duration_since(self.refilled_at).as_secs_f64();
            self.tokens = (self.tokens + secs * self.refill_per_sec).min(self.burst);
            self.refilled_at = now;
            if self.tokens < 1.0 {
                // At least 1 ms: rounding can leave a wait of ~0, which under a paused
                // clock would never let time advance.
                let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.refill_per_sec)
                    .max(Duration::from_millis(1));
                tokio::time::sleep(wait).await;
                continue;
            }
            match self.minute.try_take(now, &minute_only) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    self.tokens -= 1.0;
                    return;
                }
            }
        }
    }
}

/// A `DefenderApi` that paces its inner API to the quotas.
pub struct RateLimited<A> {
    inner: A,
    limits: RateLimits,
    buckets: Mutex<HashMap<ApiKind, Bucket>>,
}

impl<A> RateLimited<A> {
    pub fn new(inner: A, limits: RateLimits) -> Self {
        Self {
            inner,
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn inner(&self) -> &A {
        &self.inner
    }

    fn with_buckets<T>(&self, f: impl FnOnce(&mut HashMap<ApiKind, Bucket>) -> T) -> T {
        // The lock is never held across an await; a poisoned lock still holds valid data.
        let mut guard = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Wait until `kind` has a free slot, and take it. Fails at once, without
    /// waiting, when the service has paused `kind` for longer than [`MAX_PAUSE_WAIT`].
    pub async fn acquire(&self, kind: ApiKind) -> Result<(), ApiError> {
        loop {
            let now = Instant::now();
            let retry_at = self.with_buckets(|b| {
                b.entry(kind)
                    .or_default()
                    .try_take_or_pause(now, &self.limits)
            });
            match retry_at {
                None => return Ok(()),
                Some((until, true)) if until.saturating_duration_since(now) > MAX_PAUSE_WAIT => {
                    return Err(ApiError::Throttled {
                        retry_after: Some(until.saturating_duration_since(now)),
                    });
                }
                Some((at, _)) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Calls left this minute and this hour on the busiest API.
    pub fn remaining(&self) -> (u32, u32) {
        let now = Instant::now();
        self.with_buckets(|buckets| {
            let mut minute = self.limits.per_minute;
            let mut hour = self.limits.per_hour;
            for b in buckets.values_mut() {
                b.prune(now);
                let used_min = u32::try_from(b.in_last_minute(now)).unwrap_or(u32::MAX);
                let used_hour = u32::try_from(b.calls.len()).unwrap_or(u32::MAX);
                minute = minute.min(self.limits.per_minute.saturating_sub(used_min));
                hour = hour.min(self.limits.per_hour.saturating_sub(used_hour));
            }
            (minute, hour)
        })
    }

    fn note<T>(&self, kind: ApiKind, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(ApiError::Throttled { retry_after }) = &result {
            let pause = retry_after.unwrap_or(DEFAULT_PAUSE).min(MAX_PAUSE);
            let until = crate::bounded::instant_after(Instant::now(), pause, MAX_PAUSE);
            tracing::warn!(
                ?kind,
                ?retry_after,
                "throttled by the service; pausing this API"
            );
            self.with_buckets(|b| b.entry(kind).or_default().paused_until = Some(until));
        }
        result
    }
}

impl<A: DefenderApi> DefenderApi for RateLimited<A> {
    async fn machines_page<T: MachineRecord>(
        &self,
        page: PageRequest,
    ) -> Result<ODataPage<T>, ApiError> {
        self.acquire(ApiKind::ListMachines).await?;
        let r = self.inner.machines_page(page).await;
        self.note(ApiKind::ListMachines, r)
    }

    async fn get_machine(&self, id_or_name: &str) -> Result<Machine, ApiError> {
        self.acquire(ApiKind::GetMachine).await?;
        let r = self.inner.get_machine(id_or_name).await;
        self.note(ApiKind::GetMachine, r)
    }

    async fn actions_page(
        &self,
        filter: &ActionFilter,
        next: Option<String>,
    ) -> Result<ODataPage<MachineAction>, ApiError> {
        self.acquire(ApiKind::ListActions).await?;
        let r = self.inner.actions_page(filter, next).await;
        self.note(ApiKind::ListActions, r)
    }

    async fn get_action(&self, action_id: &str) -> Result<MachineAction, ApiError> {
        self.acquire(ApiKind::GetAction).await?;
        let r = self.inner.get_action(action_id).await;
        self.note(ApiKind::GetAction, r)
    }

    async fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: IsolationType,
    ) -> Result<MachineAction, ApiError> {
        self.acquire(ApiKind::Isolate).await?;
        let r = self
            .inner
            .isolate(machine_id, comment, isolation_type)
            .await;
        self.note(ApiKind::Isolate, r)
    }

    async fn unisolate(&self, machine_id: &str, comment: &str) -> Result<MachineAction, ApiError> {
        self.acquire(ApiKind::Unisolate).await?;
        let r = self.inner.unisolate(machine_id, comment).await;
        self.note(ApiKind::Unisolate, r)
    }

    async fn cancel_action(
        &self,
        action_id: &str,
        comment: &str,
    ) -> Result<MachineAction, ApiError> {
        self.acquire(ApiKind::Cancel).await?;
        let r = self.inner.cancel_action(action_id, comment).await;
        self.note(ApiKind::Cancel, r)
    }

    fn budget(&self) -> Option<(u32, u32)> {
        Some(self.remaining())
    }

    fn note_scope(&self, action_id: &str, scope: IsolationType) {
        self.inner.note_scope(action_id, scope);
    }

    async fn sign_in(
        &self,
        cancel: tokio_util::sync::CancellationToken,
        on_prompt: impl FnOnce(crate::auth::device::PromptInfo) + Send,
    ) -> Result<Option<String>, ApiError> {
        self.inner.sign_in(cancel, on_prompt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pacer_bursts_then_slows_smoothly_and_keeps_its_hour() {
        let mut pacer = Pacer::new(
            RateLimits {
                per_minute: 50,
                per_hour: 750,
            },
            150,
        );
        // A poller asking every 3 s for two hours (1,200 an hour wanted).
        let start = Instant::now();
        let mut calls: Vec<Instant> = Vec::new();
        while start.elapsed() < 2 * HOUR {
            pacer.acquire().await;
            calls.push(Instant::now());
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        // Never a long stall: the steady pace is one call per 6 s.
        let longest = calls
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default();
        assert!(longest <= Duration::from_secs(7), "stalled for {longest:?}");
        // No sliding hour holds more than the share, and the share is used.
        let most_in_an_hour = (0..calls.len())
            .map(|i| calls[i..].partition_point(|t| t.duration_since(calls[i]) < HOUR))
            .max()
            .unwrap_or(0);
        assert!(most_in_an_hour <= 750, "{most_in_an_hour} calls in an hour");
        assert!(
            most_in_an_hour >= 700,
            "only {most_in_an_hour} calls in an hour"
        );
    }
}
