//! The help overlay, generated from the live keymap so it cannot drift from it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};

use super::super::action::UserAction;
use super::super::keymap::KeyMap;
use super::super::layout::help_geometry as geometry;
use super::super::state::State;
use super::super::theme::Theme;
use super::fit;
use cordon_core::sanitize::clean;

/// Every row of the help: (keys, description). Bindable actions first, then the fixed keys.
pub fn help_rows(keymap: &KeyMap) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = UserAction::ALL
        .iter()
        .map(|a| (keymap.describe(*a), a.description().to_string()))
        .collect();
    rows.push((
        "ctrl-c".into(),
        "Quit now, always (in-flight actions continue on the service)".into(),
    ));
    rows.push((
        "Tab".into(),
        "In the isolate box: Full -> Selective -> UnManagedDevice".into(),
    ));
    rows.push((
        "Enter / Esc".into(),
        "In a box: go on / cancel; confirmations default to No".into(),
    ));
    rows
}

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &KeyMap,
    scroll: usize,
) {
    let rows = help_rows(keymap);
    let audit = state
        .info
        .audit_path
        .as_ref()
        .map(|p| format!("Audit log: {}", clean(&p.display().to_string())));
    let (rect, table_h, fits) = geometry(area, audit.is_some());
    frame.render_widget(Clear, rect);
    let inner = Block::default().borders(Borders::ALL).inner(rect);

    let key_w = rows
        .iter()
        .map(|(k, _)| unicode_width::UnicodeWidthStr::width(k.as_str()))
        .max()
        .unwrap_or(8)
        .min(20) as u16;
    let desc_w = inner.width.saturating_sub(key_w + 1);
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|(k, d)| {
            Row::new(vec![
                Cell::from(Span::styled(k.clone(), theme.key)),
                Cell::from(fit(d, usize::from(desc_w), theme.ellipsis())),
            ])
        })
        .collect();
    // A short terminal shows a window of the rows; arrows scroll it.
    let first = scroll.min(table_rows.len().saturating_sub(fits));
    let more = table_rows.len() > first + fits;
    let title = if first > 0 || more {
        format!(
            " Help (Esc closes, {} scroll: {}-{} of {}) ",
            if theme.ascii { "Up/Down" } else { "↑↓" },
            first + 1,
            (first + fits).min(table_rows.len()),
            table_rows.len()
        )
    } else {
        " Help (Esc closes) ".to_string()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border)
        .border_style(theme.modal_border)
        .title(Span::styled(title, theme.title));
    frame.render_widget(block, rect);
    let table_rows: Vec<Row> = table_rows.into_iter().skip(first).collect();
    let table = Table::new(
        table_rows,
        [Constraint::Length(key_w), Constraint::Length(desc_w)],
    )
    .header(Row::new(["Keys", "Action"]).style(theme.table_header))
    .column_spacing(1);
    frame.render_widget(table, Rect::new(inner.x, inner.y, inner.width, table_h));

    let mut lines = vec![Line::from(Span::styled(
        format!(
            "Profile {}{}keys are remappable in the config's [keys] table",
            clean(&state.info.profile),
            theme.separator()
        ),
        theme.dim,
    ))];
    if let Some(a) = audit {
        lines.push(Line::from(Span::styled(a, theme.dim)));
    }
    let y = inner.y + table_h + 1;
    frame.render_widget(
        Paragraph::new(lines),
        Rect::new(
            inner.x,
            y.min(inner.bottom()),
            inner.width,
            inner.bottom().saturating_sub(y),
        ),
    );
}
