//! The selected machine's action history, newest first, with the full comment of the
//! selected entry in a detail area underneath.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use unicode_width::UnicodeWidthStr;

use super::super::state::{Pane, State};
use super::super::theme::Theme;
use super::{fit, short_time};
use cordon_core::api::models::{IsolationType, MachineAction};
use cordon_core::sanitize::clean;

/// Rows the detail area keeps even for a short comment (border line + text).
use super::super::layout::MIN_DETAIL_ROWS;
/// Table rows kept even when the comment is long.
const MIN_TABLE_ROWS: u16 = 2;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let focused = state.focus == Pane::History && state.modal.is_none();
    let h = &state.history;
    let sep = theme.separator();
    let row = state.machines.selected_row();
    let name = row.map(|r| clean(r.machine.display_name()).into_owned());
    let mut title = vec![Span::styled(" History", theme.title)];
    if let Some(name) = &name {
        title.push(Span::raw(format!(
            "{sep}{}",
            fit(name, usize::from(area.width / 2), theme.ellipsis())
        )));
    }
    // The IP and tags the filter searches, so a match can be told apart from its twin.
    if let Some(r) = row {
        let m = &r.machine;
        let mut facts = Vec::new();
        if let Some(ip) = m.last_ip_address().filter(|s| !s.is_empty()) {
            facts.push(clean(ip).into_owned());
        }
        let tags: Vec<String> = m.machine_tags().map(|t| clean(t).into_owned()).collect();
        if !tags.is_empty() {
            facts.push(format!("tags {}", tags.join(", ")));
        }
        let room = usize::from(area.width).saturating_sub(
            name.as_deref()
                .map_or(0, |n| n.width().min(usize::from(area.width / 2)))
                + 24,
        );
        if !facts.is_empty() && room > 8 {
            title.push(Span::styled(
                format!("{sep}{}", fit(&facts.join(sep), room, theme.ellipsis())),
                theme.dim,
            ));
        }
    }
    let loading = h
        .machine_id
        .as_ref()
        .is_some_and(|id| h.loading.contains(id));
    if loading {
        title.push(Span::raw(format!(
            "{sep}{} loading",
            theme.spinner(state.spinner)
        )));
    }
    title.push(Span::raw(" "));

    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border)
        .border_style(if focused {
            theme.focused_border
        } else {
            theme.border_style
        })
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    let entries = h.entries();
    if entries.is_empty() {
        let error = h.machine_id.as_ref().and_then(|id| h.errors.get(id));
        // Not cached yet (its load may be queued behind another): still loading.
        let pending = h
            .machine_id
            .as_ref()
            .is_some_and(|id| !h.cache.contains_key(id));
        let (msg, style) = match (error, name.is_some(), loading || pending) {
            (Some(e), _, _) => (format!("Could not load the history: {e}"), theme.error),
            (None, false, _) => (
                "Select a machine to see its actions.".to_string(),
                theme.dim,
            ),
            (None, true, true) => (format!("Loading{}", theme.ellipsis()), theme.dim),
            (None, true, false) => (
                "No actions recorded for this machine.".to_string(),
                theme.dim,
            ),
        };
        frame.render_widget(
            Paragraph::new(msg).style(style).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }

    let selected = h.selected.min(entries.len() - 1);
    let mut detail = detail_lines(&entries[selected], theme);
    if let Some(iso) = answered_isolation(entries, selected) {
        detail.push(Line::from(Span::styled(
            format!(
                "Releases the isolation of {} ({})",
                short_time(iso.creation_date_time_utc.as_deref()),
                clean(iso.requestor_comment.as_deref().unwrap_or("no comment"))
            ),
            theme.dim,
        )));
    }
    let needed = detail
        .iter()
        .map(|l| {
            let w = l.width().max(1);
            w.div_ceil(usize::from(inner.width.max(1)))
        })
        .sum::<usize>();
    let max_detail = inner.height.saturating_sub(1 + MIN_TABLE_ROWS);
    let detail_h = (u16::try_from(needed).unwrap_or(u16::MAX) + 1)
        .max(MIN_DETAIL_ROWS)
        .min(max_detail.max(1));
    let table_area = Rect::new(
        inner.x,
        inner.y,
        inner.width,
        inner.height.saturating_sub(detail_h),
    );
    let detail_area = Rect::new(
        inner.x,
        table_area.bottom(),
        inner.width,
        inner.height - table_area.height,
    );

    // Columns: created, type, status, requestor, updated, comment (the rest).
    let fixed = [11u16, 12, 12, 16, 11];
    let comment_w = inner
        .width
        .saturating_sub(fixed.iter().sum::<u16>() + 5)
        .max(1);
    let ell = theme.ellipsis();
    let rows_h = usize::from(table_area.height.saturating_sub(1));
    let offset = if rows_h == 0 {
        selected
    } else {
        selected.saturating_sub(rows_h - 1)
    };
    let end = (offset + rows_h).min(entries.len());
    let rows: Vec<Row> = entries[offset..end]
        .iter()
        .enumerate()
        .map(|(k, a)| {
            // A release that answers an isolation listed below it says so.
            let kind = if answered_isolation(entries, offset + k).is_some() {
                format!(
                    "{}{}",
                    action_kind(a),
                    if theme.ascii { " <" } else { " ↩" }
                )
            } else {
                action_kind(a)
            };
            let status = if a.status.is_active() {
                format!(
                    "{} {}",
                    theme.spinner(state.spinner),
                    clean(a.status.as_str())
                )
            } else {
                clean(a.status.as_str()).into_owned()
            };
            Row::new(vec![
                Cell::from(short_time(a.creation_date_time_utc.as_deref())),
                Cell::from(fit(&kind, 12, ell)),
                Cell::from(fit(&status, 12, ell)).style(theme.status(&a.status)),
                Cell::from(fit(&clean(a.requestor.as_deref().unwrap_or("-")), 16, ell)),
                Cell::from(short_time(a.last_update_date_time_utc.as_deref())),
                Cell::from(fit(
                    &clean(a.requestor_comment.as_deref().unwrap_or("")),
                    usize::from(comment_w),
                    ell,
                )),
            ])
        })
        .collect();
    let header = Row::new([
        "Created",
        "Type",
        "Status",
        "Requestor",
        "Updated",
        "Comment",
    ])
    .style(theme.table_header);
    let widths = fixed
        .iter()
        .map(|w| Constraint::Length(*w))
        .chain(std::iter::once(Constraint::Length(comment_w)));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(if focused {
            theme.selected
        } else {
            theme.selected_unfocused
        });
    let mut ts = TableState::default().with_selected(Some(selected - offset));
    frame.render_stateful_widget(table, table_area, &mut ts);

    let detail_block = Block::default()
        .borders(Borders::TOP)
        .border_set(theme.border)
        .border_style(theme.border_style);
    frame.render_widget(
        Paragraph::new(detail)
            .block(detail_block)
            .wrap(Wrap { trim: false }),
        detail_area,
    );
}

