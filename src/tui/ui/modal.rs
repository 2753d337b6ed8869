//! Modals: the comment box, the confirmation, the quit question. Drawn last, over a
//! cleared area.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::super::action::UserAction;
use super::super::keymap::KeyMap;
use super::super::present::{confirm_text, group_thousands, target_names};
use super::super::state::{
    CommentForm, ConfirmForm, MAX_COMMENT_CHARS, Modal, PendingOp, State, Target,
};
use super::super::theme::Theme;
use super::status::skip_columns;
use super::{centered, fit};
use cordon_core::api::models::IsolationType;
use cordon_core::sanitize::clean;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    modal: &Modal,
    state: &State,
    theme: &Theme,
    keymap: &KeyMap,
) {
    match modal {
        Modal::Comment(form) => {
            comment(frame, area, form, theme, state.info.comment_rule.pattern())
        }
        Modal::Confirm(form) => confirm(frame, area, form, theme),
        Modal::Help { scroll } => super::help::draw(frame, area, state, theme, keymap, *scroll),
        Modal::QuitConfirm => quit(frame, area, state, theme),
        Modal::Failures { scroll } => failures(frame, area, state, theme, keymap, *scroll),
        Modal::SignIn { prompt, since } => {
            sign_in(frame, area, state, theme, prompt.as_ref(), *since)
        }
    }
}

fn modal_block<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border)
        .border_style(theme.modal_border)
        .title(Span::styled(format!(" {title} "), theme.title))
}

/// Rows a word-wrapped text of this width needs: greedy, as the Paragraph wraps, so
/// the box is never a line short (a cut line could be the warning that matters).
fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    let w = usize::from(width.max(1));
    let mut rows = 0usize;
    for line in lines {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        let mut col = 0usize;
        rows += 1;
        for word in text.split(' ') {
            let ww = word.width();
            if col > 0 && col + 1 + ww <= w {
                col += 1 + ww;
            } else if col == 0 && ww <= w {
                col = ww;
            } else {
                // A new row, and a word wider than the box is broken across rows.
                if col > 0 {
                    rows += 1;
                }
                rows += ww.saturating_sub(1) / w;
                col = if ww == 0 { 0 } else { (ww - 1) % w + 1 };
            }
        }
    }
    u16::try_from(rows).unwrap_or(u16::MAX)
}

fn headline(op: &PendingOp, targets: &[super::super::state::Target]) -> String {
    let subject = match targets {
        [one] => one.name.clone(),
        many => format!("{} machines: {}", many.len(), target_names(many)),
    };
    match op {
        PendingOp::Isolate(_) => format!("Isolate {subject}"),
        PendingOp::Release => format!("Release {subject}"),
        PendingOp::Cancel {
            action_id,
            action_type,
        } => format!(
            "Cancel {action_type} action {} on {subject}",
            clean(action_id)
        ),
    }
}

/// What the analyst cannot see on screen: marked targets the filter hides, and a
/// highlighted machine that is not among the targets.
fn scope_warnings<'a>(
    targets: &[Target],
    not_included: Option<&str>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let hidden: Vec<Target> = targets
        .iter()
        .filter(|t| t.hidden_by_filter)
        .cloned()
        .collect();
    if !hidden.is_empty() {
        let count = match hidden.len() {
            1 if targets.len() == 1 => "It is".to_string(),
            1 => "1 of them is".to_string(),
            2 if targets.len() == 2 => "Both are".to_string(),
            n if n == targets.len() => format!("All {} are", group_thousands(n)),
            n => format!("{} of them are", group_thousands(n)),
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{count} hidden by the filter: {}. Not meant? Esc, then Esc again clears every mark.",
                target_names(&hidden)
            ),
            theme.error,
        )));
    }
    if let Some(name) = not_included {
        lines.push(Line::from(Span::styled(
            format!("The highlighted {name} is not marked: it is not included."),
            theme.error,
        )));
    }
    lines
}

