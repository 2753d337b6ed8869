//! The worker: the only way from the UI (or the CLI) to the network. It owns HTTP
//! (through `DefenderApi`), rate limiting, submissions and polling, and talks to the
//! UI only through typed channels: `Command` in, `WorkerEvent` out.
//!
//! Tasks: the command loop (this file) hands submissions to one ordered submit task
//! (`submit.rs`), runs machine loads and history reads as their own tasks (a newer
//! load replaces an older one), and a poll task (`poll.rs`) follows every action in
//! flight with one batched list call per cycle.

mod poll;
pub mod protocol;
pub mod rate_limit;
pub mod recover;
mod submit;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::MachineSummary;
use crate::api::models::MachineAction;
use crate::api::{ActionFilter, DefenderApi, MAX_PAGE, PageGuard, PageRequest, all_actions};
use crate::audit::AuditLog;
use protocol::{Command, ErrorInfo, WorkerEvent};

pub use poll::POLL_BATCH;
pub use rate_limit::{ApiKind, RateLimited, RateLimits};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub poll_interval: Duration,
    pub readonly: bool,
    pub profile_name: String,
    pub limits: RateLimits,
    /// How long one write keeps reconciling and retrying after ambiguous answers.
    pub write_deadline: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(3),
            readonly: false,
            profile_name: "default".into(),
            limits: RateLimits::default(),
            write_deadline: Duration::from_secs(120),
        }
    }
}

pub struct WorkerHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: mpsc::UnboundedReceiver<WorkerEvent>,
    pub join: JoinHandle<()>,
}

/// How long an in-flight POST may run after cancellation so its outcome is audited.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// State shared by the worker's tasks.
pub(crate) struct Ctx<A> {
    pub api: Arc<A>,
    pub audit: AuditLog,
    pub settings: WorkerSettings,
    pub events: mpsc::UnboundedSender<WorkerEvent>,
    pub tracker: Mutex<poll::Tracker>,
    /// Wakes the poller when a new action is tracked, so a back-off does not delay it.
    pub tracked_added: tokio::sync::Notify,
}

impl<A: DefenderApi> Ctx<A> {
    /// Send an event; a closed channel means the UI is gone, which is not an error here.
    pub fn emit(&self, event: WorkerEvent) {
        let _ = self.events.send(event);
    }

    pub fn emit_budget(&self) {
        if let Some((minute_left, hour_left)) = self.api.budget() {
            self.emit(WorkerEvent::Budget {
                minute_left,
                hour_left,
            });
        }
    }

    pub fn tracker(&self) -> std::sync::MutexGuard<'_, poll::Tracker> {
        self.tracker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Start the worker. `api` should already be rate limited (`RateLimited`).
pub fn spawn<A: DefenderApi>(
    api: Arc<A>,
    audit: AuditLog,
    settings: WorkerSettings,
    cancel: CancellationToken,
) -> WorkerHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (evt_tx, evt_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        api,
        audit,
        settings,
        events: evt_tx,
        tracker: Mutex::new(poll::Tracker::default()),
        tracked_added: tokio::sync::Notify::new(),
    });
    let join = tokio::spawn(run(ctx, cmd_rx, cancel));
    WorkerHandle {
        commands: cmd_tx,
        events: evt_rx,
        join,
    }
}

