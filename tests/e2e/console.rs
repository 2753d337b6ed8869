//! End to end: the real binary in a pseudo-terminal, driven by keys, read through a
//! VT100 emulator. Against the embedded simulator (`--demo`), with fast action steps.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::{Term, audit_lines, succeeding_machine_name, succeeding_machine_names};

const T: Duration = Duration::from_secs(30);

fn demo(home: &std::path::Path, cols: u16, rows: u16) -> Term {
    let term = Term::spawn(&["--demo", "--demo-step", "0.3"], home, cols, rows);
    term.wait_for(".contoso.local", T);
    term
}

/// Find a machine with `/`, isolate it with a comment, confirm, and watch the action
/// reach Succeeded in the history pane with no further key press.
#[test]
fn isolate_a_machine_found_by_filter_reaches_succeeded() {
    let home = tempfile::tempdir().unwrap();
    let target = succeeding_machine_name();
    let short = target.split('.').next().unwrap().to_string();
    let mut term = demo(home.path(), 80, 24);

    term.send("/");
    term.send(&short);
    term.wait_until("the filter to narrow the list", T, |s| s.contains("1/251"));
    term.send("\r");
    term.send("i");
    term.wait_for("Comment required", T);
    // An empty comment is refused inline.
    term.send("\r");
    term.wait_for("A comment is required", T);
    term.send("IR-5000 lateral movement");
    term.send("\r");
    let confirm = term.wait_for("Confirm", T);
    assert!(confirm.contains(&short), "{confirm}");
    assert!(confirm.contains("(Full)"), "{confirm}");
    term.send("y");
    let done = term.wait_until("the isolate to reach Succeeded", T, |s| {
        s.lines()
            .any(|l| l.contains("Isolate") && l.contains("Succeeded") && l.contains("IR-5000"))
    });
    assert!(
        done.contains("Isolated"),
        "the machine list shows the new state:\n{done}"
    );

    term.send("q");
    let status = term.wait_exit(T).expect("cordon exits on q");
    assert!(status.success(), "exit status {status:?}");
    assert!(!term.alternate_screen(), "the alternate screen was left");
    assert!(!term.cursor_hidden(), "the cursor is visible again");

    let lines = audit_lines(&home.path().join("data"));
    assert!(
        lines
            .iter()
            .any(|l| l["phase"] == "request" && l["comment"] == "IR-5000 lateral movement")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["phase"] == "outcome" && l["status"] == "Succeeded")
    );
    // The demo keeps its own audit log: a tenant's real record never holds its lines.
    assert!(
        !home.path().join("data/audit.jsonl").exists(),
        "the demo wrote to the real audit log"
    );
    // Machine names and comments are nobody else's business on a shared jump host.
    #[cfg(unix)]
    for file in ["demo-audit.jsonl", "cordon.log"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("data").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
    }
}

/// Mark three machines, isolate them in one go, then release all three in one go.
#[test]
fn three_marked_machines_are_isolated_then_released_together() {
    let home = tempfile::tempdir().unwrap();
    let names = succeeding_machine_names(3);
    let mut term = demo(home.path(), 120, 40);
    mark_all(&mut term, &names);
    term.wait_for("3 marked", T);

    term.send("i");
    term.wait_for("Comment required", T);
    term.send("IR-6000 worm outbreak");
    term.send("\r");
    let confirm = term.wait_for("Confirm", T);
    assert!(confirm.contains("Isolate 3 machines"), "{confirm}");
    term.send("y");
    term.wait_until("all three isolated", T, |s| s.contains("3/3"));

    // Marks are cleared after a submission, so a stale selection is never reused.
    mark_all(&mut term, &names);
    term.wait_for("3 marked", T);
    term.send("u");
    term.wait_for("Comment required", T);
    term.send("IR-6000 cleaned");
    term.send("\r");
    let confirm = term.wait_for("Confirm", T);
    assert!(confirm.contains("Release 3 machines"), "{confirm}");
    term.send("y");
    term.wait_until("all three released", T, |s| s.contains("Release 3/3"));

    term.send("q");
    term.wait_exit(T).expect("cordon exits");
    let lines = audit_lines(&home.path().join("data"));
    for name in &names {
        for action in ["Isolate", "Unisolate"] {
            assert!(
                lines.iter().any(|l| l["machine_name"] == name.as_str()
                    && l["action"] == action
                    && l["status"] == "Succeeded"),
                "{action} of {name} reached Succeeded in the audit log"
            );
        }
    }
}

