//! Key screens rendered on a TestBackend and compared as text with insta snapshots.
//! Data and the clock are fixed, so the screens are deterministic.

#![allow(clippy::unwrap_used)]

use crate::tui_support::*;
use cordon::tui::action::{Action, UserAction};
use cordon::tui::keymap::KeyMap;
use cordon::tui::state::State;
use cordon::tui::theme::Theme;
use cordon::tui::ui::draw;
use cordon::tui::update::update;
use cordon_core::api::models::{
    ActionStatus, ActionType, IsolationState, IsolationType, Machine, Unverified,
};
use cordon_core::worker::protocol::{ErrorInfo, WorkerEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use unicode_width::UnicodeWidthStr;

fn buffer(state: &State, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let km = KeyMap::defaults();
    t.draw(|f| draw(f, state, theme, &km)).expect("draw");
    t.backend().buffer().clone()
}

/// The buffer as plain text, one line per row; also proves no escape byte was drawn.
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let sym = buf[(x, y)].symbol();
            assert!(
                !sym.chars().any(|c| c.is_control()),
                "control character drawn at ({x},{y}): {sym:?}"
            );
            out.push_str(sym);
            x += u16::try_from(sym.width().max(1)).unwrap_or(1);
        }
        out.push('\n');
    }
    out
}

fn screen(state: &State, w: u16, h: u16) -> String {
    text(&buffer(state, &Theme::default(), w, h))
}

fn at(w: u16, h: u16, readonly: bool) -> State {
    let mut s = loaded(30, w, h, readonly);
    feed(
        &mut s,
        WorkerEvent::IsolationStates {
            generation: 1,
            states: vec![
                ("m000000".into(), IsolationState::NotIsolated),
                (
                    "m000001".into(),
                    IsolationState::Isolated(Some(IsolationType::Selective)),
                ),
                ("m000002".into(), IsolationState::Isolating(None)),
                ("m000003".into(), IsolationState::Releasing),
                (
                    "m000004".into(),
                    IsolationState::Unknown(Some(Unverified {
                        release: false,
                        timed_out: false,
                    })),
                ),
                ("m000005".into(), IsolationState::Isolated(None)),
                (
                    "m000006".into(),
                    IsolationState::Unknown(Some(Unverified {
                        release: true,
                        timed_out: true,
                    })),
                ),
            ],
        },
    );
    feed(
        &mut s,
        WorkerEvent::Budget {
            minute_left: 97,
            hour_left: 1480,
        },
    );
    s
}

/// The main screen: marks, isolation states, a loaded history with a long comment.
fn main_state(w: u16, h: u16) -> State {
    let mut s = at(w, h, false);
    user(&mut s, UserAction::ToggleMark);
    user(&mut s, UserAction::MoveDown);
    user(&mut s, UserAction::ToggleMark);
    user(&mut s, UserAction::MoveUp);
    user(&mut s, UserAction::MoveUp);
    user(&mut s, UserAction::MoveDown);
    // Selected: ws-02, which is isolating.
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000002".into(),
            actions: vec![
                action(
                    "a-isolate-2",
                    "m000002",
                    ActionType::Isolate,
                    ActionStatus::InProgress,
                    2,
                    "IR-1234 ransomware beaconing to 203.0.113.7 from the radiology ward; isolate until the EDR sweep is complete and the ward lead signs off",
                ),
                action(
                    "a-release-1",
                    "m000002",
                    ActionType::Unisolate,
                    ActionStatus::Succeeded,
                    600,
                    "false positive, released",
                ),
                action(
                    "a-isolate-1",
                    "m000002",
                    ActionType::Isolate,
                    ActionStatus::Succeeded,
                    700,
                    "IR-1100 suspicious PowerShell",
                ),
                action(
                    "a-scan-1",
                    "m000002",
                    ActionType::RunAntiVirusScan,
                    ActionStatus::Failed,
                    900,
                    "weekly scan",
                ),
            ],
        },
    );
    s.status.notice = Some("Loaded 30 machines.".into());
    s
}

