//! The keymap: embedded defaults, user overrides and validation, and the mapping of
//! terminal events to actions per mode.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::tui_support::*;
use cordon::tui::action::{Action, UserAction};
use cordon::tui::input::{map_event, map_key};
use cordon::tui::keymap::{KeyMap, KeyMapError};
use cordon::tui::ui::help_rows;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn overrides(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(a, ks)| (a.to_string(), ks.iter().map(|k| k.to_string()).collect()))
        .collect()
}

#[test]
fn defaults_are_valid_and_bind_every_action() {
    let km = KeyMap::from_config(&BTreeMap::new()).expect("embedded defaults are valid");
    for a in UserAction::ALL {
        assert!(!km.keys_for(a).is_empty(), "{} has no key", a.name());
    }
    assert_eq!(
        km.lookup(&key(KeyCode::Char('j'))),
        Some(UserAction::MoveDown)
    );
    assert_eq!(km.lookup(&key(KeyCode::Down)), Some(UserAction::MoveDown));
    assert_eq!(
        km.lookup(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        Some(UserAction::Last)
    );
    assert_eq!(
        km.lookup(&key(KeyCode::Char(' '))),
        Some(UserAction::ToggleMark)
    );
    assert_eq!(
        km.lookup(&key(KeyCode::Char('i'))),
        Some(UserAction::Isolate)
    );
}

#[test]
fn override_replaces_that_actions_keys() {
    let km = KeyMap::from_config(&overrides(&[("isolate", &["I", "ctrl-i"])])).expect("valid");
    assert_eq!(km.lookup(&key(KeyCode::Char('i'))), None);
    assert_eq!(
        km.lookup(&KeyEvent::new(KeyCode::Char('I'), KeyModifiers::SHIFT)),
        Some(UserAction::Isolate)
    );
    assert_eq!(km.describe(UserAction::Isolate), "I, ctrl-i");
    // Others keep their defaults.
    assert_eq!(
        km.lookup(&key(KeyCode::Char('u'))),
        Some(UserAction::Release)
    );
}

#[test]
fn conflict_names_both_actions() {
    let err = KeyMap::from_config(&overrides(&[("isolate", &["u"])])).expect_err("conflict");
    assert_eq!(
        err,
        KeyMapError::Conflict {
            key: "u".into(),
            first: "isolate".into(),
            second: "release".into()
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("isolate") && msg.contains("release"), "{msg}");
}

#[test]
fn unknown_action_and_bad_key_are_rejected() {
    let err = KeyMap::from_config(&overrides(&[("nuke_everything", &["n"])])).expect_err("unknown");
    assert!(matches!(&err, KeyMapError::UnknownAction(a) if a == "nuke_everything"));
    assert!(err.to_string().contains("nuke_everything"));

    let err = KeyMap::from_config(&overrides(&[("refresh", &["ctrl-shift-banana"])]))
        .expect_err("bad key");
    assert!(
        matches!(&err, KeyMapError::BadKey { action, key } if action == "refresh" && key == "ctrl-shift-banana")
    );

    let err = KeyMap::from_config(&overrides(&[("quit", &["ctrl-c"])])).expect_err("reserved");
    assert!(matches!(err, KeyMapError::Reserved { .. }));

    let err = KeyMap::from_config(&overrides(&[("quit", &[])])).expect_err("unbound");
    assert!(matches!(err, KeyMapError::Unbound(a) if a == "quit"));
}

#[test]
fn help_lists_every_bindable_action_with_its_live_keys() {
    let km = KeyMap::from_config(&overrides(&[("refresh", &["F5", "R"])])).expect("valid");
    let rows = help_rows(&km);
    for a in UserAction::ALL {
        assert!(
            rows.iter()
                .any(|(keys, desc)| *keys == km.describe(a) && desc == a.description()),
            "help is missing {}",
            a.name()
        );
    }
    assert!(rows.iter().any(|(k, _)| k == "F5, R"));
}

#[test]
fn names_round_trip() {
    for a in UserAction::ALL {
        assert_eq!(UserAction::from_name(a.name()), Some(a));
    }
}

#[test]
fn text_fields_swallow_bound_keys() {
    let km = KeyMap::defaults();
    let mut s = loaded(3, 80, 24, false);
    // Normal mode: 'i' isolates.
    assert!(matches!(
        map_key(&s, key(KeyCode::Char('i')), &km),
        Some(Action::User(UserAction::Isolate))
    ));
    cordon::tui::update::update(&mut s, Action::User(UserAction::Isolate));
    // In the comment box, 'q', 'i' and '?' are text, Tab cycles, Enter submits.
    for c in ['q', 'i', '?', 'y'] {
        assert!(matches!(
            map_key(&s, key(KeyCode::Char(c)), &km),
            Some(Action::Text(tui_input::InputRequest::InsertChar(x))) if x == c
        ));
    }
    assert!(matches!(
        map_key(&s, key(KeyCode::Tab), &km),
        Some(Action::NextField)
    ));
    assert!(matches!(
        map_key(&s, key(KeyCode::Enter), &km),
        Some(Action::Submit)
    ));
    assert!(matches!(
        map_event(&s, &Event::Paste("IR-1".into()), &km),
        Some(Action::Paste(p)) if p == "IR-1"
    ));
    // Ctrl-C is never text.
    assert!(matches!(
        map_key(
            &s,
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            &km
        ),
        Some(Action::ForceQuit)
    ));
    // Key releases are ignored.
    let mut release = key(KeyCode::Char('x'));
    release.kind = KeyEventKind::Release;
    assert!(map_key(&s, release, &km).is_none());
}

#[test]
fn confirmation_accepts_only_y_and_n() {
    let km = KeyMap::defaults();
    let mut s = loaded(1, 80, 24, false);
    cordon::tui::update::update(&mut s, Action::User(UserAction::Isolate));
    type_text(&mut s, "x");
    cordon::tui::update::update(&mut s, Action::Submit);
    assert!(matches!(
        map_key(&s, key(KeyCode::Char('y')), &km),
        Some(Action::Answer(true))
    ));
    assert!(matches!(
        map_key(&s, key(KeyCode::Char('n')), &km),
        Some(Action::Answer(false))
    ));
    assert!(matches!(
        map_key(&s, key(KeyCode::Enter), &km),
        Some(Action::Submit)
    ));
    assert!(map_key(&s, key(KeyCode::Char('i')), &km).is_none());
    // ctrl-y is not a yes.
    assert!(
        map_key(
            &s,
            KeyEvent::new(KeyCode::Char('y'), KeyModifiers::CONTROL),
            &km
        )
        .is_none()
    );
}

#[test]
fn remapped_keys_drive_the_app() {
    let km = KeyMap::from_config(&overrides(&[("move_down", &["n"]), ("move_up", &["e"])]))
        .expect("valid");
    let s = loaded(3, 80, 24, false);
    assert!(matches!(
        map_key(&s, key(KeyCode::Char('n')), &km),
        Some(Action::User(UserAction::MoveDown))
    ));
    assert!(map_key(&s, key(KeyCode::Char('j')), &km).is_none());
}
