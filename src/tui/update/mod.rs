//! The only place state changes: `update(&mut State, Action) -> Vec<Effect>`. No I/O,
//! no clock (the runner sets `state.now`), so every flow is a unit test away.
//!
//! This file only routes: an action goes to the modal on screen, the filter box while
//! it is edited, or the list and history panes. The handlers live by concern:
//! `navigation` (moves, marks, the filter), `writes` (comment, confirmation, submit),
//! `loading` (what to load and when) and `worker_events` (the worker's answers).

mod command;
mod export;
mod loading;
mod navigation;
mod worker_events;
mod writes;

use tui_input::{Input, InputRequest};

use crate::tui::action::{Action, Effect, UserAction};
use crate::tui::state::{Modal, PendingOp, State};
use cordon_core::api::models::IsolationType;
use cordon_core::sanitize::clean;

pub use navigation::apply_filter;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::ForceQuit => fx.push(Effect::Quit),
        Action::Worker(ev) => worker_events::on_worker(state, ev, &mut fx),
        Action::Tick => {
            state.spinner = state.spinner.wrapping_add(1);
            if state.history.waiting {
                loading::sync_history(state, &mut fx);
            }
        }
        Action::PeriodicRefresh => loading::periodic_refresh(state, &mut fx),
        Action::Resize { width, height } => {
            state.size = (width, height);
            state.list_height = crate::tui::layout::machine_table_rows(width, height).max(1);
            navigation::ensure_visible(state);
        }
        Action::SendFailed { command, reason } => {
            worker_events::on_send_failed(state, command, &reason);
        }
        Action::WorkerGone => worker_events::on_worker_gone(state),
        Action::SelectRow(pos) if state.modal.is_none() => {
            let delta = pos as i64 - state.machines.selected as i64;
            state.focus = crate::tui::state::Pane::Machines;
            navigation::move_by(state, delta, &mut fx);
        }
        Action::SortBy(key) if state.modal.is_none() => {
            let desc = matches!(state.machines.sort, Some((k, false)) if k == key);
            state.machines.sort = Some((key, desc));
            navigation::cycle_sort_to(state, &mut fx);
        }
        Action::SelectRow(_) | Action::SortBy(_) => {}
        Action::PlanSaved { path, result } => match result {
            Ok(n) => {
                state.status.notice = Some(format!(
                    "Saved a plan of {n} request(s) to {}; nothing was sent. Send it with: cordon apply {}",
                    path.display(),
                    path.display()
                ));
            }
            Err(e) => {
                state.status.error = Some(format!(
                    "Could not save the plan to {}: {e}.",
                    path.display()
                ));
            }
        },
        Action::Exported { path, result } => match result {
            Ok(rows) => {
                state.status.notice = Some(format!(
                    "Exported {} row(s) to {}",
                    crate::tui::present::group_thousands(rows),
                    path.display()
                ));
            }
            Err(e) => {
                state.status.error = Some(format!(
                    "Could not export to {}: {e}; check the directory cordon was started in.",
                    path.display()
                ));
            }
        },
        other => {
            if state.modal.is_some() {
                on_modal(state, other, &mut fx);
            } else if state.command.is_some() {
                command::on_command(state, other, &mut fx);
            } else if state.filter.editing {
                navigation::on_filter(state, other, &mut fx);
            } else if let Action::User(user) = other {
                on_user(state, user, &mut fx);
            }
        }
    }
    fx
}

fn on_user(state: &mut State, user: UserAction, fx: &mut Vec<Effect>) {
    match user {
        UserAction::MoveDown => navigation::move_by(state, 1, fx),
        UserAction::MoveUp => navigation::move_by(state, -1, fx),
        UserAction::PageDown => navigation::move_by(state, navigation::page(state), fx),
        UserAction::PageUp => navigation::move_by(state, -navigation::page(state), fx),
        UserAction::First => navigation::move_by(state, i64::MIN / 2, fx),
        UserAction::Last => navigation::move_by(state, i64::MAX / 2, fx),
        UserAction::SwitchPane => navigation::switch_pane(state),
        UserAction::Filter => navigation::start_filter(state),
        UserAction::ToggleMark => navigation::toggle_mark(state, fx),
        UserAction::MarkVisible => navigation::mark_visible(state),
        UserAction::ClearMarks => navigation::clear_marks(state, fx),
        UserAction::BulkFailures => navigation::open_failures(state),
        UserAction::SortNext => navigation::cycle_sort(state, false, fx),
        UserAction::SortReverse => navigation::cycle_sort(state, true, fx),
        UserAction::Export => fx.push(export::export(state)),
        UserAction::CommandLine => command::open(state),
        UserAction::Isolate => writes::open_comment(state, PendingOp::Isolate(IsolationType::Full)),
        UserAction::Release => writes::open_comment(state, PendingOp::Release),
        UserAction::CancelAction => writes::open_cancel(state),
        UserAction::Refresh => loading::refresh(state, fx),
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

/// The modal on screen takes every action; it is taken out and put back (or not).
fn on_modal(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(modal) = state.modal.take() else {
        return;
    };
    state.modal = match modal {
        Modal::Help { scroll } => match action {
            Action::Back | Action::User(UserAction::Help | UserAction::Quit) => None,
            // Scrolls when the terminal is too short for every row (the view clamps).
            Action::Move(delta) => Some(Modal::Help {
                scroll: navigation::clamp_move(
                    scroll,
                    delta,
                    crate::tui::layout::help_max_scroll(state) + 1,
                ),
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
        Modal::Failures { scroll } => match action {
            Action::Back | Action::Submit | Action::User(UserAction::BulkFailures) => None,
            Action::User(UserAction::MarkVisible) => {
                navigation::mark_failed(state);
                None
            }
            Action::Move(delta) => Some(Modal::Failures {
                scroll: navigation::clamp_move(
                    scroll,
                    delta,
                    state
                        .last_bulk
                        .as_ref()
                        .map_or(1, |b| b.failed.len().max(1)),
                ),
            }),
            _ => Some(Modal::Failures { scroll }),
        },
        Modal::SignIn { prompt, since } => match action {
            Action::Back => {
                fx.push(Effect::Send(
                    cordon_core::worker::protocol::Command::CancelSignIn,
                ));
                state.status.notice = Some("Sign-in cancelled.".into());
                None
            }
            _ => Some(Modal::SignIn { prompt, since }),
        },
        Modal::Comment(form) => writes::on_comment(state, form, action),
        Modal::Confirm(form) => writes::on_confirm(state, form, action, fx),
    };
}

/// Typed or pasted text for the filter box and the comment box: cleaned first, so no
/// escape sequence reaches either.
fn insert_text(input: &mut Input, text: &str) {
    for c in clean(text).chars() {
        input.handle(InputRequest::InsertChar(c));
    }
}
