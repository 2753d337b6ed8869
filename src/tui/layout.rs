//! Screen geometry: where each pane goes and how many rows it shows at a terminal size.
//! The reducer needs the numbers (paging, scrolling) and the views need the areas; both
//! take them from here, so neither depends on the other.

use ratatui::layout::Rect;

use super::action::UserAction;
use super::state::State;

/// Rows the history pane keeps for the selected entry's details.
pub const MIN_DETAIL_ROWS: u16 = 4;

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
    usize::from(l.history.height.saturating_sub(2 + 1 + MIN_DETAIL_ROWS))
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

/// How many rows the help has (the keymap changes keys, not rows).
fn help_rows_len() -> usize {
    UserAction::ALL.len() + 3
}

/// The help's frame: the box, and how many of its rows fit in it.
pub fn help_geometry(area: Rect, has_audit: bool) -> (Rect, u16, usize) {
    let extra = 1 + u16::from(has_audit);
    let rows = u16::try_from(help_rows_len()).unwrap_or(u16::MAX);
    let rect = centered(
        area,
        area.width.saturating_sub(2).min(100),
        rows + 4 + extra,
    );
    let inner_h = rect.height.saturating_sub(2);
    let table_h = inner_h.saturating_sub(extra + 1);
    (rect, table_h, usize::from(table_h.saturating_sub(1)).max(1))
}

/// The largest useful scroll on a terminal of this size.
pub fn help_max_scroll(state: &State) -> usize {
    let area = Rect::new(0, 0, state.size.0, state.size.1);
    let (_, _, fits) = help_geometry(area, state.info.audit_path.is_some());
    help_rows_len().saturating_sub(fits)
}
