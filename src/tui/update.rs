//! The only place state changes: `update(&mut State, Action) -> Vec<Effect>`. No I/O,
//! no clock (the runner sets `state.now`), so every flow is a unit test away.

use tui_input::{Input, InputRequest};

use super::action::{Action, Effect, UserAction};
use super::present::{confirm_text, group_thousands};
use super::state::{
    Batch, CommentForm, ConfirmForm, MachineRow, Modal, Pane, PendingOp, RequestInfo, RequestStage,
    State, Target,
};
use cordon_core::api::models::{IsolationState, IsolationType, MachineAction};
use cordon_core::domain::{Comment, newest_first};
use cordon_core::sanitize::clean;
use cordon_core::worker::protocol::{Command, RequestId, WorkerEvent, WriteRequest};

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::ForceQuit => fx.push(Effect::Quit),
        Action::Worker(ev) => on_worker(state, ev, &mut fx),
        Action::Tick => state.spinner = state.spinner.wrapping_add(1),
        Action::PeriodicRefresh => {
            if !state.machines.loading
                && !state.worker_gone
                && refresh_due(&mut state.machines, state.refresh_every)
            {
                fx.push(Effect::Send(Command::LoadMachines { filter: None }));
            }
            // Other machines' histories are stale now: load them again when selected.
            let shown = state.machines.selected_id().map(str::to_string);
            state
                .history
                .cache
                .retain(|id, _| Some(id.as_str()) == shown.as_deref());
            state.history.errors.clear();
            reload_shown_history(state, &mut fx);
        }
        Action::Resize { width, height } => {
            state.size = (width, height);
            state.list_height = super::layout::machine_table_rows(width, height).max(1);
            ensure_visible(state);
        }
        Action::SendFailed { command, reason } => on_send_failed(state, command, &reason),
        Action::WorkerGone => {
            state.worker_gone = true;
            state.machines.loading = false;
            state.history.loading.clear();
            state.status.error = Some(
                "The worker stopped: nothing more can be sent or loaded; quit and start cordon again."
                    .into(),
            );
        }
        other => {
            if state.modal.is_some() {
                on_modal(state, other, &mut fx);
            } else if state.filter.editing {
                on_filter(state, other, &mut fx);
            } else if let Action::User(user) = other {
                on_user(state, user, &mut fx);
            }
        }
    }
    fx
}

// ---------------------------------------------------------------- user commands

fn on_user(state: &mut State, user: UserAction, fx: &mut Vec<Effect>) {
    match user {
        UserAction::MoveDown => move_by(state, 1, fx),
        UserAction::MoveUp => move_by(state, -1, fx),
        UserAction::PageDown => move_by(state, page(state), fx),
        UserAction::PageUp => move_by(state, -page(state), fx),
        UserAction::First => move_by(state, i64::MIN / 2, fx),
        UserAction::Last => move_by(state, i64::MAX / 2, fx),
        UserAction::SwitchPane => {
            state.focus = match state.focus {
                Pane::Machines => Pane::History,
                Pane::History => Pane::Machines,
            }
        }
        UserAction::Filter => {
            state.focus = Pane::Machines;
            state.filter.editing = true;
        }
        UserAction::ToggleMark => {
            if let Some(id) = state.machines.selected_id().map(str::to_string) {
                if !state.machines.marked.remove(&id) {
                    state.machines.marked.insert(id);
                }
                if state.focus == Pane::Machines {
                    move_by(state, 1, fx);
                }
            }
        }
        UserAction::MarkVisible => mark_visible(state),
        UserAction::ClearMarks => clear_marks(state, fx),
        UserAction::Isolate => open_comment(state, PendingOp::Isolate(IsolationType::Full)),
        UserAction::Release => open_comment(state, PendingOp::Release),
        UserAction::CancelAction => open_cancel(state),
        UserAction::Refresh => {
            if !state.worker_gone {
                fx.push(Effect::Send(Command::LoadMachines { filter: None }));
            }
            reload_shown_history(state, fx);
            state.status.error = None;
        }
        UserAction::Help => state.modal = Some(Modal::Help { scroll: 0 }),
        UserAction::Quit => {
            if state.in_flight() > 0 {
                state.modal = Some(Modal::QuitConfirm);
            } else {
                fx.push(Effect::Quit);
            }
        }
    }
}

fn page(state: &State) -> i64 {
    let rows = match state.focus {
        Pane::Machines => state.list_height,
        Pane::History => super::layout::history_table_rows(state.size.0, state.size.1),
    };
    i64::try_from(rows.max(1)).unwrap_or(1)
}

