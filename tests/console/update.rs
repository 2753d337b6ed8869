//! State transitions of the console: Action sequences in, state and effects out.

#![allow(clippy::unwrap_used)]

use crate::tui_support::*;
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::present::{batch_progress, confirm_text};
use cordon::tui::state::{Modal, Pane, PendingOp};
use cordon::tui::update::update;
use cordon_core::api::models::{ActionStatus, ActionType, IsolationState, IsolationType};
use cordon_core::worker::protocol::{Command, ErrorInfo, WorkerEvent, WriteOp, WriteRequest};

fn submits(fx: &[Effect]) -> Vec<Vec<WriteRequest>> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(Command::Submit(r)) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn history_loads(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(Command::LoadHistory { machine_id }) => Some(machine_id.clone()),
            _ => None,
        })
        .collect()
}

fn confirm_sentence(s: &cordon::tui::state::State) -> String {
    match &s.modal {
        Some(Modal::Confirm(f)) => confirm_text(f),
        other => panic!("expected the confirmation, got {other:?}"),
    }
}

#[test]
fn isolate_single_full_flow() {
    let mut s = loaded(5, 80, 24, false);
    user(&mut s, UserAction::MoveDown);
    assert!(user(&mut s, UserAction::Isolate).is_empty());
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("comment modal expected")
    };
    assert_eq!(form.targets.len(), 1);
    assert_eq!(form.targets[0].id, "m000001");
    assert_eq!(form.op, PendingOp::Isolate(IsolationType::Full));

    // An empty or blank comment is refused inline; the modal stays.
    assert!(update(&mut s, Action::Submit).is_empty());
    type_text(&mut s, "   ");
    assert!(update(&mut s, Action::Submit).is_empty());
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("modal must stay after a refused comment")
    };
    assert!(
        form.error
            .as_deref()
            .unwrap_or("")
            .contains("comment is required")
    );

    // Tab cycles Full → Selective → UnManagedDevice → Full → Selective.
    let mut seen = vec![];
    for _ in 0..4 {
        update(&mut s, Action::NextField);
        if let Some(Modal::Comment(f)) = &s.modal {
            seen.push(f.op.clone());
        }
    }
    assert_eq!(
        seen,
        vec![
            PendingOp::Isolate(IsolationType::Selective),
            PendingOp::Isolate(IsolationType::UnManagedDevice),
            PendingOp::Isolate(IsolationType::Full),
            PendingOp::Isolate(IsolationType::Selective),
        ]
    );

    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "IR-1234 ransomware");
    assert!(update(&mut s, Action::Submit).is_empty());
    assert_eq!(
        confirm_sentence(&s),
        "Isolate ws-01.contoso.local (Selective) with comment: \"IR-1234 ransomware\""
    );

    // 'n' sends nothing and closes.
    let fx = update(&mut s, Action::Answer(false));
    assert!(fx.is_empty());
    assert!(s.modal.is_none());
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn confirm_yes_emits_exactly_one_submit() {
    let mut s = loaded(5, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-1234 ransomware");
    update(&mut s, Action::Submit);
    let fx = update(&mut s, Action::Answer(true));
    let subs = submits(&fx);
    assert_eq!(subs.len(), 1, "{fx:?}");
    assert_eq!(
        subs[0],
        vec![WriteRequest {
            request_id: 1,
            machine_id: "m000000".into(),
            machine_name: "ws-00.contoso.local".into(),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Full
            },
            comment: cordon_core::domain::Comment::parse("IR-1234 ransomware")
                .expect("valid comment"),
        }]
    );
    assert!(s.modal.is_none());
    assert_eq!(s.in_flight(), 1);
    // Request ids keep increasing.
    user(&mut s, UserAction::Release);
    type_text(&mut s, "done");
    update(&mut s, Action::Submit);
    let subs = submits(&update(&mut s, Action::Answer(true)));
    assert_eq!(subs[0][0].request_id, 2);
}

