//! Terminal events → `Action`s. No state changes here: the modal (or the filter box)
//! gets first refusal, then the keymap. Text typed into a field is never a binding.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;

use super::action::{Action, UserAction};
use super::keymap::{Key, KeyMap};
use super::state::{Modal, State};

pub fn map_event(state: &State, event: &Event, keymap: &KeyMap) -> Option<Action> {
    match event {
        Event::Key(key) => map_key(state, *key, keymap),
        Event::Paste(text) => match &state.modal {
            Some(Modal::Comment(_)) => Some(Action::Paste(text.clone())),
            Some(Modal::Confirm(form)) if form.challenge.is_some() => {
                Some(Action::Paste(text.clone()))
            }
            None if state.filter.editing || state.command.is_some() => {
                Some(Action::Paste(text.clone()))
            }
            _ => None,
        },
        Event::Resize(width, height) => Some(Action::Resize {
            width: *width,
            height: *height,
        }),
        Event::Mouse(mouse) => map_mouse(state, mouse),
        _ => None,
    }
}

pub fn map_key(state: &State, key: KeyEvent, keymap: &KeyMap) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if Key::from_event(&key).is_ctrl_c() {
        return Some(Action::ForceQuit);
    }
    let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    match &state.modal {
        Some(Modal::Comment(_)) => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Tab | KeyCode::BackTab => Some(Action::NextField),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            _ => to_input_request(&Event::Key(key)).map(Action::Text),
        },
        // A protected write: the profile name (or a count) is typed, Enter sends.
        Some(Modal::Confirm(form)) if form.challenge.is_some() => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            _ => to_input_request(&Event::Key(key)).map(Action::Text),
        },
        Some(Modal::Confirm(_) | Modal::QuitConfirm) => match key.code {
            KeyCode::Char('y' | 'Y') if plain => Some(Action::Answer(true)),
            KeyCode::Char('p' | 'P') if plain && matches!(state.modal, Some(Modal::Confirm(_))) => {
                Some(Action::SavePlan)
            }
            KeyCode::Char('n' | 'N') if plain => Some(Action::Answer(false)),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            _ => None,
        },
        Some(Modal::Help { .. }) => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            _ => match keymap.lookup(&key) {
                Some(a @ (UserAction::Help | UserAction::Quit)) => Some(Action::User(a)),
                Some(UserAction::MoveUp) => Some(Action::Move(-1)),
                Some(UserAction::MoveDown) => Some(Action::Move(1)),
                _ => None,
            },
        },
        Some(Modal::SignIn { .. }) => match key.code {
            KeyCode::Esc => Some(Action::Back),
            _ => None,
        },
        Some(Modal::Failures { .. }) => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            _ => match keymap.lookup(&key) {
                Some(
                    a @ (UserAction::BulkFailures | UserAction::MarkVisible | UserAction::Quit),
                ) => Some(Action::User(if a == UserAction::Quit {
                    UserAction::BulkFailures
                } else {
                    a
                })),
                Some(UserAction::MoveUp) => Some(Action::Move(-1)),
                Some(UserAction::MoveDown) => Some(Action::Move(1)),
                _ => None,
            },
        },
        None if state.command.is_some() => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Tab => Some(Action::NextField),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            _ => to_input_request(&Event::Key(key)).map(Action::Text),
        },
        None if state.filter.editing => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            _ => to_input_request(&Event::Key(key)).map(Action::Text),
        },
        None => keymap.lookup(&key).map(Action::User),
    }
}

/// The wheel moves like j/k (and scrolls the help); a click on a machine selects it, a
/// click on the list's header sorts by that column (again: reverse). Clicks inside a
/// modal or text field do nothing: only keys confirm anything.
fn map_mouse(state: &State, mouse: &crossterm::event::MouseEvent) -> Option<Action> {
    use crossterm::event::{MouseButton, MouseEventKind};
    let wheel = match mouse.kind {
        MouseEventKind::ScrollDown => Some(1),
        MouseEventKind::ScrollUp => Some(-1),
        _ => None,
    };
    if let Some(delta) = wheel {
        return match &state.modal {
            Some(Modal::Help { .. } | Modal::Failures { .. }) => Some(Action::Move(delta)),
            Some(_) => None,
            None if state.command.is_some() || state.filter.editing => Some(Action::Move(delta)),
            None => Some(Action::User(if delta > 0 {
                UserAction::MoveDown
            } else {
                UserAction::MoveUp
            })),
        };
    }
    if mouse.kind != MouseEventKind::Down(MouseButton::Left)
        || state.modal.is_some()
        || state.command.is_some()
    {
        return None;
    }
    let (w, h) = state.size;
    let list = super::layout::screen_layout(ratatui::layout::Rect::new(0, 0, w, h)).machines;
    let inner_x = list.x + 1;
    let header_y = list.y + 1;
    if mouse.column < inner_x || mouse.column >= list.right().saturating_sub(1) {
        return None;
    }
    if mouse.row == header_y {
        let (cols, name_w) =
            super::ui::columns_shown(list.width.saturating_sub(2), &state.machines.hidden_columns);
        let mut x = inner_x;
        for col in cols {
            let width = if col == super::ui::Column::Name {
                name_w
            } else {
                col.width()
            };
            if mouse.column < x + width {
                return col.sort_key().map(Action::SortBy);
            }
            x += width + 1;
        }
        return None;
    }
    let first_row = header_y + 1;
    if mouse.row < first_row || mouse.row >= list.bottom().saturating_sub(1) {
        return None;
    }
    let pos = state.machines.scroll + usize::from(mouse.row - first_row);
    (pos < state.machines.visible.len()).then_some(Action::SelectRow(pos))
}
