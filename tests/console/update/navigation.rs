//! Moving in the list: paging and jumps, the filter box, and marking what the filter
//! shows.

use super::submits;
use crate::tui_support::*;
use cordon::tui::action::{Action, UserAction};
use cordon::tui::present::batch_progress;
use cordon::tui::update::update;
use cordon_core::api::models::{ActionStatus, ActionType};
use cordon_core::worker::protocol::WorkerEvent;

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
        .map(|&i| s.machines.rows()[i].machine.id().to_string())
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

/// Issue 16 (with 13's field filters): the filter understands fields and the isolation
/// state, and a state filter follows the states a refresh brings.
#[test]
fn the_filter_understands_fields_and_isolation_states() {
    use cordon_core::api::models::{IsolationState, IsolationType, Unverified};
    let n = 300;
    let mut s = loaded(n, 120, 40, false);
    let failed = |timed_out| {
        IsolationState::Unknown(Some(Unverified {
            release: false,
            timed_out,
        }))
    };
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![
                (
                    "m000001".into(),
                    IsolationState::Isolated(Some(IsolationType::Selective)),
                ),
                ("m000002".into(), failed(false)),
                ("m000004".into(), failed(true)),
            ],
        },
    );
    let shown = |s: &cordon::tui::state::State| -> Vec<String> {
        s.machines
            .visible
            .iter()
            .map(|&i| s.machines.rows()[i].machine.id().to_string())
            .collect()
    };
    let count_where = |f: fn(usize) -> bool| (0..n).filter(|&i| f(i)).count();
    user(&mut s, UserAction::Filter);
    for (query, expected) in [
        ("os:linux", count_where(|i| i % 3 == 0)),
        (
            "OS:Linux health:inact",
            count_where(|i| i % 3 == 0 && i % 4 == 0),
        ),
        (
            "tag:ward-7 os:windows",
            count_where(|i| i % 5 == 0 && i % 3 != 0),
        ),
        (
            "ip:192.168.1. risk:high",
            count_where(|i| i / 250 == 1 && i % 4 == 3),
        ),
        ("iso:not", n - 3),
        (
            "ws-1 iso:not",
            count_where(|i| format!("ws-{i:02}").contains("ws-1")),
        ),
    ] {
        update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
        type_text(&mut s, query);
        assert_eq!(s.machines.visible.len(), expected, "{query}");
    }
    for (query, expected) in [
        ("iso:failed", vec!["m000002", "m000004"]),
        ("iso:timeout", vec!["m000004"]),
        ("iso:sel", vec!["m000001"]),
        ("state:isolated", vec!["m000001"]),
    ] {
        update(&mut s, Action::Text(tui_input::InputRequest::DeleteLine));
        type_text(&mut s, query);
        assert_eq!(shown(&s), expected, "{query}");
    }
    // The next refresh finds m000002 isolated after all: the state filter follows.
    update(&mut s, Action::Submit);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 2 });
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 2,
            states: vec![
                ("m000001".into(), IsolationState::Isolated(None)),
                ("m000002".into(), IsolationState::Isolated(None)),
            ],
        },
    );
    assert_eq!(shown(&s), ["m000001", "m000002"]);
}