#[test]
fn enter_and_esc_on_confirmation_default_to_no() {
    for answer in [Action::Submit, Action::Back] {
        let mut s = loaded(3, 80, 24, false);
        user(&mut s, UserAction::Isolate);
        type_text(&mut s, "x");
        update(&mut s, Action::Submit);
        assert!(matches!(s.modal, Some(Modal::Confirm(_))));
        assert!(update(&mut s, answer).is_empty());
        assert!(s.modal.is_none());
        assert_eq!(s.in_flight(), 0);
    }
}

#[test]
fn comment_over_limit_is_refused_inline() {
    let mut s = loaded(1, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    update(&mut s, Action::Paste("a".repeat(1001)));
    update(&mut s, Action::Submit);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("modal must stay")
    };
    assert!(form.error.as_deref().unwrap_or("").contains("1001"));
    // Exactly 1000 is fine.
    update(
        &mut s,
        Action::Text(tui_input::InputRequest::DeletePrevChar),
    );
    update(&mut s, Action::Submit);
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
}

#[test]
fn pasted_escape_sequences_never_reach_the_comment() {
    let mut s = loaded(1, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    update(&mut s, Action::Paste("IR-1\u{1b}]0;pwn\u{7}\nline2".into()));
    update(&mut s, Action::Submit);
    assert_eq!(
        confirm_sentence(&s),
        "Isolate ws-00.contoso.local (Full) with comment: \"IR-1 line2\""
    );
}

#[test]
fn bulk_isolate_uses_marked_machines() {
    let mut s = loaded(10, 80, 24, false);
    user(&mut s, UserAction::ToggleMark); // marks m0, moves to m1
    user(&mut s, UserAction::MoveDown); // m2
    user(&mut s, UserAction::ToggleMark); // marks m2 → m3
    user(&mut s, UserAction::ToggleMark); // marks m3 → m4
    assert_eq!(s.machines.marked.len(), 3);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-1234 ransomware");
    update(&mut s, Action::Submit);
    assert_eq!(
        confirm_sentence(&s),
        "Isolate 3 machines (Full) with comment: \"IR-1234 ransomware\""
    );
    let subs = submits(&update(&mut s, Action::Answer(true)));
    assert_eq!(subs.len(), 1);
    let ids: Vec<_> = subs[0].iter().map(|r| r.machine_id.as_str()).collect();
    assert_eq!(ids, ["m000000", "m000002", "m000003"]);
    let req_ids: Vec<_> = subs[0].iter().map(|r| r.request_id).collect();
    assert_eq!(req_ids, [1, 2, 3]);
    assert!(s.machines.marked.is_empty(), "marks clear after sending");
}

#[test]
fn release_flow_and_text() {
    let mut s = loaded(2, 80, 24, false);
    user(&mut s, UserAction::Release);
    type_text(&mut s, "all clear");
    // Tab does nothing for release.
    update(&mut s, Action::NextField);
    update(&mut s, Action::Submit);
    assert_eq!(
        confirm_sentence(&s),
        "Release ws-00.contoso.local with comment: \"all clear\""
    );
    let subs = submits(&update(&mut s, Action::Answer(true)));
    assert_eq!(subs[0][0].op, WriteOp::Unisolate);
}

#[test]
fn cancel_without_pending_action_is_an_error() {
    let mut s = loaded(2, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![action(
                "a1",
                "m000000",
                ActionType::Isolate,
                ActionStatus::Succeeded,
                60,
                "old",
            )],
        },
    );
    let fx = user(&mut s, UserAction::CancelAction);
    assert!(fx.is_empty());
    assert!(s.modal.is_none());
    assert!(
        s.status
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no pending action to cancel")
    );
}

