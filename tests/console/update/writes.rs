//! Writes: the comment box (targets, isolation type, the comment rule), the
//! confirmation, what is submitted, cancel, the read-only refusal and quitting with
//! requests in flight.

use super::{confirm_sentence, submits};
use crate::tui_support::*;
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::state::{Modal, Pane, PendingOp};
use cordon::tui::update::update;
use cordon_core::api::models::{ActionStatus, ActionType, IsolationState, IsolationType};
use cordon_core::worker::protocol::{WorkerEvent, WriteOp, WriteRequest};

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

/// Isolating an isolated machine (or releasing a free one) changes nothing: the
/// confirmation says so and a second y is needed to send it anyway.
#[test]
fn a_write_that_changes_nothing_needs_a_second_yes() {
    let mut s = loaded(3, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![("m000000".into(), IsolationState::Isolated(None))],
        },
    );
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-9 again");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation is open")
    };
    assert_eq!(form.no_ops, ["ws-00.contoso.local is already isolated"]);
    assert!(submits(&update(&mut s, Action::Answer(true))).is_empty());
    assert!(matches!(&s.modal, Some(Modal::Confirm(f)) if f.armed));
    assert_eq!(submits(&update(&mut s, Action::Answer(true))).len(), 1);

    // Releasing a machine that is not isolated: the same.
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::Release);
    type_text(&mut s, "IR-9 release");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation is open")
    };
    assert_eq!(form.no_ops, ["ws-01.contoso.local is not isolated"]);
    // n still means no, armed or not.
    update(&mut s, Action::Answer(true));
    assert!(submits(&update(&mut s, Action::Answer(false))).is_empty());
    assert!(s.modal.is_none());
}

/// Issue 13: a protected profile's write counts only once the profile name is typed
/// (y is just a letter there); a bulk asks for the number of machines.
#[test]
fn a_protected_profile_needs_its_name_typed_and_a_bulk_its_size() {
    let mut s = loaded(5, 80, 24, false);
    s.info.protected = true;
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-77");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation")
    };
    assert_eq!(form.challenge.as_ref().unwrap().answer, "prod-eu");
    // y types a letter; Enter with the wrong text sends nothing.
    type_text(&mut s, "y");
    assert!(submits(&update(&mut s, Action::Submit)).is_empty());
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "prod-eu");
    let sent = submits(&update(&mut s, Action::Submit));
    assert_eq!(sent.len(), 1);

    // A bulk of three: the count, not the name.
    user(&mut s, UserAction::MarkVisible);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-78");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation")
    };
    assert_eq!(form.challenge.as_ref().unwrap().answer, "5");
    type_text(&mut s, "prod-eu");
    assert!(submits(&update(&mut s, Action::Submit)).is_empty());
    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "5");
    assert_eq!(submits(&update(&mut s, Action::Submit))[0].len(), 5);
}

/// A machine carrying a protected tag (a domain controller) is protected in any
/// profile; Esc sends nothing.
#[test]
fn a_machine_with_a_protected_tag_needs_the_name_typed_in_any_profile() {
    let mut s = cordon::tui::state::State::new(info(false), now());
    update(
        &mut s,
        Action::Resize {
            width: 80,
            height: 24,
        },
    );
    let mut dc = machine(0);
    dc.machine_tags = vec!["Domain-Controller".into()];
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries([dc, machine(1)]),
            first: true,
        },
    );
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-79");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation")
    };
    let challenge = form.challenge.as_ref().unwrap();
    assert!(
        challenge.why.contains("Domain-Controller"),
        "{}",
        challenge.why
    );
    assert!(submits(&update(&mut s, Action::Back)).is_empty());
    assert!(s.modal.is_none());
    // The other machine is not protected: y sends.
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-80");
    update(&mut s, Action::Submit);
    assert_eq!(submits(&update(&mut s, Action::Answer(true))).len(), 1);
}

