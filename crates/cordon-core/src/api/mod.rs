//! The Defender for Endpoint API: models, errors, and the `DefenderApi` seam.
//!
//! `DefenderApi` is what the worker and the CLI call. Production uses
//! `client::MdeClient` (real HTTPS) wrapped in `ratelimit::RateLimited`; tests also use
//! `cordon_sim::InProcess`, the simulator's engine called directly, so paused tokio time
//! can drive polling and rate limits without real sockets.

pub mod client;
pub mod error;
pub mod models;
pub mod scopes;
pub mod summary;
mod wire;

use std::future::Future;

pub use error::{ApiError, PagingFault};
pub use models::{IsolationType, Machine, MachineAction, ODataPage};
pub use scopes::ScopeBook;
pub use summary::MachineSummary;

/// What a machine page parses into: the full `Machine` (the CLI's `--json`) or the
/// compact `MachineSummary` (the console's list of 100,000). A simulator or fake that
/// has `Machine`s converts with `From`.
pub trait MachineRecord: serde::de::DeserializeOwned + From<Machine> + Send + 'static {}

impl<T: serde::de::DeserializeOwned + From<Machine> + Send + 'static> MachineRecord for T {}

pub use crate::domain::ActionFilter;

pub use crate::domain::filter::odata_quote;

/// Where the next machine page comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    /// The first page: optional OData `$filter`, and `$top` (≤ 10,000).
    First { filter: Option<String>, top: u32 },
    /// The absolute `@odata.nextLink` of the previous page.
    Next(String),
}

/// The calls cordon makes. Every method is one HTTP request (plus the client's own
/// read retries and token refresh), so a rate limiter can count them.
pub trait DefenderApi: Send + Sync + 'static {
    /// One page of `GET /api/machines`, parsed as `T`. A 404 "no recent machines" is
    /// an empty page.
    fn machines_page<T: MachineRecord>(
        &self,
        page: PageRequest,
    ) -> impl Future<Output = Result<ODataPage<T>, ApiError>> + Send;

    /// `GET /api/machines/{id}`: `id_or_name` is a device id or a computer DNS name.
    fn get_machine(
        &self,
        id_or_name: &str,
    ) -> impl Future<Output = Result<Machine, ApiError>> + Send;

    /// One page of `GET /api/machineactions`.
    fn actions_page(
        &self,
        filter: &ActionFilter,
        next: Option<String>,
    ) -> impl Future<Output = Result<ODataPage<MachineAction>, ApiError>> + Send;

    fn get_action(
        &self,
        action_id: &str,
    ) -> impl Future<Output = Result<MachineAction, ApiError>> + Send;

    /// `POST /api/machines/{id}/isolate` (201). Never retried blindly by the client.
    fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: IsolationType,
    ) -> impl Future<Output = Result<MachineAction, ApiError>> + Send;

    /// `POST /api/machines/{id}/unisolate` (201). Never retried blindly by the client.
    fn unisolate(
        &self,
        machine_id: &str,
        comment: &str,
    ) -> impl Future<Output = Result<MachineAction, ApiError>> + Send;

    /// `POST /api/machineactions/{id}/cancel` (200). Never retried blindly by the client.
    fn cancel_action(
        &self,
        action_id: &str,
        comment: &str,
    ) -> impl Future<Output = Result<MachineAction, ApiError>> + Send;

    /// Calls left this minute and this hour on the busiest API, when a rate limiter
    /// sits in front (`worker::RateLimited`); None otherwise.
    fn budget(&self) -> Option<(u32, u32)> {
        None
    }

    /// Remember that `action_id` is an Isolate of this type (one adopted by a read-back
    /// rather than created by `isolate`), so later reads show it (`ScopeBook`).
    fn note_scope(&self, _action_id: &str, _scope: IsolationType) {}

    /// Sign in as the analyst (a device-code profile): `on_prompt` gets the URL and
    /// code to show; the answer is who signed in. Other profiles have nothing to do.
    fn sign_in(
        &self,
        cancel: tokio_util::sync::CancellationToken,
        on_prompt: impl FnOnce(crate::auth::device::PromptInfo) + Send,
    ) -> impl Future<Output = Result<Option<String>, ApiError>> + Send {
        let _ = (cancel, on_prompt);
        async {
            Err(ApiError::InvalidInput(
                "this profile does not sign in interactively".into(),
            ))
        }
    }
}

/// Every page of a machine action listing, following `@odata.nextLink` to the end.
pub async fn all_actions<A: DefenderApi>(
    api: &A,
    filter: &ActionFilter,
) -> Result<Vec<MachineAction>, ApiError> {
    let mut out = Vec::new();
    let mut pages = ActionPages::new(filter.clone());
    while let Some(page) = pages.next(api).await? {
        out.extend(page);
    }
    Ok(out)
}