#[test]
fn cancel_targets_the_newest_active_action_or_the_selected_entry() {
    let mut s = loaded(2, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![
                action(
                    "old",
                    "m000000",
                    ActionType::RunAntiVirusScan,
                    ActionStatus::Pending,
                    90,
                    "scan",
                ),
                action(
                    "new",
                    "m000000",
                    ActionType::Isolate,
                    ActionStatus::InProgress,
                    5,
                    "iso",
                ),
                action(
                    "done",
                    "m000000",
                    ActionType::Unisolate,
                    ActionStatus::Succeeded,
                    60,
                    "rel",
                ),
            ],
        },
    );
    user(&mut s, UserAction::CancelAction);
    type_text(&mut s, "wrong machine");
    update(&mut s, Action::Submit);
    assert_eq!(
        confirm_sentence(&s),
        "Cancel action new on ws-00.contoso.local with comment: \"wrong machine\""
    );
    update(&mut s, Action::Back);

    // In the history pane, the selected active entry wins: entries are newest first
    // (new, done, old), so two moves down select "old".
    user(&mut s, UserAction::SwitchPane);
    assert_eq!(s.focus, Pane::History);
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::MoveDown);
    assert_eq!(
        s.history.selected_entry().map(|a| a.id.as_str()),
        Some("old")
    );
    user(&mut s, UserAction::CancelAction);
    type_text(&mut s, "stop scan");
    update(&mut s, Action::Submit);
    let subs = submits(&update(&mut s, Action::Answer(true)));
    assert_eq!(
        subs[0][0].op,
        WriteOp::Cancel {
            action_id: "old".into()
        }
    );
}

#[test]
fn readonly_profile_opens_no_modal_and_explains() {
    let mut s = loaded(2, 80, 24, true);
    for a in [
        UserAction::Isolate,
        UserAction::Release,
        UserAction::CancelAction,
    ] {
        s.status.error = None;
        assert!(user(&mut s, a).is_empty());
        assert!(s.modal.is_none());
        assert_eq!(
            s.status.error.as_deref(),
            Some("profile prod-eu is read-only: isolate/release/cancel are disabled")
        );
    }
}

#[test]
fn quit_asks_while_actions_are_in_flight() {
    let mut s = loaded(2, 80, 24, false);
    assert!(matches!(user(&mut s, UserAction::Quit)[..], [Effect::Quit]));

    let mut s = loaded(2, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "x");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    assert!(user(&mut s, UserAction::Quit).is_empty());
    assert!(matches!(s.modal, Some(Modal::QuitConfirm)));
    assert!(update(&mut s, Action::Answer(false)).is_empty());
    assert!(s.modal.is_none());
    user(&mut s, UserAction::Quit);
    assert!(matches!(
        update(&mut s, Action::Answer(true))[..],
        [Effect::Quit]
    ));
    // Ctrl-C quits from inside any modal.
    user(&mut s, UserAction::Help);
    assert!(matches!(
        update(&mut s, Action::ForceQuit)[..],
        [Effect::Quit]
    ));
}

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
    assert_eq!(s.machines.rows.len(), 5);
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
    assert_eq!(s.machines.rows.len(), 7);
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
    assert_eq!(s.machines.rows.len(), 7);
    // …and machines it did not deliver are removed when it completes.
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 3,
            total: 3,
        },
    );
    let ids: Vec<&str> = s.machines.rows.iter().map(|r| r.machine.id()).collect();
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
            states: vec![("m000001".into(), IsolationState::Isolated)],
        },
    );
    // Machines the load does not name have no isolation action: never isolated.
    assert_eq!(
        states(&s),
        [
            Some(IsolationState::NotIsolated),
            Some(IsolationState::Isolated),
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
    assert_eq!(s.machines.rows.len(), 3);
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Isolated)
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
            Some(IsolationState::Isolated),
            Some(IsolationState::Releasing),
            None
        ]
    );
    // States of the replaced generation arrive late: ignored.
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![("m000003".into(), IsolationState::Isolated)],
        },
    );
    assert_eq!(s.machines.isolation_of("m000003"), None);
    // The refresh's own states decide, except for m000002, whose update arrived after
    // the refresh began and is newer than the refresh's listing.
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 2,
            states: vec![("m000003".into(), IsolationState::Unknown)],
        },
    );
    assert_eq!(
        states(&s),
        [
            Some(IsolationState::NotIsolated),
            Some(IsolationState::NotIsolated),
            Some(IsolationState::Releasing),
            Some(IsolationState::Unknown)
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
        Some(IsolationState::Isolating)
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
            states: vec![("m000000".into(), IsolationState::Isolating)],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolated)
    );
}