#[test]
fn main_screen_80x24() {
    insta::assert_snapshot!(screen(&main_state(80, 24), 80, 24));
}

#[test]
fn main_screen_120x40() {
    insta::assert_snapshot!(screen(&main_state(120, 40), 120, 40));
}

#[test]
fn main_screen_ascii_80x24() {
    let s = main_state(80, 24);
    let buf = buffer(&s, &Theme::new(None, false, true), 80, 24);
    let t = text(&buf);
    assert!(t.is_ascii(), "ascii mode drew non-ASCII:\n{t}");
    insta::assert_snapshot!(t);
}

fn comment_state(w: u16, h: u16) -> State {
    let mut s = main_state(w, h);
    user(&mut s, UserAction::Isolate);
    update(&mut s, Action::NextField);
    type_text(&mut s, "IR-1234 ransomware");
    s
}

#[test]
fn comment_modal_80x24() {
    insta::assert_snapshot!(screen(&comment_state(80, 24), 80, 24));
}

#[test]
fn comment_modal_120x40() {
    insta::assert_snapshot!(screen(&comment_state(120, 40), 120, 40));
}

#[test]
fn comment_modal_refusal_is_shown() {
    let mut s = main_state(80, 24);
    user(&mut s, UserAction::Release);
    update(&mut s, Action::Submit);
    let t = screen(&s, 80, 24);
    assert!(t.contains("A comment is required"), "{t}");
    assert!(t.contains("0/1000"), "{t}");
}

fn confirm_state(w: u16, h: u16) -> State {
    let mut s = comment_state(w, h);
    update(&mut s, Action::Submit);
    s
}

#[test]
fn confirmation_80x24() {
    insta::assert_snapshot!(screen(&confirm_state(80, 24), 80, 24));
}

#[test]
fn confirmation_120x40() {
    insta::assert_snapshot!(screen(&confirm_state(120, 40), 120, 40));
}

#[test]
fn help_80x24() {
    let mut s = main_state(80, 24);
    user(&mut s, UserAction::Help);
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn help_scrolls_to_its_last_rows_on_a_short_terminal() {
    let mut s = main_state(80, 24);
    user(&mut s, UserAction::Help);
    assert!(!screen(&s, 80, 24).contains("confirmations default to No"));
    for _ in 0..10 {
        update(&mut s, Action::Move(1)); // more than needed: the scroll stops at the end
    }
    let t = screen(&s, 80, 24);
    assert!(t.contains("confirmations default to No"), "{t}");
    assert!(t.contains("scroll: 8-25 of 25"), "{t}");
    update(&mut s, Action::Move(-1));
    let t = screen(&s, 80, 24);
    assert!(t.contains("scroll: 7-24 of 25"), "{t}");
    // Tall enough for everything: no scrolling offered.
    let mut tall = main_state(120, 40);
    user(&mut tall, UserAction::Help);
    assert!(screen(&tall, 120, 40).contains("Help (Esc closes) "));
}

#[test]
fn help_120x40() {
    let mut s = main_state(120, 40);
    user(&mut s, UserAction::Help);
    insta::assert_snapshot!(screen(&s, 120, 40));
}

fn error_state(w: u16, h: u16) -> State {
    let mut s = at(w, h, true);
    feed(
        &mut s,
        WorkerEvent::HistoryFailed {
            machine_id: "m000000".into(),
            error: ErrorInfo {
                code: "Forbidden".into(),
                message: "The app lacks Machine.Read.All; grant it in Entra ID.".into(),
            },
        },
    );
    user(&mut s, UserAction::Isolate);
    s
}

#[test]
fn error_state_80x24() {
    insta::assert_snapshot!(screen(&error_state(80, 24), 80, 24));
}

#[test]
fn error_state_120x40() {
    insta::assert_snapshot!(screen(&error_state(120, 40), 120, 40));
}

#[test]
fn quit_confirm_80x24() {
    let mut s = main_state(80, 24);
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "x");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    user(&mut s, UserAction::Quit);
    insta::assert_snapshot!(screen(&s, 80, 24));
}

