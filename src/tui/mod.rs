//! The console. The runner below is the only part that does I/O: it turns terminal
//! events, worker events, ticks and signals into `Action`s, feeds them to the pure
//! `update`, carries out the returned `Effect`s and redraws when something changed.

pub mod action;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod ledger;
pub mod present;
pub mod query;
pub mod search;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod ui;
pub mod update;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Instant, Interval, MissedTickBehavior, sleep_until};
use tokio_util::sync::CancellationToken;

pub use action::{Action, Effect, UserAction};

/// Resolves when a termination signal arrives (SIGHUP, SIGTERM or SIGINT on Unix; Ctrl-C
/// elsewhere), cancelling `stop`. Listeners are installed before this returns.
#[cfg(unix)]
fn wait_for_signal(
    stop: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = sighup.recv() => {},
            _ = sigterm.recv() => {},
            _ = sigint.recv() => {},
        }
        tracing::info!("termination signal: leaving the console");
        stop.cancel();
    })
}

#[cfg(not(unix))]
fn wait_for_signal(
    stop: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    })
}
use cordon_core::worker::protocol::{Command, WorkerEvent};
pub use keymap::{KeyMap, KeyMapError};
pub use state::{ProfileInfo, State};
pub use theme::Theme;

/// Spinner speed while something is in progress.
const TICK: Duration = Duration::from_millis(120);
/// Without activity, redraw this often so relative times ("3m ago") stay true.
const IDLE_TICK: Duration = Duration::from_secs(30);
/// At most ~60 frames a second.
const FRAME: Duration = Duration::from_millis(16);

/// What the console needs to know about the session.
#[derive(Debug, Clone, Default)]
pub struct TuiContext {
    pub profile: String,
    pub tenant: String,
    pub cloud: String,
    pub api_base: String,
    pub readonly: bool,
    /// The profile's header colour: a name ("red") or "#rrggbb".
    pub color: Option<String>,
    pub ascii: bool,
    pub no_color: bool,
    pub refresh_interval: Option<Duration>,
    /// Shown in the help overlay.
    pub audit_path: Option<PathBuf>,
    pub protected: bool,
    pub protected_tags: Vec<String>,
    pub comment_rule: cordon_core::domain::CommentRule,
    pub comment_template: Option<String>,
    /// Every profile of the config, for `:profile`.
    pub profiles: Vec<String>,
    /// Clicks select, the wheel scrolls, a header click sorts (`--no-mouse` turns off).
    pub mouse: bool,
    /// `[ui] columns`: the list's columns, when chosen.
    pub columns: Option<Vec<String>>,
}

/// How the console ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiExit {
    /// Actions still running at quit, for the summary line.
    pub in_flight: usize,
    /// `:profile NAME`: continue in that profile.
    pub switch_to: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("the terminal failed: {0}; run cordon in an interactive terminal")]
    Io(#[from] std::io::Error),
}

/// Build the initial state for a session (also used by tests and the lead's wiring).
pub fn initial_state(ctx: &TuiContext) -> State {
    use state::SortKey;
    let mut state = State::new(
        ProfileInfo {
            profile: ctx.profile.clone(),
            tenant: ctx.tenant.clone(),
            cloud: ctx.cloud.clone(),
            api_base: ctx.api_base.clone(),
            readonly: ctx.readonly,
            audit_path: ctx.audit_path.clone(),
            protected: ctx.protected,
            protected_tags: ctx.protected_tags.clone(),
            comment_rule: ctx.comment_rule.clone(),
            comment_template: ctx.comment_template.clone(),
            profiles: ctx.profiles.clone(),
        },
        Utc::now(),
    );
    if let Some(every) = ctx.refresh_interval {
        state.refresh_every = every;
    }
    if let Some(shown) = &ctx.columns {
        let shown: Vec<SortKey> = shown.iter().filter_map(|c| SortKey::from_name(c)).collect();
        state.machines.hidden_columns = SortKey::CYCLE
            .into_iter()
            .filter(|k| *k != SortKey::Name && !shown.contains(k))
            .collect();
    }
    state
}

/// Run the console until the user quits, a signal arrives or `cancel` fires.
pub async fn run(
    ctx: TuiContext,
    keymap: KeyMap,
    commands: mpsc::Sender<Command>,
    events: mpsc::UnboundedReceiver<WorkerEvent>,
    cancel: CancellationToken,
) -> Result<TuiExit, TuiError> {
    // SIGHUP/SIGTERM/SIGINT leave cleanly, like Ctrl-C: they stop only the console;
    // the caller's token is left alone so the caller decides about the worker.
    let stop = cancel.child_token();
    let signals = tokio::spawn(wait_for_signal(stop.clone())?);

    let mut guard = terminal::TerminalGuard::enter(ctx.mouse)?;
    let result = run_loop(
        &mut guard.terminal,
        EventStream::new(),
        &ctx,
        &keymap,
        &commands,
        events,
        &stop,
    )
    .await;
    drop(guard);
    signals.abort();
    result
}

