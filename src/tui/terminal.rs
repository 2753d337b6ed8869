//! Terminal lifecycle: raw mode, alternate screen, bracketed paste and a hidden cursor,
//! undone by a guard's `Drop` and by the process's panic hook (`restore_if_entered`), so
//! a panic message is readable and the shell is usable afterwards.

use std::io::{self, Stdout, stdout};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

pub type Term = Terminal<SafeBackend<CrosstermBackend<Stdout>>>;

/// Set while the console owns the terminal: only then may a panic write escape
/// sequences (a CLI's stdout may be a pipe of JSON).
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Restores the terminal when dropped.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    /// Take the terminal; `mouse`: also receive clicks and the wheel (holding Shift
    /// still selects text in most terminals).
    pub fn enter(mouse: bool) -> io::Result<Self> {
        ENTERED.store(true, Ordering::SeqCst);
        enable_raw_mode()?;
        let mut out = stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, EnableBracketedPaste, Hide) {
            restore();
            return Err(e);
        }
        if mouse && let Err(e) = execute!(out, EnableMouseCapture) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(SafeBackend(CrosstermBackend::new(out))) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Self { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave raw mode and the alternate screen; safe to call more than once.
pub fn restore() {
    ENTERED.store(false, Ordering::SeqCst);
    let _ = disable_raw_mode();
    // Mouse capture off whether or not it was on: a terminal left reporting clicks
    // would type escape codes into the shell.
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        Show
    );
}

/// Restore the terminal if the console entered it; a no-op otherwise. For the panic
/// hook, which may run on any thread.
pub fn restore_if_entered() {
    if ENTERED.swap(false, Ordering::SeqCst) {
        restore();
    }
}

/// The console's last line of defence: every cell goes through here on its way to the
/// terminal, and a cell whose text holds a control or bidi character is drawn as `?`.
/// The views clean every API string already; this makes it true by construction, for
/// any string any view formats, now or later.
#[derive(Debug)]
pub struct SafeBackend<B>(pub B);

impl<B: Backend> Backend for SafeBackend<B> {
    type Error = B::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let unsafe_symbol = |c: &Cell| {
            c.symbol()
                .chars()
                .any(cordon_core::sanitize::is_terminal_unsafe)
        };
        let cells: Vec<(u16, u16, std::borrow::Cow<'a, Cell>)> = content
            .map(|(x, y, c)| {
                if unsafe_symbol(c) {
                    let mut safe = c.clone();
                    safe.set_symbol("?");
                    (x, y, std::borrow::Cow::Owned(safe))
                } else {
                    (x, y, std::borrow::Cow::Borrowed(c))
                }
            })
            .collect();
        self.0
            .draw(cells.iter().map(|(x, y, c)| (*x, *y, c.as_ref())))
    }

    fn append_lines(&mut self, n: u16) -> Result<(), Self::Error> {
        self.0.append_lines(n)
    }

    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.hide_cursor()
    }

    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.0.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.0.set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.0.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.0.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, Self::Error> {
        self.0.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.0.window_size()
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::widgets::Paragraph;

    #[test]
    fn a_raw_escape_drawn_by_any_view_never_reaches_the_terminal() {
        let mut t = Terminal::new(SafeBackend(TestBackend::new(30, 1))).expect("terminal");
        // A view that writes a cell directly (ratatui's text widgets drop controls, but
        // a cell's symbol is set as given): OSC 52 to the clipboard, a bidi override.
        t.draw(|f| {
            f.render_widget(Paragraph::new("abcd"), f.area());
            f.buffer_mut()[(1, 0)].set_symbol("\u{1b}]52;c;eA==\u{7}");
            f.buffer_mut()[(3, 0)].set_symbol("\u{202e}");
        })
        .expect("draw");
        let buf = t.backend().0.buffer();
        let text: String = (0..30).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert!(
            !text.chars().any(cordon_core::sanitize::is_terminal_unsafe),
            "{text:?}"
        );
        assert!(text.starts_with("a?"), "{text:?}");
    }
}