/// The full comment first (it is what analysts need), then who/what/when.
fn detail_lines<'a>(a: &MachineAction, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("Comment: ", theme.title),
        Span::raw(clean(a.requestor_comment.as_deref().unwrap_or("(none)")).into_owned()),
    ])];
    if a.cancellation_requestor.is_some() || a.cancellation_comment.is_some() {
        lines.push(Line::from(vec![
            Span::styled("Cancelled by ", theme.title),
            Span::raw(format!(
                "{}: {}",
                clean(a.cancellation_requestor.as_deref().unwrap_or("?")),
                clean(a.cancellation_comment.as_deref().unwrap_or(""))
            )),
        ]));
    }
    let sep = theme.separator();
    lines.push(Line::from(Span::styled(
        format!(
            "{} {}{sep}id {}{sep}by {}",
            action_kind_long(a),
            clean(a.status.as_str()),
            clean(&a.id),
            clean(a.requestor.as_deref().unwrap_or("-")),
        ),
        theme.dim,
    )));
    lines
}

/// The type, with Full/Selective where known: `Isolate Sel.` fits the column.
fn action_kind(a: &MachineAction) -> String {
    match a.isolation_scope() {
        Some(IsolationType::Full) => "Isolate Full".into(),
        Some(IsolationType::Selective) => "Isolate Sel.".into(),
        Some(IsolationType::UnManagedDevice) => "Isolate Unm.".into(),
        None => clean(a.action_type.as_str()).into_owned(),
    }
}

/// The same, spelt out for the detail line: `Isolate (Selective)`.
fn action_kind_long(a: &MachineAction) -> String {
    match a.isolation_scope() {
        Some(t) => format!("Isolate ({})", t.as_str()),
        None => clean(a.action_type.as_str()).into_owned(),
    }
}

/// The isolation a release (at `index`, newest first) answers: the nearest older
/// Isolate that took effect, if the next isolation action below it is one.
fn answered_isolation(entries: &[MachineAction], index: usize) -> Option<&MachineAction> {
    use cordon_core::api::models::{ActionStatus, ActionType};
    let release = entries.get(index)?;
    if release.action_type != ActionType::Unisolate || release.status == ActionStatus::Cancelled {
        return None;
    }
    entries[index + 1..]
        .iter()
        .find(|a| a.is_isolation() && a.status != ActionStatus::Cancelled)
        .filter(|a| a.action_type == ActionType::Isolate)
}
