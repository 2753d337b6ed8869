//! The console's state, grouped per pane. Rendering only reads it; `update` alone
//! changes it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tui_input::Input;

use crate::api::models::{IsolationState, IsolationType, Machine, MachineAction};
use crate::worker::protocol::{RequestId, WriteOp};

/// Longest comment the service accepts from us.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// What the header shows about the active profile.
#[derive(Debug, Clone, Default)]
pub struct ProfileInfo {
    pub profile: String,
    pub tenant: String,
    pub cloud: String,
    pub readonly: bool,
    pub audit_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Machines,
    History,
}

/// The part of a machine the console shows. At 100,000 machines the full `Machine`
/// (two dozen optional strings) would double the memory for fields never drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSummary {
    pub id: String,
    pub computer_dns_name: Option<String>,
    pub os_platform: Option<String>,
    pub health_status: Option<String>,
    pub risk_score: Option<String>,
    pub exposure_level: Option<String>,
    pub last_seen: Option<String>,
    pub last_ip_address: Option<String>,
    pub machine_tags: Vec<String>,
}

impl MachineSummary {
    /// The DNS name, or the id when the name is missing or empty.
    pub fn display_name(&self) -> &str {
        match self.computer_dns_name.as_deref() {
            Some(name) if !name.trim().is_empty() => name,
            _ => &self.id,
        }
    }
}

/// One machine plus what the list needs to filter it quickly.
#[derive(Debug, Clone)]
pub struct MachineRow {
    pub machine: MachineSummary,
    /// Lowercase `name|id|ips|tags`, built once when the page arrives.
    pub search_key: String,
}

