//! The `:` command line, in the manner of vim and k9s: `:filter EXPR`, `:sort COLUMN
//! [desc]`, `:export [FILE]`, `:isolate [full|selective|unmanaged]`, `:release`,
//! `:help`, `:q`. Tab completes the command (and a sort column), Up/Down recall
//! earlier commands, Esc closes, a mistake is said in the status bar.

use tui_input::Input;

use crate::tui::action::{Action, Effect};
use crate::tui::state::{CommandLine, Modal, PendingOp, SortKey, State};
use cordon_core::api::models::IsolationType;
use cordon_core::sanitize::clean;

/// Every command, for completion and the error that lists them.
pub const COMMANDS: [&str; 10] = [
    "filter", "sort", "export", "isolate", "release", "hide", "show", "help", "profile", "q",
];

const SORT_COLUMNS: [(&str, SortKey); 7] = [
    ("name", SortKey::Name),
    ("lastseen", SortKey::LastSeen),
    ("risk", SortKey::Risk),
    ("isolation", SortKey::Isolation),
    ("health", SortKey::Health),
    ("os", SortKey::Os),
    ("exposure", SortKey::Exposure),
];

pub(super) fn open(state: &mut State) {
    state.command = Some(CommandLine::default());
}

pub(super) fn on_command(state: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(mut line) = state.command.take() else {
        return;
    };
    match action {
        Action::Text(req) => {
            line.input.handle(req);
            line.recalled = None;
        }
        Action::Paste(text) => super::insert_text(&mut line.input, &text),
        Action::Back => return,
        Action::NextField => {
            let completed = complete(line.input.value());
            line.input = Input::new(completed);
        }
        Action::Move(delta) if !state.command_history.is_empty() => {
            let last = state.command_history.len() - 1;
            line.recalled = match (line.recalled, delta < 0) {
                (None, true) => Some(0),
                (None, false) => None,
                (Some(i), true) => Some((i + 1).min(last)),
                (Some(0), false) => None,
                (Some(i), false) => Some(i - 1),
            };
            line.input = Input::new(
                line.recalled
                    .map(|i| state.command_history[i].clone())
                    .unwrap_or_default(),
            );
        }
        Action::Submit => {
            let text = line.input.value().trim().to_string();
            if !text.is_empty() {
                state.command_history.retain(|c| *c != text);
                state.command_history.insert(0, text.clone());
                state.command_history.truncate(50);
                run(state, &text, fx);
            }
            return;
        }
        _ => {}
    }
    state.command = Some(line);
}

/// `:profile NAME`: continue in another profile of the config. This console ends and
/// the session starts again there; the old profile's worker keeps following its
/// actions in flight and auditing them until cordon exits.
fn switch_profile(state: &mut State, name: &str, fx: &mut Vec<Effect>) {
    if name.is_empty() || !state.info.profiles.iter().any(|p| p == name) {
        state.status.error = Some(format!(
            "No profile '{}'; the config has: {}.",
            clean(name),
            if state.info.profiles.is_empty() {
                "only this one (the demo)".to_string()
            } else {
                state.info.profiles.join(", ")
            }
        ));
        return;
    }
    if name == state.info.profile {
        state.status.notice = Some(format!("Already in profile {}.", clean(name)));
        return;
    }
    state.switch_to = Some(name.to_string());
    fx.push(Effect::Quit);
}

/// Complete the command word, or a sort column after `sort `.
fn complete(typed: &str) -> String {
    let (word, rest) = typed.split_once(' ').unwrap_or((typed, ""));
    if rest.is_empty() && !typed.ends_with(' ') {
        let matches: Vec<&str> = COMMANDS
            .iter()
            .copied()
            .filter(|c| c.starts_with(word))
            .collect();
        return match matches.as_slice() {
            [one] => format!("{one} "),
            _ => typed.to_string(),
        };
    }
    if matches!(word, "sort" | "hide" | "show") {
        let col = rest.trim();
        let matches: Vec<&str> = SORT_COLUMNS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.starts_with(col))
            .collect();
        if let [one] = matches.as_slice() {
            return format!("{word} {one}");
        }
    }
    typed.to_string()
}

