//! Styles and glyphs in one place. The default palette uses only the 16 named colours;
//! the one RGB colour allowed is the profile's own header tint. `no_color` drops every
//! colour and keeps modifiers (bold, reversed) so the selection stays visible.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use cordon_core::api::models::IsolationState;

const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

const UNICODE_SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const ASCII_SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
    pub border: border::Set<'static>,
    pub header: Style,
    pub readonly_badge: Style,
    pub title: Style,
    pub focused_border: Style,
    pub border_style: Style,
    pub table_header: Style,
    pub selected: Style,
    pub selected_unfocused: Style,
    pub marked: Style,
    pub error: Style,
    pub notice: Style,
    pub dim: Style,
    pub key: Style,
    pub modal_border: Style,
    pub danger: Style,
}

impl Theme {
    /// `profile_color` is a name ("red") or "#rrggbb"; an unparseable value is ignored.
    pub fn new(profile_color: Option<&str>, no_color: bool, ascii: bool) -> Self {
        let tint = profile_color.and_then(|c| Color::from_str(c.trim()).ok());
        let border = if ascii { ASCII_BORDER } else { border::ROUNDED };
        if no_color {
            let bold = Style::new().add_modifier(Modifier::BOLD);
            return Self {
                color: false,
                ascii,
                border,
                header: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                readonly_badge: bold,
                title: bold,
                focused_border: bold,
                border_style: Style::new(),
                table_header: Style::new().add_modifier(Modifier::UNDERLINED),
                selected: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                selected_unfocused: Style::new().add_modifier(Modifier::UNDERLINED),
                marked: bold,
                error: bold,
                notice: Style::new(),
                dim: Style::new(),
                key: bold,
                modal_border: bold,
                danger: bold,
            };
        }
        let header = match tint {
            Some(bg) => Style::new()
                .bg(bg)
                .fg(contrast_fg(bg))
                .add_modifier(Modifier::BOLD),
            None => Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
        };
        Self {
            color: true,
            ascii,
            border,
            header,
            readonly_badge: Style::new()
                .bg(Color::Yellow)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            title: Style::new().add_modifier(Modifier::BOLD),
            focused_border: Style::new().fg(Color::Cyan),
            border_style: Style::new().fg(Color::DarkGray),
            table_header: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            selected_unfocused: Style::new().add_modifier(Modifier::UNDERLINED),
            marked: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            notice: Style::new().fg(Color::Green),
            dim: Style::new().fg(Color::DarkGray),
            key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            modal_border: Style::new().fg(Color::Yellow),
            danger: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    pub fn isolation(&self, state: Option<IsolationState>) -> Style {
        if !self.color {
            return match state {
                Some(IsolationState::Isolated(_)) => Style::new().add_modifier(Modifier::BOLD),
                _ => Style::new(),
            };
        }
        match state {
            Some(IsolationState::Isolated(_)) => Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            Some(IsolationState::Isolating(_) | IsolationState::Releasing) => {
                Style::new().fg(Color::Yellow)
            }
            Some(IsolationState::NotIsolated) => Style::new().fg(Color::Green),
            Some(IsolationState::Unknown(_)) => Style::new().fg(Color::Magenta),
            None => Style::new().fg(Color::DarkGray),
        }
    }

    /// Style for an action status word.
    pub fn status(&self, status: &cordon_core::api::models::ActionStatus) -> Style {
        use cordon_core::api::models::ActionStatus as S;
        if !self.color {
            return Style::new();
        }
        match status {
            S::Pending | S::InProgress => Style::new().fg(Color::Yellow),
            S::Succeeded => Style::new().fg(Color::Green),
            S::Failed | S::TimeOut => Style::new().fg(Color::Red),
            S::Cancelled => Style::new().fg(Color::DarkGray),
            S::Other(_) => Style::new().fg(Color::Magenta),
        }
    }

    pub fn spinner(&self, tick: usize) -> &'static str {
        if self.ascii {
            ASCII_SPINNER[tick % ASCII_SPINNER.len()]
        } else {
            UNICODE_SPINNER[tick % UNICODE_SPINNER.len()]
        }
    }

    pub fn mark_glyph(&self) -> &'static str {
        if self.ascii { "*" } else { "●" }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "~" } else { "…" }
    }

    pub fn separator(&self) -> &'static str {
        if self.ascii { " | " } else { " · " }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::new(None, false, false)
    }
}

/// Black text on light backgrounds, white on dark ones.
fn contrast_fg(bg: Color) -> Color {
    let light = match bg {
        Color::Rgb(r, g, b) => {
            // Rec. 601 luma, good enough to choose between black and white.
            u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114 > 140_000
        }
        Color::White
        | Color::Gray
        | Color::Yellow
        | Color::Cyan
        | Color::Green
        | Color::LightRed
        | Color::LightGreen
        | Color::LightYellow
        | Color::LightBlue
        | Color::LightMagenta
        | Color::LightCyan => true,
        _ => false,
    };
    if light { Color::Black } else { Color::White }
}