/// Issue 13: the profile's comment_pattern, through the one rule the CLI uses too: a
/// comment that fails it is refused inside the modal with the pattern, then passes.
#[test]
fn the_comment_pattern_refuses_then_accepts_in_the_modal() {
    let mut s = loaded(3, 80, 24, false);
    s.info.comment_rule = cordon_core::domain::CommentRule::new(Some(r"^(IR|INC)-\d+")).unwrap();
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "ransomware on ws-1");
    update(&mut s, Action::Submit);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("still the comment box")
    };
    assert!(
        form.error
            .as_deref()
            .is_some_and(|e| e.contains(r"^(IR|INC)-\d+")),
        "{:?}",
        form.error
    );
    update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
    type_text(&mut s, "IR-4711 ransomware on ws-1");
    update(&mut s, Action::Submit);
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
}

/// Issue 13: releasing a machine whose isolation is in its history pre-fills the
/// comment with that isolation; Up/Down recall this session's earlier comments.
#[test]
fn a_release_names_the_isolation_it_answers_and_comments_can_be_recalled() {
    let mut s = loaded(3, 80, 24, false);
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![action(
                "iso-1",
                "m000000",
                ActionType::Isolate,
                ActionStatus::Succeeded,
                120,
                "IR-1234 ransomware",
            )],
        },
    );
    user(&mut s, UserAction::Release);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("the comment box")
    };
    assert_eq!(
        form.input.value(),
        "release of IR-1234 ransomware isolation by analyst@contoso.com, 2h ago: "
    );
    type_text(&mut s, "cleared by EDR");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));

    // A later isolate of another machine: Up recalls that comment, Down clears it.
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::Isolate);
    update(&mut s, Action::Move(-1));
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("the comment box")
    };
    assert!(
        form.input.value().ends_with("cleared by EDR"),
        "{}",
        form.input.value()
    );
    update(&mut s, Action::Move(1));
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("the comment box")
    };
    assert_eq!(form.input.value(), "");
}

/// Issue 13: `p` in the confirmation saves the write as a plan for `cordon apply`
/// instead of sending it, and says where.
#[test]
fn p_in_the_confirmation_saves_a_plan_and_sends_nothing() {
    use cordon::tui::action::Effect;
    let mut s = loaded(3, 80, 24, false);
    user(&mut s, UserAction::MarkVisible);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-91");
    update(&mut s, Action::Submit);
    let fx = update(&mut s, Action::SavePlan);
    assert!(submits(&fx).is_empty() && s.modal.is_none());
    let [
        Effect::SavePlan {
            path,
            text,
            requests,
        },
    ] = fx.as_slice()
    else {
        panic!("one plan: {fx:?}")
    };
    assert_eq!(*requests, 3);
    let plan: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(plan["profile"], "prod-eu");
    assert_eq!(plan["requests"].as_array().unwrap().len(), 3);
    assert_eq!(plan["requests"][0]["body"]["Comment"], "IR-91");
    update(
        &mut s,
        Action::PlanSaved {
            path: path.clone(),
            result: Ok(3),
        },
    );
    assert!(
        s.status
            .notice
            .as_deref()
            .unwrap()
            .contains("cordon apply cordon-prod-eu-plan-")
    );
    // Nothing was submitted: no request is in flight.
    assert_eq!(s.in_flight(), 0);
}

/// Issue 13: a comment_template pre-fills the box with typing at its first placeholder;
/// Tab jumps to the next; Enter refuses while one is left.
#[test]
fn a_comment_template_is_filled_in_placeholder_by_placeholder() {
    let mut s = loaded(2, 80, 24, false);
    s.info.comment_template = Some("{ticket}: {reason} (ward 7)".into());
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-88");
    update(&mut s, Action::Submit);
    let Some(Modal::Comment(form)) = &s.modal else {
        panic!("the comment box")
    };
    assert_eq!(form.input.value(), "IR-88: {reason} (ward 7)");
    assert!(form.error.as_deref().unwrap().contains("{reason}"));
    update(&mut s, Action::NextField);
    type_text(&mut s, "beaconing");
    update(&mut s, Action::Submit);
    let Some(Modal::Confirm(form)) = &s.modal else {
        panic!("the confirmation")
    };
    assert_eq!(form.comment.as_str(), "IR-88: beaconing (ward 7)");
}
