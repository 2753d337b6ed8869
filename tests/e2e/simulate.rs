//! The console against `cordon simulate` through a profile (issue: "all of the above
//! also works against cordon simulate"), and recovery: cordon killed in the middle of
//! an isolate finds the action again on the next start and shows how it ended.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Term, audit_lines, succeeding_machine_name};

const T: Duration = Duration::from_secs(30);

struct Simulator(std::process::Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_simulator(port: u16) -> Simulator {
    let child = Command::new(crate::common::BIN)
        .args([
            "simulate",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--step",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cordon simulate");
    let deadline = Instant::now() + T;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the simulator did not start listening"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    Simulator(child)
}

/// In the console: filter to the one machine `short` names, isolate it with `comment`,
/// confirm, and wait until its history shows the action (found by `ticket`) Pending.
fn isolate_one(term: &mut Term, short: &str, ticket: &str, comment: &str) {
    term.send("/");
    term.send(short);
    term.wait_until("one match", T, |s| s.contains("1/251"));
    term.send("\r");
    term.send("i");
    term.wait_for("Comment required", T);
    term.send(comment);
    term.send("\r");
    term.wait_for("Confirm", T);
    term.send("y");
    term.wait_until("the action to be accepted", T, |s| {
        s.lines()
            .any(|l| l.contains(ticket) && l.contains("Pending"))
    });
}

#[test]
fn killed_mid_isolate_the_next_start_shows_how_it_ended() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sim = start_simulator(port);
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"sim\"\n[profiles.sim]\ntenant_id = \"00000000-0000-4000-8000-00000000c0de\"\n\
             client_id = \"00000000-0000-4000-8000-0000000000de\"\nclient_secret_env = \"CORDON_SIM_SECRET\"\n\
             api_base = \"http://127.0.0.1:{port}\"\nauthority = \"http://127.0.0.1:{port}\"\ncolor = \"green\"\n"
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let env = [("CORDON_SIM_SECRET", "cordon-demo-secret")];
    let target = succeeding_machine_name();
    let short = target.split('.').next().unwrap().to_string();

    let mut term = Term::spawn_with_env(&args, home.path(), 100, 30, &env);
    let first = term.wait_for(".contoso.local", T);
    assert!(
        first.contains("profile SIM"),
        "the header names the profile:\n{first}"
    );
    isolate_one(&mut term, &short, "IR-7100", "IR-7100 killed mid-flight");
    // SIGKILL: no clean-up code runs at all.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(term.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    term.wait_exit(T).expect("killed");
    drop(term);

    let lines = audit_lines(&home.path().join("data"));
    assert!(
        lines
            .iter()
            .any(|l| l["phase"] == "request" && l["comment"] == "IR-7100 killed mid-flight"),
        "the request was on disk before the POST"
    );
    assert!(
        !lines.iter().any(|l| l["status"] == "Succeeded"),
        "the final status was not known when cordon died"
    );

    // The next start reads the action back and follows it to its end.
    let mut term = Term::spawn_with_env(&args, home.path(), 100, 30, &env);
    term.wait_for(".contoso.local", T);
    let deadline = Instant::now() + T;
    loop {
        let lines = audit_lines(&home.path().join("data"));
        if lines
            .iter()
            .any(|l| l["status"] == "Succeeded" && l["comment"] == "IR-7100 killed mid-flight")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the recovered action's final status was never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    term.send("/");
    term.send(&short);
    term.wait_until("the machine shows as isolated", T, |s| {
        s.contains("1/251") && s.contains("Isolated")
    });
    term.send("\r");
    term.wait_until("the history shows the outcome", T, |s| {
        s.lines()
            .any(|l| l.contains("IR-7100") && l.contains("Succeeded"))
    });
    term.send("q");
    term.wait_exit(T).expect("cordon exits");
}

/// Issue 13: `:profile NAME` continues in another profile of the config (the header
/// says so), while the first profile's action in flight is still followed to its end
/// and audited.
#[test]
fn switching_profile_in_place_keeps_following_the_first_profiles_actions() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sim = start_simulator(port);
    let config = home.path().join("config.toml");
    let profile = |name: &str, color: &str| {
        format!(
            "[profiles.{name}]\ntenant_id = \"00000000-0000-4000-8000-00000000c0de\"\n\
             client_id = \"00000000-0000-4000-8000-0000000000de\"\nclient_secret_env = \"CORDON_SIM_SECRET\"\n\
             api_base = \"http://127.0.0.1:{port}\"\nauthority = \"http://127.0.0.1:{port}\"\ncolor = \"{color}\"\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "default_profile = \"alpha\"\n{}{}",
            profile("alpha", "green"),
            profile("bravo", "red")
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let env = [("CORDON_SIM_SECRET", "cordon-demo-secret")];
    let target = succeeding_machine_name();
    let short = target.split('.').next().unwrap().to_string();

    let mut term = Term::spawn_with_env(&args, home.path(), 100, 30, &env);
    term.wait_until("profile ALPHA", T, |s| {
        s.contains("profile ALPHA") && s.contains(".contoso.local")
    });
    isolate_one(&mut term, &short, "IR-7200", "IR-7200 before the switch");
    term.send(":profile bravo\r");
    term.wait_until("profile BRAVO", T, |s| {
        s.contains("profile BRAVO") && s.contains(".contoso.local")
    });
    // Alpha's worker still follows its action: the final audit line arrives while the
    // console shows bravo.
    let deadline = Instant::now() + T;
    loop {
        let lines = audit_lines(&home.path().join("data"));
        if lines.iter().any(|l| {
            l["comment"] == "IR-7200 before the switch"
                && l["profile"] == "alpha"
                && l["status"] == "Succeeded"
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alpha's action was not followed to its end: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(term.screen().contains("profile BRAVO"));
    term.send("q");
    term.wait_exit(T).expect("quits");
}