fn move_by(state: &mut State, delta: i64, fx: &mut Vec<Effect>) {
    match state.focus {
        Pane::Machines => {
            let len = state.machines.visible.len();
            state.machines.selected = clamp_move(state.machines.selected, delta, len);
            state.machines.reselect = None;
            ensure_visible(state);
            sync_history(state, fx);
        }
        Pane::History => {
            let len = state.history.entries().len();
            state.history.selected = clamp_move(state.history.selected, delta, len);
        }
    }
}

fn clamp_move(current: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let cur = i64::try_from(current).unwrap_or(i64::MAX);
    let last = i64::try_from(len - 1).unwrap_or(i64::MAX);
    usize::try_from(cur.saturating_add(delta).clamp(0, last)).unwrap_or(0)
}

/// Keep the selected machine inside the drawn window.
fn ensure_visible(state: &mut State) {
    let m = &mut state.machines;
    let h = state.list_height.max(1);
    let len = m.visible.len();
    if m.selected >= len {
        m.selected = len.saturating_sub(1);
    }
    if m.selected < m.scroll {
        m.scroll = m.selected;
    } else if m.selected >= m.scroll + h {
        m.scroll = m.selected + 1 - h;
    }
    m.scroll = m.scroll.min(len.saturating_sub(h));
}

fn readonly_refusal(state: &mut State) -> bool {
    if state.info.readonly {
        state.status.error = Some(format!(
            "profile {} is read-only: isolate/release/cancel are disabled",
            clean(&state.info.profile)
        ));
        true
    } else {
        false
    }
}

/// A large tenant is re-listed less often than every tick: at most once per 24 s of
/// each 10,000-machine page, so periodic refreshes stay under ~10% of the machine
/// list's quota (100,000 machines: every 4 minutes instead of every minute). `r`
/// always reloads.
fn refresh_due(m: &mut super::state::MachineList, every: std::time::Duration) -> bool {
    let pages = m.rows.len().div_ceil(cordon_core::api::MAX_PAGE as usize);
    let needed =
        std::time::Duration::from_secs(24).saturating_mul(u32::try_from(pages).unwrap_or(u32::MAX));
    let waited = every.saturating_mul(m.refresh_skips.saturating_add(1));
    if waited >= needed {
        m.refresh_skips = 0;
        true
    } else {
        m.refresh_skips += 1;
        false
    }
}

/// Mark every machine the filter shows; when all are marked already, unmark them.
fn mark_visible(state: &mut State) {
    let m = &mut state.machines;
    let all_marked = m
        .visible
        .iter()
        .all(|&i| m.marked.contains(m.rows[i].machine.id()));
    for &i in &m.visible {
        let id = m.rows[i].machine.id();
        if all_marked {
            m.marked.remove(id);
        } else if !m.marked.contains(id) {
            m.marked.insert(id.to_string());
        }
    }
    let shown = group_thousands(m.visible.len());
    state.status.error = None;
    state.status.notice = Some(if all_marked {
        format!(
            "Unmarked the {shown} machines shown; {} marked.",
            group_thousands(m.marked.len())
        )
    } else {
        format!(
            "Marked the {shown} machines shown; {} marked in all.",
            group_thousands(m.marked.len())
        )
    });
}

/// Esc in the list: clear every mark, listed, shown or hidden by the filter. With no
/// marks, clear an applied filter, so Esc always leads back to the whole list.
fn clear_marks(state: &mut State, fx: &mut Vec<Effect>) {
    let n = state.machines.marked.len();
    if n > 0 {
        state.machines.marked.clear();
        state.status.error = None;
        state.status.notice = Some(format!(
            "Unmarked all {} machine{}.",
            group_thousands(n),
            if n == 1 { "" } else { "s" }
        ));
    } else if !state.filter.applied.is_empty() {
        state.filter.input.reset();
        apply_filter(state, fx);
        state.status.notice = Some("Filter cleared.".into());
    }
}

fn target_of(row: &MachineRow) -> Target {
    Target {
        id: row.machine.id().to_string(),
        name: clean(row.machine.display_name()).into_owned(),
        hidden_by_filter: false,
    }
}

