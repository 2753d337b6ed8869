//! The typed channels between the UI (or the CLI) and the worker. This is the only way
//! from the UI to the network.

use serde::Serialize;

pub use crate::domain::{RequestId, WriteOp, WriteRequest};

use crate::api::MachineSummary;
use crate::api::models::{IsolationState, MachineAction};

/// What the UI asks of the worker.
#[derive(Debug, Clone)]
pub enum Command {
    /// (Re)load the machine list, streamed page by page, with isolation states.
    /// Collapsed: a newer refresh replaces a queued one.
    LoadMachines { filter: Option<String> },
    /// Load one machine's action history, newest first.
    LoadHistory { machine_id: String },
    /// Submit writes: one request per machine (or per action, for cancel). Each gets
    /// exactly one outcome event: Accepted, AlreadyActive or Failed.
    Submit(Vec<WriteRequest>),
    /// Read the current state of these actions (e.g. from the audit log after a crash)
    /// and track those still active. `origins` maps an action id to the audit record of
    /// the request that created it, so its final status is appended to that request.
    Track {
        action_ids: Vec<String>,
        origins: Vec<(String, crate::audit::AuditRecord)>,
    },
    /// Settle what earlier runs left unfinished in the audit log (see
    /// `worker::recover`). Answered by one `Recovered` event.
    Recover,
    /// Sign in as the analyst (device code): `SignInPrompt`, then `SignedIn` or
    /// `SignInFailed`. A second one while a sign-in runs is ignored.
    SignIn,
    /// Stop waiting for the sign-in (answered by `SignInFailed`).
    CancelSignIn,
}

/// A failure a person can read: the API's code plus one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl From<&crate::api::ApiError> for ErrorInfo {
    fn from(e: &crate::api::ApiError) -> Self {
        Self {
            code: e.code().to_string(),
            message: e.explain(),
        }
    }
}

/// What the worker reports. Sends never block the worker (unbounded channel).
#[derive(Debug, Clone)]
pub enum WorkerEvent {
    /// A refresh started; pages of the same generation follow.
    MachinesLoading {
        generation: u64,
    },
    /// One page of machines, compact. `first` replaces the list, later pages append.
    MachinesPage {
        generation: u64,
        machines: Vec<MachineSummary>,
        first: bool,
    },
    /// The derived isolation state of every machine of this generation that has an
    /// isolation action; every other machine of the generation was never isolated.
    IsolationStates {
        generation: u64,
        states: Vec<(String, IsolationState)>,
    },
    /// Every page of this generation arrived.
    MachinesLoaded {
        generation: u64,
        total: usize,
    },
    MachinesFailed {
        generation: u64,
        error: ErrorInfo,
    },

    History {
        machine_id: String,
        actions: Vec<MachineAction>,
    },
    HistoryFailed {
        machine_id: String,
        error: ErrorInfo,
    },

    /// Outcome: the service accepted the request; the action is now polled.
    Accepted {
        request_id: RequestId,
        action: MachineAction,
    },
    /// Outcome: refused because an isolation action is already Pending/InProgress
    /// for the machine. Nothing was sent; the existing action is reported and polled.
    AlreadyActive {
        request_id: RequestId,
        action: MachineAction,
    },
    /// Outcome: the request failed, or was refused, with the reason.
    Failed {
        request_id: RequestId,
        error: ErrorInfo,
    },

    /// A tracked action changed status (including reaching a final state).
    ActionUpdated {
        action: MachineAction,
    },

    /// The rate-limit budget left for the most-used API.
    Budget {
        minute_left: u32,
        hour_left: u32,
    },
    /// The URL and code the analyst signs in with (`Command::SignIn`).
    SignInPrompt {
        prompt: crate::auth::device::PromptInfo,
    },
    /// The analyst signed in; loads can be tried again.
    SignedIn {
        user: Option<String>,
    },
    SignInFailed {
        error: ErrorInfo,
    },
    /// Start-up recovery finished (`Command::Recover`).
    Recovered {
        report: super::recover::RecoveryReport,
    },
    /// Something worth a line in the status bar (e.g. "throttled, waiting 20 s").
    Notice {
        message: String,
    },
}
