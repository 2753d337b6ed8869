//! Submitting writes. Every request ends in exactly one outcome event (Accepted,
//! AlreadyActive or Failed) with matching audit lines, and no write is ever retried
//! blindly: after an ambiguous failure the machine's actions are read first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::poll::Origin;
use super::protocol::{ErrorInfo, WorkerEvent, WriteOp, WriteRequest};
use crate::api::models::{ActionType, MachineAction};
use crate::api::{ActionFilter, ApiError, DefenderApi, all_actions};
use crate::audit::Outcome;

/// Machines whose pending actions one pre-check read covers. At the isolate quota (100
/// a minute) twenty POSTs take twelve seconds, so no pre-check is older than that, and
/// the service's own duplicate answer covers the rest.
const PRECHECK_BATCH: usize = 20;

/// Process submissions in order, until cancelled. Requests waiting in the queue are
/// pre-checked together: one list call per batch instead of one per machine.
pub async fn run<A: DefenderApi>(
    ctx: Arc<Ctx<A>>,
    mut queue: mpsc::UnboundedReceiver<WriteRequest>,
    cancel: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            r = queue.recv() => r,
        };
        let Some(first) = next else { break };
        let mut batch = vec![first];
        while batch.len() < PRECHECK_BATCH {
            match queue.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut prechecked = precheck(&ctx, &batch).await;
        for req in batch {
            if cancel.is_cancelled() {
                refuse(
                    &ctx,
                    &req,
                    "Cancelled",
                    "cordon was closing; nothing was sent".into(),
                );
                continue;
            }
            let pre = prechecked.remove(&req.machine_id);
            submit_one(&ctx, req, pre).await;
        }
    }
    // Requests still queued at shutdown were never sent: say so, one outcome each.
    queue.close();
    while let Ok(req) = queue.try_recv() {
        refuse(
            &ctx,
            &req,
            "Cancelled",
            "cordon was closing; nothing was sent".into(),
        );
    }
}

/// The isolation actions of every machine in the batch, newest first, from one list
/// call per batch. Machines missing from the answer have none; a failed read leaves
/// the map empty so each request reads for itself.
async fn precheck<A: DefenderApi>(
    ctx: &Ctx<A>,
    batch: &[WriteRequest],
) -> HashMap<String, Vec<MachineAction>> {
    let mut ids: Vec<String> = batch
        .iter()
        .filter(|r| !matches!(r.op, WriteOp::Cancel { .. }))
        .map(|r| r.machine_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.len() < 2 {
        return HashMap::new();
    }
    let filter = ActionFilter::isolation_of_any(ids.clone());
    let Ok(list) = all_actions(ctx.api.as_ref(), &filter).await else {
        return HashMap::new();
    };
    let mut by_machine: HashMap<String, Vec<MachineAction>> =
        ids.into_iter().map(|id| (id, Vec::new())).collect();
    for a in list {
        if let Some(v) = a.machine_id.as_ref().and_then(|m| by_machine.get_mut(m)) {
            v.push(a);
        }
    }
    for v in by_machine.values_mut() {
        let mut refs: Vec<&MachineAction> = v.iter().collect();
        crate::domain::newest_first(&mut refs);
        *v = refs.into_iter().cloned().collect();
    }
    by_machine
}

pub async fn submit_one<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: WriteRequest,
    prechecked: Option<Vec<MachineAction>>,
) {
    if ctx.settings.readonly {
        let msg = format!(
            "profile '{}' is read-only; isolate, release and cancel are disabled",
            ctx.settings.profile_name
        );
        return refuse(ctx, &req, "ReadOnlyProfile", msg);
    }
    // The comment was checked when the request was made (`Comment` cannot hold an
    // empty, overlong or invisible one).
    match req.op.clone() {
        WriteOp::Cancel { action_id } => cancel(ctx, req, &action_id).await,
        WriteOp::Isolate { .. } | WriteOp::Unisolate => isolation(ctx, req, prechecked).await,
    }
    ctx.emit_budget();
}

fn action_type_of(op: &WriteOp) -> ActionType {
    match op {
        WriteOp::Isolate { .. } => ActionType::Isolate,
        WriteOp::Unisolate => ActionType::Unisolate,
        WriteOp::Cancel { .. } => ActionType::Other("Cancel".into()),
    }
}