fn hostile_machines() -> Vec<Machine> {
    let mut evil = machine(0);
    evil.computer_dns_name = Some("\u{1b}]0;pwned\u{7}\u{1b}[2Jevil\u{1b}[31m-host".into());
    evil.os_platform = Some("Win\u{1b}[5mdows".into());
    let mut bidi = machine(1);
    bidi.computer_dns_name = Some("invoice\u{202e}fdp.exe".into());
    bidi.health_status = Some("Act\u{0}ive\r\n".into());
    let mut cjk = machine(2);
    cjk.computer_dns_name = Some("東京-端末-サーバー-経理部-第二".into());
    let mut long = machine(3);
    long.computer_dns_name = Some("x".repeat(300));
    long.machine_tags = vec!["\u{9b}31mtag".into()];
    vec![evil, bidi, cjk, long, machine(4)]
}

fn hostile_state(w: u16, h: u16) -> State {
    let mut s = State::new(info(false), now());
    update(
        &mut s,
        Action::Resize {
            width: w,
            height: h,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries(hostile_machines()),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 1,
            total: 5,
        },
    );
    let mut a = action(
        "act\u{1b}[1m",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Pending,
        1,
        "\u{1b}]8;;http://evil\u{1b}\\click\u{1b}]8;;\u{1b}\\ me \u{202e}gnp.exe 東京",
    );
    a.requestor = Some("\u{1b}[8mhidden@evil".into());
    feed(
        &mut s,
        WorkerEvent::History {
            machine_id: "m000000".into(),
            actions: vec![a],
        },
    );
    feed(
        &mut s,
        WorkerEvent::Notice {
            message: "throttled\u{1b}[2J, waiting".into(),
        },
    );
    s
}

#[test]
fn hostile_strings_80x24() {
    let s = hostile_state(80, 24);
    let t = screen(&s, 80, 24);
    assert!(!t.contains('\u{202e}'), "bidi override drawn");
    assert!(!t.contains("pwned"), "OSC payload drawn");
    insta::assert_snapshot!(t);
}

#[test]
fn hostile_strings_120x40_in_modal() {
    let mut s = hostile_state(120, 40);
    for _ in 0..4 {
        user(&mut s, UserAction::ToggleMark);
    }
    user(&mut s, UserAction::Isolate);
    update(&mut s, Action::Paste("why\u{1b}[2J \u{202e}evil".into()));
    update(&mut s, Action::Submit);
    let t = screen(&s, 120, 40);
    assert!(!t.contains('\u{202e}'));
    // Layout holds: every row is exactly the terminal width.
    for line in t.lines() {
        assert_eq!(line.width(), 120, "row width changed: {line:?}");
    }
    insta::assert_snapshot!(t);
}

#[test]
fn no_color_draws_no_colours() {
    let s = main_state(80, 24);
    let buf = buffer(&s, &Theme::new(Some("#ff0000"), true, false), 80, 24);
    for cell in buf.content() {
        assert_eq!(cell.fg, Color::Reset);
        assert_eq!(cell.bg, Color::Reset);
    }
}

#[test]
fn profile_colour_tints_the_header() {
    let s = main_state(80, 24);
    let buf = buffer(&s, &Theme::new(Some("#aa0000"), false, false), 80, 24);
    assert_eq!(buf[(0, 0)].bg, Color::Rgb(0xaa, 0, 0));
    assert_eq!(buf[(79, 0)].bg, Color::Rgb(0xaa, 0, 0));
    let buf = buffer(&s, &Theme::new(Some("green"), false, false), 80, 24);
    assert_eq!(buf[(0, 0)].bg, Color::Green);
    // Without a profile colour the palette stays within the 16 named colours.
    let buf = buffer(&s, &Theme::default(), 80, 24);
    for cell in buf.content() {
        assert!(!matches!(cell.fg, Color::Rgb(..) | Color::Indexed(_)));
        assert!(!matches!(cell.bg, Color::Rgb(..) | Color::Indexed(_)));
    }
}

