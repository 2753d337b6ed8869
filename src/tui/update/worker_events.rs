//! The worker's answers: machine list pages and their completion (the list itself
//! reconciles them, see `MachineList::receive_page` and `complete_refresh`), isolation
//! states, histories (merged with what was learnt since they were read), outcomes and
//! action updates of our requests, batch progress, and commands that could not be
//! sent.

use crate::tui::action::Effect;
use crate::tui::present::group_thousands;
use crate::tui::state::{BulkOutcome, FailedTarget, Modal, RequestInfo, RequestStage, State};
use cordon_core::api::models::{IsolationState, MachineAction};
use cordon_core::domain::newest_first;
use cordon_core::sanitize::clean;
use cordon_core::worker::protocol::{Command, RequestId, WorkerEvent};

use super::loading::sync_history;
use super::navigation::{ensure_visible, refilter};

pub(super) fn on_worker(state: &mut State, ev: WorkerEvent, fx: &mut Vec<Effect>) {
    match ev {
        WorkerEvent::MachinesLoading { generation } => {
            state.machines.loading = true;
            state.machines.generation = Some(generation);
            state.machines.touched.clear();
        }
        WorkerEvent::MachinesPage {
            generation,
            machines,
            first,
        } => {
            if state.machines.is_stale(generation) {
                return; // a page of an older refresh
            }
            state
                .machines
                .receive_page(generation, machines, first, &state.filter.query);
            ensure_visible(state);
            if state.machines.reselect.is_none() {
                sync_history(state, fx);
            }
        }
        WorkerEvent::IsolationStates { generation, states } => {
            if state.machines.generation != Some(generation) {
                return; // states of a list that has been replaced
            }
            // Our requests still in flight are newer than the load's listing.
            let in_flight = state.requests.unfinished_machines();
            state.machines.settle_isolation(states, in_flight);
            if state.filter.query.uses_state() {
                refilter(state, fx);
            }
        }
        WorkerEvent::MachinesLoaded { generation, total } => {
            if state.machines.is_stale(generation) {
                return;
            }
            let dropped = state.machines.complete_refresh(total, &state.filter.query);
            if dropped > 0 {
                state.status.notice = Some(format!(
                    "{dropped} marked machine(s) are no longer listed and were unmarked."
                ));
            }
            // A machine the analyst had selected that is no longer listed stays
            // "not back": writes refuse until they choose again.
            if let Some(id) = &state.machines.reselect {
                state.status.notice = Some(format!(
                    "The machine you had selected ({}) is no longer listed; choose again.",
                    clean(id)
                ));
            }
            ensure_visible(state);
            sync_history(state, fx);
        }
        WorkerEvent::MachinesFailed { generation, error } => {
            if state.machines.is_stale(generation) {
                return; // a refresh that has been replaced
            }
            if error.code == SIGN_IN_REQUIRED {
                start_sign_in(state, fx);
            }
            state.machines.loading = false;
            state.machines.finish_refresh();
            // Rows the refresh updated in place may belong elsewhere under the sort.
            state.machines.restore_order();
            ensure_visible(state);
            // `reselect` stays: until the analyst chooses again, writes refuse.
            state.status.error = Some(format!(
                "Loading machines failed: {} ({})",
                clean(&error.message),
                clean(&error.code)
            ));
        }
        WorkerEvent::History {
            machine_id,
            actions,
        } => {
            let actions = merge_history(state.history.cache.get(&machine_id), actions);
            let mut refs: Vec<&MachineAction> = actions.iter().collect();
            newest_first(&mut refs);
            let sorted: Vec<MachineAction> = refs.into_iter().cloned().collect();
            state
                .machines
                .set_isolation(&machine_id, IsolationState::derive(&sorted));
            state.history.loading.remove(&machine_id);
            state.history.errors.remove(&machine_id);
            state.history.cache.insert(machine_id.clone(), sorted);
            if state.history.machine_id.as_deref() == Some(&machine_id) {
                let len = state.history.entries().len();
                state.history.selected = state.history.selected.min(len.saturating_sub(1));
            }
            sync_history(state, fx);
        }
        WorkerEvent::HistoryFailed { machine_id, error } => {
            if error.code == SIGN_IN_REQUIRED {
                start_sign_in(state, fx);
            }
            state.history.loading.remove(&machine_id);
            // Only actions kept while it loaded can be cached here: not a history.
            state.history.cache.remove(&machine_id);
            let msg = format!("{} ({})", clean(&error.message), clean(&error.code));
            state.status.error = Some(format!("Loading history failed: {msg}"));
            state.history.errors.insert(machine_id, msg);
            sync_history(state, fx);
        }
        WorkerEvent::Accepted { request_id, action } => {
            on_outcome(state, request_id, &action);
        }
        WorkerEvent::AlreadyActive { request_id, action } => {
            let name = state
                .requests
                .get(&request_id)
                .map(|r| r.machine_name.clone())
                .unwrap_or_default();
            state.status.notice = Some(format!(
                "{name}: an isolation action ({} {}) is already active; nothing new was sent, tracking it.",
                clean(action.action_type.as_str()),
                clean(action.status.as_str())
            ));
            on_outcome(state, request_id, &action);
        }
        WorkerEvent::Failed { request_id, error } => {
            if error.code == SIGN_IN_REQUIRED {
                start_sign_in(state, fx);
            }
            let (verb, name) = state
                .requests
                .get(&request_id)
                .map(|r| (r.verb, r.machine_name.clone()))
                .unwrap_or(("Request", String::new()));
            let msg = format!("{} ({})", clean(&error.message), clean(&error.code));
            state.status.error = Some(format!("{verb} {name} failed: {msg}"));
            change(state, request_id, |r| r.stage = RequestStage::Failed(msg));
            settle_batches(state);
        }
        WorkerEvent::ActionUpdated { action } => {
            let now = state.now;
            let following = state.requests.following(&action.id);
            let ours = !following.is_empty();
            for id in following {
                change(state, id, |r| {
                    if let RequestStage::Tracking { final_, .. } = &mut r.stage {
                        // A read older than what we know (it was made before the
                        // action ended) does not reopen a finished request.
                        if *final_ && !action.status.is_final() {
                            return;
                        }
                        *final_ = action.status.is_final();
                        if *final_ && r.finished_at.is_none() {
                            r.finished_at = Some(now);
                        }
                        if *final_
                            && action.status != cordon_core::api::models::ActionStatus::Succeeded
                        {
                            r.ended_badly = Some(ended_why(&action));
                        }
                    }
                });
            }
            // An action of ours that ends badly must not pass as "done".
            if ours
                && action.status.is_final()
                && action.status != cordon_core::api::models::ActionStatus::Succeeded
                && action.is_isolation()
            {
                let name = action
                    .computer_dns_name
                    .as_deref()
                    .or(action.machine_id.as_deref())
                    .unwrap_or("a machine");
                let what = clean(action.action_type.as_str()).into_owned();
                if action.status == cordon_core::api::models::ActionStatus::Cancelled {
                    // Usually the analyst's own cancel: news, not an error.
                    state.status.notice = Some(format!("{what} of {} was cancelled.", clean(name)));
                } else {
                    state.status.error = Some(format!(
                        "{what} of {} ended {}: it did not take effect; the machine's history (Tab) has the details.",
                        clean(name),
                        clean(action.status.as_str())
                    ));
                }
            }
            let machine = action.machine_id.clone();
            apply_action(state, machine, &action);
            settle_batches(state);
        }
        WorkerEvent::Budget {
            minute_left,
            hour_left,
        } => state.status.budget = Some((minute_left, hour_left)),
        WorkerEvent::Recovered { report } => {
            if let Some(sentence) = report.sentence() {
                state.status.notice = Some(sentence);
            }
        }
        WorkerEvent::SignInPrompt { prompt } => {
            if matches!(state.modal, None | Some(Modal::SignIn { .. })) {
                let since = state.now;
                state.modal = Some(Modal::SignIn {
                    prompt: Some(prompt),
                    since,
                });
            }
        }
        WorkerEvent::SignedIn { user } => {
            state.signing_in = false;
            if matches!(state.modal, Some(Modal::SignIn { .. })) {
                state.modal = None;
            }
            state.status.error = None;
            state.status.notice = Some(match user {
                Some(u) => format!("Signed in as {}.", clean(&u)),
                None => "Signed in.".into(),
            });
            // What failed for want of a sign-in is loaded again; actions in flight were
            // followed all along.
            super::loading::refresh(state, fx);
        }
        WorkerEvent::SignInFailed { error } => {
            state.signing_in = false;
            if matches!(state.modal, Some(Modal::SignIn { .. })) {
                state.modal = None;
            }
            state.status.error = Some(format!(
                "Sign-in did not complete: {}; press r to try again.",
                clean(&error.message)
            ));
        }
        WorkerEvent::Notice { message } => {
            state.status.notice = Some(clean(&message).into_owned());
        }
    }
}