/// The machine's Isolate/Unisolate actions, newest first.
async fn isolation_actions<A: DefenderApi>(
    ctx: &Ctx<A>,
    machine_id: &str,
) -> Result<Vec<MachineAction>, ApiError> {
    let filter = ActionFilter::isolation_of(machine_id);
    let list = all_actions(ctx.api.as_ref(), &filter).await?;
    let mut refs: Vec<&MachineAction> = list.iter().collect();
    crate::domain::newest_first(&mut refs);
    Ok(refs.into_iter().cloned().collect())
}

fn newest_active(actions: &[MachineAction]) -> Option<&MachineAction> {
    actions.first().filter(|a| a.status.is_active())
}

async fn isolation<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: WriteRequest,
    prechecked: Option<Vec<MachineAction>>,
) {
    // docs/mde-api.md §5.3: a duplicate can stay Pending and run after a later release,
    // stranding the device. Never send while one is active.
    let deadline = Instant::now() + ctx.settings.write_deadline;
    let before = match prechecked {
        Some(list) => list,
        None => match isolation_actions_until(ctx, &req.machine_id, deadline).await {
            Ok(list) => list,
            Err(e) => return fail_unsent(ctx, &req, &e),
        },
    };
    if let Some(active) = newest_active(&before) {
        return already_active(ctx, &req, active.clone());
    }
    // A batched pre-check can predate an action this worker sent moments ago (the same
    // machine twice in one bulk): the actions being followed are fresher.
    if let Some(active) = ctx.tracked_isolation_for(&req.machine_id) {
        return already_active(ctx, &req, active);
    }
    let known: HashSet<String> = before.iter().map(|a| a.id.clone()).collect();

    if let Err(e) = ctx.audit.log_request(&req).await {
        tracing::error!(error = %e, "audit write failed; not sending");
        return emit_failed(
            ctx,
            &req,
            "AuditLogUnavailable",
            format!("{e}; nothing was sent"),
        );
    }

    // docs/mde-api.md §5.3 and the reliability notes in the README: after an ambiguous
    // answer the write is sent again only when a fresh read shows the service has no
    // action for it, so no machine is ever isolated twice; this goes on, with jittered
    // backoff, until the write deadline.
    let mut sends = 0u32;
    loop {
        sends += 1;
        let result = match &req.op {
            WriteOp::Isolate { isolation_type } => {
                ctx.api
                    .isolate(&req.machine_id, &req.comment, *isolation_type)
                    .await
            }
            _ => ctx.api.unisolate(&req.machine_id, &req.comment).await,
        };
        let error = match result {
            Ok(action) => return settle(ctx, &req, &known, action),
            Err(e) if e.is_already_active() => {
                return match isolation_actions_until(ctx, &req.machine_id, deadline).await {
                    Ok(list) => match newest_active(&list) {
                        Some(a) => settle(ctx, &req, &known, a.clone()),
                        None => finish_failed(ctx, &req, &e),
                    },
                    Err(_) => finish_failed(ctx, &req, &e),
                };
            }
            // Anything else the service said (4xx) is its final word.
            Err(e) if !e.is_ambiguous() => return finish_failed(ctx, &req, &e),
            Err(e) => e,
        };
        tracing::warn!(error = %error, machine = %req.machine_id, sends, "ambiguous write; reading actions before deciding");
        let last_error = Some(error);
        match read_back(ctx, &req, &known, deadline).await {
            ReadBack::Found(action) => return accept(ctx, &req, *action),
            ReadBack::Unknown => {
                return not_confirmed(ctx, &req, sends, true, last_error.as_ref());
            }
            ReadBack::Absent => {}
        }
        let wait = retry_backoff(sends);
        if Instant::now() + wait > deadline {
            return not_confirmed(ctx, &req, sends, false, last_error.as_ref());
        }
        tokio::time::sleep(wait).await;
        // The service may have acted late: read again right before sending again.
        match read_back(ctx, &req, &known, deadline).await {
            ReadBack::Found(action) => return accept(ctx, &req, *action),
            ReadBack::Unknown => {
                return not_confirmed(ctx, &req, sends, true, last_error.as_ref());
            }
            ReadBack::Absent => {
                tracing::info!(machine = %req.machine_id, sends, "write did not take effect; sending again");
            }
        }
    }
}

