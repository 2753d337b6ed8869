//! Following actions in flight. One list call per cycle covers up to 50 actions
//! (`$filter=id eq 'a' or id eq 'b' …`), so polling many actions costs a few calls a
//! cycle instead of one GET per action.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::protocol::{WorkerEvent, WriteRequest};
use crate::api::models::MachineAction;
use crate::api::{ActionFilter, DefenderApi};
use crate::audit::Outcome;

/// Ids per list call: keeps the URL short and the answer one page.
pub const POLL_BATCH: usize = 50;

#[derive(Debug, Default)]
pub struct Tracker {
    pub actions: HashMap<String, Tracked>,
}

#[derive(Debug)]
pub struct Tracked {
    pub last: MachineAction,
    /// Where the final audit line goes.
    pub origin: Origin,
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
    /// Follow `action` until it is final.
    pub fn track(&self, action: &MachineAction, origin: Origin) {
        if action.status.is_final() {
            return;
        }
        self.tracker().actions.insert(
            action.id.clone(),
            Tracked {
                last: action.clone(),
                origin,
            },
        );
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
            if action.status.is_final() {
                tracker.actions.remove(&action.id)
            } else {
                None
            }
        };
        let written = match finished.map(|t| t.origin) {
            Some(Origin::Request(req)) => self.audit.log_outcome(
                &req,
                Outcome::Confirmed,
                Some(&action.id),
                Some(action.status.as_str()),
                None,
            ),
            Some(Origin::Recovered(rec)) => {
                self.audit
                    .log_recovered_outcome(&rec, &action.id, action.status.as_str())
            }
            Some(Origin::Foreign) | None => Ok(()),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot append the final status to the audit log");
            self.emit(WorkerEvent::Notice {
                message: e.to_string(),
            });
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

    fn tracked_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.tracker().actions.keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// Polls may use at most half of the list-actions quota (100 a minute), leaving the
/// rest for pre-checks and history: each list call in a cycle stretches the cycle.
const POLL_SHARE_PER_CALL: std::time::Duration = std::time::Duration::from_millis(1200);

/// Poll every `poll_interval` (longer when many actions are in flight) until cancelled.
pub async fn run<A: DefenderApi>(ctx: Arc<Ctx<A>>, cancel: CancellationToken) {
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        let calls = poll_once(&ctx).await;
        let spacing = POLL_SHARE_PER_CALL * u32::try_from(calls).unwrap_or(u32::MAX);
        next += ctx.settings.poll_interval.max(spacing);
    }
}

/// One cycle: one list call per batch of tracked ids. Returns the number of calls.
pub async fn poll_once<A: DefenderApi>(ctx: &Ctx<A>) -> usize {
    let ids = ctx.tracked_ids();
    for chunk in ids.chunks(POLL_BATCH) {
        let filter = ActionFilter {
            ids: chunk.to_vec(),
            ..ActionFilter::default()
        };
        match ctx.api.actions_page(&filter, None).await {
            Ok(page) => {
                for action in page.value {
                    ctx.observe(action);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "poll failed; retrying next cycle");
                ctx.emit(WorkerEvent::Notice {
                    message: format!("Status poll failed, retrying: {}", e.explain()),
                });
            }
        }
        ctx.emit_budget();
    }
    ids.len().div_ceil(POLL_BATCH)
}

/// `Command::Track`: read these actions once and follow the active ones (recovery).
pub async fn track<A: DefenderApi>(
    ctx: Arc<Ctx<A>>,
    action_ids: Vec<String>,
    origins: Vec<(String, crate::audit::AuditRecord)>,
) {
    let mut origins: HashMap<String, crate::audit::AuditRecord> = origins.into_iter().collect();
    for chunk in action_ids.chunks(POLL_BATCH) {
        let filter = ActionFilter {
            ids: chunk.to_vec(),
            ..ActionFilter::default()
        };
        match ctx.api.actions_page(&filter, None).await {
            Ok(page) => {
                for action in page.value {
                    let origin = origins.remove(&action.id);
                    if action.status.is_final() {
                        // It ended while cordon was away: complete the audit pair now.
                        if let Some(rec) = &origin
                            && let Err(e) = ctx.audit.log_recovered_outcome(
                                rec,
                                &action.id,
                                action.status.as_str(),
                            )
                        {
                            tracing::error!(error = %e, "cannot append a recovered outcome");
                        }
                    } else {
                        ctx.track(
                            &action,
                            origin.map_or(Origin::Foreign, |r| Origin::Recovered(Box::new(r))),
                        );
                    }
                    ctx.emit(WorkerEvent::ActionUpdated { action });
                }
            }
            Err(e) => ctx.emit(WorkerEvent::Notice {
                message: format!("Cannot read earlier actions: {}", e.explain()),
            }),
        }
    }
}