fn comment(
    frame: &mut Frame,
    area: Rect,
    form: &CommentForm,
    theme: &Theme,
    pattern: Option<&str>,
) {
    let width = area.width.saturating_sub(4).min(78);
    let inner_w = width.saturating_sub(2);
    let mut lines = vec![Line::from(Span::styled(
        headline(&form.op, &form.targets),
        theme.danger,
    ))];
    if let PendingOp::Isolate(current) = form.op {
        let mut spans = vec![Span::raw("Type: ")];
        for t in IsolationType::ALL {
            if t == current {
                spans.push(Span::styled(
                    format!("[{}]", t.as_str()),
                    theme.selected.add_modifier(Modifier::BOLD),
                ));
            } else {
                spans.push(Span::styled(format!(" {} ", t.as_str()), theme.dim));
            }
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled("(Tab changes)", theme.dim));
        lines.push(Line::from(spans));
    }
    lines.extend(scope_warnings(
        &form.targets,
        form.not_included.as_deref(),
        theme,
    ));
    if let Some(p) = pattern {
        lines.push(Line::from(Span::styled(
            format!("The comment must match {}", clean(p)),
            theme.dim,
        )));
    }
    let height = wrapped_rows(&lines, inner_w) + 7;
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = modal_block("Comment required", theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    let top_h = inner.height.saturating_sub(5);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        Rect::new(inner.x, inner.y, inner.width, top_h),
    );
    let y = inner.y + top_h + 1;
    // The input line, scrolled so the cursor is always visible.
    let field_w = usize::from(inner.width.saturating_sub(2)).max(1);
    let scroll = form.input.visual_scroll(field_w);
    let shown = skip_columns(form.input.value(), scroll, field_w);
    let chars = form.input.value().chars().count();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("> ", theme.key),
            Span::styled(shown, theme.selected_unfocused),
        ])),
        Rect::new(inner.x, y, inner.width, 1),
    );
    let cursor_x = usize::from(inner.x) + 2 + form.input.visual_cursor().saturating_sub(scroll);
    frame.set_cursor_position((
        u16::try_from(cursor_x.min(usize::from(inner.right().saturating_sub(1)))).unwrap_or(0),
        y,
    ));
    let count = format!("{chars}/{MAX_COMMENT_CHARS}");
    let count_style = if chars > MAX_COMMENT_CHARS {
        theme.error
    } else {
        theme.dim
    };
    let err = form
        .error
        .as_deref()
        .map(|e| {
            fit(
                e,
                usize::from(inner.width).saturating_sub(count.width() + 1),
                theme.ellipsis(),
            )
        })
        .unwrap_or_default();
    let pad = usize::from(inner.width).saturating_sub(err.width() + count.width());
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(err, theme.error),
            Span::raw(" ".repeat(pad)),
            Span::styled(count, count_style),
        ])),
        Rect::new(inner.x, y + 1, inner.width, 1),
    );
    let hint = Line::from(vec![
        Span::styled("Enter", theme.key),
        Span::raw(" review  "),
        Span::styled("Esc", theme.key),
        Span::raw(" cancel (nothing is sent)"),
    ]);
    frame.render_widget(
        Paragraph::new(hint),
        Rect::new(inner.x, y + 3, inner.width, 1),
    );
}

