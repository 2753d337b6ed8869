//! What is loaded and when: the shown machine's history (one load at a time, a
//! failed one not retried on its own) and the periodic refresh of the list.

use super::history_loads;
use crate::tui_support::*;
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::update::update;
use cordon_core::worker::protocol::{Command, ErrorInfo, WorkerEvent};

#[test]
fn history_loads_on_selection_change_one_at_a_time() {
    let mut s = State0::new();
    let fx = feed(
        &mut s.0,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries(machines(5)),
            first: true,
        },
    );
    assert_eq!(history_loads(&fx), ["m000000"]);
    // While that load runs, moving does not queue more requests.
    assert!(history_loads(&user(&mut s.0, UserAction::MoveDown)).is_empty());
    assert!(history_loads(&user(&mut s.0, UserAction::MoveDown)).is_empty());
    // When it answers, the machine now selected is loaded.
    let fx = feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    assert_eq!(history_loads(&fx), ["m000002"]);
    feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000002".into(),
            actions: vec![],
        },
    );
    // Cached: going back does not reload.
    user(&mut s.0, UserAction::MoveUp);
    assert_eq!(
        history_loads(&user(&mut s.0, UserAction::MoveDown)),
        Vec::<String>::new()
    );
    assert!(history_loads(&user(&mut s.0, UserAction::First)).is_empty());
}

struct State0(cordon::tui::state::State);
impl State0 {
    fn new() -> Self {
        let mut s = cordon::tui::state::State::new(info(false), now());
        update(
            &mut s,
            Action::Resize {
                width: 80,
                height: 24,
            },
        );
        Self(s)
    }
}

#[test]
fn failed_history_is_not_retried_until_refresh() {
    let mut s = State0::new();
    let fx = feed(
        &mut s.0,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries(machines(2)),
            first: true,
        },
    );
    assert_eq!(history_loads(&fx), ["m000000"]);
    let fx = feed(
        &mut s.0,
        WorkerEvent::HistoryFailed {
            machine_id: "m000000".into(),
            error: ErrorInfo {
                code: "Forbidden".into(),
                message: "no".into(),
            },
        },
    );
    assert!(
        history_loads(&fx).is_empty(),
        "must not loop on a failing load"
    );
    assert!(s.0.history.loading.is_empty());
    // Moving away and back does not retry either; r does.
    user(&mut s.0, UserAction::MoveDown);
    feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000001".into(),
            actions: vec![],
        },
    );
    assert!(history_loads(&user(&mut s.0, UserAction::MoveUp)).is_empty());
    assert_eq!(
        history_loads(&user(&mut s.0, UserAction::Refresh)),
        ["m000000"]
    );
}

#[test]
fn periodic_refresh_reloads_without_losing_marks() {
    let mut s = loaded(5, 80, 24, false);
    user(&mut s, UserAction::ToggleMark);
    let fx = update(&mut s, Action::PeriodicRefresh);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::LoadMachines { filter: None })))
    );
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(machines(5)),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 5,
        },
    );
    assert!(s.machines.marked.contains("m000000"));
    assert_eq!(s.machines.selected_id(), Some("m000001"));
}

#[test]
fn a_large_list_is_refreshed_less_often_but_r_always_reloads() {
    let reloads = |fx: &[Effect]| {
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::LoadMachines { .. })))
    };
    // 25,000 machines: 3 pages, so at most one periodic refresh per 72 s; ticks come
    // every 60 s: every second tick reloads.
    let mut s = loaded(25_000, 80, 24, false);
    assert!(!reloads(&update(&mut s, Action::PeriodicRefresh)));
    assert!(reloads(&update(&mut s, Action::PeriodicRefresh)));
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 1,
            total: 25_000,
        },
    );
    assert!(!reloads(&update(&mut s, Action::PeriodicRefresh)));
    assert!(
        reloads(&user(&mut s, UserAction::Refresh)),
        "r always reloads"
    );
    // A small list keeps the configured interval.
    let mut small = loaded(300, 80, 24, false);
    assert!(reloads(&update(&mut small, Action::PeriodicRefresh)));
}
