//! The machine list. Only the rows in the viewport are built, so 100,000 machines draw
//! as fast as 20. Less important columns drop first on narrow terminals.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::super::present::{batch_progress, group_thousands};
use super::super::state::{Pane, SortKey, State};
use super::super::theme::Theme;
use super::{ago, fit};
use cordon_core::api::models::IsolationState;
use cordon_core::sanitize::clean;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Mark,
    Name,
    Os,
    Health,
    Risk,
    Exposure,
    Isolation,
    LastSeen,
}

impl Column {
    fn title(self) -> &'static str {
        match self {
            Self::Mark => "",
            Self::Name => "Name",
            Self::Os => "OS",
            Self::Health => "Health",
            Self::Risk => "Risk",
            Self::Exposure => "Exposure",
            Self::Isolation => "Isolation",
            Self::LastSeen => "Last seen",
        }
    }

    /// What a click on this column's header sorts by.
    pub fn sort_key(self) -> Option<SortKey> {
        Some(match self {
            Self::Mark => return None,
            Self::Name => SortKey::Name,
            Self::Os => SortKey::Os,
            Self::Health => SortKey::Health,
            Self::Risk => SortKey::Risk,
            Self::Exposure => SortKey::Exposure,
            Self::Isolation => SortKey::Isolation,
            Self::LastSeen => SortKey::LastSeen,
        })
    }

    pub fn width(self) -> u16 {
        match self {
            Self::Mark => 1,
            Self::Name => MIN_NAME,
            Self::Os => 12,
            Self::Health => 10,
            Self::Risk => 8,
            Self::Exposure => 8,
            Self::Isolation => 15,
            Self::LastSeen => 10,
        }
    }
}

const MIN_NAME: u16 = 16;
/// The order columns are dropped in when the terminal is too narrow.
const DROP_ORDER: [Column; 5] = [
    Column::Exposure,
    Column::Risk,
    Column::Health,
    Column::Os,
    Column::LastSeen,
];

/// Columns that fit `width`, and the width the name column gets.
pub fn columns_for(width: u16) -> (Vec<Column>, u16) {
    columns_shown(width, &[])
}

