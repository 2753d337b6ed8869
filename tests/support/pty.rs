//! Shared helpers for the end-to-end tests: drive the real `cordon` binary in a
//! pseudo-terminal (portable-pty) and read its screen through a VT100 emulator.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

pub const BIN: &str = env!("CARGO_BIN_EXE_cordon");

/// A running `cordon` inside a pseudo-terminal.
pub struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    /// Everything the program wrote, raw, for diagnosing failures.
    raw: Arc<Mutex<Vec<u8>>>,
    /// Set when the reader has drained the pty after the program closed it.
    eof: Arc<std::sync::atomic::AtomicBool>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    pub master: Box<dyn MasterPty + Send>,
}

impl Term {
    /// Start `cordon ARGS` at `cols`x`rows` with a private HOME and data dir.
    pub fn spawn(args: &[&str], home: &Path, cols: u16, rows: u16) -> Term {
        Self::spawn_with_env(args, home, cols, rows, &[])
    }

    pub fn spawn_with_env(
        args: &[&str],
        home: &Path,
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Term {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.env("XDG_DATA_HOME", home.join(".local/share"));
        cmd.env("CORDON_DATA_DIR", home.join("data"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("USER", "e2e-analyst");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.cwd(home);
        let child = pair.slave.spawn_command(cmd).expect("spawn cordon");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).expect("rows > 0"),
            std::num::NonZeroU16::new(cols).expect("cols > 0"),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        {
            let parser = parser.clone();
            let raw = raw.clone();
            let eof = eof.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            eof.store(true, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                        Ok(n) => {
                            parser.lock().unwrap().process(&buf[..n]);
                            raw.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                    }
                }
            });
        }
        Term {
            parser,
            raw,
            eof,
            writer,
            child,
            master: pair.master,
        }
    }

    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write keys");
        self.writer.flush().expect("flush keys");
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn alternate_screen(&self) -> bool {
        self.parser.lock().unwrap().screen().alternate_screen()
    }

    pub fn cursor_hidden(&self) -> bool {
        self.parser.lock().unwrap().screen().hide_cursor()
    }

    pub fn raw_output(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    /// Poll the screen until `pred` holds or `timeout` passes (polling with a deadline,
    /// not a fixed sleep: the test proceeds the moment the screen is right).
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{needle:?}"), timeout, |s| s.contains(needle))
    }

    /// Wait for the process to exit and for everything it wrote to be read (so the
    /// screen state reflects its last bytes); None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<portable_pty::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut exited = None;
        loop {
            if exited.is_none()
                && let Ok(Some(status)) = self.child.try_wait()
            {
                exited = Some(status);
            }
            if let Some(status) = &exited
                && self.eof.load(std::sync::atomic::Ordering::SeqCst)
            {
                return Some(status.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether the pty is back in cooked mode (canonical input and echo on).
    pub fn cooked_mode(&self) -> bool {
        use nix::sys::termios::LocalFlags;
        let t = self.master.get_termios().expect("termios of the pty");
        t.local_flags.contains(LocalFlags::ICANON) && t.local_flags.contains(LocalFlags::ECHO)
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().expect("child pid") as i32
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Names of demo machines (default seed) whose isolate will succeed.
pub fn succeeding_machine_names(n: usize) -> Vec<String> {
    use cordon_sim::{Fate, SimConfig, Simulator, fate_of};
    let sim = Simulator::new(SimConfig::default());
    let machines = sim.machines_snapshot();
    // Skip names the fleet holds twice (the re-onboarded twin): a filter must find one.
    let unique = |name: &Option<String>| {
        machines
            .iter()
            .filter(|o| o.computer_dns_name == *name)
            .count()
            == 1
    };
    machines
        .iter()
        .filter(|m| fate_of(m) == Fate::Succeeds && unique(&m.computer_dns_name))
        .cloned()
        .filter_map(|m| m.computer_dns_name)
        .take(n)
        .collect()
}

pub fn succeeding_machine_name() -> String {
    succeeding_machine_names(1).remove(0)
}

/// Every line of the audit logs under `data` (a tenant's, then the demo's own), parsed.
pub fn audit_lines(data: &Path) -> Vec<serde_json::Value> {
    ["audit.jsonl", "demo-audit.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(data.join(f))
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
                .collect::<Vec<_>>()
        })
        .collect()
}
