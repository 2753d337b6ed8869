//! The event loop driven headless: a TestBackend, a channel of terminal events, fake
//! worker channels and paused time.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::tui_support::*;
use cordon::tui::keymap::KeyMap;
use cordon::tui::{TuiContext, TuiExit, run_loop};
use cordon_core::worker::protocol::{Command, WorkerEvent};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::channel::mpsc as fmpsc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Harness {
    keys: fmpsc::UnboundedSender<std::io::Result<Event>>,
    worker: mpsc::UnboundedSender<WorkerEvent>,
    commands: mpsc::Receiver<Command>,
    cancel: CancellationToken,
    task: JoinHandle<(
        Result<TuiExit, cordon::tui::TuiError>,
        Terminal<TestBackend>,
    )>,
}

fn start(ctx: TuiContext, capacity: usize) -> Harness {
    let (keys, key_rx) = fmpsc::unbounded();
    let (worker, events) = mpsc::unbounded_channel();
    let (cmd_tx, commands) = mpsc::channel(capacity);
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
        let km = KeyMap::defaults();
        let r = run_loop(&mut terminal, key_rx, &ctx, &km, &cmd_tx, events, &token).await;
        (r, terminal)
    });
    Harness {
        keys,
        worker,
        commands,
        cancel,
        task,
    }
}

impl Harness {
    fn key(&self, code: KeyCode) {
        self.keys
            .unbounded_send(Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))))
            .expect("loop alive");
    }
    fn chars(&self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }
    fn load(&self, n: usize, generation: u64) {
        self.worker
            .send(WorkerEvent::MachinesLoading { generation })
            .expect("loop alive");
        self.worker
            .send(WorkerEvent::MachinesPage {
                generation,
                machines: summaries(machines(n)),
                first: true,
            })
            .expect("loop alive");
        self.worker
            .send(WorkerEvent::MachinesLoaded {
                generation,
                total: n,
            })
            .expect("loop alive");
    }
    /// Skip commands until one matches (e.g. history loads around a refresh).
    async fn until(&mut self, want: impl Fn(&Command) -> bool) -> Command {
        loop {
            let c = self.next_command().await;
            if want(&c) {
                return c;
            }
        }
    }

    /// Let the loop go idle and draw: paused time only advances when nothing is runnable.
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn next_command(&mut self) -> Command {
        tokio::time::timeout(Duration::from_secs(600), self.commands.recv())
            .await
            .expect("a command within the timeout")
            .expect("channel open")
    }
}

fn ctx() -> TuiContext {
    TuiContext {
        profile: "prod-eu".into(),
        tenant: "contoso".into(),
        cloud: "commercial".into(),
        ..Default::default()
    }
}