async fn run<A: DefenderApi>(
    ctx: Arc<Ctx<A>>,
    mut commands: mpsc::Receiver<Command>,
    cancel: CancellationToken,
) {
    let (submit_tx, submit_rx) = mpsc::unbounded_channel();
    let submitter = tokio::spawn(submit::run(ctx.clone(), submit_rx, cancel.clone()));
    let poller = tokio::spawn(poll::run(ctx.clone(), cancel.clone()));
    let mut loader: Option<JoinHandle<()>> = None;
    let mut generation = 0u64;
    let mut side_tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut sign_in: Option<(JoinHandle<()>, CancellationToken)> = None;

    loop {
        let command = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            c = commands.recv() => c,
        };
        let Some(command) = command else { break };
        side_tasks.retain(|t| !t.is_finished());
        match command {
            Command::LoadMachines { filter } => {
                // Newest wins: a running load is superseded, never queued behind.
                if let Some(old) = loader.take() {
                    old.abort();
                }
                generation += 1;
                loader = Some(tokio::spawn(load_machines(ctx.clone(), generation, filter)));
            }
            Command::LoadHistory { machine_id } => {
                side_tasks.push(tokio::spawn(load_history(ctx.clone(), machine_id)));
            }
            Command::Submit(requests) => {
                for r in requests {
                    let _ = submit_tx.send(r);
                }
            }
            Command::Track {
                action_ids,
                origins,
            } => {
                let ctx = ctx.clone();
                side_tasks.push(tokio::spawn(async move {
                    poll::track(ctx, action_ids, origins).await;
                }));
            }
            Command::SignIn => {
                if sign_in.as_ref().is_some_and(|(t, _)| !t.is_finished()) {
                    continue;
                }
                let stop = cancel.child_token();
                let ctx = ctx.clone();
                let token = stop.clone();
                let task = tokio::spawn(async move {
                    let prompt_ctx = ctx.clone();
                    let result = ctx
                        .api
                        .sign_in(token, move |prompt| {
                            prompt_ctx.emit(WorkerEvent::SignInPrompt { prompt });
                        })
                        .await;
                    ctx.emit(match result {
                        Ok(user) => WorkerEvent::SignedIn { user },
                        Err(e) => WorkerEvent::SignInFailed {
                            error: ErrorInfo::from(&e),
                        },
                    });
                });
                sign_in = Some((task, stop));
            }
            Command::CancelSignIn => {
                if let Some((_, stop)) = &sign_in {
                    stop.cancel();
                }
            }
            Command::Recover => {
                let ctx = ctx.clone();
                side_tasks.push(tokio::spawn(async move {
                    let report = recover::recover(&ctx).await;
                    ctx.emit(WorkerEvent::Recovered { report });
                }));
            }
        }
    }

    // Ordered shutdown: stop reading and polling now; let a POST in flight finish.
    cancel.cancel();
    if let Some(l) = loader {
        l.abort();
    }
    for t in side_tasks {
        t.abort();
    }
    poller.abort();
    if let Some((task, _)) = sign_in {
        task.abort();
    }
    drop(submit_tx);
    if tokio::time::timeout(SHUTDOWN_GRACE, submitter)
        .await
        .is_err()
    {
        tracing::warn!(
            "a write was still in flight at shutdown; its request line is in the audit log"
        );
    }
    // Outcome lines are queued to the audit writer: on disk before the process ends.
    if let Err(e) = ctx.audit.flush().await {
        tracing::error!(error = %e, "the audit log could not be flushed at shutdown");
    }
}

async fn load_machines<A: DefenderApi>(ctx: Arc<Ctx<A>>, generation: u64, filter: Option<String>) {
    ctx.emit(WorkerEvent::MachinesLoading { generation });
    let mut request = PageRequest::First {
        filter,
        top: MAX_PAGE,
    };
    let mut first = true;
    let mut total = 0usize;
    let mut pages = PageGuard::new();
    loop {
        // Parsed straight into the compact summary the list keeps.
        let page = ctx.api.machines_page::<MachineSummary>(request).await;
        ctx.emit_budget();
        // A page link that repeats (or never ends) fails the load after this page.
        let page = page.and_then(|page| {
            let next = page.next_link.map(|link| pages.follow(link)).transpose()?;
            Ok((page.value, next))
        });
        match page {
            Ok((machines, next)) => {
                total += machines.len();
                ctx.emit(WorkerEvent::MachinesPage {
                    generation,
                    machines,
                    first,
                });
                first = false;
                match next {
                    Some(link) => request = PageRequest::Next(link),
                    None => break,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "machine list failed");
                ctx.emit(WorkerEvent::MachinesFailed {
                    generation,
                    error: ErrorInfo::from(&e),
                });
                return;
            }
        }
    }
    let filter = ActionFilter::isolation();
    match all_actions(ctx.api.as_ref(), &filter).await {
        Ok(actions) => ctx.emit(WorkerEvent::IsolationStates {
            generation,
            states: crate::domain::isolation_states(&actions),
        }),
        Err(e) => ctx.emit(WorkerEvent::Notice {
            message: format!("Isolation states are unavailable: {}", e.explain()),
        }),
    }
    ctx.emit_budget();
    ctx.emit(WorkerEvent::MachinesLoaded { generation, total });
}

async fn load_history<A: DefenderApi>(ctx: Arc<Ctx<A>>, machine_id: String) {
    let filter = ActionFilter::history_of(&machine_id);
    let result = all_actions(ctx.api.as_ref(), &filter).await;
    ctx.emit_budget();
    match result {
        Ok(actions) => {
            let mut refs: Vec<&MachineAction> = actions.iter().collect();
            crate::domain::newest_first(&mut refs);
            let actions = refs.into_iter().cloned().collect();
            ctx.emit(WorkerEvent::History {
                machine_id,
                actions,
            });
        }
        Err(e) => ctx.emit(WorkerEvent::HistoryFailed {
            machine_id,
            error: ErrorInfo::from(&e),
        }),
    }
}