#[test]
fn action_updates_flip_isolation_state_and_history() {
    let mut s = loaded(3, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::NotIsolated)
    );
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
            action: pending.clone(),
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolating)
    );
    assert_eq!(s.history.entries()[0].id, "act-1");
    assert_eq!(s.in_flight(), 1);

    let mut done = pending;
    done.status = ActionStatus::Succeeded;
    feed(&mut s, WorkerEvent::ActionUpdated { action: done });
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolated)
    );
    assert_eq!(s.history.entries()[0].status, ActionStatus::Succeeded);
    assert_eq!(
        s.history.entries().len(),
        1,
        "updated in place, not duplicated"
    );
    assert_eq!(s.in_flight(), 0);

    // A machine with no loaded history still gets its state from the action.
    let release = action(
        "act-2",
        "m000002",
        ActionType::Unisolate,
        ActionStatus::InProgress,
        0,
        "x",
    );
    feed(&mut s, WorkerEvent::ActionUpdated { action: release });
    assert_eq!(
        s.machines.isolation_of("m000002"),
        Some(IsolationState::Releasing)
    );
}

#[test]
fn outcomes_update_bulk_progress() {
    let mut s = loaded(4, 80, 24, false);
    for _ in 0..4 {
        user(&mut s, UserAction::ToggleMark);
    }
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-77");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 0/4 done".to_string()]
    );

    // Request 1 fails, request 2 is accepted and then succeeds after 60 s.
    feed(
        &mut s,
        WorkerEvent::Failed {
            request_id: 1,
            error: ErrorInfo {
                code: "ActiveRequestAlreadyExists".into(),
                message: "Action is already in progress".into(),
            },
        },
    );
    assert!(
        s.status
            .error
            .as_deref()
            .unwrap_or("")
            .contains("ws-00.contoso.local")
    );
    let a = action(
        "a2",
        "m000001",
        ActionType::Isolate,
        ActionStatus::Pending,
        0,
        "IR-77",
    );
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: 2,
            action: a.clone(),
        },
    );
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 1/4 done".to_string()]
    );
    s.now += chrono::Duration::seconds(60);
    let mut ok = a;
    ok.status = ActionStatus::Succeeded;
    feed(&mut s, WorkerEvent::ActionUpdated { action: ok });
    // 2 done in 60 s → 2 remaining take ~60 s.
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 2/4 done · ETA 1m".to_string()]
    );

    for (rid, id) in [(3, "a3"), (4, "a4")] {
        let mut a = action(
            id,
            &format!("m00000{}", rid - 1),
            ActionType::Isolate,
            ActionStatus::Succeeded,
            0,
            "IR-77",
        );
        a.status = ActionStatus::Succeeded;
        feed(
            &mut s,
            WorkerEvent::Accepted {
                request_id: rid,
                action: a,
            },
        );
    }
    assert!(batch_progress(&s, " · ").is_empty());
    assert_eq!(
        s.status.notice.as_deref(),
        Some("Isolate 4/4 done, 1 failed")
    );
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn filter_narrows_and_esc_clears() {
    let mut s = loaded(300, 80, 24, false);
    user(&mut s, UserAction::Filter);
    assert!(s.filter.editing);
    type_text(&mut s, "WS-1");
    // ws-10..ws-19 and ws-100..ws-199 (ws-01 does not contain "ws-1").
    assert_eq!(s.machines.visible.len(), 10 + 100);
    type_text(&mut s, "2");
    assert_eq!(s.machines.visible.len(), 1 + 10);
    // IP and tag matches.
    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "192.168.1.7");
    let ids: Vec<_> = s
        .machines
        .visible
        .iter()
        .map(|&i| s.machines.rows[i].machine.id().to_string())
        .collect();
    assert!(ids.contains(&"m000257".to_string()), "{ids:?}");
    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "WARD-7");
    assert_eq!(s.machines.visible.len(), 60);
    // Enter keeps the filter and returns to the list.
    update(&mut s, Action::Submit);
    assert!(!s.filter.editing);
    assert_eq!(s.machines.visible.len(), 60);
    user(&mut s, UserAction::Filter);
    update(&mut s, Action::Back);
    assert!(!s.filter.editing);
    assert_eq!(s.machines.visible.len(), 300);
    assert_eq!(s.filter.input.value(), "");
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
fn failed_send_marks_requests_failed() {
    let mut s = loaded(1, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "x");
    update(&mut s, Action::Submit);
    let fx = update(&mut s, Action::Answer(true));
    let Some(Effect::Send(cmd)) = fx.into_iter().next() else {
        panic!("submit expected")
    };
    update(
        &mut s,
        Action::SendFailed {
            command: cmd,
            reason: "the worker is busy".into(),
        },
    );
    assert_eq!(s.in_flight(), 0);
    assert!(s.status.error.as_deref().unwrap_or("").contains("NOT SENT"));
}

