//! The worker's answers to our writes and histories: outcomes, action updates, bulk
//! progress, failures, and commands that could not be sent.

use crate::tui_support::*;
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::present::batch_progress;
use cordon::tui::update::update;
use cordon_core::api::models::{ActionStatus, ActionType, IsolationState};
use cordon_core::worker::protocol::{Command, ErrorInfo, WorkerEvent};

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
    // The bulk's result stays on the list's border (a notice is soon overwritten).
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 4/4 done · 1 failed".to_string()]
    );
    assert_eq!(
        s.status.notice.as_deref(),
        Some("Isolate 4/4 done · 1 failed")
    );
    assert_eq!(s.in_flight(), 0);
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

/// An action accepted but ended Failed, TimeOut or Cancelled counts as failed in the
/// bulk's result (it used to read "done" with nothing failed).
#[test]
fn actions_that_end_badly_count_as_failed_in_the_bulk_result() {
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::MarkVisible);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-88");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    for (rid, status) in [
        (1, ActionStatus::Succeeded),
        (2, ActionStatus::Failed),
        (3, ActionStatus::TimeOut),
    ] {
        let mut a = action(
            &format!("b{rid}"),
            &format!("m00000{}", rid - 1),
            ActionType::Isolate,
            ActionStatus::Pending,
            0,
            "IR-88",
        );
        feed(
            &mut s,
            WorkerEvent::Accepted {
                request_id: rid,
                action: a.clone(),
            },
        );
        a.status = status;
        feed(&mut s, WorkerEvent::ActionUpdated { action: a });
    }
    assert_eq!(
        batch_progress(&s, " · "),
        vec!["Isolate 3/3 done · 2 failed".to_string()]
    );
}
