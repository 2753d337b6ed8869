//! Start-up recovery, run by the worker (`Command::Recover`) for the console and every
//! subcommand. Every request an earlier run of this profile wrote to the audit log
//! without a final line is settled by reading the service, exactly:
//!
//! - an isolate or release with no outcome at all (cordon stopped mid-send) is matched
//!   to the newest action of the same machine, type and comment created at or after the
//!   request's audit time (less [`CLOCK_SKEW`]); an older action that reused the comment
//!   (a ticket id, say) can never be taken for it. None found: the service never
//!   received it, and a `not_sent` line closes it for good;
//! - a cancel is matched by the action id it named: the action was cancelled with this
//!   request's comment, or the cancel never arrived (`not_sent`);
//! - an accepted action never seen final is read again and followed until it is.
//!
//! A read that fails writes nothing: the request is settled on a later start, and the
//! report says how many could not be read. A request with a final line is never read
//! again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::poll::{self, Origin};
use super::{Ctx, WorkerEvent};
use crate::api::{DefenderApi, all_actions};
use crate::audit::{AuditLog, AuditRecord, recovery};
use crate::domain::ActionFilter;
use crate::domain::models::{ActionStatus, IsolationType, MachineAction, parse_time};

/// How far the service's clock may run behind ours when matching an action to the
/// request that created it. Hosts and the service are NTP-synchronised to well under a
/// second; a minute is generous and still excludes an action made earlier with the
/// same comment.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Machines per batched read of isolation actions.
const MACHINES_PER_READ: usize = 50;

/// What recovery found, for one sentence in the console or on stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Ended while cordon was away, by final status (e.g. "Succeeded" → 2).
    pub ended: Vec<(String, usize)>,
    /// Still Pending or InProgress: followed from now on.
    pub in_flight: usize,
    /// The service never received them.
    pub not_sent: usize,
    /// Could not be read now; tried again at the next start.
    pub unreadable: usize,
    /// Written moments ago by a cordon process that is still running (another
    /// terminal): it may be sending them now, so they are left to it.
    pub elsewhere: usize,
}

impl RecoveryReport {
    fn ended(&mut self, status: &ActionStatus) {
        let s = status.as_str().to_string();
        match self.ended.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => self.ended.push((s, 1)),
        }
    }

    pub fn total(&self) -> usize {
        self.ended.iter().map(|(_, n)| n).sum::<usize>()
            + self.in_flight
            + self.not_sent
            + self.unreadable
            + self.elsewhere
    }

    /// "2 requests from an earlier run: 1 Succeeded, 1 never sent." None when there
    /// was nothing to recover.
    pub fn sentence(&self) -> Option<String> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let mut parts: Vec<String> = self
            .ended
            .iter()
            .map(|(status, n)| format!("{n} {}", crate::sanitize::clean(status)))
            .collect();
        if self.in_flight > 0 {
            parts.push(format!("{} still in progress (followed)", self.in_flight));
        }
        if self.not_sent > 0 {
            parts.push(format!("{} never sent", self.not_sent));
        }
        if self.unreadable > 0 {
            parts.push(format!(
                "{} could not be read now (tried again at the next start)",
                self.unreadable
            ));
        }
        if self.elsewhere > 0 {
            parts.push(format!(
                "{} being sent by another cordon still running (left to it)",
                self.elsewhere
            ));
        }
        Some(format!(
            "{total} request{} from an earlier run: {}.",
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        ))
    }
}

/// Settle every unfinished request of earlier runs of this profile; see the module
/// documentation. Writes the audit lines, follows actions still in flight, and returns
/// what it found.
pub(crate) async fn recover<A: DefenderApi>(ctx: &Arc<Ctx<A>>) -> RecoveryReport {
    let mut report = RecoveryReport::default();
    let path = ctx.audit.path().to_path_buf();
    if path.as_os_str().is_empty() {
        return report; // a disabled audit log holds nothing to recover
    }
    let records = match tokio::task::spawn_blocking(move || AuditLog::read_all(&path)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the audit log for recovery");
            return report;
        }
        Err(e) => {
            tracing::error!(error = %e, "audit log reader failed");
            return report;
        }
    };
    // Only earlier runs: this run's own requests are in flight right now (recovery runs
    // beside the first writes) and are settled by the code that sent them.
    let this_run = ctx.audit.run().to_string();
    let records: Vec<_> = records.into_iter().filter(|r| r.run != this_run).collect();
    let mut plan = recovery(&records, &ctx.settings.profile_name);
    // A request with no outcome whose process still runs may be on its way right now:
    // calling it "never sent" could be false a moment later. Leave it to that process,
    // unless it is older than any write a live cordon could still be sending.
    let now = Utc::now();
    let settle_after = chrono::Duration::from_std(
        ctx.settings.write_deadline.saturating_mul(2) + Duration::from_secs(600),
    )
    .unwrap_or(chrono::Duration::MAX);
    plan.orphans.retain(|rec| {
        let young = DateTime::parse_from_rfc3339(&rec.time)
            .map(|t| now - t.with_timezone(&Utc) < settle_after)
            .unwrap_or(false);
        let leave = young && crate::audit::run_may_be_alive(&rec.run);
        if leave {
            report.elsewhere += 1;
        }
        !leave
    });
    if plan.orphans.is_empty() && plan.actions.is_empty() {
        return report;
    }
    tracing::info!(
        orphans = plan.orphans.len(),
        accepted = plan.actions.len(),
        "recovering requests of earlier runs"
    );

    let (cancels, isolations): (Vec<AuditRecord>, Vec<AuditRecord>) =
        plan.orphans.into_iter().partition(|r| r.action == "Cancel");
    settle_isolations(ctx, isolations, &mut report).await;
    for rec in cancels {
        settle_cancel(ctx, rec, &mut report).await;
    }

    // Accepted before, never seen final: read them now and follow the active ones.
    if !plan.actions.is_empty() {
        let mut ids: Vec<String> = plan.actions.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        let settled = poll::track(ctx.clone(), ids, plan.actions).await;
        for status in &settled.ended {
            report.ended(status);
        }
        report.in_flight += settled.active;
        report.unreadable += settled.unreadable;
    }
    ctx.emit_budget();
    report
}

