//! Status bar: the filter box (while typing), the last error or notice, the rate-limit
//! budget, and key hints built from the live keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::super::action::UserAction;
use super::super::keymap::KeyMap;
use super::super::present::group_thousands;
use super::super::state::State;
use super::super::theme::Theme;
use super::fit;
use cordon_core::sanitize::clean;

/// Actions shown in the hint line, most useful first (the line is cut to the width).
const HINTS: [UserAction; 9] = [
    UserAction::Isolate,
    UserAction::Release,
    UserAction::CancelAction,
    UserAction::ToggleMark,
    UserAction::Filter,
    UserAction::Help,
    UserAction::Quit,
    UserAction::Refresh,
    UserAction::SwitchPane,
];

pub fn hint_spans(
    keymap: &KeyMap,
    theme: &Theme,
    width: usize,
    state: &State,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut used = 0;
    // After a bulk with failures, the key that lists them comes first.
    let failures = state
        .last_bulk
        .as_ref()
        .is_some_and(|b| !b.failed.is_empty() && state.batches.is_empty());
    let first = failures.then_some(UserAction::BulkFailures);
    for action in first.into_iter().chain(HINTS) {
        let key = keymap.primary(action);
        if key.is_empty() {
            continue;
        }
        let label = format!(" {}  ", action.hint());
        let w = key.width() + label.width();
        if used + w > width {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.key));
        spans.push(Span::raw(label));
    }
    spans
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme, keymap: &KeyMap) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let line1 = Rect::new(area.x, area.y, area.width, 1);

    let message = if let Some(e) = &state.status.error {
        Some((clean(e).into_owned(), theme.error))
    } else {
        state
            .status
            .notice
            .as_ref()
            .map(|n| (clean(n).into_owned(), theme.notice))
    };
    let message_w = message.as_ref().map_or(0, |(m, _)| m.width() + 1);
    // The message matters more than the budget: shorten the budget, then drop it.
    let budget = state
        .status
        .budget
        .map(|(m, h)| {
            let (m, h) = (group_thousands(m as usize), group_thousands(h as usize));
            let full = format!("API budget {m}/min {h}/h ");
            // Still says what the numbers are, when the full label does not fit.
            let short = format!("API {m}/min {h}/h ");
            if state.filter.editing || state.command.is_some() || message_w + full.width() < width {
                full
            } else if message_w + short.width() < width {
                short
            } else {
                String::new()
            }
        })
        .unwrap_or_default();
    let left_w = width.saturating_sub(budget.width() + 1);

    if state.filter.editing || state.command.is_some() {
        let (prompt, input) = match &state.command {
            Some(line) => (":", &line.input),
            None => ("Filter: ", &state.filter.input),
        };
        let field_w = left_w.saturating_sub(prompt.len()).max(1);
        let scroll = input.visual_scroll(field_w);
        let shown: String = skip_columns(input.value(), scroll, field_w);
        let spans = vec![Span::styled(prompt, theme.key), Span::raw(shown)];
        frame.render_widget(Paragraph::new(Line::from(spans)), line1);
        let cursor_x =
            area.x as usize + prompt.len() + input.visual_cursor().saturating_sub(scroll);
        if state.modal.is_none() {
            frame.set_cursor_position((
                u16::try_from(cursor_x.min(width.saturating_sub(1))).unwrap_or(0),
                area.y,
            ));
        }
    } else {
        let (text, style) = message.unwrap_or_else(|| (String::new(), theme.dim));
        // An error too long for one line takes the hints' line too: its advice comes
        // last and must not be cut off.
        if state.status.error.is_some() && text.width() + 1 > left_w && area.height >= 2 {
            let rect = Rect::new(area.x, area.y, area.width, area.height.min(2));
            let shown = fit(&text, (left_w + width).saturating_sub(2), theme.ellipsis());
            frame.render_widget(
                Paragraph::new(Line::from(Span::styled(format!(" {shown}"), style)))
                    .wrap(ratatui::widgets::Wrap { trim: false }),
                rect,
            );
            draw_budget(frame, area, &budget, theme);
            return;
        }
        let text = fit(&text, left_w.saturating_sub(1), theme.ellipsis());
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(format!(" {text}"), style))),
            line1,
        );
    }
    draw_budget(frame, area, &budget, theme);

    if area.height >= 2 {
        let line2 = Rect::new(area.x, area.y + 1, area.width, 1);
        let mut spans = vec![Span::raw(" ")];
        if state.command.is_some() {
            for (k, label) in [
                ("Enter", " run  "),
                ("Tab", " complete  "),
                ("Up/Down", " history  "),
                ("Esc", " close   "),
            ] {
                spans.push(Span::styled(k, theme.key));
                spans.push(Span::raw(label));
            }
            spans.push(Span::styled(
                "filter sort export isolate release help q",
                theme.dim,
            ));
        } else if state.filter.editing {
            // Filter keys are fixed (text input is not bindable).
            for (k, label) in [
                ("Enter", " keep filter  "),
                ("Esc", " clear  "),
                ("Up/Down", " move"),
            ] {
                spans.push(Span::styled(k, theme.key));
                spans.push(Span::raw(label));
            }
        } else {
            spans.extend(hint_spans(keymap, theme, width.saturating_sub(1), state));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), line2);
    }
}

/// The API budget, right-aligned on the status bar's first line.
fn draw_budget(frame: &mut Frame, area: Rect, budget: &str, theme: &Theme) {
    if budget.is_empty() {
        return;
    }
    let bw = u16::try_from(budget.width()).unwrap_or(0).min(area.width);
    let r = Rect::new(area.right() - bw, area.y, bw, 1);
    frame.render_widget(Paragraph::new(budget.to_string()).style(theme.dim), r);
}

/// The part of `s` that starts `skip` columns in and is at most `width` columns wide.
pub fn skip_columns(s: &str, skip: usize, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut col = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if col >= skip {
            if col - skip + w > width {
                break;
            }
            out.push(c);
        }
        col += w;
    }
    out
}