#[test]
fn narrow_terminal_drops_columns_in_order() {
    use cordon::tui::ui::{Column, columns_for};
    let (wide, _) = columns_for(118);
    assert!(wide.contains(&Column::Exposure));
    let (c80, name) = columns_for(78);
    assert!(!c80.contains(&Column::Exposure) && c80.contains(&Column::Risk));
    assert!(name >= 16);
    let (tiny, _) = columns_for(40);
    assert!(tiny.contains(&Column::Name) && tiny.contains(&Column::Isolation));
    assert!(!tiny.contains(&Column::Os) && !tiny.contains(&Column::Health));
}

#[test]
fn header_and_title_show_profile_counts_and_readonly() {
    let mut s = at(120, 40, true);
    user(&mut s, UserAction::ToggleMark);
    user(&mut s, UserAction::Filter);
    type_text(&mut s, "ws-1");
    update(&mut s, Action::Submit);
    let t = screen(&s, 120, 40);
    let first = t.lines().next().unwrap_or_default();
    assert!(
        first.contains("PROD-EU") && first.contains("READ-ONLY"),
        "{first}"
    );
    assert!(t.contains("Machines 10/30"), "{t}");
    assert!(t.contains("1 marked"), "{t}");
    assert!(t.contains("filter: ws-1"), "{t}");
}

#[test]
fn large_list_renders_only_the_viewport() {
    let mut s = loaded(100_000, 120, 40, false);
    user(&mut s, UserAction::Last);
    let t = screen(&s, 120, 40);
    assert!(t.contains("Machines 100,000/100,000"), "{t}");
    assert!(t.contains("ws-99999.contoso.local"), "{t}");
}

#[test]
fn ascii_mode_stays_ascii_on_every_screen() {
    let ascii = Theme::new(None, false, true);
    let mut states = vec![
        main_state(80, 24),
        comment_state(80, 24),
        confirm_state(80, 24),
        error_state(80, 24),
    ];
    let mut help = main_state(80, 24);
    user(&mut help, UserAction::Help);
    states.push(help);
    let mut empty = State::new(info(false), now());
    update(
        &mut empty,
        Action::Resize {
            width: 80,
            height: 24,
        },
    );
    states.push(empty);
    for s in &states {
        let t = text(&buffer(s, &ascii, 80, 24));
        assert!(t.is_ascii(), "non-ASCII in ascii mode:\n{t}");
    }
}

#[test]
fn bulk_progress_shows_in_the_list_title() {
    let mut s = main_state(120, 40); // ws-00 and ws-02 are marked
    user(&mut s, UserAction::Isolate);
    type_text(&mut s, "IR-5");
    update(&mut s, Action::Submit);
    update(&mut s, Action::Answer(true));
    let a = action(
        "b1",
        "m000000",
        ActionType::Isolate,
        ActionStatus::Succeeded,
        0,
        "IR-5",
    );
    feed(
        &mut s,
        WorkerEvent::Accepted {
            request_id: 1,
            action: a,
        },
    );
    s.now += chrono::Duration::seconds(30);
    let t = screen(&s, 120, 40);
    assert!(t.contains("Isolate 1/2 done · ETA 30s"), "{t}");
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 6), (40, 10), (60, 15), (200, 8)] {
        let mut states = vec![
            main_state(w, h),
            comment_state(w, h),
            confirm_state(w, h),
            error_state(w, h),
        ];
        let mut help = main_state(w, h);
        user(&mut help, UserAction::Help);
        states.push(help);
        let mut filtering = main_state(w, h);
        user(&mut filtering, UserAction::Filter);
        type_text(
            &mut filtering,
            "a very long filter text that is wider than the screen",
        );
        states.push(filtering);
        for s in &states {
            text(&buffer(s, &Theme::default(), w, h));
        }
    }
}