/// Issue 13: `s` sorts by the next column, `S` reverses, the selection stays on the
/// same machine, a filter keeps the order, and hidden marks are still found.
#[test]
fn sorting_cycles_columns_keeps_the_selection_and_survives_the_filter() {
    let mut s = loaded(12, 120, 40, false);
    user(&mut s, UserAction::MoveDown); // m000001
    let ids = |s: &cordon::tui::state::State| -> Vec<String> {
        s.machines
            .visible
            .iter()
            .map(|&i| s.machines.rows()[i].machine.id().to_string())
            .collect()
    };
    let risks_shown = |s: &cordon::tui::state::State| -> Vec<String> {
        s.machines
            .visible
            .iter()
            .map(|&i| {
                let risk = s.machines.rows()[i].machine.risk_score();
                risk.unwrap_or("").to_string()
            })
            .collect()
    };
    user(&mut s, UserAction::SortNext); // name
    assert_eq!(s.machines.selected_id(), Some("m000001"));
    user(&mut s, UserAction::SortNext); // last seen: oldest first
    let order = ids(&s);
    assert_eq!(
        order.first().map(String::as_str),
        Some("m000011"),
        "{order:?}"
    );
    user(&mut s, UserAction::SortNext); // risk
    user(&mut s, UserAction::SortReverse); // risk, highest first
    let risks = risks_shown(&s);
    assert!(risks.iter().take(3).all(|r| r == "High"), "{risks:?}");
    assert!(risks.iter().rev().take(3).all(|r| r == "None"), "{risks:?}");
    // Descending, equal risks still keep the service's order.
    assert_eq!(ids(&s)[..3], ["m000003", "m000007", "m000011"]);
    assert_eq!(s.machines.selected_id(), Some("m000001"));
    assert!(
        s.status
            .notice
            .as_deref()
            .unwrap()
            .contains("risk, descending")
    );
    // A filter keeps the order, and a mark it hides is still counted.
    s.machines.marked.insert("m000000".into());
    user(&mut s, UserAction::Filter);
    type_text(&mut s, "os:windows");
    let risks = risks_shown(&s);
    assert_eq!(risks.first().map(String::as_str), Some("High"), "{risks:?}");
    assert_eq!(s.machines.marked_hidden().len(), 1);
    // Each keystroke kept the sorted order, narrowing (typing) and widening (deleting).
    let sorted_again = |s: &cordon::tui::state::State| {
        let mut again = s.machines.clone();
        again.apply_sort();
        again.visible
    };
    assert_eq!(s.machines.visible, sorted_again(&s));
    update(
        &mut s,
        Action::Text(tui_input::InputRequest::DeletePrevChar),
    );
    update(
        &mut s,
        Action::Text(tui_input::InputRequest::DeletePrevChar),
    );
    type_text(&mut s, " ws");
    assert_eq!(s.machines.visible.len(), 8, "os:windo ws");
    assert_eq!(s.machines.visible, sorted_again(&s));
    // Back to the service's order after the last column.
    update(&mut s, Action::Submit);
    for _ in 0..5 {
        user(&mut s, UserAction::SortNext);
    }
    assert!(s.machines.sort.is_none());
    let order = ids(&s);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

/// Issue 13: `x` exports what the pane shows — the list as filtered and sorted, or the
/// history — as CSV (cells cleaned and quoted, no formula), and the status bar names
/// the file once the runner has written it.
#[test]
fn export_writes_what_the_pane_shows() {
    use cordon::tui::action::Effect;
    let mut s = loaded(12, 120, 40, false);
    user(&mut s, UserAction::Filter);
    type_text(&mut s, "os:linux");
    update(&mut s, Action::Submit);
    user(&mut s, UserAction::SortNext);
    user(&mut s, UserAction::SortReverse); // name, descending
    let fx = user(&mut s, UserAction::Export);
    let [Effect::Export { path, text, rows }] = fx.as_slice() else {
        panic!("one export: {fx:?}")
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(*rows, s.machines.visible.len());
    assert_eq!(lines.len(), rows + 1);
    assert!(lines[0].starts_with("computerDnsName,id,osPlatform"));
    assert!(
        lines[1].starts_with("ws-09.contoso.local,m000009,Linux"),
        "{}",
        lines[1]
    );
    assert!(
        path.to_string_lossy()
            .starts_with("cordon-prod-eu-machines-")
    );
    update(
        &mut s,
        Action::Exported {
            path: path.clone(),
            result: Ok(*rows),
        },
    );
    assert!(
        s.status
            .notice
            .as_deref()
            .unwrap()
            .contains("Exported 4 row(s) to cordon-prod-eu-machines-")
    );

    // The history pane exports the history; a hostile comment stays one cell.
    let selected = s.machines.selected_id().unwrap().to_string();
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: selected.clone(),
            actions: vec![action(
                "a1",
                &selected,
                ActionType::Isolate,
                ActionStatus::Succeeded,
                5,
                "=HYPERLINK(\"evil\"), then\u{1b}[2J more",
            )],
        },
    );
    user(&mut s, UserAction::SwitchPane);
    let fx = user(&mut s, UserAction::Export);
    let [Effect::Export { text, rows, .. }] = fx.as_slice() else {
        panic!("one export")
    };
    assert_eq!(*rows, 1);
    let row = text.lines().nth(1).unwrap();
    assert!(
        row.contains(r#","'=HYPERLINK(""evil""), then more","#),
        "{row}"
    );
    assert!(!row.contains('\u{1b}'));
}

/// Issue 13: the `:` command line — completion, filter, sort, export to a named file,
/// isolate Selective, history, and a clear word for what it does not know.
#[test]
fn the_command_line_runs_completes_and_remembers() {
    use cordon::tui::action::Effect;
    use cordon::tui::state::{Modal, PendingOp, SortKey};
    use cordon_core::api::models::IsolationType;
    let mut s = loaded(12, 120, 40, false);
    let run = |s: &mut cordon::tui::state::State, text: &str| {
        user(s, UserAction::CommandLine);
        type_text(s, text);
        update(s, Action::Submit)
    };
    // Tab completes a command and a sort column.
    user(&mut s, UserAction::CommandLine);
    type_text(&mut s, "so");
    update(&mut s, Action::NextField);
    type_text(&mut s, "ri");
    update(&mut s, Action::NextField);
    assert_eq!(s.command.as_ref().unwrap().input.value(), "sort risk");
    type_text(&mut s, " desc");
    update(&mut s, Action::Submit);
    assert!(s.command.is_none());
    assert_eq!(s.machines.sort, Some((SortKey::Risk, true)));

    run(&mut s, "filter os:linux");
    assert_eq!(s.machines.visible.len(), 4);
    let fx = run(&mut s, "export /tmp/cordon-test-export.csv");
    assert!(matches!(
        fx.as_slice(),
        [Effect::Export { path, rows: 4, .. }] if path.to_str() == Some("/tmp/cordon-test-export.csv")
    ));
    run(&mut s, "isolate selective");
    assert!(matches!(
        &s.modal,
        Some(Modal::Comment(f)) if f.op == PendingOp::Isolate(IsolationType::Selective)
    ));
    update(&mut s, Action::Back);
    run(&mut s, "frobnicate");
    assert!(
        s.status
            .error
            .as_deref()
            .unwrap()
            .contains("No command 'frobnicate'")
    );
    // Up recalls the last command, then the one before.
    user(&mut s, UserAction::CommandLine);
    update(&mut s, Action::Move(-1));
    assert_eq!(s.command.as_ref().unwrap().input.value(), "frobnicate");
    update(&mut s, Action::Move(-1));
    assert_eq!(
        s.command.as_ref().unwrap().input.value(),
        "isolate selective"
    );
    update(&mut s, Action::Back);
    assert!(s.command.is_none());
}

/// Issue 13: the mouse — a click selects the machine under it, the wheel moves, a
/// header click sorts by that column (again: reverse); a click in a modal does nothing.
#[test]
fn clicks_select_the_wheel_moves_and_a_header_click_sorts() {
    use cordon::tui::input::map_event;
    use cordon::tui::keymap::KeyMap;
    use cordon::tui::state::SortKey;
    use crossterm::event::{Event, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let keymap = KeyMap::defaults();
    let mut s = loaded(30, 120, 40, false);
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let click = |column, row| mouse(MouseEventKind::Down(MouseButton::Left), column, row);
    // The list's border is at row 1 (under the header line), its header row at 2.
    let act = |s: &mut cordon::tui::state::State, ev: Event| {
        let action = map_event(s, &ev, &keymap);
        if let Some(a) = action.clone() {
            update(s, a);
        }
        action
    };
    act(&mut s, click(10, 3 + 4));
    assert_eq!(s.machines.selected_id(), Some("m000004"));
    act(&mut s, mouse(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(s.machines.selected_id(), Some("m000005"));
    // "Risk" header: the columns are Mark(1) Name(..) OS(12) Health(10) Risk(8).
    let (cols, name_w) = cordon::tui::ui::columns_for(118);
    let risk_x = 1 + cols
        .iter()
        .take_while(|c| **c != cordon::tui::ui::Column::Risk)
        .map(|c| if *c == cordon::tui::ui::Column::Name { name_w } else { c.width() } + 1)
        .sum::<u16>();
    act(&mut s, click(risk_x + 1, 2));
    assert_eq!(s.machines.sort, Some((SortKey::Risk, false)));
    act(&mut s, click(risk_x + 1, 2));
    assert_eq!(s.machines.sort, Some((SortKey::Risk, true)));
    assert_eq!(
        s.machines.selected_id(),
        Some("m000005"),
        "the selection stays"
    );
    // A modal is open: clicks never confirm or change anything.
    user(&mut s, UserAction::Isolate);
    assert!(act(&mut s, click(10, 5)).is_none());
}

/// Issue 13: the column chooser — `[ui] columns` picks the list's columns at start,
/// `:hide`/`:show` toggle one, the name always stays, and a header click still maps.
#[test]
fn columns_can_be_chosen_in_the_config_and_toggled() {
    use cordon::tui::state::SortKey;
    use cordon::tui::ui::{Column, columns_shown};
    let ctx = cordon::tui::TuiContext {
        profile: "p".into(),
        columns: Some(vec!["name".into(), "isolation".into(), "last_seen".into()]),
        ..Default::default()
    };
    let s = cordon::tui::initial_state(&ctx);
    let (cols, _) = columns_shown(200, &s.machines.hidden_columns);
    assert_eq!(
        cols,
        [
            Column::Mark,
            Column::Name,
            Column::Isolation,
            Column::LastSeen
        ]
    );

    let mut s = loaded(5, 200, 40, false);
    user(&mut s, UserAction::CommandLine);
    type_text(&mut s, "hide risk");
    update(&mut s, Action::Submit);
    assert_eq!(s.machines.hidden_columns, [SortKey::Risk]);
    let (cols, _) = columns_shown(198, &s.machines.hidden_columns);
    assert!(!cols.contains(&Column::Risk) && cols.contains(&Column::Os));
    user(&mut s, UserAction::CommandLine);
    type_text(&mut s, "hide name");
    update(&mut s, Action::Submit);
    assert!(s.status.error.as_deref().unwrap().contains("always shows"));
    user(&mut s, UserAction::CommandLine);
    type_text(&mut s, "show risk");
    update(&mut s, Action::Submit);
    assert!(s.machines.hidden_columns.is_empty());
}

/// `:export FILE.json` writes JSON, one object a row, text cleaned.
#[test]
fn export_to_a_json_file_writes_json() {
    use cordon::tui::action::Effect;
    let mut s = loaded(4, 120, 40, false);
    user(&mut s, UserAction::CommandLine);
    type_text(&mut s, "export list.json");
    let fx = update(&mut s, Action::Submit);
    let [Effect::Export { path, text, rows }] = fx.as_slice() else {
        panic!("one export")
    };
    assert_eq!(path.to_str(), Some("list.json"));
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v.as_array().unwrap().len(), *rows);
    assert_eq!(v[0]["computerDnsName"], "ws-00.contoso.local");
}
