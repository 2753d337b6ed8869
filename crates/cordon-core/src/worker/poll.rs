//! Following actions in flight.
//!
//! One list call per cycle covers every action in flight, however many:
//! `$filter=(status eq 'Pending' or status eq 'InProgress') and (type eq …)`. A filter
//! on the ids instead would need ⌈n/50⌉ calls (a URL of 1,000 ids is ~45 kB). A
//! tracked action missing from that answer has left Pending/InProgress: it is read by
//! id once (50 to a call) to learn how it ended. So a cycle costs one call, plus one
//! per 50 actions that ended since the last cycle.
//!
//! Pacing: the poller has its own share of the list quota (50 a minute, 750 an hour,
//! half of each; the hour spent smoothly, see `Pacer`), and backs off when nothing has
//! changed for minutes (a device that is offline keeps its isolation Pending for
//! hours), so pre-checks and history loads always find quota left.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::protocol::{WorkerEvent, WriteRequest};
use super::rate_limit::{Pacer, RateLimits};
use crate::api::models::MachineAction;
use crate::api::{ActionFilter, ApiError, DefenderApi, PageGuard};
use crate::audit::Outcome;
use crate::bounded::instant_after;

/// Ids per list call when reading actions by id: keeps the URL short (~2.3 kB) and
/// the answer one page.
pub const POLL_BATCH: usize = 50;

/// The poller's share of the list-actions quota (100 a minute, 1,500 an hour): half.
pub const POLL_SHARE: RateLimits = RateLimits {
    per_minute: 50,
    per_hour: 750,
};
/// Calls the poller may make at its full pace (every `poll_interval`) before it slows
/// to its steady share of the hour (one per 6 s): about 15 minutes at 3 s.
pub const POLL_BURST: u32 = 150;

#[derive(Debug, Default)]
pub struct Tracker {
    pub actions: HashMap<String, Tracked>,
}

#[derive(Debug)]
pub struct Tracked {
    pub last: MachineAction,
    /// Where the final audit lines go: every request of ours that this action answers
    /// (a duplicate the service folded into an existing action is one more).
    pub origins: Vec<Origin>,
    /// When it was first tracked or last changed (drives the back-off).
    pub changed_at: Instant,
}

/// Who asked for a tracked action.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A request of this run.
    Request(WriteRequest),
    /// A request of an earlier run, found in the audit log at start-up.
    Recovered(Box<crate::audit::AuditRecord>),
    /// Someone else's action (already active when we looked): nothing to audit.
    Foreign,
}

impl<A: DefenderApi> Ctx<A> {
    /// Follow `action` until it is final. Tracking it again adds the origin: an
    /// action already followed for a request of ours stays ours.
    pub fn track(&self, action: &MachineAction, origin: Origin) {
        if action.status.is_final() {
            return;
        }
        let mut tracker = self.tracker();
        match tracker.actions.get_mut(&action.id) {
            Some(t) => {
                if !matches!(origin, Origin::Foreign) {
                    t.origins.retain(|o| !matches!(o, Origin::Foreign));
                    t.origins.push(origin);
                }
            }
            None => {
                tracker.actions.insert(
                    action.id.clone(),
                    Tracked {
                        last: action.clone(),
                        origins: vec![origin],
                        changed_at: Instant::now(),
                    },
                );
            }
        }
        drop(tracker);
        self.tracked_added.notify_one();
    }