/// As `columns_for`, without the columns the analyst hid (`[ui] columns`, `:hide`).
pub fn columns_shown(width: u16, hidden: &[SortKey]) -> (Vec<Column>, u16) {
    let mut cols = vec![
        Column::Mark,
        Column::Name,
        Column::Os,
        Column::Health,
        Column::Risk,
        Column::Exposure,
        Column::Isolation,
        Column::LastSeen,
    ];
    cols.retain(|c| {
        c.sort_key()
            .is_none_or(|k| k == SortKey::Name || !hidden.contains(&k))
    });
    let needed = |cols: &[Column]| -> u16 {
        cols.iter().map(|c| c.width()).sum::<u16>() + cols.len().saturating_sub(1) as u16
    };
    for drop in DROP_ORDER {
        if needed(&cols) <= width {
            break;
        }
        cols.retain(|c| *c != drop);
    }
    let name = width.saturating_sub(needed(&cols) - MIN_NAME).max(1);
    (cols, name)
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let m = &state.machines;
    let focused = state.focus == Pane::Machines && state.modal.is_none();
    let sep = theme.separator();

    let mut title = vec![Span::styled(
        format!(
            " Machines {}/{}",
            group_thousands(m.visible.len()),
            group_thousands(m.rows().len().max(m.total.unwrap_or(0)))
        ),
        theme.title,
    )];
    if !m.marked.is_empty() {
        title.push(Span::styled(
            format!("{sep}{} marked", group_thousands(m.marked.len())),
            theme.marked,
        ));
        // A bulk acts on these too: never let them go unseen.
        let hidden = m.marked_hidden().len();
        if hidden > 0 {
            title.push(Span::styled(
                format!("{sep}{} hidden by the filter", group_thousands(hidden)),
                theme.error,
            ));
        }
    }
    if m.loading {
        title.push(Span::raw(format!(
            "{sep}{} loading {}",
            theme.spinner(state.spinner),
            group_thousands(m.rows().len())
        )));
    }
    title.push(Span::raw(" "));

    let mut bottom = Vec::new();
    if !state.filter.applied.is_empty() && !state.filter.editing {
        bottom.push(Span::raw(format!(
            " filter: {} ",
            fit(&clean(state.filter.input.value()), 30, theme.ellipsis())
        )));
    }
    for line in batch_progress(state, sep) {
        bottom.push(Span::styled(format!(" {line} "), theme.notice));
    }

    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border)
        .border_style(if focused {
            theme.focused_border
        } else {
            theme.border_style
        })
        .title(Line::from(title))
        .title_bottom(Line::from(bottom));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    if m.visible.is_empty() {
        // The empty list has room: an error is shown here whole, advice included.
        if let Some(error) = state.status.error.as_deref().filter(|_| !m.loading) {
            frame.render_widget(
                ratatui::widgets::Paragraph::new(clean(error).into_owned())
                    .style(theme.error)
                    .wrap(ratatui::widgets::Wrap { trim: false }),
                inner,
            );
            return;
        }
        let msg = if m.loading || m.generation.is_none() {
            format!("Loading machines{}", theme.ellipsis())
        } else if !state.filter.applied.is_empty() {
            "No machine matches the filter (/ then Esc clears it).".to_string()
        } else {
            "No machines.".to_string()
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(msg).style(theme.dim),
            inner,
        );
        return;
    }

    let (cols, name_w) = columns_shown(inner.width, &m.hidden_columns);
    let height = usize::from(inner.height.saturating_sub(1));
    // The scroll kept by update, corrected here if the terminal changed since.
    let mut scroll = m.scroll.min(m.visible.len().saturating_sub(1));
    if m.selected < scroll {
        scroll = m.selected;
    } else if height > 0 && m.selected >= scroll + height {
        scroll = m.selected + 1 - height;
    }
    let end = (scroll + height).min(m.visible.len());
    let ell = theme.ellipsis();

    let rows: Vec<Row> = m.visible[scroll..end]
        .iter()
        .map(|&i| {
            let row = &m.rows()[i];
            let mc = &row.machine;
            let marked = m.marked.contains(mc.id());
            let iso = row.isolation;
            let cells: Vec<Cell> = cols
                .iter()
                .map(|c| {
                    let w = usize::from(if *c == Column::Name {
                        name_w
                    } else {
                        c.width()
                    });
                    let text = |s: Option<&str>| fit(&clean(s.unwrap_or("-")), w, ell);
                    match c {
                        Column::Mark => Cell::from(if marked { theme.mark_glyph() } else { " " })
                            .style(theme.marked),
                        Column::Name => {
                            let style = if marked { theme.marked } else { Style::new() };
                            Cell::from(fit(&clean(mc.display_name()), w, ell)).style(style)
                        }
                        Column::Os => Cell::from(text(mc.os_platform())),
                        Column::Health => Cell::from(text(mc.health_status())),
                        Column::Risk => Cell::from(text(mc.risk_score())),
                        Column::Exposure => Cell::from(text(mc.exposure_level())),
                        Column::Isolation => {
                            let label = match iso {
                                Some(
                                    s @ (IsolationState::Isolating(_) | IsolationState::Releasing),
                                ) => {
                                    format!("{} {}", theme.spinner(state.spinner), s.label())
                                }
                                Some(s) => s.short().to_string(),
                                // Not derived yet (history not loaded).
                                None => if theme.ascii { "?" } else { "…" }.to_string(),
                            };
                            Cell::from(label).style(theme.isolation(iso))
                        }
                        Column::LastSeen => Cell::from(ago(state.now, mc.last_seen())),
                    }
                })
                .collect();
            Row::new(cells)
        })
        .collect();

    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| {
            Constraint::Length(if *c == Column::Name {
                name_w
            } else {
                c.width()
            })
        })
        .collect();
    // The sorted column says so: "Risk▼".
    let sorted = m.sort.map(|(key, desc)| {
        let col = match key {
            SortKey::Name => Column::Name,
            SortKey::LastSeen => Column::LastSeen,
            SortKey::Risk => Column::Risk,
            SortKey::Isolation => Column::Isolation,
            SortKey::Health => Column::Health,
            SortKey::Os => Column::Os,
            SortKey::Exposure => Column::Exposure,
        };
        let arrow = match (desc, theme.ascii) {
            (false, false) => "▲",
            (true, false) => "▼",
            (false, true) => "^",
            (true, true) => "v",
        };
        (col, arrow)
    });
    let header = Row::new(cols.iter().map(|c| match sorted {
        Some((col, arrow)) if col == *c => Cell::from(format!("{}{arrow}", c.title())),
        _ => Cell::from(c.title()),
    }))
    .style(theme.table_header);
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(if focused {
            theme.selected
        } else {
            theme.selected_unfocused
        });
    let mut table_state = TableState::default().with_selected(Some(m.selected - scroll));
    frame.render_stateful_widget(table, inner, &mut table_state);
}