/// The machine's isolation actions, read again with backoff while the failure is
/// transient, until the deadline: a flaky read is no reason to give a write up.
async fn isolation_actions_until<A: DefenderApi>(
    ctx: &Ctx<A>,
    machine_id: &str,
    deadline: Instant,
) -> Result<Vec<MachineAction>, ApiError> {
    let mut failures = 0u32;
    loop {
        match isolation_actions(ctx, machine_id).await {
            Ok(list) => return Ok(list),
            Err(e) if e.is_transient() => {
                failures += 1;
                let wait = retry_backoff(failures);
                if Instant::now() + wait > deadline {
                    return Err(e);
                }
                tracing::warn!(error = %e, machine = %machine_id, "isolation read failed; reading again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

enum ReadBack {
    Found(Box<MachineAction>),
    /// A successful read shows no action from this request.
    Absent,
    /// No read succeeded before the deadline: never send blind.
    Unknown,
}

/// Did our request create an action? Ours is one the service did not have before, of
/// the same type, carrying our comment. Reads are retried like every isolation read
/// (`isolation_actions_until`); one that still fails at the deadline leaves it unknown.
async fn read_back<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: &WriteRequest,
    known: &HashSet<String>,
    deadline: Instant,
) -> ReadBack {
    let wanted = action_type_of(&req.op);
    match isolation_actions_until(ctx, &req.machine_id, deadline).await {
        Ok(list) => list
            .into_iter()
            .find(|a| {
                !known.contains(&a.id)
                    && a.action_type == wanted
                    && a.requestor_comment.as_deref() == Some(req.comment.as_str())
            })
            .map_or(ReadBack::Absent, |a| ReadBack::Found(Box::new(a))),
        Err(e) => {
            tracing::warn!(error = %e, "reconciliation read failed");
            ReadBack::Unknown
        }
    }
}

/// Jittered exponential backoff for write retries: 1, 2, 4, 8, then 16 s at most, each
/// scaled by a random factor in [0.5, 1.0] so a bulk does not retry in lockstep.
fn retry_backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(4));
    base.mul_f64(rand::random_range(0.5..=1.0))
}

/// The deadline passed without the service confirming or denying the write: say what
/// was and was not seen.
fn not_confirmed<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: &WriteRequest,
    sends: u32,
    reads_failed: bool,
    last_error: Option<&ApiError>,
) {
    let seen = if reads_failed {
        "and its actions could not be read back to check"
    } else {
        "and reading its actions back found none from this request"
    };
    let why = last_error.map(ApiError::explain).unwrap_or_default();
    finish_with(
        ctx,
        req,
        "NotConfirmed",
        format!(
            "sent {sends} time(s) within {}s without a clear answer ({why}), {seen}; check the machine's history before trying again",
            ctx.settings.write_deadline.as_secs()
        ),
    )
}

/// A 2xx answer: new action (ours) or the service handing back an existing one.
fn settle<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: &WriteRequest,
    known: &HashSet<String>,
    action: MachineAction,
) {
    let ours = !known.contains(&action.id)
        && action.requestor_comment.as_deref() == Some(req.comment.as_str());
    if ours || !known.contains(&action.id) && action.requestor_comment.is_none() {
        accept(ctx, req, action);
    } else {
        report_already_active(ctx, req, action);
    }
}

fn accept<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, mut action: MachineAction) {
    note_scope(ctx.api.as_ref(), &req.op, &mut action);
    log_outcome(ctx, req, Outcome::Confirmed, Some(&action), None);
    ctx.track(&action, Origin::Request(req.clone()));
    ctx.emit(WorkerEvent::Accepted {
        request_id: req.request_id,
        action,
    });
}

/// An Isolate we sent (or adopted) is Full or Selective as we asked; the service's
/// answer says nothing (`scope` null), so remember it for every later read.
pub(super) fn note_scope<A: DefenderApi>(api: &A, op: &WriteOp, action: &mut MachineAction) {
    if let WriteOp::Isolate { isolation_type } = op
        && action.action_type == crate::api::models::ActionType::Isolate
        && action.isolation_scope().is_none()
    {
        api.note_scope(&action.id, *isolation_type);
        action.scope = Some(isolation_type.as_str().to_string());
    }
}

fn already_message(action: &MachineAction) -> String {
    format!(
        "an {} action is already {} for this machine (action {}); nothing new was sent",
        action.action_type.as_str(),
        action.status.as_str(),
        action.id
    )
}

/// Refused before sending because an isolation action is active: audit both lines.
fn already_active<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, action: MachineAction) {
    if ctx.audit.log_unsent_request(req).is_ok() {
        report_already_active(ctx, req, action);
    } else {
        ctx.track(&action, Origin::Foreign);
        ctx.emit(WorkerEvent::AlreadyActive {
            request_id: req.request_id,
            action,
        });
    }
}