/// SIGTERM, SIGHUP (an SSH disconnect) and SIGINT each restore the terminal.
#[test]
fn termination_signals_restore_the_terminal() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        let home = tempfile::tempdir().unwrap();
        let mut term = demo(home.path(), 100, 30);
        assert!(
            term.alternate_screen(),
            "the console runs on the alternate screen"
        );
        assert!(!term.cooked_mode(), "the console runs in raw mode");
        kill(Pid::from_raw(term.pid()), sig).expect("send signal");
        term.wait_exit(T)
            .unwrap_or_else(|| panic!("cordon ignored {sig}"));
        assert!(!term.alternate_screen(), "{sig}: alternate screen left");
        assert!(!term.cursor_hidden(), "{sig}: cursor shown");
        assert!(term.cooked_mode(), "{sig}: raw mode off");
    }
}

/// A panic in any task mid-session (here a background task, not the console's own
/// thread) ends the process, restores the terminal, and says what happened in one line.
#[test]
fn a_panic_anywhere_ends_cordon_and_restores_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let mut term = Term::spawn_with_env(
        &["--demo"],
        home.path(),
        100,
        30,
        &[("CORDON_TEST_PANIC_AFTER_MS", "1500")],
    );
    term.wait_for(".contoso.local", T);
    assert!(term.alternate_screen());
    let status = term.wait_exit(T).expect("cordon exits after the panic");
    assert_eq!(status.exit_code(), 101);
    assert!(!term.alternate_screen(), "alternate screen left");
    assert!(!term.cursor_hidden(), "cursor shown");
    assert!(term.cooked_mode(), "raw mode off");
    assert!(
        term.screen()
            .contains("internal error, stopping: test panic requested"),
        "the panic message is readable:\n{}",
        term.screen()
    );
}

/// Mark each machine: filter to it, then space; wait for each step to show on screen so
/// keys never race the console.
fn mark_all(term: &mut Term, names: &[String]) {
    for (k, name) in names.iter().enumerate() {
        if term.screen().contains("filter:") {
            // Esc in the filter clears it. Wait for the full list before typing again
            // (an Esc followed at once by more keys would read as Alt+key).
            term.send("/");
            term.send("\x1b");
            term.wait_until("the filter to clear", T, |s| {
                s.contains("251/251") && !s.contains("filter:")
            });
        }
        term.send("/");
        term.send(name);
        term.wait_until("one match", T, |s| s.contains("1/251"));
        term.send("\r");
        term.wait_for("filter:", T);
        term.send(" ");
        term.wait_for(&format!("{} marked", k + 1), T);
    }
}

/// `--wait` says where it stands on a terminal, in the console's words, and adds
/// nothing when stderr is not a terminal.
#[test]
fn wait_shows_progress_on_a_terminal_only() {
    let home = tempfile::tempdir().unwrap();
    let target = succeeding_machine_name();
    let args = [
        "--demo",
        "--demo-step",
        "0.3",
        "isolate",
        &target,
        "--comment",
        "IR-6000 progress",
        "--wait",
    ];
    let mut term = Term::spawn(&args, home.path(), 100, 30);
    term.wait_for("Isolate 1/1 done", T);
    let status = term.wait_exit(T).expect("cordon exits");
    assert!(status.success(), "{}", term.screen());
    assert!(
        term.screen().contains("Isolate 0/1 done · 1 in progress"),
        "{}",
        term.screen()
    );

    let other = succeeding_machine_names(2).remove(1);
    let mut piped = args;
    piped[4] = &other;
    let out = std::process::Command::new(crate::common::BIN)
        .args(piped)
        .env("HOME", home.path())
        .env("CORDON_DATA_DIR", home.path().join("data2"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("done"),
        "no progress into a pipe: {stderr}"
    );
}

/// A crash while signed in must not leave the token in a core file: the running console
/// has no core size at all.
#[cfg(target_os = "linux")]
#[test]
fn the_signed_in_console_can_write_no_core_file() {
    let home = tempfile::tempdir().unwrap();
    let mut term = Term::spawn(&["--demo"], home.path(), 100, 30);
    term.wait_for(".contoso.local", T);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", term.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
    term.send("q");
    term.wait_exit(T).expect("cordon exits");
}