/// `ErrorInfo::code` of a delegated profile with no valid sign-in.
const SIGN_IN_REQUIRED: &str = "SignInRequired";

/// A device-code profile lost (or never had) its sign-in: the worker runs the flow and
/// the console shows the URL and code; whatever the analyst was typing is kept.
fn start_sign_in(state: &mut State, fx: &mut Vec<Effect>) {
    if state.signing_in || state.worker_gone {
        return;
    }
    state.signing_in = true;
    fx.push(Effect::Send(Command::SignIn));
    if state.modal.is_none() {
        state.modal = Some(Modal::SignIn {
            prompt: None,
            since: state.now,
        });
    }
}

/// The worker's event channel closed: nothing more will load or answer.
pub(super) fn on_worker_gone(state: &mut State) {
    state.worker_gone = true;
    state.machines.loading = false;
    state.history.loading.clear();
    state.status.error = Some(
        "The worker stopped: nothing more can be sent or loaded; quit and start cordon again."
            .into(),
    );
}

/// A history answer reflects the moment it was read; what we learnt since (an action
/// we just created, or one that has ended meanwhile) must not be lost to it.
fn merge_history(
    cached: Option<&Vec<MachineAction>>,
    mut fresh: Vec<MachineAction>,
) -> Vec<MachineAction> {
    let Some(cached) = cached else {
        return fresh;
    };
    for known in cached {
        match fresh.iter_mut().find(|a| a.id == known.id) {
            // Ended here, still active there: the answer is older.
            Some(a) if known.status.is_final() && !a.status.is_final() => *a = known.clone(),
            Some(_) => {}
            // Missing from the answer while active: created after the read.
            None if known.status.is_active() => fresh.push(known.clone()),
            None => {}
        }
    }
    fresh
}

