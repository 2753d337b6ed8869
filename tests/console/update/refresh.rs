//! A refreshed listing reconciled with the rows on screen: pages streamed in place,
//! isolation states, the selection and the marks, stale and failed refreshes.

use crate::tui_support::*;
use cordon::tui::action::{Action, UserAction};
use cordon::tui::state::Modal;
use cordon::tui::update::update;
use cordon_core::api::models::{ActionStatus, ActionType, IsolationState, Unverified};
use cordon_core::worker::protocol::{ErrorInfo, WorkerEvent};

#[test]
fn pages_stream_in_and_a_refresh_replaces_the_list_when_complete() {
    let mut s = loaded(0, 80, 24, false);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    assert!(s.machines.loading);
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(machines(3)),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries((3..5).map(machine)),
            first: false,
        },
    );
    assert_eq!(s.machines.rows().len(), 5);
    assert!(s.machines.loading);
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 5,
        },
    );
    assert!(!s.machines.loading);
    // A refresh updates rows in place while it streams (nothing vanishes mid-way)…
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 3,
            machines: summaries([machine(10), machine(1), machine(11)]),
            first: true,
        },
    );
    assert_eq!(s.machines.rows().len(), 7);
    assert_eq!(s.machines.visible.len(), 7);
    // …a late page of an older generation is ignored…
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(20)]),
            first: false,
        },
    );
    assert_eq!(s.machines.rows().len(), 7);
    // …and machines it did not deliver are removed when it completes.
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 3,
            total: 3,
        },
    );
    let ids: Vec<&str> = s.machines.rows().iter().map(|r| r.machine.id()).collect();
    assert_eq!(ids, ["m000001", "m000010", "m000011"]);
    assert_eq!(s.machines.visible, [0, 1, 2]);
    assert_eq!(s.machines.by_id("m000011").unwrap().machine.id(), "m000011");
    assert!(s.machines.by_id("m000000").is_none());
}

#[test]
fn isolation_states_survive_a_refresh_until_the_refresh_brings_its_own() {
    let mut s = loaded(3, 80, 24, false);
    let states = |s: &cordon::tui::state::State| -> Vec<Option<IsolationState>> {
        (0..4)
            .map(|i| s.machines.isolation_of(&format!("m{i:06}")))
            .collect()
    };
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![("m000001".into(), IsolationState::Isolated(None))],
        },
    );
    // Machines the load does not name have no isolation action: never isolated.
    assert_eq!(
        states(&s),
        [
            Some(IsolationState::NotIsolated),
            Some(IsolationState::Isolated(None)),
            Some(IsolationState::NotIsolated),
            None
        ]
    );

    // A refresh replaces the rows page by page; the known states stay on screen.
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries((1..2).map(machine)),
            first: true,
        },
    );
    // Rows are updated in place: the list and its states stay on screen.
    assert_eq!(s.machines.rows().len(), 3);
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Isolated(None))
    );
    // An update during the refresh applies at once.
    let releasing = action(
        "act-9",
        "m000002",
        ActionType::Unisolate,
        ActionStatus::InProgress,
        0,
        "x",
    );
    feed(&mut s, WorkerEvent::ActionUpdated { action: releasing });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(0), machine(2), machine(3)]),
            first: false,
        },
    );
    assert_eq!(
        states(&s),
        [
            Some(IsolationState::NotIsolated),
            Some(IsolationState::Isolated(None)),
            Some(IsolationState::Releasing),
            None
        ]
    );
    // States of the replaced generation arrive late: ignored.
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![("m000003".into(), IsolationState::Isolated(None))],
        },
    );
    assert_eq!(s.machines.isolation_of("m000003"), None);
    // The refresh's own states decide, except for m000002, whose update arrived after
    // the refresh began and is newer than the refresh's listing.
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 2,
            states: vec![("m000003".into(), IsolationState::Unknown(None))],
        },
    );
    assert_eq!(
        states(&s),
        [
            Some(IsolationState::NotIsolated),
            Some(IsolationState::NotIsolated),
            Some(IsolationState::Releasing),
            Some(IsolationState::Unknown(None))
        ]
    );
}

#[test]
fn the_loads_states_do_not_overwrite_a_machine_with_our_action_in_flight() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-9");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    let pending = action(
        "act-1",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Pending,
        0,
        "IR-9",
    );
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: 1,
            action: pending,
        },
    );
    // The load listed actions before our POST: it says nothing of m000000.
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolating(None))
    );
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::NotIsolated)
    );

    // A refresh begins; our action then ends. The refresh's listing, taken while it was
    // still Pending, arrives after the final status: it must not bring "Isolating" back.
    s.now += chrono::Duration::seconds(5);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(machines(3)),
            first: true,
        },
    );
    s.now += chrono::Duration::seconds(5);
    let mut done = action(
        "act-1",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Succeeded,
        0,
        "IR-9",
    );
    done.status = ActionStatus::Succeeded;
    feed(&mut s, WorkerEvent::ActionUpdated { action: done });
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 2,
            states: vec![("m000000".into(), IsolationState::Isolating(None))],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolated(None))
    );
}