#[test]
fn paging_and_jumps_stay_in_bounds() {
    let mut s = loaded(100, 80, 24, false);
    user(&mut s, UserAction::Last);
    assert_eq!(s.machines.selected, 99);
    assert!(s.machines.scroll + s.list_height > 99);
    user(&mut s, UserAction::PageUp);
    assert_eq!(s.machines.selected, 99 - s.list_height);
    user(&mut s, UserAction::First);
    assert_eq!((s.machines.selected, s.machines.scroll), (0, 0));
    user(&mut s, UserAction::MoveUp);
    assert_eq!(s.machines.selected, 0);
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
fn an_isolate_that_ends_failed_is_reported_not_passed_as_done() {
    let mut s = loaded(5, 120, 40, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-77");
    update(&mut s, Action::Submit);
    let fx = update(&mut s, Action::Answer(true));
    let Some(Effect::Send(Command::Submit(reqs))) = fx.into_iter().next() else {
        panic!("a submit")
    };
    let req = &reqs[0];
    let mut a = action(
        "act-77",
        &req.machine_id,
        ActionType::Isolate,
        ActionStatus::Pending,
        0,
        "IR-77",
    );
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: req.request_id,
            action: a.clone(),
        },
    );
    assert!(s.status.error.is_none());
    a.status = ActionStatus::Failed;
    feed(&mut s, WorkerEvent::ActionUpdated { action: a });
    let err = s.status.error.clone().expect("an error is shown");
    assert!(err.contains("Failed"), "{err}");
}

