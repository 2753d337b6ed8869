//! The header: which profile, tenant and cloud this is, impossible to miss. The
//! profile's own colour tints the whole line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::state::State;
use super::super::theme::Theme;
use cordon_core::sanitize::clean;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let info = &state.info;
    let sep = theme.separator();
    // Profile and the read-only badge come first so a narrow terminal never cuts them.
    let mut spans = vec![
        Span::raw(" profile "),
        Span::styled(
            clean(&info.profile).to_uppercase(),
            theme
                .header
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ),
        Span::raw(" "),
    ];
    if info.readonly {
        spans.push(Span::styled(" READ-ONLY ", theme.readonly_badge));
    }
    spans.extend([
        Span::raw(sep),
        Span::raw(format!("tenant {}", clean(&info.tenant))),
        Span::raw(sep),
        Span::raw(format!("cloud {}", clean(&info.cloud))),
        Span::raw(sep),
        Span::raw("cordon"),
    ]);
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.header), area);
}
