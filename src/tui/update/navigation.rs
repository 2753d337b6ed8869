//! Moving around the panes: moves and paging, focus, marks (toggle, mark what the
//! filter shows, clear), the filter box, and keeping the selection inside the drawn
//! window.

use super::insert_text;
use super::loading::sync_history;
use crate::tui::action::{Action, Effect, UserAction};
use crate::tui::present::group_thousands;
use crate::tui::query::Query;
use crate::tui::state::{Modal, Pane, State};

pub(super) fn page(state: &State) -> i64 {
    let rows = match state.focus {
        Pane::Machines => state.list_height,
        Pane::History => crate::tui::layout::history_table_rows(state.size.0, state.size.1),
    };
    i64::try_from(rows.max(1)).unwrap_or(1)
}

pub(super) fn move_by(state: &mut State, delta: i64, fx: &mut Vec<Effect>) {
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

pub(super) fn clamp_move(current: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let cur = i64::try_from(current).unwrap_or(i64::MAX);
    let last = i64::try_from(len - 1).unwrap_or(i64::MAX);
    usize::try_from(cur.saturating_add(delta).clamp(0, last)).unwrap_or(0)
}

/// Keep the selected machine inside the drawn window.
pub(super) fn ensure_visible(state: &mut State) {
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

pub(super) fn switch_pane(state: &mut State) {
    state.focus = match state.focus {
        Pane::Machines => Pane::History,
        Pane::History => Pane::Machines,
    }
}

pub(super) fn start_filter(state: &mut State) {
    state.focus = Pane::Machines;
    state.filter.editing = true;
}

pub(super) fn toggle_mark(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(id) = state.machines.selected_id().map(str::to_string) {
        if !state.machines.marked.remove(&id) {
            state.machines.marked.insert(id);
        }
        if state.focus == Pane::Machines {
            move_by(state, 1, fx);
        }
    }
}

/// Mark every machine the filter shows; when all are marked already, unmark them.
pub(super) fn mark_visible(state: &mut State) {
    let m = &mut state.machines;
    let all_marked = m
        .visible
        .iter()
        .all(|&i| m.marked.contains(m.rows()[i].machine.id()));
    m.mark_visible(!all_marked);
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
pub(super) fn clear_marks(state: &mut State, fx: &mut Vec<Effect>) {
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

/// `s`: sort by the next column (then the service's order again); `S`: reverse.
pub(super) fn cycle_sort(state: &mut State, reverse: bool, fx: &mut Vec<Effect>) {
    use crate::tui::state::SortKey;
    let m = &mut state.machines;
    m.sort = if reverse {
        m.sort.map(|(k, desc)| (k, !desc))
    } else {
        let next = match m.sort {
            None => Some(SortKey::CYCLE[0]),
            Some((k, _)) => SortKey::CYCLE
                .iter()
                .position(|&c| c == k)
                .and_then(|i| SortKey::CYCLE.get(i + 1).copied()),
        };
        next.map(|k| (k, false))
    };
    let keep = m.selected_id().map(str::to_string);
    state.status.notice = Some(match m.sort {
        Some((k, desc)) => format!(
            "Sorted by {}, {}.",
            k.title(),
            if desc { "descending" } else { "ascending" }
        ),
        None => "In the service's order.".into(),
    });
    reselect_after_filter(state, keep, fx);
}

/// The sort was set directly (a header click): re-order, keep the selection, say so.
pub(super) fn cycle_sort_to(state: &mut State, fx: &mut Vec<Effect>) {
    let keep = state.machines.selected_id().map(str::to_string);
    if let Some((k, desc)) = state.machines.sort {
        state.status.notice = Some(format!(
            "Sorted by {}, {}.",
            k.title(),
            if desc { "descending" } else { "ascending" }
        ));
    }
    reselect_after_filter(state, keep, fx);
}

/// `F`: the machines the last bulk did not get through, with why.
pub(super) fn open_failures(state: &mut State) {
    match &state.last_bulk {
        Some(b) if !b.failed.is_empty() => state.modal = Some(Modal::Failures { scroll: 0 }),
        Some(_) => state.status.notice = Some("Nothing failed in the last bulk.".into()),
        None => state.status.notice = Some("No bulk has finished in this session.".into()),
    }
}

/// `*` in the failures list: mark exactly the failed machines still listed, so `i` or
/// `u` retries them (every other mark is cleared: a retry must not carry strays).
pub(super) fn mark_failed(state: &mut State) {
    let Some(bulk) = &state.last_bulk else { return };
    let m = &mut state.machines;
    m.marked.clear();
    let mut unlisted = 0;
    for f in &bulk.failed {
        if m.index_of(&f.machine_id).is_some() {
            m.marked.insert(f.machine_id.clone());
        } else {
            unlisted += 1;
        }
    }
    let mut notice = format!(
        "Marked the {} failed machine(s) of the last bulk; every other mark was cleared.",
        group_thousands(m.marked.len())
    );
    if unlisted > 0 {
        notice.push_str(&format!(" {unlisted} are no longer listed."));
    }
    state.status.notice = Some(notice);
}

/// The filter box has focus: text edits it, Enter keeps it, Esc clears it.
pub(super) fn on_filter(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
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

/// Recompute the visible rows for the filter text; keep the same machine selected.
pub fn apply_filter(state: &mut State, fx: &mut Vec<Effect>) {
    let needle = state.filter.input.value().trim().to_lowercase();
    let query = Query::parse(&needle);
    let keep = state.machines.selected_id().map(str::to_string);
    let m = &mut state.machines;
    if !state.filter.query.is_empty() && query.narrows(&state.filter.query) {
        // Narrowing: only the rows still visible can match, and they stay in order
        // (sorting a million rows again would cost more than the filter) unless a
        // sort value changed under them.
        m.narrow_visible(&query);
        if m.order_stale() {
            m.apply_sort();
        }
    } else {
        m.visible = m.matching(0, &query);
        m.apply_sort();
    }
    state.filter.applied = needle;
    state.filter.query = query;
    reselect(state, keep, fx);
}

/// The rows' states changed under a filter that asks for them (`iso:`): check every
/// row again, keeping the same machine selected.
pub fn refilter(state: &mut State, fx: &mut Vec<Effect>) {
    let keep = state.machines.selected_id().map(str::to_string);
    let m = &mut state.machines;
    m.visible = m.matching(0, &state.filter.query);
    reselect_after_filter(state, keep, fx);
}

fn reselect_after_filter(state: &mut State, keep: Option<String>, fx: &mut Vec<Effect>) {
    state.machines.apply_sort();
    reselect(state, keep, fx);
}

/// Select `keep` again where the list now shows it (else the first row).
fn reselect(state: &mut State, keep: Option<String>, fx: &mut Vec<Effect>) {
    let m = &mut state.machines;
    m.selected = keep.and_then(|id| m.position_of(&id)).unwrap_or(0);
    ensure_visible(state);
    sync_history(state, fx);
}