/// The outcome "already in progress": audit it, follow the existing action, report it.
fn report_already_active<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, action: MachineAction) {
    let msg = already_message(&action);
    log_outcome(
        ctx,
        req,
        Outcome::Refused,
        Some(&action),
        Some(("ActiveRequestAlreadyExists", &msg)),
    );
    ctx.track(&action, Origin::Foreign);
    ctx.emit(WorkerEvent::AlreadyActive {
        request_id: req.request_id,
        action,
    });
}

async fn cancel<A: DefenderApi>(ctx: &Ctx<A>, req: WriteRequest, action_id: &str) {
    let current = match ctx.api.get_action(action_id).await {
        Ok(a) => a,
        Err(e) => return fail_unsent(ctx, &req, &e),
    };
    // The request names the machine it was meant for; the action must be that one's.
    if current.machine_id.as_deref().unwrap_or_default() != req.machine_id {
        let msg = format!(
            "action {} belongs to another machine ({}), not {}; nothing was sent",
            current.id,
            current.machine_id.as_deref().unwrap_or("unknown"),
            req.machine_name
        );
        return refuse(ctx, &req, "WrongMachine", msg);
    }
    if current.status.is_final() {
        let msg = format!(
            "action {} already finished ({}); nothing was sent",
            current.id,
            current.status.as_str()
        );
        return refuse(ctx, &req, "AlreadyFinished", msg);
    }
    if let Err(e) = ctx.audit.log_request(&req).await {
        return emit_failed(
            ctx,
            &req,
            "AuditLogUnavailable",
            format!("{e}; nothing was sent"),
        );
    }
    match ctx.api.cancel_action(action_id, &req.comment).await {
        Ok(action) => {
            accept(ctx, &req, action.clone());
            ctx.observe(action);
        }
        Err(e) if e.is_ambiguous() => match ctx.api.get_action(action_id).await {
            Ok(a) if a.status == crate::api::models::ActionStatus::Cancelled => {
                accept(ctx, &req, a.clone());
                ctx.observe(a);
            }
            _ => finish_with(
                ctx,
                &req,
                "NotConfirmed",
                format!(
                    "the service did not confirm the cancellation ({}); check the action's status",
                    e.explain()
                ),
            ),
        },
        Err(e) => finish_failed(ctx, &req, &e),
    }
}

fn log_outcome<A: DefenderApi>(
    ctx: &Ctx<A>,
    req: &WriteRequest,
    outcome: Outcome,
    action: Option<&MachineAction>,
    error: Option<(&str, &str)>,
) {
    if let Err(e) = ctx.audit.log_outcome(
        req,
        outcome,
        action.map(|a| a.id.as_str()),
        action.map(|a| a.status.as_str()),
        error,
    ) {
        tracing::error!(error = %e, "cannot append an outcome to the audit log");
        ctx.emit(WorkerEvent::Notice {
            message: e.to_string(),
        });
    }
}

/// Refused before sending anything: request and outcome lines, one Failed event.
fn refuse<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, code: &str, message: String) {
    if ctx.audit.log_unsent_request(req).is_ok() {
        log_outcome(ctx, req, Outcome::Refused, None, Some((code, &message)));
    }
    emit_failed(ctx, req, code, message);
}

/// A read before sending failed: nothing was sent.
fn fail_unsent<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, e: &ApiError) {
    let info = ErrorInfo::from(e);
    if ctx.audit.log_unsent_request(req).is_ok() {
        log_outcome(
            ctx,
            req,
            Outcome::Failed,
            None,
            Some((&info.code, &info.message)),
        );
    }
    ctx.emit(WorkerEvent::Failed {
        request_id: req.request_id,
        error: info,
    });
}

/// Sent (request line already written) and failed.
fn finish_failed<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, e: &ApiError) {
    let info = ErrorInfo::from(e);
    finish_with(ctx, req, &info.code, info.message.clone());
}

fn finish_with<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, code: &str, message: String) {
    log_outcome(ctx, req, Outcome::Failed, None, Some((code, &message)));
    emit_failed(ctx, req, code, message);
}

fn emit_failed<A: DefenderApi>(ctx: &Ctx<A>, req: &WriteRequest, code: &str, message: String) {
    ctx.emit(WorkerEvent::Failed {
        request_id: req.request_id,
        error: ErrorInfo {
            code: code.to_string(),
            message,
        },
    });
}
