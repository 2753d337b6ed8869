//! What the console asks the worker to load, and when: the machine list (periodic
//! refresh, spaced out for large tenants, and `r`) and the shown machine's history
//! (one load at a time, following the selection).

use crate::tui::action::Effect;
use crate::tui::state::{MachineList, State};
use cordon_core::worker::protocol::Command;

pub(super) fn periodic_refresh(state: &mut State, fx: &mut Vec<Effect>) {
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
    reload_shown_history(state, fx);
}

/// `r`: reload the list and the shown history now.
pub(super) fn refresh(state: &mut State, fx: &mut Vec<Effect>) {
    if !state.worker_gone {
        fx.push(Effect::Send(Command::LoadMachines { filter: None }));
    }
    reload_shown_history(state, fx);
    state.status.error = None;
}

/// A large tenant is re-listed less often than every tick: at most once per 24 s of
/// each 10,000-machine page, so periodic refreshes stay under ~10% of the machine
/// list's quota (100,000 machines: every 4 minutes instead of every minute). `r`
/// always reloads.
fn refresh_due(m: &mut MachineList, every: std::time::Duration) -> bool {
    let pages = m.rows().len().div_ceil(cordon_core::api::MAX_PAGE as usize);
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

/// How long the selection must rest before a history it moved through in a burst is
/// loaded. A single move (the previous one longer ago than this) loads at once.
pub const HISTORY_REST: chrono::TimeDelta = chrono::TimeDelta::milliseconds(200);

/// Show the selected machine's history; load it if it is not cached. A burst of moves
/// loads only where the selection comes to rest, and at most one load is in flight:
/// when it answers, the then-selected machine is loaded (newest wins). Ticks call this
/// again while a load waits for the selection to rest.
pub(super) fn sync_history(state: &mut State, fx: &mut Vec<Effect>) {
    let selected = state.machines.selected_id().map(str::to_string);
    let h = &mut state.history;
    if selected != h.machine_id {
        h.machine_id.clone_from(&selected);
        h.selected = 0;
        let burst = h.moved_at.is_some_and(|t| state.now - t < HISTORY_REST);
        h.moved_at = Some(state.now);
        h.waiting = burst;
    }
    if h.waiting {
        if h.moved_at.is_some_and(|t| state.now - t < HISTORY_REST) {
            return;
        }
        h.waiting = false;
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
