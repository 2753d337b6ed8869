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
    // It answers while the selection is still moving: nothing loads yet.
    let fx = feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    assert!(history_loads(&fx).is_empty());
    // Once the selection rests, the machine now selected is loaded.
    s.0.now += chrono::TimeDelta::milliseconds(250);
    assert_eq!(history_loads(&update(&mut s.0, Action::Tick)), ["m000002"]);
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

/// Issue 16: scrolling must not spend the API budget. A burst of 40 moves (key repeat,
/// 30 ms apart) loads the first machine's history and the one it rests on: 2 calls.
#[test]
fn a_burst_of_moves_loads_only_where_the_selection_rests() {
    let mut s = State0::new();
    let mut loads = history_loads(&feed(
        &mut s.0,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries(machines(60)),
            first: true,
        },
    ));
    feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    // The analyst looked at the first machine for a while, then held j down.
    s.0.now += chrono::TimeDelta::seconds(5);
    for _ in 0..40 {
        loads.extend(history_loads(&user(&mut s.0, UserAction::MoveDown)));
        loads.extend(history_loads(&update(&mut s.0, Action::Tick)));
        s.0.now += chrono::TimeDelta::milliseconds(30);
    }
    // The first move loads at once (a single step shows its history without delay).
    assert_eq!(loads, ["m000000", "m000001"]);
    feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000001".into(),
            actions: vec![],
        },
    );
    assert!(s.0.is_animating(), "ticks keep coming while a load waits");
    s.0.now += chrono::TimeDelta::milliseconds(200);
    loads.extend(history_loads(&update(&mut s.0, Action::Tick)));
    assert_eq!(loads, ["m000000", "m000001", "m000040"]);
    assert_eq!(s.0.history.machine_id.as_deref(), Some("m000040"));
    // A single step after resting loads at once.
    feed(
        &mut s.0,
        WorkerEvent::History {
            machine_id: "m000040".into(),
            actions: vec![],
        },
    );
    s.0.now += chrono::TimeDelta::seconds(2);
    assert_eq!(
        history_loads(&user(&mut s.0, UserAction::MoveDown)),
        ["m000041"]
    );
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