fn on_outcome(state: &mut State, request_id: RequestId, action: &MachineAction) {
    let now = state.now;
    let fallback = state
        .requests
        .get(&request_id)
        .map(|r| r.machine_id.clone());
    change(state, request_id, |r| {
        r.stage = RequestStage::Tracking {
            action_id: action.id.clone(),
            final_: action.status.is_final(),
        };
        r.accepted_at = Some(now);
        if action.status.is_final() {
            r.finished_at = Some(now);
        }
    });
    apply_action(state, action.machine_id.clone().or(fallback), action);
    settle_batches(state);
}

/// Change one request; one that becomes done closes its slot in its batch.
fn change(state: &mut State, id: RequestId, f: impl FnOnce(&mut RequestInfo)) {
    if state.requests.update(id, f)
        && let Some(b) = state.batches.iter_mut().find(|b| b.contains(id))
    {
        b.open = b.open.saturating_sub(1);
    }
}

/// Fold one action into the machine's cached history and derived isolation state.
fn apply_action(state: &mut State, machine_id: Option<String>, action: &MachineAction) {
    let Some(machine_id) = machine_id else { return };
    if let Some(entries) = state.history.cache.get_mut(&machine_id) {
        match entries.iter_mut().find(|a| a.id == action.id) {
            Some(existing) => *existing = action.clone(),
            None => {
                entries.insert(0, action.clone());
                let mut refs: Vec<&MachineAction> = entries.iter().collect();
                newest_first(&mut refs);
                *entries = refs.into_iter().cloned().collect();
            }
        }
        let derived = IsolationState::derive(entries.iter());
        state.machines.set_isolation(&machine_id, derived);
        state.machines.touched.insert(machine_id);
    } else if action.is_isolation()
        && !matches!(
            action.status,
            cordon_core::api::models::ActionStatus::Cancelled
        )
    {
        // The newest isolation action decides the state; this one is the newest we know.
        let derived = IsolationState::derive(std::iter::once(action));
        state.machines.set_isolation(&machine_id, derived);
        if state.history.loading.contains(&machine_id) {
            // Its history is on the way, possibly read before this action existed:
            // keep the action so the answer is merged with it, not replace it.
            state
                .history
                .cache
                .insert(machine_id.clone(), vec![action.clone()]);
        }
        state.machines.touched.insert(machine_id);
    }
}

