//! Rendering: a function of borrowed state. One file per pane; modals are drawn last.
//! Every API string passes through `sanitize::clean` before it is drawn.

mod header;
pub mod help;
mod history;
mod machines;
mod modal;
mod status;

pub use help::help_rows;
pub use machines::{Column, columns_for, columns_shown};

use chrono::{DateTime, Utc};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::keymap::KeyMap;
pub use super::layout::{
    ScreenLayout, centered, history_table_rows, machine_table_rows, screen_layout,
};
use super::state::State;
use super::theme::Theme;

pub fn draw(frame: &mut Frame, state: &State, theme: &Theme, keymap: &KeyMap) {
    let layout = screen_layout(frame.area());
    header::draw(frame, layout.header, state, theme);
    machines::draw(frame, layout.machines, state, theme);
    history::draw(frame, layout.history, state, theme);
    status::draw(frame, layout.status, state, theme, keymap);
    if let Some(m) = &state.modal {
        modal::draw(frame, frame.area(), m, state, theme, keymap);
    }
}

/// Cut `s` to `width` terminal columns, marking the cut with the theme's ellipsis.
pub fn fit(s: &str, width: usize, ellipsis: &str) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let budget = width.saturating_sub(ellipsis.width());
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    if width >= ellipsis.width() {
        out.push_str(ellipsis);
    }
    out
}

/// "3h ago" from an API timestamp; "never" when absent, "?" when unreadable.
pub fn ago(now: DateTime<Utc>, timestamp: Option<&str>) -> String {
    let Some(raw) = timestamp else {
        return "never".into();
    };
    let Some(t) = cordon_core::api::models::parse_time(Some(raw)) else {
        return "?".into();
    };
    crate::tui::present::ago_secs((now - t).num_seconds())
}

/// "05-01 10:22" (UTC) from an API timestamp.
pub fn short_time(timestamp: Option<&str>) -> String {
    match cordon_core::api::models::parse_time(timestamp) {
        Some(t) => t.format("%m-%d %H:%M").to_string(),
        None => "-".into(),
    }
}