fn run(state: &mut State, text: &str, fx: &mut Vec<Effect>) {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    state.status.error = None;
    match word {
        "q" | "quit" => super::on_user(state, crate::tui::action::UserAction::Quit, fx),
        "filter" => {
            state.filter.input = Input::new(rest.to_string());
            super::navigation::apply_filter(state, fx);
            state.status.notice = Some(if rest.is_empty() {
                "Filter cleared.".into()
            } else {
                format!("Filter: {}", clean(rest))
            });
        }
        "sort" => {
            let mut parts = rest.split_whitespace();
            let column = parts
                .next()
                .unwrap_or("")
                .to_lowercase()
                .replace(['-', '_'], "");
            let desc = matches!(parts.next(), Some("desc" | "reverse" | "down"));
            match column.as_str() {
                "" | "none" => state.machines.sort = None,
                c => match SORT_COLUMNS.iter().find(|(n, _)| *n == c) {
                    Some((_, key)) => state.machines.sort = Some((*key, desc)),
                    None => {
                        state.status.error = Some(format!(
                            "No column '{}' to sort by: {}.",
                            clean(c),
                            SORT_COLUMNS.map(|(n, _)| n).join(", ")
                        ));
                        return;
                    }
                },
            }
            let keep = state.machines.selected_id().map(str::to_string);
            state.machines.apply_sort();
            let m = &mut state.machines;
            m.selected = keep.and_then(|id| m.position_of(&id)).unwrap_or(0);
            super::navigation::ensure_visible(state);
            state.status.notice = Some(match state.machines.sort {
                Some((k, d)) => format!(
                    "Sorted by {}, {}.",
                    k.title(),
                    if d { "descending" } else { "ascending" }
                ),
                None => "In the service's order.".into(),
            });
        }
        "export" => {
            let file = (!rest.is_empty()).then_some(rest);
            fx.push(super::export::export_to(state, file));
        }
        "isolate" => {
            let kind = match rest.to_lowercase().as_str() {
                "" | "full" => Some(IsolationType::Full),
                "selective" => Some(IsolationType::Selective),
                "unmanaged" | "unmanageddevice" => Some(IsolationType::UnManagedDevice),
                _ => None,
            };
            match kind {
                Some(t) => super::writes::open_comment(state, PendingOp::Isolate(t)),
                None => {
                    state.status.error = Some(format!(
                        "isolate takes full, selective or unmanaged, not '{}'.",
                        clean(rest)
                    ));
                }
            }
        }
        "release" | "unisolate" => super::writes::open_comment(state, PendingOp::Release),
        "help" => state.modal = Some(Modal::Help { scroll: 0 }),
        "hide" | "show" => {
            let m = &mut state.machines;
            match SortKey::from_name(rest) {
                Some(SortKey::Name) => {
                    state.status.error = Some("The name column always shows.".into());
                }
                Some(key) => {
                    m.hidden_columns.retain(|k| *k != key);
                    if word == "hide" {
                        m.hidden_columns.push(key);
                    }
                    state.status.notice = Some(format!(
                        "{} the {} column.",
                        if word == "hide" { "Hid" } else { "Showing" },
                        key.title()
                    ));
                }
                None => {
                    state.status.error = Some(format!(
                        "No column '{}': {}.",
                        clean(rest),
                        SORT_COLUMNS.map(|(n, _)| n).join(", ")
                    ));
                }
            }
        }
        "profile" => switch_profile(state, rest, fx),
        other => {
            state.status.error = Some(format!(
                "No command '{}': {}.",
                clean(other),
                COMMANDS.join(", ")
            ));
        }
    }
}