fn open_comment(state: &mut State, op: PendingOp) {
    if readonly_refusal(state) || refreshing_refusal(state, true) {
        return;
    }
    let m = &state.machines;
    let mut not_included = None;
    let targets: Vec<Target> = if m.marked.is_empty() {
        m.selected_row().map(target_of).into_iter().collect()
    } else {
        // List order, so the modal reads like the screen. Marks the filter hides are
        // targets too; they are flagged so the modals name them.
        let hidden = m.marked_hidden();
        let mut t: Vec<Target> = m
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| m.marked.contains(r.machine.id()))
            .map(|(i, r)| Target {
                hidden_by_filter: hidden.binary_search(&i).is_ok(),
                ..target_of(r)
            })
            .collect();
        t.dedup_by(|a, b| a.id == b.id);
        not_included = m
            .selected_row()
            .filter(|r| !m.marked.contains(r.machine.id()))
            .map(|r| target_of(r).name);
        t
    };
    if targets.is_empty() {
        state.status.error =
            Some("No machine selected: load machines or clear the filter first.".into());
        return;
    }
    state.status.error = None;
    state.modal = Some(Modal::Comment(CommentForm {
        op,
        targets,
        not_included,
        input: Input::default(),
        error: None,
    }));
}

/// After a refresh replaced the list, the highlighted row may not be the machine the
/// analyst chose (it is reselected when it arrives; it may never arrive), and marked
/// machines may be missing: a write now could hit the wrong machine or silently skip
/// marked ones. `uses_marks`: the write targets the marks when there are any.
fn refreshing_refusal(state: &mut State, uses_marks: bool) -> bool {
    let m = &state.machines;
    let what = if uses_marks && !m.marked.is_empty() {
        let missing = m
            .marked
            .iter()
            .filter(|id| m.index_of(id).is_none())
            .count();
        (missing > 0).then(|| {
            format!(
                "{} of the {} marked machines {}",
                group_thousands(missing),
                group_thousands(m.marked.len()),
                if missing == 1 { "is" } else { "are" }
            )
        })
    } else {
        m.reselect
            .is_some()
            .then(|| "the machine you had selected is".to_string())
    };
    let Some(what) = what else {
        return false;
    };
    state.status.error = Some(if m.loading {
        format!(
            "The list is refreshing: {what} not back yet. Nothing was started; try again in a moment."
        )
    } else {
        format!(
            "{} not in the list now. Nothing was started; press r to reload, or choose again (arrows; Esc clears marks).",
            capitalise(&what)
        )
    });
    true
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn open_cancel(state: &mut State) {
    // Cancel acts on the highlighted machine whatever is marked.
    if readonly_refusal(state) || refreshing_refusal(state, false) {
        return;
    }
    let Some(row) = state.machines.selected_row() else {
        state.status.error = Some("No machine selected: load machines first.".into());
        return;
    };
    let target = target_of(row);
    // The history pane's entry only if the pane shows this very machine.
    let from_selection = (state.focus == Pane::History
        && state.history.machine_id.as_deref() == Some(target.id.as_str()))
    .then(|| state.history.selected_entry())
    .flatten()
    .filter(|a| a.status.is_active());
    let entries = state
        .history
        .cache
        .get(&target.id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let action = from_selection.or_else(|| entries.iter().find(|a| a.status.is_active()));
    let Some(action) = action else {
        state.status.error = Some(format!("no pending action to cancel on {}", target.name));
        return;
    };
    let op = PendingOp::Cancel {
        action_id: action.id.clone(),
        action_type: clean(action.action_type.as_str()).into_owned(),
    };
    state.status.error = None;
    state.modal = Some(Modal::Comment(CommentForm {
        op,
        targets: vec![target],
        not_included: None,
        input: Input::default(),
        error: None,
    }));
}

fn reload_shown_history(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(id) = state.machines.selected_id().map(str::to_string)
        && !state.history.loading.contains(&id)
        && !state.worker_gone
    {
        state.history.errors.remove(&id);
        state.history.loading.insert(id.clone());
        fx.push(Effect::Send(Command::LoadHistory { machine_id: id }));
    }
}

/// Show the selected machine's history; load it if it is not cached. At most one load
/// is in flight: when it answers, the then-selected machine is loaded (newest wins).
fn sync_history(state: &mut State, fx: &mut Vec<Effect>) {
    let selected = state.machines.selected_id().map(str::to_string);
    if selected != state.history.machine_id {
        state.history.machine_id.clone_from(&selected);
        state.history.selected = 0;
    }
    let Some(id) = selected else { return };
    // A failed load is not retried on its own (that would loop); `r` retries.
    if state.worker_gone
        || state.history.cache.contains_key(&id)
        || state.history.errors.contains_key(&id)
        || !state.history.loading.is_empty()
    {
        return;
    }
    state.history.loading.insert(id.clone());
    fx.push(Effect::Send(Command::LoadHistory { machine_id: id }));
}

// ---------------------------------------------------------------- filter

fn on_filter(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Text(req) => {
            state.filter.input.handle(req);
            apply_filter(state, fx);
        }
        Action::Paste(text) => {
            insert_text(&mut state.filter.input, &text);
            apply_filter(state, fx);
        }
        Action::Submit => state.filter.editing = false,
        Action::Back => {
            state.filter.editing = false;
            state.filter.input.reset();
            apply_filter(state, fx);
        }
        Action::Move(delta) => move_by(state, delta, fx),
        Action::User(UserAction::Quit) => {}
        _ => {}
    }
}

fn insert_text(input: &mut Input, text: &str) {
    for c in clean(text).chars() {
        input.handle(InputRequest::InsertChar(c));
    }
}

/// Recompute the visible rows for the filter text; keep the same machine selected.
pub fn apply_filter(state: &mut State, fx: &mut Vec<Effect>) {
    let needle = state.filter.input.value().trim().to_lowercase();
    let keep = state.machines.selected_id().map(str::to_string);
    let m = &mut state.machines;
    if !state.filter.applied.is_empty() && needle.starts_with(&state.filter.applied) {
        // Narrowing: only the rows still visible can match.
        m.narrow_visible(&needle);
    } else {
        m.visible = m.matching(0, &needle);
    }
    state.filter.applied = needle;
    m.selected = keep.and_then(|id| m.position_of(&id)).unwrap_or(0);
    ensure_visible(state);
    sync_history(state, fx);
}

// ---------------------------------------------------------------- modals

fn on_modal(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(modal) = state.modal.take() else {
        return;
    };
    state.modal = match modal {
        Modal::Help { scroll } => match action {
            Action::Back | Action::User(UserAction::Help | UserAction::Quit) => None,
            // Scrolls when the terminal is too short for every row (the view clamps).
            Action::Move(delta) => Some(Modal::Help {
                scroll: clamp_move(scroll, delta, super::layout::help_max_scroll(state) + 1),
            }),
            _ => Some(Modal::Help { scroll }),
        },
        Modal::QuitConfirm => match action {
            Action::Answer(true) => {
                fx.push(Effect::Quit);
                None
            }
            Action::Answer(false) | Action::Back | Action::Submit => None,
            _ => Some(Modal::QuitConfirm),
        },
        Modal::Comment(form) => on_comment(state, form, action),
        Modal::Confirm(form) => match action {
            Action::Answer(true) => {
                submit(state, form, fx);
                None
            }
            Action::Answer(false) | Action::Back | Action::Submit => {
                state.status.notice = Some("Nothing sent.".into());
                None
            }
            _ => Some(Modal::Confirm(form)),
        },
    };
}

fn on_comment(state: &mut State, mut form: CommentForm, action: Action) -> Option<Modal> {
    match action {
        Action::Text(req) => {
            form.input.handle(req);
            form.error = None;
        }
        Action::Paste(text) => {
            insert_text(&mut form.input, &text);
            form.error = None;
        }
        Action::NextField => {
            if let PendingOp::Isolate(t) = form.op {
                form.op = PendingOp::Isolate(t.next());
            }
        }
        Action::Back => {
            state.status.notice = Some("Nothing sent.".into());
            return None;
        }
        Action::Submit => {
            // The one comment rule: the error is shown inside the modal.
            match Comment::parse(form.input.value()) {
                Err(e) => form.error = Some(e.to_string()),
                Ok(comment) => {
                    return Some(Modal::Confirm(ConfirmForm {
                        comment,
                        op: form.op,
                        targets: form.targets,
                        not_included: form.not_included,
                    }));
                }
            }
        }
        _ => {}
    }
    Some(Modal::Comment(form))
}

fn submit(state: &mut State, form: ConfirmForm, fx: &mut Vec<Effect>) {
    let op = form.op.to_write_op();
    let verb = op.verb();
    let mut requests = Vec::with_capacity(form.targets.len());
    for target in &form.targets {
        let request_id = state.next_request_id;
        state.next_request_id += 1;
        state.requests.insert(
            request_id,
            RequestInfo {
                machine_id: target.id.clone(),
                machine_name: target.name.clone(),
                verb,
                stage: RequestStage::Sent,
                accepted_at: None,
                finished_at: None,
            },
        );
        requests.push(WriteRequest {
            request_id,
            machine_id: target.id.clone(),
            machine_name: target.name.clone(),
            op: op.clone(),
            comment: form.comment.clone(),
        });
    }
    state.batches.push(Batch {
        verb,
        request_ids: requests.iter().map(|r| r.request_id).collect(),
        started: state.now,
    });
    state.status.notice = Some(format!("Sent: {}", confirm_text(&form)));
    state.status.error = None;
    state.machines.marked.clear();
    fx.push(Effect::Send(Command::Submit(requests)));
}

// ---------------------------------------------------------------- worker events

fn on_worker(state: &mut State, ev: WorkerEvent, fx: &mut Vec<Effect>) {
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
                .receive_page(generation, machines, first, &state.filter.applied);
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
            let in_flight = state
                .requests
                .values()
                .filter(|r| !r.is_done())
                .map(|r| r.machine_id.as_str());
            state.machines.settle_isolation(states, in_flight);
        }
        WorkerEvent::MachinesLoaded { generation, total } => {
            if state.machines.is_stale(generation) {
                return;
            }
            let dropped = state
                .machines
                .complete_refresh(total, &state.filter.applied);
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
            state.machines.loading = false;
            state.machines.finish_refresh();
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
            let (verb, name) = state
                .requests
                .get(&request_id)
                .map(|r| (r.verb, r.machine_name.clone()))
                .unwrap_or(("Request", String::new()));
            let msg = format!("{} ({})", clean(&error.message), clean(&error.code));
            state.status.error = Some(format!("{verb} {name} failed: {msg}"));
            if let Some(r) = state.requests.get_mut(&request_id) {
                r.stage = RequestStage::Failed(msg);
            }
            settle_batches(state);
        }
        WorkerEvent::ActionUpdated { action } => {
            let mut ours = false;
            let now = state.now;
            for r in state.requests.values_mut() {
                if let RequestStage::Tracking { action_id, final_ } = &mut r.stage
                    && *action_id == action.id
                {
                    *final_ = action.status.is_final();
                    if *final_ && r.finished_at.is_none() {
                        r.finished_at = Some(now);
                    }
                    ours = true;
                }
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
                state.status.error = Some(format!(
                    "{} of {} ended {}: check its history",
                    action.action_type.as_str(),
                    clean(name),
                    action.status.as_str()
                ));
            }
            let machine = action.machine_id.clone();
            apply_action(state, machine, &action);
            settle_batches(state);
        }
        WorkerEvent::Budget {
            minute_left,
            hour_left,
        } => state.status.budget = Some((minute_left, hour_left)),
        WorkerEvent::Notice { message } => {
            state.status.notice = Some(clean(&message).into_owned());
        }
    }
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
    let fallback = state.requests.get_mut(&request_id).map(|r| {
        r.stage = RequestStage::Tracking {
            action_id: action.id.clone(),
            final_: action.status.is_final(),
        };
        r.accepted_at = Some(now);
        if action.status.is_final() {
            r.finished_at = Some(now);
        }
        r.machine_id.clone()
    });
    apply_action(state, action.machine_id.clone().or(fallback), action);
    settle_batches(state);
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

/// Finish batches whose requests are all accounted for, with a summary line.
fn settle_batches(state: &mut State) {
    let requests = &state.requests;
    let mut finished = Vec::new();
    state.batches.retain(|b| {
        let done = b
            .request_ids
            .iter()
            .all(|id| requests.get(id).is_none_or(RequestInfo::is_done));
        if done {
            let failed = b
                .request_ids
                .iter()
                .filter(|id| {
                    requests
                        .get(id)
                        .is_some_and(|r| matches!(r.stage, RequestStage::Failed(_)))
                })
                .count();
            finished.push((b.verb, b.request_ids.len(), failed));
        }
        !done
    });
    for (verb, total, failed) in finished {
        let mut line = format!(
            "{verb} {}/{} done",
            group_thousands(total),
            group_thousands(total)
        );
        if failed > 0 {
            line.push_str(&format!(", {failed} failed"));
        }
        state.status.notice = Some(line);
    }
}

fn on_send_failed(state: &mut State, command: Command, reason: &str) {
    match command {
        Command::Submit(requests) => {
            for r in &requests {
                if let Some(info) = state.requests.get_mut(&r.request_id) {
                    info.stage = RequestStage::Failed(format!("not sent: {reason}"));
                }
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
    }
}