impl MachineRow {
    pub fn new(machine: Machine) -> Self {
        let mut key = String::with_capacity(96);
        key.push_str(machine.display_name());
        key.push('|');
        key.push_str(&machine.id);
        if let Some(ip) = &machine.last_ip_address {
            key.push('|');
            key.push_str(ip);
        }
        for ip in machine
            .ip_addresses
            .iter()
            .filter_map(|a| a.ip_address.as_ref())
        {
            key.push('|');
            key.push_str(ip);
        }
        for tag in &machine.machine_tags {
            key.push('|');
            key.push_str(tag);
        }
        let Machine {
            id,
            computer_dns_name,
            os_platform,
            health_status,
            risk_score,
            exposure_level,
            last_seen,
            last_ip_address,
            machine_tags,
            ..
        } = machine;
        Self {
            search_key: key.to_lowercase(),
            machine: MachineSummary {
                id,
                computer_dns_name,
                os_platform,
                health_status,
                risk_score,
                exposure_level,
                last_seen,
                last_ip_address,
                machine_tags,
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MachineList {
    pub rows: Vec<MachineRow>,
    pub index_by_id: HashMap<String, usize>,
    /// Indices into `rows` that pass the filter, in list order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub selected: usize,
    /// First visible position drawn (the list renders only the viewport).
    pub scroll: usize,
    /// Marked machine ids (survive refresh and filtering).
    pub marked: HashSet<String>,
    /// Derived isolation state per machine id (survives refresh until replaced).
    pub isolation: HashMap<String, IsolationState>,
    pub loading: bool,
    pub generation: Option<u64>,
    /// When a refresh replaced the list, the machine to select again once it arrives.
    pub reselect: Option<String>,
    pub total: Option<usize>,
}

impl MachineList {
    pub fn selected_row(&self) -> Option<&MachineRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    pub fn selected_id(&self) -> Option<&str> {
        self.selected_row().map(|r| r.machine.id.as_str())
    }

    pub fn by_id(&self, id: &str) -> Option<&MachineRow> {
        self.index_by_id.get(id).map(|&i| &self.rows[i])
    }

    pub fn isolation_of(&self, id: &str) -> Option<IsolationState> {
        self.isolation.get(id).copied()
    }
}

#[derive(Debug, Clone, Default)]
pub struct HistoryState {
    /// Loaded histories, newest first, per machine id.
    pub cache: HashMap<String, Vec<MachineAction>>,
    pub loading: HashSet<String>,
    pub errors: HashMap<String, String>,
    /// Selected entry of the shown machine's history.
    pub selected: usize,
    /// Machine whose history is shown (follows the machine selection).
    pub machine_id: Option<String>,
}

impl HistoryState {
    pub fn entries(&self) -> &[MachineAction] {
        self.machine_id
            .as_ref()
            .and_then(|id| self.cache.get(id))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn selected_entry(&self) -> Option<&MachineAction> {
        self.entries().get(self.selected)
    }
}

#[derive(Debug, Clone, Default)]
pub struct FilterState {
    pub input: Input,
    /// The filter box has focus (typing edits it).
    pub editing: bool,
    /// The lowercase needle the `visible` list was computed for.
    pub applied: String,
}

#[derive(Debug, Clone, Default)]
pub struct StatusLine {
    pub error: Option<String>,
    pub notice: Option<String>,
    pub budget: Option<(u32, u32)>,
}

/// The write the comment modal is collecting a comment for.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOp {
    Isolate(IsolationType),
    Release,
    Cancel {
        action_id: String,
        action_type: String,
    },
}

impl PendingOp {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Isolate(_) => "Isolate",
            Self::Release => "Release",
            Self::Cancel { .. } => "Cancel",
        }
    }

    pub fn to_write_op(&self) -> WriteOp {
        match self {
            Self::Isolate(t) => WriteOp::Isolate { isolation_type: *t },
            Self::Release => WriteOp::Unisolate,
            Self::Cancel { action_id, .. } => WriteOp::Cancel {
                action_id: action_id.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    /// Already sanitised display name.
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct CommentForm {
    pub op: PendingOp,
    pub targets: Vec<Target>,
    pub input: Input,
    /// Why the last Enter was refused, shown inside the modal.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConfirmForm {
    pub op: PendingOp,
    pub targets: Vec<Target>,
    pub comment: String,
}

#[derive(Debug, Clone)]
pub enum Modal {
    Comment(CommentForm),
    Confirm(ConfirmForm),
    Help,
    QuitConfirm,
}

/// Where one submitted request stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestStage {
    /// Sent; no outcome yet.
    Sent,
    /// Accepted (or already active): the service's action is being tracked.
    Tracking {
        action_id: String,
        final_: bool,
    },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub machine_id: String,
    pub machine_name: String,
    pub verb: &'static str,
    pub stage: RequestStage,
}

impl RequestInfo {
    pub fn is_done(&self) -> bool {
        matches!(
            self.stage,
            RequestStage::Failed(_) | RequestStage::Tracking { final_: true, .. }
        )
    }
}

/// One Submit of N requests, shown as progress until every request is accounted for.
#[derive(Debug, Clone)]
pub struct Batch {
    pub verb: &'static str,
    pub request_ids: Vec<RequestId>,
    pub started: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub info: ProfileInfo,
    /// The clock used for relative times and ETAs; the runner sets it, tests fix it.
    pub now: DateTime<Utc>,
    pub focus: Pane,
    pub machines: MachineList,
    pub history: HistoryState,
    pub filter: FilterState,
    pub modal: Option<Modal>,
    pub status: StatusLine,
    pub requests: HashMap<RequestId, RequestInfo>,
    pub batches: Vec<Batch>,
    pub next_request_id: RequestId,
    pub spinner: usize,
    /// Rows the machine table shows (set from the terminal size).
    pub list_height: usize,
    /// Terminal size, for layout decisions in update (paging).
    pub size: (u16, u16),
    /// The worker's event channel closed.
    pub worker_gone: bool,
}

impl State {
    pub fn new(info: ProfileInfo, now: DateTime<Utc>) -> Self {
        Self {
            info,
            now,
            focus: Pane::Machines,
            machines: MachineList::default(),
            history: HistoryState::default(),
            filter: FilterState::default(),
            modal: None,
            status: StatusLine::default(),
            requests: HashMap::new(),
            batches: Vec::new(),
            next_request_id: 1,
            spinner: 0,
            list_height: 10,
            size: (80, 24),
            worker_gone: false,
        }
    }

    /// Requests without a final outcome yet.
    pub fn in_flight(&self) -> usize {
        self.requests.values().filter(|r| !r.is_done()).count()
    }

    /// Something on screen moves (spinner) and needs ticks.
    pub fn is_animating(&self) -> bool {
        self.machines.loading
            || !self.history.loading.is_empty()
            || self.in_flight() > 0
            || self.viewport_has_transition()
            || self.history.entries().iter().any(|a| a.status.is_active())
    }

    /// A machine in the drawn window is Isolating/Releasing (its spinner turns). Only
    /// the viewport is checked so this stays cheap with 100,000 machines.
    fn viewport_has_transition(&self) -> bool {
        let m = &self.machines;
        let end = (m.scroll + self.list_height).min(m.visible.len());
        m.visible[m.scroll.min(end)..end].iter().any(|&i| {
            matches!(
                m.isolation_of(&m.rows[i].machine.id),
                Some(IsolationState::Isolating | IsolationState::Releasing)
            )
        })
    }
}
