//! The worker's answers to our writes and histories: outcomes, action updates, bulk
//! progress, failures, and commands that could not be sent.

use crate::tui_support::*;
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::present::batch_progress;
use cordon::tui::state::Modal;
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
        Some(IsolationState::Isolating(None))
    );
    assert_eq!(s.history.entries()[0].id, "act-1");
    assert_eq!(s.in_flight(), 1);

    let mut done = pending;
    done.status = ActionStatus::Succeeded;
    feed(&mut s, WorkerEvent::ActionUpdated { action: done });
    assert_eq!(
        s.machines.isolation_of("m000000"),
        Some(IsolationState::Isolated(None))
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
        Some(IsolationState::Isolating(None))
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
        Some(IsolationState::Isolated(None))
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

/// Issue 16: a bulk's failures can be listed with why, and marked (alone) to retry.
#[test]
fn the_failures_of_the_last_bulk_are_listed_with_why_and_can_be_marked_alone() {
    let mut s = loaded(4, 80, 24, false);
    // A stray mark from before, which the retry must not carry.
    s.machines.marked.insert("m000003".into());
    user(&mut s, UserAction::BulkFailures);
    assert!(s.modal.is_none());
    assert_eq!(
        s.status.notice.as_deref(),
        Some("No bulk has finished in this session.")
    );
    s.machines.marked.clear();
    for i in 0..3 {
        s.machines.marked.insert(format!("m00000{i}"));
    }
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-89");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    let mut a = action(
        "b1",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Pending,
        0,
        "IR-89",
    );
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: 1,
            action: a.clone(),
        },
    );
    a.status = ActionStatus::TimeOut;
    a.error_h_result = Some(-2147024891);
    feed(&mut s, WorkerEvent::ActionUpdated { action: a });
    feed(
        &mut s,
        WorkerEvent::Failed {
            request_id: 2,
            error: ErrorInfo {
                code: "BadRequest".into(),
                message: "Device is not supported\u{1b}[2J".into(),
            },
        },
    );
    let mut ok = action(
        "b3",
        "m000002",
        ActionType::Isolate,
        ActionStatus::Succeeded,
        0,
        "IR-89",
    );
    ok.status = ActionStatus::Succeeded;
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: 3,
            action: ok,
        },
    );
    let bulk = s.last_bulk.clone().expect("the bulk finished");
    assert_eq!(bulk.line, "Isolate 3/3 done · 2 failed");
    let failed: Vec<(&str, &str)> = bulk
        .failed
        .iter()
        .map(|f| (f.machine_id.as_str(), f.why.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("m000000", "ended TimeOut (error 0x80070005)"),
            ("m000001", "Device is not supported (BadRequest)"),
        ]
    );
    // The failed row says how it ended instead of "Unknown".
    assert_eq!(
        s.machines.isolation_of("m000000").map(|st| st.describe()),
        Some("Isolate timed out".to_string())
    );

    user(&mut s, UserAction::BulkFailures);
    assert!(matches!(s.modal, Some(Modal::Failures { .. })));
    s.machines.marked.insert("m000003".into());
    update(&mut s, Action::User(UserAction::MarkVisible));
    assert!(s.modal.is_none());
    let mut marked: Vec<&str> = s.machines.marked.iter().map(String::as_str).collect();
    marked.sort_unstable();
    assert_eq!(marked, ["m000000", "m000001"]);
}