/// The event loop on any backend and any terminal event stream, so tests can drive
/// it headless (TestBackend, a channel of events, paused time).
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    mut term_events: S,
    ctx: &TuiContext,
    keymap: &KeyMap,
    commands: &mpsc::Sender<Command>,
    mut events: mpsc::UnboundedReceiver<WorkerEvent>,
    cancel: &CancellationToken,
) -> Result<TuiExit, TuiError>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let theme = Theme::new(ctx.color.as_deref(), ctx.no_color, ctx.ascii);
    let mut state = initial_state(ctx);
    let size = terminal.size().map_err(backend_error)?;
    update::update(
        &mut state,
        Action::Resize {
            width: size.width,
            height: size.height,
        },
    );
    let mut quit = apply_effects(
        &mut state,
        commands,
        vec![Effect::Send(Command::LoadMachines { filter: None })],
    );

    let mut refresh = ctx.refresh_interval.map(|every| {
        let mut i = tokio::time::interval_at(Instant::now() + every, every);
        i.set_missed_tick_behavior(MissedTickBehavior::Skip);
        i
    });
    let mut worker_open = true;
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut next_tick = Instant::now() + TICK;
    let mut idle_at = Instant::now() + IDLE_TICK;

    while !quit {
        let now = Instant::now();
        let frame_due = last_draw.map_or(now, |t| t + FRAME);
        if dirty && frame_due <= now {
            terminal
                .draw(|f| ui::draw(f, &state, &theme, keymap))
                .map_err(backend_error)?;
            if last_draw.is_none() {
                tracing::info!(
                    ms = cordon_core::timing::since_start_ms(),
                    "first frame drawn"
                );
            }
            dirty = false;
            last_draw = Some(now);
        }
        let animating = state.is_animating();
        let tick_at = if animating { next_tick } else { idle_at };

        let mut actions: Vec<Action> = Vec::new();
        tokio::select! {
            () = cancel.cancelled() => break,
            ev = term_events.next() => match ev {
                Some(Ok(ev)) => {
                    if let Some(a) = input::map_event(&state, &ev, keymap) {
                        actions.push(a);
                    } else if matches!(ev, Event::FocusGained) {
                        dirty = true;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            ev = events.recv(), if worker_open => match ev {
                Some(ev) => {
                    actions.push(Action::Worker(ev));
                    // Coalesce: take everything already queued before drawing once.
                    while let Ok(ev) = events.try_recv() {
                        actions.push(Action::Worker(ev));
                    }
                }
                None => {
                    worker_open = false;
                    actions.push(Action::WorkerGone);
                }
            },
            () = sleep_until(tick_at) => {
                if animating {
                    next_tick = Instant::now() + TICK;
                    actions.push(Action::Tick);
                } else {
                    idle_at = Instant::now() + IDLE_TICK;
                    dirty = true; // keep relative times ("3m ago") true
                }
            },
            () = refresh_tick(&mut refresh) => actions.push(Action::PeriodicRefresh),
            () = sleep_until(frame_due), if dirty => {},
        }

        state.now = Utc::now();
        for action in actions {
            dirty = true;
            let effects = update::update(&mut state, action);
            if apply_effects(&mut state, commands, effects) {
                quit = true;
            }
        }
    }
    Ok(TuiExit {
        in_flight: state.in_flight(),
        switch_to: state.switch_to.clone(),
    })
}

fn backend_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> TuiError {
    TuiError::Io(std::io::Error::other(e))
}

async fn refresh_tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Carry out effects. Sending never waits: a full queue is reported, not awaited.
/// Returns true when the console should quit.
fn apply_effects(
    state: &mut State,
    commands: &mpsc::Sender<Command>,
    effects: Vec<Effect>,
) -> bool {
    let mut quit = false;
    let mut queue = effects;
    while let Some(effect) = (!queue.is_empty()).then(|| queue.remove(0)) {
        match effect {
            Effect::Quit => quit = true,
            Effect::SavePlan {
                path,
                text,
                requests,
            } => {
                let result = cordon_core::private_fs::write_private(&path, text.as_bytes())
                    .map(|()| requests)
                    .map_err(|e| e.to_string());
                queue.extend(update::update(state, Action::PlanSaved { path, result }));
            }
            Effect::Export { path, text, rows } => {
                // A one-off write of what is on screen (a few MB at 100,000 machines).
                let result = cordon_core::private_fs::write_private(&path, text.as_bytes())
                    .map(|()| rows)
                    .map_err(|e| e.to_string());
                queue.extend(update::update(state, Action::Exported { path, result }));
            }
            Effect::Send(command) => {
                let failure = match commands.try_send(command) {
                    Ok(()) => None,
                    Err(TrySendError::Full(command)) => Some((
                        command,
                        "the worker is busy (its queue is full)".to_string(),
                    )),
                    Err(TrySendError::Closed(command)) => {
                        Some((command, "the worker has stopped".to_string()))
                    }
                };
                if let Some((command, reason)) = failure {
                    tracing::warn!(%reason, "command not sent");
                    queue.extend(update::update(
                        state,
                        Action::SendFailed { command, reason },
                    ));
                }
            }
        }
    }
    quit
}
