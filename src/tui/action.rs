//! Everything that can change the console's state (`Action`) and everything the runner
//! must do as a result (`Effect`). Only `UserAction`s can be bound to keys: text input,
//! worker events and ticks are internal.

use tui_input::InputRequest;

use cordon_core::worker::protocol::{Command, WorkerEvent};

/// A command the user can bind to a key in the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserAction {
    MoveDown,
    MoveUp,
    PageDown,
    PageUp,
    First,
    Last,
    SwitchPane,
    Filter,
    ToggleMark,
    MarkVisible,
    ClearMarks,
    BulkFailures,
    SortNext,
    SortReverse,
    Export,
    CommandLine,
    Isolate,
    Release,
    CancelAction,
    Refresh,
    Help,
    Quit,
}

impl UserAction {
    /// Every bindable action, in the order the help overlay lists them.
    pub const ALL: [UserAction; 22] = [
        Self::MoveDown,
        Self::MoveUp,
        Self::PageDown,
        Self::PageUp,
        Self::First,
        Self::Last,
        Self::SwitchPane,
        Self::Filter,
        Self::ToggleMark,
        Self::MarkVisible,
        Self::ClearMarks,
        Self::BulkFailures,
        Self::SortNext,
        Self::SortReverse,
        Self::Export,
        Self::CommandLine,
        Self::Isolate,
        Self::Release,
        Self::CancelAction,
        Self::Refresh,
        Self::Help,
        Self::Quit,
    ];

    /// The name used in the keymap file.
    pub fn name(self) -> &'static str {
        match self {
            Self::MoveDown => "move_down",
            Self::MoveUp => "move_up",
            Self::PageDown => "page_down",
            Self::PageUp => "page_up",
            Self::First => "first",
            Self::Last => "last",
            Self::SwitchPane => "switch_pane",
            Self::Filter => "filter",
            Self::ToggleMark => "toggle_mark",
            Self::MarkVisible => "mark_visible",
            Self::ClearMarks => "clear_marks",
            Self::BulkFailures => "bulk_failures",
            Self::SortNext => "sort_next",
            Self::SortReverse => "sort_reverse",
            Self::Export => "export",
            Self::CommandLine => "command_line",
            Self::Isolate => "isolate",
            Self::Release => "release",
            Self::CancelAction => "cancel_action",
            Self::Refresh => "refresh",
            Self::Help => "help",
            Self::Quit => "quit",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// One line for the help overlay.
    pub fn description(self) -> &'static str {
        match self {
            Self::MoveDown => "Move down (machines, or history entries in the history pane)",
            Self::MoveUp => "Move up",
            Self::PageDown => "Page down",
            Self::PageUp => "Page up",
            Self::First => "Go to the first row",
            Self::Last => "Go to the last row",
            Self::SwitchPane => "Switch between the machine list and the history",
            Self::Filter => "Filter: name/IP/tag words, or os: health: risk: tag: ip: iso:",
            Self::ToggleMark => "Mark or unmark the machine for a bulk action",
            Self::MarkVisible => "Mark every machine the filter shows (again: unmark them)",
            Self::ClearMarks => {
                "Clear every mark, also those the filter hides; with none, the filter"
            }
            Self::BulkFailures => "List the last bulk's failed machines and why (* marks them)",
            Self::SortNext => "Sort by the next column (name, last seen, risk, ... then none)",
            Self::SortReverse => "Reverse the sort",
            Self::Export => "Export the shown list (or history) to CSV in this directory",
            Self::CommandLine => "Command line: filter, sort, export, isolate, release, help, q",
            Self::Isolate => "Isolate the marked machines, or the selected one",
            Self::Release => "Release (unisolate) the marked machines, or the selected one",
            Self::CancelAction => "Cancel the selected pending action",
            Self::Refresh => "Reload machines and the selected machine's history",
            Self::Help => "Show or hide this help",
            Self::Quit => "Quit (asks first while actions are in flight)",
        }
    }

    /// The short label used in the status bar's key hints.
    pub fn hint(self) -> &'static str {
        match self {
            Self::MoveDown => "down",
            Self::MoveUp => "up",
            Self::PageDown => "page down",
            Self::PageUp => "page up",
            Self::First => "first",
            Self::Last => "last",
            Self::SwitchPane => "pane",
            Self::Filter => "filter",
            Self::ToggleMark => "mark",
            Self::MarkVisible => "mark all shown",
            Self::ClearMarks => "clear marks",
            Self::BulkFailures => "failures",
            Self::SortNext => "sort",
            Self::SortReverse => "reverse sort",
            Self::Export => "export",
            Self::CommandLine => "command",
            Self::Isolate => "isolate",
            Self::Release => "release",
            Self::CancelAction => "cancel",
            Self::Refresh => "refresh",
            Self::Help => "help",
            Self::Quit => "quit",
        }
    }
}

/// Everything `update` understands.
// Actions live for one update call; boxing worker events would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Action {
    /// A bound command.
    User(UserAction),
    /// Ctrl-C or a termination signal: leave now, whatever is in flight.
    ForceQuit,
    /// Edit the text of the filter or the comment box.
    Text(InputRequest),
    /// Bracketed paste into the filter or the comment box.
    Paste(String),
    /// Enter in a text field or modal.
    Submit,
    /// Esc in a text field or modal.
    Back,
    /// Tab in the comment modal: next isolation type.
    NextField,
    /// y / n in a yes-no modal.
    Answer(bool),
    /// Move within a text-entry mode without leaving it (Up/Down while filtering).
    Move(i64),
    Worker(WorkerEvent),
    /// Animation tick (spinner, ETA).
    Tick,
    /// The periodic refresh timer fired.
    PeriodicRefresh,
    /// The terminal is now this size.
    Resize {
        width: u16,
        height: u16,
    },
    /// A command could not be handed to the worker (channel full or closed).
    SendFailed {
        command: Command,
        reason: String,
    },
    /// The worker's event channel closed: nothing more will arrive.
    WorkerGone,
    /// `p` in the confirmation: save the write as a plan instead of sending it.
    SavePlan,
    /// The runner wrote (or failed to write) a plan: requests in it, or why not.
    PlanSaved {
        path: std::path::PathBuf,
        result: Result<usize, String>,
    },
    /// A click on the machine list's row at this position of `visible`.
    SelectRow(usize),
    /// A click on a column header.
    SortBy(crate::tui::state::SortKey),
    /// The runner wrote (or failed to write) an export: rows written, or why not.
    Exported {
        path: std::path::PathBuf,
        result: Result<usize, String>,
    },
}

/// What the runner must do after an update. `update` never does I/O itself.
#[derive(Debug, Clone)]
pub enum Effect {
    Send(Command),
    /// Write a plan (JSON) to `path`, private to the user; answered by `PlanSaved`.
    SavePlan {
        path: std::path::PathBuf,
        text: String,
        requests: usize,
    },
    /// Write `text` (CSV) to `path`, private to the user; answered by `Exported`.
    Export {
        path: std::path::PathBuf,
        text: String,
        rows: usize,
    },
    Quit,
}