#[test]
fn marking_everything_the_filter_shows_feeds_a_bulk_with_quota_aware_progress() {
    let mut s = loaded(1000, 120, 40, false);
    user(&mut s, UserAction::Filter);
    type_text(&mut s, "ward-7");
    update(&mut s, Action::Submit);
    assert_eq!(
        s.machines.visible.len(),
        200,
        "every fifth machine is tagged"
    );
    user(&mut s, UserAction::MarkVisible);
    assert_eq!(s.machines.marked.len(), 200);
    assert!(s.machines.marked.iter().all(|id| {
        s.machines
            .by_id(id)
            .unwrap()
            .machine
            .machine_tags()
            .any(|t| t == "ward-7")
    }));

    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-200 ward 7 outbreak");
    update(&mut s, Action::Submit);
    let fx = update(&mut s, Action::Answer(true));
    let sent = submits(&fx);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].len(), 200);
    // 200 POSTs at 100 a minute: the second hundred waits a minute.
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 0/200 done · 200 to send · ETA 1m".to_string()]
    );
    for r in &sent[0][..100] {
        feed(
            &mut s,
            WorkerEvent::Accepted {
                request_id: r.request_id,
                action: action(
                    &format!("a{}", r.request_id),
                    &r.machine_id,
                    ActionType::Isolate,
                    ActionStatus::Pending,
                    0,
                    "IR-200 ward 7 outbreak",
                ),
            },
        );
    }
    s.now += chrono::Duration::seconds(20);
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 0/200 done · 100 to send · ETA 40s".to_string()]
    );
    // Ten complete, 20 s after acceptance: the rest will also need those 20 s.
    for r in &sent[0][..10] {
        let mut done = action(
            &format!("a{}", r.request_id),
            &r.machine_id,
            ActionType::Isolate,
            ActionStatus::Succeeded,
            0,
            "IR-200 ward 7 outbreak",
        );
        done.status = ActionStatus::Succeeded;
        feed(&mut s, WorkerEvent::ActionUpdated { action: done });
    }
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 10/200 done · 100 to send · ETA 1m".to_string()]
    );
    // The second hundred is accepted a minute in: done 20 s after that.
    s.now += chrono::Duration::seconds(40);
    for r in &sent[0][100..] {
        feed(
            &mut s,
            WorkerEvent::Accepted {
                request_id: r.request_id,
                action: action(
                    &format!("a{}", r.request_id),
                    &r.machine_id,
                    ActionType::Isolate,
                    ActionStatus::Pending,
                    0,
                    "IR-200 ward 7 outbreak",
                ),
            },
        );
    }
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 10/200 done · ETA 20s".to_string()]
    );

    // Marking again what is all marked unmarks it.
    user(&mut s, UserAction::MarkVisible);
    user(&mut s, UserAction::MarkVisible);
    assert!(s.machines.marked.is_empty());
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
            states: vec![("m000001".into(), IsolationState::Isolating)],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Unknown),
        "the update after the load began wins over the load's older listing"
    );
    // The next load's listing is newer than that update: it decides again.
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 3 });
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 3,
            states: vec![("m000001".into(), IsolationState::Isolated)],
        },
    );
    assert_eq!(
        s.machines.isolation_of("m000001"),
        Some(IsolationState::Isolated)
    );
}

#[test]
fn a_history_read_before_our_post_does_not_hide_the_new_action() {
    let mut s = loaded(3, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    let pending = action(
        "act-new",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Pending,
        0,
        "IR-1",
    );
    feed(
        &mut s,
        WorkerEvent::ActionUpdated {
            action: pending.clone(),
        },
    );
    // A history answer read just before the POST arrives late, without the action.
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![],
        },
    );
    assert_eq!(s.history.cache["m000000"].len(), 1);
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolating)
    );
    // A late answer that still shows it Pending after it ended does not revive it.
    let mut done = pending.clone();
    done.status = ActionStatus::Succeeded;
    feed(&mut s, WorkerEvent::ActionUpdated { action: done });
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![pending],
        },
    );
    assert_eq!(
        s.history.cache["m000000"][0].status,
        ActionStatus::Succeeded
    );
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolated)
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
    assert_eq!(s.machines.rows.len(), 3, "nothing is dropped on a failure");
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

#[test]
fn the_console_refuses_a_comment_nobody_can_read_with_the_cli_s_words() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "\u{200b}\u{2060}");
    assert!(update(&mut s, Action::Submit).is_empty());
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("the comment box must stay open")
    };
    let error = form.error.as_deref().unwrap_or_default();
    assert_eq!(
        error,
        cordon_core::domain::Comment::parse("\u{200b}\u{2060}")
            .expect_err("invisible")
            .to_string()
    );
    assert!(error.contains("no visible character"), "{error}");
}
