//! The Defender for Endpoint API: models, errors, and the `DefenderApi` seam.
//!
//! `DefenderApi` is what the worker and the CLI call. Production uses
//! `client::MdeClient` (real HTTPS) wrapped in `ratelimit::RateLimited`; tests also use
//! `cordon_sim::InProcess`, the simulator's engine called directly, so paused tokio time
//! can drive polling and rate limits without real sockets.

pub mod client;
pub mod error;
pub mod models;
pub mod summary;
mod wire;

use std::future::Future;

pub use error::ApiError;
pub use models::{IsolationType, Machine, MachineAction, ODataPage};
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
}

/// Every page of a machine action listing, following `@odata.nextLink` to the end.
pub async fn all_actions<A: DefenderApi>(
    api: &A,
    filter: &ActionFilter,
) -> Result<Vec<MachineAction>, ApiError> {
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let page = api.actions_page(filter, next.take()).await?;
        out.extend(page.value);
        match page.next_link {
            Some(link) => next = Some(link),
            None => return Ok(out),
        }
    }
}

/// Every machine matching `filter`, following `@odata.nextLink` to the end.
pub async fn all_machines<A: DefenderApi>(
    api: &A,
    filter: Option<String>,
) -> Result<Vec<Machine>, ApiError> {
    let mut out = Vec::new();
    let mut request = PageRequest::First {
        filter,
        top: MAX_PAGE,
    };
    loop {
        let page = api.machines_page(request).await?;
        out.extend(page.value);
        match page.next_link {
            Some(link) => request = PageRequest::Next(link),
            None => return Ok(out),
        }
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