/// How an action of ours ended other than Succeeded, in the words the failures list
/// shows: `ended TimeOut`, `ended Failed (error 0x80070005)`.
fn ended_why(action: &MachineAction) -> String {
    let mut why = format!("ended {}", clean(action.status.as_str()));
    if let Some(code) = action.error_h_result.filter(|&c| c != 0) {
        // HRESULTs are read in hex; the service sends them as signed 32-bit numbers.
        why.push_str(&format!(" (error {:#010x})", code as u32));
    }
    why
}

/// Finish batches whose requests are all accounted for, with a summary line; their
/// requests leave the ledger (the summary and failures stay in `last_bulk`).
fn settle_batches(state: &mut State) {
    if state.batches.iter().all(|b| b.open > 0) {
        return;
    }
    let requests = &state.requests;
    let mut finished = Vec::new();
    let mut prune = Vec::new();
    state.batches.retain(|b| {
        let done = b.open == 0;
        if done {
            prune.extend(b.request_ids.iter().copied());
            let failed: Vec<FailedTarget> = b
                .request_ids
                .iter()
                .filter_map(|id| requests.get(id))
                .filter_map(|r| {
                    let why = match (&r.stage, &r.ended_badly) {
                        (RequestStage::Failed(msg), _) => msg.clone(),
                        (_, Some(why)) => why.clone(),
                        _ => return None,
                    };
                    Some(FailedTarget {
                        machine_id: r.machine_id.clone(),
                        name: r.machine_name.clone(),
                        why,
                    })
                })
                .collect();
            finished.push((b.verb, b.request_ids.len(), failed));
        }
        !done
    });
    for id in prune {
        state.requests.remove(id);
    }
    for (verb, total, failed) in finished {
        let mut line = format!(
            "{verb} {}/{} done",
            group_thousands(total),
            group_thousands(total)
        );
        if !failed.is_empty() {
            line.push_str(&format!(" · {} failed", group_thousands(failed.len())));
        }
        // A bulk's result is kept on the list's border: a notice is overwritten by the
        // next one.
        if total > 1 {
            state.last_bulk = Some(BulkOutcome {
                verb,
                total,
                line: line.clone(),
                failed,
            });
        }
        state.status.notice = Some(line);
    }
}

/// A command never reached the worker (its queue was full or it is gone).
pub(super) fn on_send_failed(state: &mut State, command: Command, reason: &str) {
    match command {
        Command::Submit(requests) => {
            for r in &requests {
                change(state, r.request_id, |info| {
                    info.stage = RequestStage::Failed(format!("not sent: {reason}"));
                });
            }
            state.status.error = Some(format!(
                "NOT SENT ({} request(s)): {reason}; try again in a moment.",
                requests.len()
            ));
            settle_batches(state);
        }
        Command::LoadHistory { machine_id } => {
            state.history.loading.remove(&machine_id);
            state.status.error = Some(format!(
                "Could not load history: {reason}; press r to retry."
            ));
        }
        Command::LoadMachines { .. } | Command::Track { .. } => {
            state.status.error = Some(format!("Could not refresh: {reason}; press r to retry."));
        }
        Command::Recover => {
            state.status.error = Some(format!(
                "Could not check earlier runs' requests: {reason}; they are checked at the next start."
            ));
        }
        Command::SignIn | Command::CancelSignIn => {
            state.signing_in = false;
            state.status.error = Some(format!(
                "Could not start the sign-in: {reason}; press r to try again."
            ));
        }
    }
}