fn confirm(frame: &mut Frame, area: Rect, form: &ConfirmForm, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(78);
    let inner_w = width.saturating_sub(2);
    let mut lines = vec![Line::from(Span::styled(confirm_text(form), theme.danger))];
    if form.targets.len() > 1 {
        lines.push(Line::from(format!(
            "Machines: {}",
            target_names(&form.targets)
        )));
    }
    lines.extend(scope_warnings(
        &form.targets,
        form.not_included.as_deref(),
        theme,
    ));
    if !form.no_ops.is_empty() {
        let names: Vec<&str> = form.no_ops.iter().take(3).map(String::as_str).collect();
        let more = form.no_ops.len().saturating_sub(names.len());
        let mut text = format!(
            "This changes nothing for {}: {}",
            group_thousands(form.no_ops.len()),
            names.join("; ")
        );
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        text.push('.');
        lines.push(Line::from(Span::styled(text, theme.error)));
        if form.armed {
            lines.push(Line::from(Span::styled(
                if form.challenge.is_some() {
                    "Press Enter once more to send anyway."
                } else {
                    "Press y once more to send anyway."
                },
                theme.danger,
            )));
        }
    }
    lines.push(Line::from(""));
    match &form.challenge {
        Some(challenge) => {
            lines.push(Line::from(Span::styled(
                format!(
                    "Protected: {}. Type {} and press Enter to send.",
                    clean(&challenge.why),
                    clean(&challenge.answer)
                ),
                theme.danger,
            )));
            let typed = form.typed.value();
            let mark = match (challenge.accepts(typed), theme.ascii) {
                (true, false) => " ✓",
                (true, true) => " ok",
                (false, _) => "",
            };
            lines.push(Line::from(vec![
                Span::styled("> ", theme.key),
                Span::raw(clean(typed).into_owned()),
                Span::raw(mark),
            ]));
            lines.push(Line::from(vec![
                Span::styled("Esc", theme.key),
                Span::raw(": no, nothing is sent"),
            ]));
        }
        None => lines.push(Line::from(vec![
            Span::raw("Send it? "),
            Span::styled("y", theme.key),
            Span::raw(" yes, send   "),
            Span::styled("n", theme.key),
            Span::raw(" / Esc / Enter: no (default)   "),
            Span::styled("p", theme.key),
            Span::raw(" save as a plan"),
        ])),
    }
    let height = wrapped_rows(&lines, inner_w) + 2;
    let rect = centered(area, width, height.max(6));
    frame.render_widget(Clear, rect);
    let title = match &form.challenge {
        Some(c) => format!(
            "Confirm: nothing is sent until you type {}",
            clean(&c.answer)
        ),
        None => "Confirm: nothing is sent until you press y".to_string(),
    };
    let block = modal_block(&title, theme);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

fn quit(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let n = state.in_flight();
    let lines = vec![
        Line::from(format!(
            "{n} action(s) are still in flight. They continue on the service, but cordon stops watching them."
        )),
        Line::from(""),
        Line::from(vec![
            Span::raw("Quit anyway? "),
            Span::styled("y", theme.key),
            Span::raw(" quit   "),
            Span::styled("n", theme.key),
            Span::raw(" / Esc / Enter: stay"),
        ]),
    ];
    let width = area.width.saturating_sub(4).min(64);
    let height = wrapped_rows(&lines, width.saturating_sub(2)) + 2;
    let rect = centered(area, width, height.max(6));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(modal_block("Quit?", theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// The last bulk's failures: each machine with why, wrapped whole (a reason is never cut
/// before its advice), scrolled when the terminal is too short for all of them.
fn failures(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &KeyMap,
    scroll: usize,
) {
    let Some(bulk) = &state.last_bulk else { return };
    let width = area.width.saturating_sub(4).min(100);
    let inner_w = width.saturating_sub(2);
    let mut lines: Vec<Line> = bulk
        .failed
        .iter()
        .map(|f| {
            Line::from(vec![
                Span::styled(format!("{}: ", f.name), theme.title),
                Span::styled(f.why.clone(), theme.error),
            ])
        })
        .collect();
    let footer = vec![
        Line::from(""),
        Line::from(vec![
            Span::styled(keymap.primary(UserAction::MarkVisible), theme.key),
            Span::raw(" mark these (and only these) to retry   "),
            Span::styled("Esc", theme.key),
            Span::raw(" close   ↑↓ scroll"),
        ]),
    ];
    // Skip whole entries from the top when scrolled; the footer always shows.
    let first = scroll.min(lines.len().saturating_sub(1));
    lines.drain(..first);
    let room = area.height.saturating_sub(4);
    let footer_rows = wrapped_rows(&footer, inner_w);
    let mut body_rows = wrapped_rows(&lines, inner_w);
    while body_rows + footer_rows > room && lines.len() > 1 {
        lines.pop();
        body_rows = wrapped_rows(&lines, inner_w);
    }
    lines.extend(footer);
    let height = (body_rows + footer_rows + 2).min(area.height);
    let rect = centered(area, width, height.max(5));
    frame.render_widget(Clear, rect);
    let title = format!(
        "{} failed: {} of {}",
        bulk.verb,
        group_thousands(bulk.failed.len()),
        group_thousands(bulk.total)
    );
    frame.render_widget(
        Paragraph::new(lines)
            .block(modal_block(&title, theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// Sign in as yourself: Entra's sentence, the code large enough to read across a room,
/// and the time left. Everything here came from the sign-in endpoint: cleaned.
fn sign_in(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    prompt: Option<&cordon_core::auth::device::PromptInfo>,
    since: chrono::DateTime<chrono::Utc>,
) {
    let width = area.width.saturating_sub(4).min(76);
    let mut lines = Vec::new();
    match prompt {
        None => lines.push(Line::from(format!(
            "Profile {} signs in as you. Asking Entra for a sign-in code{}",
            clean(&state.info.profile),
            theme.ellipsis()
        ))),
        Some(p) => {
            lines.push(Line::from(clean(&p.message).into_owned()));
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::raw("Code: "),
                Span::styled(clean(&p.user_code).into_owned(), theme.danger),
                Span::raw("   at "),
                Span::styled(clean(&p.verification_uri).into_owned(), theme.key),
            ]));
            let waited = (state.now - since).num_seconds().max(0) as u64;
            let left = p.expires_in.as_secs().saturating_sub(waited);
            lines.push(Line::from(format!(
                "Waiting for you to sign in {} ({} min left). cordon continues by itself.",
                theme.spinner(state.spinner),
                left.div_ceil(60)
            )));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("Esc", theme.key),
        Span::raw(" cancel (r tries again later)"),
    ]));
    let height = wrapped_rows(&lines, width.saturating_sub(2)) + 2;
    let rect = centered(area, width, height.max(5));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(modal_block("Sign in", theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}