#[test]
fn selection_survives_refresh_and_filter() {
    let mut s = loaded(50, 80, 24, false);
    for _ in 0..7 {
        user(&mut s, UserAction::MoveDown);
    }
    assert_eq!(s.machines.selected_id(), Some("m000007"));
    // The refresh delivers the machine in a later page, in a new order.
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    let mut all = machines(50);
    all.reverse();
    let (a, b) = all.split_at(30);
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(a.to_vec()),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(b.to_vec()),
            first: false,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 50,
        },
    );
    assert_eq!(s.machines.selected_id(), Some("m000007"));

    // The filter keeps it when it still matches.
    user(&mut s, UserAction::Filter);
    type_text(&mut s, "ws-0");
    assert_eq!(s.machines.selected_id(), Some("m000007"));
    update(&mut s, Action::Back);
    assert_eq!(s.machines.selected_id(), Some("m000007"));
}

#[test]
fn a_refresh_listing_does_not_overwrite_an_update_for_an_action_of_an_earlier_run() {
    // A recovered (or someone else's) action has no request in this session.
    let mut s = loaded(3, 80, 24, false);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(machines(3)),
            first: true,
        },
    );
    let failed = action(
        "old-1",
        "m000001",
        ActionType::Isolate,
        ActionStatus::Failed,
        0,
        "from yesterday",
    );
    feed(&mut s, WorkerEvent::ActionUpdated { action: failed });
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 2,
            states: vec![("m000001".into(), IsolationState::Isolating(None))],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Unknown(Some(Unverified {
            release: false,
            timed_out: false
        }))),
        "the update after the load began wins over the load's older listing"
    );
    // The next load's listing is newer than that update: it decides again.
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 3 });
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 3,
            states: vec![("m000001".into(), IsolationState::Isolated(None))],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Isolated(None))
    );
}

#[test]
fn a_replaced_refresh_that_fails_does_not_end_the_current_one() {
    let mut s = loaded(3, 80, 24, false);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesFailed {
            generation: 1,
            error: ErrorInfo {
                code: "Timeout".into(),
                message: "late".into(),
            },
        },
    );
    assert!(s.machines.loading, "generation 2 is still loading");
    assert!(s.status.error.is_none());
}

#[test]
fn during_a_refresh_the_selection_and_marks_stay_and_writes_target_them() {
    // Marked: m000000 and m000002; selected: m000002.
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::ToggleMark); // m000000, then down
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::ToggleMark); // m000002, the last row: stays
    assert_eq!(s.machines.selected_id(), Some("m000002"));
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(1)]),
            first: true,
        },
    );
    // Nothing moved under the analyst while the refresh streams.
    assert_eq!(s.machines.selected_id(), Some("m000002"));
    user(&mut s, UserAction::Isolate);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("a bulk opens during a refresh: {:?}", s.status.error)
    };
    let ids: Vec<&str> = form.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["m000000", "m000002"]);
}

#[test]
fn a_selected_machine_that_a_refresh_no_longer_lists_blocks_writes_until_the_analyst_chooses() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::Last);
    assert_eq!(s.machines.selected_id(), Some("m000002"));
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(0), machine(1)]),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 2,
        },
    );
    // The highlight had to move: acting on it now would be a mistake.
    assert_ne!(s.machines.selected_id(), Some("m000002"));
    assert!(
        s.status
            .notice
            .as_deref()
            .unwrap_or("")
            .contains("(m000002) is no longer listed"),
        "{:?}",
        s.status.notice
    );
    for write in [
        UserAction::Isolate,
        UserAction::Release,
        UserAction::CancelAction,
    ] {
        user(&mut s, write);
        assert!(s.modal.is_none(), "{write:?} must not open");
        assert!(
            s.status
                .error
                .as_deref()
                .unwrap_or("")
                .contains("not in the list now"),
            "{:?}",
            s.status.error
        );
    }
    user(&mut s, UserAction::MoveUp);
    user(&mut s, UserAction::Isolate);
    assert!(
        matches!(s.modal, Some(Modal::Comment(_))),
        "an explicit choice ends the refusal"
    );
}

#[test]
fn a_refresh_that_fails_part_way_leaves_the_list_and_the_selection_as_they_were() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::Last);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(0)]),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesFailed {
            generation: 2,
            error: ErrorInfo {
                code: "ServiceUnavailable".into(),
                message: "try later".into(),
            },
        },
    );
    assert_eq!(
        s.machines.rows().len(),
        3,
        "nothing is dropped on a failure"
    );
    assert_eq!(s.machines.selected_id(), Some("m000002"));
    user(&mut s, UserAction::Release);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("{:?}", s.status.error)
    };
    assert_eq!(form.targets[0].id, "m000002");
}

#[test]
fn marks_on_machines_a_refresh_no_longer_lists_are_dropped_with_a_notice() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::ToggleMark);
    user(&mut s, UserAction::ToggleMark);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries([machine(1), machine(2)]),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 2,
        },
    );
    assert_eq!(
        s.machines.marked.iter().collect::<Vec<_>>(),
        [&"m000001".to_string()]
    );
    assert_eq!(
        s.status.notice.as_deref(),
        Some("1 marked machine(s) are no longer listed and were unmarked.")
    );
}