/// Every machine matching `filter`, following `@odata.nextLink` to the end.
pub async fn all_machines<A: DefenderApi>(
    api: &A,
    filter: Option<String>,
) -> Result<Vec<Machine>, ApiError> {
    let mut out = Vec::new();
    let mut pages = MachinePages::new(filter);
    while let Some(page) = pages.next::<Machine, _>(api).await? {
        out.extend(page);
    }
    Ok(out)
}

/// A machine listing read one page at a time, so a caller can write each page and drop
/// it before asking for the next: memory follows the page, not the tenant.
#[derive(Debug)]
pub struct MachinePages {
    next: Option<PageRequest>,
    guard: PageGuard,
}

impl MachinePages {
    /// The listing of the machines matching `filter`, in pages of [`MAX_PAGE`].
    pub fn new(filter: Option<String>) -> Self {
        Self {
            next: Some(PageRequest::First {
                filter,
                top: MAX_PAGE,
            }),
            guard: PageGuard::new(),
        }
    }

    /// The next page's records; `None` once the last page has been read.
    pub async fn next<T: MachineRecord, A: DefenderApi>(
        &mut self,
        api: &A,
    ) -> Result<Option<Vec<T>>, ApiError> {
        let Some(request) = self.next.take() else {
            return Ok(None);
        };
        let page = api.machines_page::<T>(request).await?;
        if let Some(link) = page.next_link {
            self.next = Some(PageRequest::Next(self.guard.follow(link)?));
        }
        Ok(Some(page.value))
    }
}

/// A machine action listing read one page at a time (see [`MachinePages`]).
#[derive(Debug)]
pub struct ActionPages {
    filter: ActionFilter,
    /// `Some(None)`: the first page; `Some(Some(link))`: a next page; `None`: done.
    next: Option<Option<String>>,
    guard: PageGuard,
}

impl ActionPages {
    pub fn new(filter: ActionFilter) -> Self {
        Self {
            filter,
            next: Some(None),
            guard: PageGuard::new(),
        }
    }

    /// The next page's actions; `None` once the last page has been read.
    pub async fn next<A: DefenderApi>(
        &mut self,
        api: &A,
    ) -> Result<Option<Vec<MachineAction>>, ApiError> {
        let Some(link) = self.next.take() else {
            return Ok(None);
        };
        let page = api.actions_page(&self.filter, link).await?;
        if let Some(link) = page.next_link {
            self.next = Some(Some(self.guard.follow(link)?));
        }
        Ok(Some(page.value))
    }
}

/// Most pages one listing follows. A page holds up to `MAX_PAGE` (10,000) records, so
/// 1,000 pages are ten million machines or actions: ten times the largest tenants, and
/// at the documented quota (100 calls a minute, 1,500 an hour) most of an hour of
/// calls. A listing that gets this far is a service paging wrongly, not a big tenant.
pub const MAX_PAGES: usize = 1_000;

/// Guards one listing against a service that pages for ever: the same
/// `@odata.nextLink` twice (a page pointing at itself or at an earlier page), or more
/// than [`MAX_PAGES`] pages. Links are remembered as keyed hashes, so a listing of
/// long links costs 8 bytes a page.
#[derive(Debug)]
pub struct PageGuard {
    seen: std::collections::HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    pages: usize,
}

impl Default for PageGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl PageGuard {
    /// A guard for a listing whose first page has been requested.
    pub fn new() -> Self {
        Self {
            seen: std::collections::HashSet::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            pages: 1,
        }
    }

    /// Check the `@odata.nextLink` of the latest page before following it: the link
    /// back, or why the listing must stop.
    pub fn follow(&mut self, link: String) -> Result<String, ApiError> {
        use std::hash::BuildHasher;
        if self.pages >= MAX_PAGES {
            return Err(PagingFault::TooManyPages { limit: MAX_PAGES }.into());
        }
        if !self.seen.insert(self.hasher.hash_one(link.trim())) {
            return Err(PagingFault::Repeated {
                link: crate::sanitize::clean_truncated(&link, 120),
            }
            .into());
        }
        self.pages += 1;
        Ok(link)
    }
}

/// The API's maximum `$top`.
pub const MAX_PAGE: u32 = 10_000;

/// Each API's documented quota (mde-api.md §5.2): calls a minute and an hour.
pub const QUOTA_PER_MINUTE: u32 = 100;
pub const QUOTA_PER_HOUR: u32 = 1500;

/// When the last of `calls` calls to one API can start, counted from the first, if
/// nothing else uses that API: 100 at once, 100 more each minute, and a new hour
/// after every 1,500.
pub fn quota_schedule(calls: usize) -> std::time::Duration {
    let Some(last) = calls.checked_sub(1) else {
        return std::time::Duration::ZERO;
    };
    let hours = last / QUOTA_PER_HOUR as usize;
    let minutes = (last % QUOTA_PER_HOUR as usize) / QUOTA_PER_MINUTE as usize;
    std::time::Duration::from_secs((hours * 3600 + minutes * 60) as u64)
}