/// A failed first load at 80x24: the long error is readable whole, advice included, in
/// the empty list (it was cut at the status line's width before).
#[test]
fn a_failed_load_is_readable_whole_at_80x24() {
    let mut s = State::new(info(false), now());
    update(
        &mut s,
        Action::Resize {
            width: 80,
            height: 24,
        },
    );
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    feed(
        &mut s,
        WorkerEvent::MachinesFailed {
            generation: 1,
            error: ErrorInfo {
                code: "SignInFailed".into(),
                message: "cannot reach the sign-in endpoint https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token (connection refused); check the network, a proxy (HTTPS_PROXY) or the profile's authority, then press r".into(),
            },
        },
    );
    let t = screen(&s, 80, 24);
    let flat: String = t.lines().collect::<Vec<_>>().join(" ").replace('│', " ");
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("then press r"), "{t}");
    assert!(flat.contains("check the network"), "{t}");
    insta::assert_snapshot!(t);
}

/// Issue 16: the failures of the last bulk, each with its whole reason, at 80x24.
#[test]
fn bulk_failures_80x24() {
    use cordon::tui::state::{BulkOutcome, FailedTarget};
    let mut s = main_state(80, 24);
    s.last_bulk = Some(BulkOutcome {
        verb: "Isolate",
        total: 32,
        line: "Isolate 32/32 done · 3 failed".into(),
        failed: vec![
            FailedTarget {
                machine_id: "m000004".into(),
                name: "ws-04.contoso.local".into(),
                why: "ended TimeOut".into(),
            },
            FailedTarget {
                machine_id: "m000005".into(),
                name: "mob-hr-00047.contoso.local".into(),
                why: "Isolation is not supported on iOS devices; use Intune to wipe or lock it instead (OsPlatformNotSupported)".into(),
            },
            FailedTarget {
                machine_id: "m000006".into(),
                name: "ws-06.contoso.local".into(),
                why: "ended Failed (error 0x80070005)".into(),
            },
        ],
    });
    user(&mut s, UserAction::BulkFailures);
    let t = screen(&s, 80, 24);
    assert!(t.contains("Intune to wipe or lock it instead"), "{t}");
    insta::assert_snapshot!(t);
}

/// Issue 13: the protected confirmation, typed half-way, at 80x24.
#[test]
fn protected_confirmation_80x24() {
    let mut s = main_state(80, 24);
    s.info.protected = true;
    s.machines.marked.clear();
    user(&mut s, UserAction::Isolate);
    for c in "IR-1234".chars() {
        update(&mut s, Action::Text(tui_input::InputRequest::InsertChar(c)));
    }
    update(&mut s, Action::Submit);
    for c in "prod".chars() {
        update(&mut s, Action::Text(tui_input::InputRequest::InsertChar(c)));
    }
    let t = screen(&s, 80, 24);
    assert!(t.contains("Type prod-eu and press Enter"), "{t}");
    insta::assert_snapshot!(t);
}

/// Issue 13: the history marks a release with ↩ and, selected, names the isolation it
/// answers.
#[test]
fn a_release_in_the_history_names_the_isolation_it_answers() {
    let mut s = main_state(120, 40);
    user(&mut s, UserAction::SwitchPane);
    user(&mut s, UserAction::MoveDown);
    let t = screen(&s, 120, 40);
    assert!(t.contains("Unisolate ↩"), "{t}");
    assert!(
        t.contains("Releases the isolation of 06-01 00:20 (IR-1100"),
        "{t}"
    );
}

/// Issue 13 at 80x24: sorted by risk (the header's arrow), the exposure column hidden,
/// the command line open with a half-typed command.
#[test]
fn sorted_list_and_command_line_80x24() {
    let mut s = main_state(80, 24);
    for text in ["sort risk desc", "hide os"] {
        user(&mut s, UserAction::CommandLine);
        for c in text.chars() {
            update(&mut s, Action::Text(tui_input::InputRequest::InsertChar(c)));
        }
        update(&mut s, Action::Submit);
    }
    user(&mut s, UserAction::CommandLine);
    for c in "filter iso:".chars() {
        update(&mut s, Action::Text(tui_input::InputRequest::InsertChar(c)));
    }
    let t = screen(&s, 80, 24);
    assert!(t.contains("Risk▼") && !t.contains(" OS "), "{t}");
    assert!(t.contains(":filter iso:"), "{t}");
    insta::assert_snapshot!(t);
}