    /// Record a fresh read of a tracked action: report changes, finish final ones.
    pub fn observe(&self, action: MachineAction) {
        let finished = {
            let mut tracker = self.tracker();
            let Some(t) = tracker.actions.get_mut(&action.id) else {
                return;
            };
            let changed = t.last.status != action.status
                || t.last.last_update_date_time_utc != action.last_update_date_time_utc;
            if !changed {
                return;
            }
            t.last = action.clone();
            t.changed_at = Instant::now();
            if action.status.is_final() {
                tracker.actions.remove(&action.id)
            } else {
                None
            }
        };
        for origin in finished.map(|t| t.origins).unwrap_or_default() {
            let written = match origin {
                Origin::Request(req) => self.audit.log_outcome(
                    &req,
                    Outcome::Confirmed,
                    Some(&action.id),
                    Some(action.status.as_str()),
                    None,
                ),
                Origin::Recovered(rec) => {
                    self.audit
                        .log_recovered_outcome(&rec, &action.id, action.status.as_str())
                }
                Origin::Foreign => Ok(()),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "cannot append the final status to the audit log");
                self.emit(WorkerEvent::Notice {
                    message: e.to_string(),
                });
            }
        }
        self.emit(WorkerEvent::ActionUpdated { action });
    }

    /// An isolation action on this machine that is being followed and still active.
    pub fn tracked_isolation_for(&self, machine_id: &str) -> Option<MachineAction> {
        self.tracker()
            .actions
            .values()
            .map(|t| &t.last)
            .find(|a| {
                a.is_isolation()
                    && a.status.is_active()
                    && a.machine_id.as_deref() == Some(machine_id)
            })
            .cloned()
    }

    /// The ids and action types being followed.
    fn tracked(&self) -> (HashSet<String>, BTreeSet<String>) {
        let tracker = self.tracker();
        let ids = tracker.actions.keys().cloned().collect();
        let types = tracker
            .actions
            .values()
            .map(|t| t.last.action_type.as_str().to_string())
            .collect();
        (ids, types)
    }

    /// How long since a tracked action last changed; None when nothing is tracked.
    fn quiet_for(&self) -> Option<Duration> {
        let now = Instant::now();
        self.tracker()
            .actions
            .values()
            .map(|t| now.saturating_duration_since(t.changed_at))
            .min()
    }
}

/// The longest the poller holds off because the service throttled it: the bound the
/// client puts on `Retry-After` (one hour).
const MAX_HOLD_OFF: Duration = crate::api::client::MAX_RETRY_AFTER;

/// How long a cycle lasts: the configured interval, longer when nothing tracked has
/// changed for a while.
pub fn cycle_interval(poll_interval: Duration, quiet_for: Duration) -> Duration {
    let backoff = if quiet_for < Duration::from_secs(120) {
        Duration::ZERO
    } else if quiet_for < Duration::from_secs(600) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(30)
    };
    poll_interval.max(backoff)
}

/// Poll until cancelled.
pub async fn run<A: DefenderApi>(ctx: Arc<Ctx<A>>, cancel: CancellationToken) {
    let mut pacer = Pacer::new(POLL_SHARE, POLL_BURST);
    // Cleared for the session if the service refuses the in-flight listing.
    let mut list_in_flight = true;
    let interval = ctx.settings.poll_interval;
    let mut last_cycle: Option<Instant> = None;
    let mut next = Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
            () = ctx.tracked_added.notified() => {
                // A new action: poll at the normal interval again, not after a back-off.
                let soonest = last_cycle.map_or_else(Instant::now, |t| instant_after(t, interval, MAX_HOLD_OFF));
                next = next.min(soonest);
                continue;
            }
        }
        let started = Instant::now();
        let hold_off = poll_once(&ctx, &mut pacer, &mut list_in_flight).await;
        last_cycle = Some(started);
        let quiet = ctx.quiet_for().unwrap_or_default();
        // A throttled cycle waits out the service's `Retry-After` (bounded) instead of
        // failing again every interval.
        let wait = cycle_interval(interval, quiet).max(hold_off.unwrap_or_default());
        next = instant_after(started, wait, MAX_HOLD_OFF);
    }
}

/// How long the service asked the poller to hold off, when it throttled a call.
fn hold_off(e: &ApiError) -> Option<Duration> {
    match e {
        ApiError::Throttled { retry_after } => {
            Some(retry_after.unwrap_or_default().min(MAX_HOLD_OFF))
        }
        _ => None,
    }
}