fn screen_text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[tokio::test(start_paused = true)]
async fn isolate_end_to_end_through_the_loop() {
    let mut h = start(ctx(), 8);
    assert!(matches!(
        h.next_command().await,
        Command::LoadMachines { filter: None }
    ));
    h.load(5, 1);
    assert!(matches!(
        h.next_command().await,
        Command::LoadHistory { machine_id } if machine_id == "m000000"
    ));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('i'));
    h.chars("IR-1234 q?y");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    let Command::Submit(reqs) = h.next_command().await else {
        panic!("submit expected")
    };
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].machine_id, "m000001");
    assert_eq!(reqs[0].comment.as_str(), "IR-1234 q?y");

    // q asks while the action is in flight; y quits.
    h.key(KeyCode::Char('q'));
    h.settle().await;
    h.key(KeyCode::Char('y'));
    let (result, terminal) = h.task.await.expect("loop task");
    assert_eq!(
        result.expect("clean exit"),
        TuiExit {
            in_flight: 1,
            switch_to: None
        }
    );
    let text = screen_text(&terminal);
    assert!(text.contains("Quit?"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn periodic_refresh_keeps_selection() {
    let mut h = start(
        TuiContext {
            refresh_interval: Some(Duration::from_secs(60)),
            ..ctx()
        },
        8,
    );
    h.next_command().await;
    h.load(10, 1);
    assert!(matches!(
        h.next_command().await,
        Command::LoadHistory { .. }
    ));
    for _ in 0..4 {
        h.key(KeyCode::Down);
    }
    // Paused time only advances once the loop is idle, so the keys are handled
    // before the refresh timer fires.
    h.until(|c| matches!(c, Command::LoadMachines { .. })).await;
    let mut reversed = machines(10);
    reversed.reverse();
    h.worker
        .send(WorkerEvent::MachinesPage {
            generation: 2,
            machines: summaries(reversed),
            first: true,
        })
        .expect("alive");
    h.worker
        .send(WorkerEvent::MachinesLoaded {
            generation: 2,
            total: 10,
        })
        .expect("alive");
    // The next refresh proves the page was handled.
    h.until(|c| matches!(c, Command::LoadMachines { .. })).await;
    h.cancel.cancel();
    let (result, terminal) = h.task.await.expect("loop task");
    result.expect("clean exit");
    let text = screen_text(&terminal);
    assert!(text.contains("History · ws-04.contoso.local"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_full_command_queue_is_reported_not_awaited() {
    let mut h = start(ctx(), 1);
    assert!(matches!(
        h.next_command().await,
        Command::LoadMachines { .. }
    ));
    h.load(2, 1);
    assert!(matches!(
        h.next_command().await,
        Command::LoadHistory { .. }
    ));
    // r fills the one-slot queue (nobody reads it); the submit then cannot be queued.
    h.key(KeyCode::Char('r'));
    h.key(KeyCode::Char('i'));
    h.chars("x");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    h.settle().await;
    // Ctrl-C quits; nothing is in flight because the submit was not sent.
    h.keys
        .unbounded_send(Ok(Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))))
        .expect("alive");
    let (result, terminal) = h.task.await.expect("loop task");
    assert_eq!(
        result.expect("clean exit"),
        TuiExit {
            in_flight: 0,
            switch_to: None
        }
    );
    let text = screen_text(&terminal);
    assert!(text.contains("NOT SENT"), "{text}");
    assert!(matches!(
        h.commands.recv().await,
        Some(Command::LoadMachines { .. })
    ));
    assert!(
        h.commands.try_recv().is_err(),
        "the submit must not have been queued"
    );
}

#[tokio::test(start_paused = true)]
async fn worker_gone_is_shown_and_the_loop_keeps_running() {
    let mut h = start(ctx(), 8);
    // Dropping the only sender closes the worker's event channel.
    h.worker = mpsc::unbounded_channel().0;
    h.keys
        .unbounded_send(Ok(Event::Key(KeyEvent::new(
            KeyCode::Char('?'),
            KeyModifiers::NONE,
        ))))
        .expect("alive");
    h.keys
        .unbounded_send(Ok(Event::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        ))))
        .expect("alive");
    h.settle().await;
    h.cancel.cancel();
    let (result, terminal) = h.task.await.expect("loop task");
    result.expect("clean exit");
    let text = screen_text(&terminal);
    assert!(text.contains("worker stopped"), "{text}");
}

/// The triage hazard: a mark the filter hides must be visible, named before sending,
/// and cleared by Esc pressed in the list (through the real key path, not an Action).
#[tokio::test(start_paused = true)]
async fn esc_clears_marks_hidden_by_the_filter_before_a_write() {
    let mut h = start(ctx(), 8);
    h.next_command().await;
    h.load(10, 1);
    h.until(|c| matches!(c, Command::LoadHistory { .. })).await;
    // Mark ws-00, then filter down to ws-05 only.
    h.key(KeyCode::Char(' '));
    h.key(KeyCode::Char('/'));
    h.chars("ws-05");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('i'));
    h.settle().await;
    h.cancel.cancel();
    let (_, terminal) = h.task.await.expect("loop task");
    let text = screen_text(&terminal);
    assert!(text.contains("1 marked · 1 hidden by the filter"), "{text}");
    assert!(text.contains("It is hidden by the filter: ws-00"), "{text}");
    assert!(
        text.contains("The highlighted ws-05.contoso.local is not"),
        "{text}"
    );

    // Again, now closing the modal and pressing Esc in the list: the write then
    // targets only the highlighted machine.
    let mut h = start(ctx(), 8);
    h.next_command().await;
    h.load(10, 1);
    h.until(|c| matches!(c, Command::LoadHistory { .. })).await;
    h.key(KeyCode::Char(' '));
    h.key(KeyCode::Char('/'));
    h.chars("ws-05");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('i'));
    h.key(KeyCode::Esc); // closes the comment box: nothing sent
    h.key(KeyCode::Esc); // in the list: clears every mark
    h.key(KeyCode::Char('i'));
    h.chars("IR-7");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    let Command::Submit(reqs) = h.until(|c| matches!(c, Command::Submit(_))).await else {
        unreachable!()
    };
    let ids: Vec<&str> = reqs.iter().map(|r| r.machine_id.as_str()).collect();
    assert_eq!(ids, ["m000005"]);
    h.cancel.cancel();
    h.task.await.expect("loop task").0.expect("clean exit");
}

/// With no marks, Esc in the list clears an applied filter.
#[tokio::test(start_paused = true)]
async fn esc_without_marks_clears_the_filter() {
    let mut h = start(ctx(), 8);
    h.next_command().await;
    h.load(10, 1);
    h.until(|c| matches!(c, Command::LoadHistory { .. })).await;
    h.key(KeyCode::Char('/'));
    h.chars("ws-05");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Esc);
    h.settle().await;
    h.cancel.cancel();
    let (_, terminal) = h.task.await.expect("loop task");
    let text = screen_text(&terminal);
    assert!(text.contains("Machines 10/10"), "{text}");
    assert!(text.contains("Filter cleared."), "{text}");
}