/// Issue 10: the console keeps only the requests of bulks still running; a finished
/// bulk leaves its summary and failures, and the in-flight count stays true.
#[test]
fn a_finished_bulk_leaves_the_ledger_and_keeps_its_summary() {
    let mut s = loaded(5, 80, 24, false);
    user(&mut s, UserAction::MarkVisible);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-90");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    assert_eq!((s.requests.len(), s.in_flight()), (5, 5));
    let mut actions = Vec::new();
    for rid in 1..=5u64 {
        let a = action(
            &format!("c{rid}"),
            &format!("m00000{}", rid - 1),
            ActionType::Isolate,
            ActionStatus::Pending,
            0,
            "IR-90",
        );
        feed(
            &mut s,
            WorkerEvent::Accepted {
                request_id: rid,
                action: a.clone(),
            },
        );
        actions.push(a);
    }
    assert_eq!(s.in_flight(), 5, "accepted is not done");
    for (i, mut a) in actions.into_iter().enumerate() {
        a.status = if i == 4 {
            ActionStatus::Failed
        } else {
            ActionStatus::Succeeded
        };
        feed(&mut s, WorkerEvent::ActionUpdated { action: a });
        if i < 4 {
            assert_eq!(s.in_flight(), 4 - i);
            assert_eq!(s.requests.len(), 5, "kept while the bulk runs");
        }
    }
    assert_eq!((s.requests.len(), s.in_flight()), (0, 0));
    assert!(s.batches.is_empty());
    let bulk = s.last_bulk.as_ref().expect("summary kept");
    assert_eq!(bulk.line, "Isolate 5/5 done · 1 failed");
    assert_eq!(bulk.failed.len(), 1);
}

/// Issue 12: a device-code profile with no sign-in shows the URL and code in a modal,
/// the worker runs the flow, and the console loads again by itself once signed in.
#[test]
fn a_missing_sign_in_opens_the_sign_in_modal_and_reloads_after_it() {
    use cordon_core::auth::device::PromptInfo;
    let mut s = cordon::tui::state::State::new(info(false), now());
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    let fx = feed(
        &mut s,
        WorkerEvent::MachinesFailed {
            generation: 1,
            error: ErrorInfo {
                code: "SignInRequired".into(),
                message: "profile analyst signs in as you and has no valid sign-in".into(),
            },
        },
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::SignIn)))
    );
    assert!(matches!(s.modal, Some(Modal::SignIn { prompt: None, .. })));
    // A second failure while it runs does not start another.
    let again = feed(
        &mut s,
        WorkerEvent::HistoryFailed {
            machine_id: "m1".into(),
            error: ErrorInfo {
                code: "SignInRequired".into(),
                message: "x".into(),
            },
        },
    );
    assert!(
        !again
            .iter()
            .any(|e| matches!(e, Effect::Send(Command::SignIn)))
    );
    let prompt = PromptInfo {
        message: "To sign in, open https://microsoft.com/devicelogin and enter ABCD1234.".into(),
        user_code: "ABCD1234".into(),
        verification_uri: "https://microsoft.com/devicelogin".into(),
        expires_in: std::time::Duration::from_secs(900),
    };
    feed(
        &mut s,
        WorkerEvent::SignInPrompt {
            prompt: prompt.clone(),
        },
    );
    assert!(matches!(&s.modal, Some(Modal::SignIn { prompt: Some(p), .. }) if *p == prompt));
    let fx = feed(
        &mut s,
        WorkerEvent::SignedIn {
            user: Some("alice@contoso.com".into()),
        },
    );
    assert!(s.modal.is_none() && !s.signing_in);
    assert_eq!(
        s.status.notice.as_deref(),
        Some("Signed in as alice@contoso.com.")
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::LoadMachines { .. })))
    );
}

#[test]
fn esc_cancels_a_sign_in_and_r_tries_again() {
    let mut s = cordon::tui::state::State::new(info(false), now());
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    let failed = WorkerEvent::MachinesFailed {
        generation: 1,
        error: ErrorInfo {
            code: "SignInRequired".into(),
            message: "no sign-in".into(),
        },
    };
    feed(&mut s, failed.clone());
    let fx = update(&mut s, Action::Back);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::CancelSignIn)))
    );
    assert!(s.modal.is_none());
    feed(
        &mut s,
        WorkerEvent::SignInFailed {
            error: ErrorInfo {
                code: "AuthenticationFailed".into(),
                message: "the sign-in did not complete: cancelled".into(),
            },
        },
    );
    assert!(
        s.status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("press r"))
    );
    // r reloads; the load fails the same way; the sign-in starts again.
    let fx = user(&mut s, UserAction::Refresh);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::LoadMachines { .. })))
    );
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    let fx = feed(
        &mut s,
        WorkerEvent::MachinesFailed {
            generation: 2,
            error: ErrorInfo {
                code: "SignInRequired".into(),
                message: "no sign-in".into(),
            },
        },
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Send(Command::SignIn)))
    );
}