/// One cycle: one call for everything in flight, one per 50 that ended. Returns how
/// long the service asked to be left alone, when it throttled the cycle.
async fn poll_once<A: DefenderApi>(
    ctx: &Ctx<A>,
    pacer: &mut Pacer,
    list_in_flight: &mut bool,
) -> Option<Duration> {
    let (ids, types) = ctx.tracked();
    if ids.is_empty() {
        return None;
    }
    // 1. Every tracked action still in flight, in one call.
    let in_flight = ActionFilter::active_of_types(types.into_iter().collect());
    let mut listed: HashSet<String> = HashSet::new();
    let mut next = None;
    let mut pages = PageGuard::new();
    while *list_in_flight {
        pacer.acquire().await;
        let page = ctx.api.actions_page(&in_flight, next.take()).await;
        ctx.emit_budget();
        // A page link that repeats (or never ends) fails the listing like any error.
        let page = page.and_then(|page| match page.next_link {
            Some(link) => pages.follow(link).map(|link| (page.value, Some(link))),
            None => Ok((page.value, None)),
        });
        match page {
            Ok((actions, link)) => {
                for action in actions {
                    if ids.contains(&action.id) {
                        listed.insert(action.id.clone());
                        ctx.observe(action);
                    }
                }
                match link {
                    Some(link) => next = Some(link),
                    None => break,
                }
            }
            Err(e) if hold_off(&e).is_some() => {
                // Reading by id would be throttled too: skip the cycle.
                poll_failed(ctx, &e);
                return hold_off(&e);
            }
            Err(e) => {
                // Not fatal: this cycle reads every tracked action by id instead. A
                // refused filter (400) will not start working: stop asking.
                tracing::warn!(error = %e, "the in-flight listing failed; reading by id");
                if matches!(e, crate::api::ApiError::Service { status: 400, .. }) {
                    *list_in_flight = false;
                    ctx.emit(WorkerEvent::Notice {
                        message: "The service refuses status filters: polling actions by id (more calls).".into(),
                    });
                }
                listed.clear();
                break;
            }
        }
    }
    // 2. The rest have ended (or are not listed yet): read them by id to learn how.
    let mut ended: Vec<String> = ids.into_iter().filter(|id| !listed.contains(id)).collect();
    ended.sort();
    for chunk in ended.chunks(POLL_BATCH) {
        let filter = ActionFilter::by_ids(chunk.to_vec());
        pacer.acquire().await;
        let page = ctx.api.actions_page(&filter, None).await;
        ctx.emit_budget();
        match page {
            Ok(page) => page.value.into_iter().for_each(|a| ctx.observe(a)),
            Err(e) => {
                poll_failed(ctx, &e);
                return hold_off(&e);
            }
        }
    }
    None
}

fn poll_failed<A: DefenderApi>(ctx: &Ctx<A>, e: &crate::api::ApiError) {
    tracing::warn!(error = %e, "poll failed; retrying next cycle");
    ctx.emit(WorkerEvent::Notice {
        message: format!("Status poll failed, retrying: {}", e.explain()),
    });
}

/// What `track` found: the final statuses of actions that ended while cordon was
/// away (one per request), how many are still active, and how many requests could not
/// be read.
#[derive(Debug, Default)]
pub struct Settled {
    pub ended: Vec<crate::domain::models::ActionStatus>,
    pub active: usize,
    pub unreadable: usize,
}

/// `Command::Track` and recovery: read these actions once and follow the active ones.
pub async fn track<A: DefenderApi>(
    ctx: Arc<Ctx<A>>,
    action_ids: Vec<String>,
    origins: Vec<(String, crate::audit::AuditRecord)>,
) -> Settled {
    let mut settled = Settled::default();
    let mut by_action: HashMap<String, Vec<crate::audit::AuditRecord>> = HashMap::new();
    for (id, rec) in origins {
        by_action.entry(id).or_default().push(rec);
    }
    for chunk in action_ids.chunks(POLL_BATCH) {
        let filter = ActionFilter::by_ids(chunk.to_vec());
        match ctx.api.actions_page(&filter, None).await {
            Ok(page) => {
                for action in page.value {
                    let records = by_action.remove(&action.id).unwrap_or_default();
                    if action.status.is_final() {
                        // It ended while cordon was away: complete the audit pairs now.
                        for rec in &records {
                            match ctx.audit.log_recovered_outcome(
                                rec,
                                &action.id,
                                action.status.as_str(),
                            ) {
                                Ok(()) => settled.ended.push(action.status.clone()),
                                Err(e) => {
                                    settled.unreadable += 1;
                                    tracing::error!(error = %e, "cannot append a recovered outcome");
                                }
                            }
                        }
                    } else if records.is_empty() {
                        ctx.track(&action, Origin::Foreign);
                    } else {
                        settled.active += records.len();
                        for rec in records {
                            ctx.track(&action, Origin::Recovered(Box::new(rec)));
                        }
                    }
                    ctx.emit(WorkerEvent::ActionUpdated { action });
                }
            }
            Err(e) => {
                settled.unreadable += chunk
                    .iter()
                    .map(|id| by_action.get(id).map_or(0, Vec::len))
                    .sum::<usize>();
                tracing::warn!(error = %e.explain(), "cannot read earlier actions; trying again at the next start");
                ctx.emit(WorkerEvent::Notice {
                    message: format!("Cannot read earlier actions: {}", e.explain()),
                });
            }
        }
    }
    settled
}
