//! Rendering: a function of borrowed state. One file per pane; modals are drawn last.
//! Every API string passes through `sanitize::clean` before it is drawn.

mod header;
pub mod help;
mod history;
mod machines;
mod modal;
mod status;

pub use help::help_rows;
pub use machines::{Column, columns_for};

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::keymap::KeyMap;
use super::state::State;
use super::theme::Theme;

const HEADER_ROWS: u16 = 1;
const STATUS_ROWS: u16 = 2;

/// The screen's areas for a terminal of this size.
pub struct ScreenLayout {
    pub header: Rect,
    pub machines: Rect,
    pub history: Rect,
    pub status: Rect,
}

pub fn screen_layout(area: Rect) -> ScreenLayout {
    let body_h = area.height.saturating_sub(HEADER_ROWS + STATUS_ROWS);
    let machines_h = (body_h * 11 / 20).max(body_h.min(5));
    let history_h = body_h - machines_h;
    let header = Rect::new(area.x, area.y, area.width, HEADER_ROWS.min(area.height));
    let machines = Rect::new(area.x, area.y + HEADER_ROWS, area.width, machines_h);
    let history = Rect::new(area.x, machines.bottom(), area.width, history_h);
    let status_y = history.bottom();
    let status = Rect::new(
        area.x,
        status_y,
        area.width,
        area.bottom().saturating_sub(status_y),
    );
    ScreenLayout {
        header,
        machines,
        history,
        status,
    }
}

/// Rows of machines the table shows at this terminal size (borders and header excluded).
pub fn machine_table_rows(width: u16, height: u16) -> usize {
    let l = screen_layout(Rect::new(0, 0, width, height));
    usize::from(l.machines.height.saturating_sub(3))
}

/// Rows of history entries shown with the smallest detail area (for paging).
pub fn history_table_rows(width: u16, height: u16) -> usize {
    let l = screen_layout(Rect::new(0, 0, width, height));
    usize::from(
        l.history
            .height
            .saturating_sub(2 + 1 + history::MIN_DETAIL_ROWS),
    )
}

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
    let secs = (now - t).num_seconds();
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s if s < 86_400 * 365 => format!("{}d ago", s / 86_400),
        s => format!("{}y ago", s / (86_400 * 365)),
    }
}

/// "05-01 10:22" (UTC) from an API timestamp.
pub fn short_time(timestamp: Option<&str>) -> String {
    match cordon_core::api::models::parse_time(timestamp) {
        Some(t) => t.format("%m-%d %H:%M").to_string(),
        None => "-".into(),
    }
}

/// A centred rectangle of at most this size.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