/// The newest action of the request's machine, type and comment created at or after
/// the request (less the clock skew).
pub fn matching_action<'a>(
    rec: &AuditRecord,
    actions: &'a [MachineAction],
) -> Option<&'a MachineAction> {
    let sent: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(&rec.time)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    let earliest = sent.map(|t| t - chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default());
    actions
        .iter()
        .filter(|a| {
            a.machine_id.as_deref() == Some(rec.machine_id.as_str())
                && a.action_type.as_str() == rec.action
                && a.requestor_comment.as_deref() == Some(rec.comment.as_str())
        })
        .filter_map(|a| {
            let created = parse_time(a.creation_date_time_utc.as_deref())?;
            // Without a readable request time nothing can be matched safely.
            (created >= earliest?).then_some((created, a))
        })
        .max_by_key(|(created, _)| *created)
        .map(|(_, a)| a)
}

async fn settle_isolations<A: DefenderApi>(
    ctx: &Arc<Ctx<A>>,
    orphans: Vec<AuditRecord>,
    report: &mut RecoveryReport,
) {
    let mut by_machine: HashMap<String, Vec<AuditRecord>> = HashMap::new();
    for rec in orphans {
        by_machine
            .entry(rec.machine_id.clone())
            .or_default()
            .push(rec);
    }
    let mut machines: Vec<String> = by_machine.keys().cloned().collect();
    machines.sort();
    for chunk in machines.chunks(MACHINES_PER_READ) {
        let filter = ActionFilter::isolation_of_any(chunk.to_vec());
        let actions = match all_actions(ctx.api.as_ref(), &filter).await {
            Ok(a) => a,
            Err(e) => {
                let n: usize = chunk.iter().map(|m| by_machine[m].len()).sum();
                tracing::warn!(error = %e.explain(), requests = n, "recovery read failed; trying again at the next start");
                report.unreadable += n;
                continue;
            }
        };
        for machine in chunk {
            for rec in &by_machine[machine] {
                match matching_action(rec, &actions) {
                    Some(action) => adopt(ctx, rec, action, report),
                    None => not_sent(
                        ctx,
                        rec,
                        "the service has no action for this request: it never received it",
                        report,
                    ),
                }
            }
        }
    }
}

async fn settle_cancel<A: DefenderApi>(
    ctx: &Arc<Ctx<A>>,
    rec: AuditRecord,
    report: &mut RecoveryReport,
) {
    let Some(target) = rec.action_id.clone() else {
        not_sent(ctx, &rec, "the request named no action to cancel", report);
        return;
    };
    match ctx.api.get_action(&target).await {
        Ok(action) => {
            let ours = action.status == ActionStatus::Cancelled
                && action.cancellation_comment.as_deref() == Some(rec.comment.as_str());
            if ours {
                adopt(ctx, &rec, &action, report);
            } else {
                let reason = format!(
                    "the action is {} without this cancellation: the cancel never reached the service",
                    crate::sanitize::clean(action.status.as_str())
                );
                not_sent(ctx, &rec, &reason, report);
            }
        }
        Err(e) if e.is_not_found() => {
            not_sent(ctx, &rec, "the action to cancel does not exist", report);
        }
        Err(e) => {
            tracing::warn!(error = %e.explain(), "recovery read of a cancelled action failed; trying again at the next start");
            report.unreadable += 1;
        }
    }
}

/// The service holds an action for this request: close it if final, else follow it.
fn adopt<A: DefenderApi>(
    ctx: &Arc<Ctx<A>>,
    rec: &AuditRecord,
    action: &MachineAction,
    report: &mut RecoveryReport,
) {
    let mut action = action.clone();
    if let Some(isolation_type) = rec.isolation_type.as_deref().and_then(IsolationType::parse) {
        let op = crate::domain::WriteOp::Isolate { isolation_type };
        super::submit::note_scope(ctx.api.as_ref(), &op, &mut action);
    }
    let action = &action;
    if action.status.is_final() {
        if let Err(e) = ctx
            .audit
            .log_recovered_outcome(rec, &action.id, action.status.as_str())
        {
            tracing::error!(error = %e, "cannot append a recovered outcome");
            report.unreadable += 1;
            return;
        }
        report.ended(&action.status);
    } else {
        ctx.track(action, Origin::Recovered(Box::new(rec.clone())));
        report.in_flight += 1;
    }
    ctx.emit(WorkerEvent::ActionUpdated {
        action: action.clone(),
    });
}

fn not_sent<A: DefenderApi>(
    ctx: &Arc<Ctx<A>>,
    rec: &AuditRecord,
    reason: &str,
    report: &mut RecoveryReport,
) {
    match ctx.audit.log_not_sent(rec, reason) {
        Ok(()) => report.not_sent += 1,
        Err(e) => {
            tracing::error!(error = %e, "cannot append a not-sent outcome");
            report.unreadable += 1;
        }
    }
}
