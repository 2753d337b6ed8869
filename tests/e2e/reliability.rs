//! Faults, bad input and hostile data over real loopback HTTP: the simulator with its
//! fault knobs, the real client, the worker and the binary. (The fault matrix in the
//! README lists what each test proves.)

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cordon_core::api::client::{ClientOptions, MdeClient};
use cordon_core::api::{DefenderApi, IsolationType, Machine, PageRequest};
use cordon_core::audit::{AuditContext, AuditLog};
use cordon_core::worker::protocol::{Command as WorkerCommand, WorkerEvent, WriteOp, WriteRequest};
use cordon_core::worker::{RateLimited, RateLimits, WorkerSettings, spawn};
use cordon_sim::{Fate, RunningSim, SimConfig, Simulator, demo_profile, fate_of, serve};
use tokio_util::sync::CancellationToken;

async fn start(cfg: SimConfig) -> (Simulator, RunningSim, CancellationToken) {
    let sim = Simulator::new(cfg);
    let cancel = CancellationToken::new();
    let running = serve(sim.clone(), "127.0.0.1:0".parse().unwrap(), cancel.clone())
        .await
        .unwrap();
    (sim, running, cancel)
}

fn fast_client(running: &RunningSim, cfg: &SimConfig) -> MdeClient {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        ..ClientOptions::default()
    };
    MdeClient::new(&demo_profile(running, cfg), options).unwrap()
}

fn ctx() -> AuditContext {
    AuditContext {
        user: "tester".into(),
        profile: "demo".into(),
        tenant: "t".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_isolate_over_a_faulty_network_accounts_for_every_machine() {
    let cfg = SimConfig {
        machines: 200,
        step: Duration::from_millis(100),
        fail_rate: 0.1,
        drop_rate: 0.1,
        garbage_rate: 0.1,
        seed: 11,
        ..SimConfig::default()
    };
    let (sim, running, stop) = start(cfg.clone()).await;
    let api = Arc::new(RateLimited::new(
        fast_client(&running, &cfg),
        RateLimits::default(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let cancel = CancellationToken::new();
    let settings = WorkerSettings {
        poll_interval: Duration::from_millis(200),
        ..WorkerSettings::default()
    };
    let mut w = spawn(
        api,
        AuditLog::open(&audit_path, ctx()).unwrap(),
        settings,
        cancel.clone(),
    );
    let targets: Vec<_> = sim
        .machines_snapshot()
        .into_iter()
        .filter(|m| fate_of(m) == Fate::Succeeds)
        .take(40)
        .collect();
    let requests: Vec<WriteRequest> = targets
        .iter()
        .enumerate()
        .map(|(i, m)| WriteRequest {
            request_id: i as u64 + 1,
            machine_id: m.id.clone(),
            machine_name: m.display_name().into(),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Full,
            },
            comment: cordon_core::domain::Comment::parse("IR-net").expect("valid comment"),
        })
        .collect();
    w.commands
        .send(WorkerCommand::Submit(requests.clone()))
        .await
        .unwrap();
    let mut outcomes = std::collections::HashMap::new();
    while outcomes.len() < requests.len() {
        match tokio::time::timeout(Duration::from_secs(60), w.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            WorkerEvent::Accepted { request_id, .. } => {
                assert!(outcomes.insert(request_id, "accepted").is_none())
            }
            WorkerEvent::AlreadyActive { request_id, .. } => {
                assert!(outcomes.insert(request_id, "already").is_none())
            }
            WorkerEvent::Failed { request_id, error } => {
                let code: &'static str = if error.code == "NotConfirmed" {
                    "unconfirmed"
                } else {
                    "failed"
                };
                assert!(outcomes.insert(request_id, code).is_none());
            }
            _ => {}
        }
    }
    let created = sim.stats().actions_created;
    for r in &requests {
        let n = created.get(&r.machine_id).copied().unwrap_or(0);
        assert!(n <= 1, "{} isolated {n} times", r.machine_name);
        match outcomes[&r.request_id] {
            "accepted" => assert_eq!(n, 1),
            "failed" => assert_eq!(n, 0, "{} reported failed but isolated", r.machine_name),
            "unconfirmed" => {}
            other => panic!("{}: {other}", r.machine_name),
        }
    }
    assert!(
        sim.stats().server_errors + sim.stats().drops + sim.stats().garbage > 0,
        "faults happened"
    );
    cancel.cancel();
    let _ = w.join.await;
    // The audit log holds one request line and at least one outcome line per request.
    let lines = AuditLog::read_all(&audit_path).unwrap();
    for r in &requests {
        let mine: Vec<_> = lines
            .iter()
            .filter(|l| l.request_id == r.request_id)
            .collect();
        assert!(
            mine.iter()
                .any(|l| l.phase == cordon_core::audit::Phase::Request)
        );
        assert!(
            mine.iter()
                .any(|l| l.phase == cordon_core::audit::Phase::Outcome)
        );
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_mid_session() {
    let cfg = SimConfig {
        machines: 10,
        token_ttl: Duration::from_secs(1),
        ..SimConfig::default()
    };
    let (sim, running, stop) = start(cfg.clone()).await;
    let fleet = sim.machines_snapshot().len();
    let client = fast_client(&running, &cfg);
    let first = PageRequest::First {
        filter: None,
        top: 100,
    };
    assert_eq!(
        client
            .machines_page::<Machine>(first.clone())
            .await
            .unwrap()
            .value
            .len(),
        fleet
    );
    // Outlive the one-second token (time passing, not synchronisation).
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        client
            .machines_page::<Machine>(first)
            .await
            .unwrap()
            .value
            .len(),
        fleet
    );
    assert!(
        client.token_provider().request_count() >= 2,
        "a new token was fetched"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_missing_permission() {
    let cfg = SimConfig {
        machines: 10,
        forbid_writes: true,
        ..SimConfig::default()
    };
    let (sim, running, stop) = start(cfg.clone()).await;
    let client = fast_client(&running, &cfg);
    let id = sim.machines_snapshot()[0].id.clone();
    let err = client
        .isolate(&id, "IR-1", IsolationType::Full)
        .await
        .unwrap_err();
    let text = err.explain();
    assert!(text.contains("Machine.Isolate"), "{text}");
    assert!(text.contains("Active remediation actions"), "{text}");
    stop.cancel();
}

// ---- the binary, end to end ------------------------------------------------------

use crate::sim_process::{config_for, cordon, simulate};

#[test]
fn a_server_answering_garbage_gets_a_clear_error_and_no_panic() {
    let sim = simulate(&["--garbage-rate", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let out = cordon(dir.path(), &config, &["machines"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("cordon: "), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_is_refused_with_exit_2_before_anything_is_sent() {
    let sim = simulate(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let cases: [(&[&str], &str); 8] = [
        (
            &["isolate", "no-such-host", "--comment", "IR-1"],
            "No machine matches",
        ),
        (
            &["isolate", "ws", "--comment", "IR-1"],
            "No machine matches",
        ),
        (
            &["isolate", "ws-hr-00000", "--comment", "   "],
            "comment is required",
        ),
        (
            &["isolate", "ws-hr-00000", "--comment", "\u{200b}"],
            "no visible character (U+200B)",
        ),
        (
            &["isolate", "ws-hr-00000", "--comment", "\u{1b}\u{7}"],
            "no visible character",
        ),
        (
            &["unisolate", "ws-hr-00000", "--comment", "IR-1\u{202e}4321"],
            "control or invisible character (U+202E)",
        ),
        (
            &["machines", "--filter", "nonsense eq 1"],
            "filter was rejected",
        ),
        (&["--profile", "prod", "machines"], "unknown profile"),
    ];
    // A secret variable that is not set is a set-up error (2), named, before any call.
    let out = Command::new(crate::common::BIN)
        .arg("--config")
        .arg(&config)
        .arg("machines")
        .env_remove("CORDON_SIM_SECRET")
        .env("CORDON_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CORDON_SIM_SECRET"), "{stderr}");
    for (args, expected) in cases {
        let out = cordon(dir.path(), &config, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A re-onboarded machine appears twice under one name: refused, both listed.
    let twin = {
        let sim = Simulator::new(SimConfig::default());
        sim.machines_snapshot()[3].display_name().to_string()
    };
    let out = cordon(
        dir.path(),
        &config,
        &["isolate", &twin, "--comment", "IR-1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("matches 2 machines"), "{stderr}");
    let long = "x".repeat(1001);
    let out = cordon(
        dir.path(),
        &config,
        &["isolate", "ws-hr-00000", "--comment", &long],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1000"));
    let audit = std::fs::read_to_string(dir.path().join("data/audit.jsonl")).unwrap_or_default();
    assert!(
        audit.is_empty(),
        "nothing was sent, so nothing was audited: {audit}"
    );
}

#[test]
fn no_secret_or_token_reaches_output_logs_or_the_audit_log() {
    let sim = simulate(&["--step", "0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let target = crate::common::succeeding_machine_name();
    let out = cordon(
        dir.path(),
        &config,
        &[
            "isolate",
            &target,
            "--comment",
            "IR-secret",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["status"], "Succeeded");
    let mut everything = String::from_utf8_lossy(&out.stdout).into_owned();
    everything.push_str(&String::from_utf8_lossy(&out.stderr));
    for f in ["cordon.log", "audit.jsonl"] {
        everything.push_str(
            &std::fs::read_to_string(dir.path().join("data").join(f)).unwrap_or_default(),
        );
    }
    assert!(
        everything.contains("IR-secret"),
        "the test looked at real output"
    );
    assert!(
        !everything.contains("cordon-demo-secret"),
        "the client secret leaked"
    );
    assert!(
        !everything.contains("Bearer "),
        "an Authorization header leaked"
    );
    assert!(
        !everything.contains("access_token"),
        "a token response leaked"
    );
}

#[test]
fn cancel_stops_a_pending_isolation_once() {
    let sim = simulate(&["--step", "30"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let target = crate::common::succeeding_machine_name();
    let out = cordon(
        dir.path(),
        &config,
        &["isolate", &target, "--comment", "IR-oops", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = json[0]["action"]["id"].as_str().unwrap().to_string();
    assert_eq!(json[0]["status"], "Pending");
    assert_eq!(json[0]["result"], "accepted");

    // A second isolate is refused (one in flight); its entry has the same shape.
    let again = cordon(
        dir.path(),
        &config,
        &["isolate", &target, "--comment", "IR-oops", "--json"],
    );
    assert_eq!(again.status.code(), Some(1));
    let refused: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(refused[0]["result"], "refused");
    assert_eq!(refused[0]["error"]["code"], "ActiveRequestAlreadyExists");
    assert_eq!(refused[0]["action"]["id"], id.as_str());
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&json[0]),
        keys(&refused[0]),
        "one JSON shape for every result"
    );

    let out = cordon(
        dir.path(),
        &config,
        &["cancel", &id, "--comment", "wrong machine"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cancelled"));

    let out = cordon(dir.path(), &config, &["cancel", &id, "--comment", "again"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already finished"));
}

/// kill -9 while an isolate's POST is in flight (the service has acted; its answer is
/// held), on a machine whose earlier isolation carried the same ticket comment: the next
/// start closes the request with the action made in that run, never the older one.
#[test]
fn killed_during_the_post_the_next_start_names_the_action_that_run_made() {
    const COMMENT: &str = "IR-0812 suspicious PowerShell";
    let sim = simulate(&["--write-hold-ms", "600000", "--step", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    // A machine isolated and released before under the same ticket (seeded history),
    // not isolated now, whose isolate will succeed.
    let (name, machine_id, older) = {
        let s = Simulator::new(SimConfig::default());
        let (actions, _) = s.list_actions(None, Some("10000"), Some("0")).unwrap();
        let machines = s.machines_snapshot();
        machines
            .iter()
            .filter(|m| fate_of(m) == Fate::Succeeds)
            .filter(|m| {
                machines
                    .iter()
                    .filter(|o| o.computer_dns_name == m.computer_dns_name)
                    .count()
                    == 1
            })
            .find_map(|m| {
                let mine: Vec<_> = actions
                    .iter()
                    .filter(|a| a.machine_id.as_deref() == Some(m.id.as_str()))
                    .collect();
                let older = mine.iter().find(|a| {
                    a.requestor_comment.as_deref() == Some(COMMENT)
                        && a.action_type.as_str() == "Isolate"
                })?;
                let isolated_now = mine.iter().any(|a| {
                    a.requestor_comment.as_deref() == Some("IR-0931 beaconing to known C2")
                });
                (!isolated_now)
                    .then(|| (m.display_name().to_string(), m.id.clone(), older.id.clone()))
            })
            .expect("the seeded fleet has such a machine")
    };
    let isolate_ids = || -> Vec<String> {
        let out = cordon(
            dir.path(),
            &config,
            &["actions", "--machine", &machine_id, "--json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.iter()
            .filter(|a| a["type"] == "Isolate" && a["requestorComment"] == COMMENT)
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(isolate_ids(), vec![older.clone()]);

    let mut child = Command::new(crate::common::BIN)
        .arg("--config")
        .arg(&config)
        .args(["isolate", &name, "--comment", COMMENT])
        .env("CORDON_SIM_SECRET", "cordon-demo-secret")
        .env("CORDON_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (by condition) until the service holds the new action; its answer is held.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let made = loop {
        if let Some(id) = isolate_ids().into_iter().find(|id| *id != older) {
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the isolate never reached the service"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let data = dir.path().join("data");
    let lines = crate::common::audit_lines(&data);
    let request = lines
        .iter()
        .find(|l| l["phase"] == "request" && l["comment"] == COMMENT)
        .expect("the request line was on disk before the POST")
        .clone();
    assert!(!lines.iter().any(|l| l["phase"] == "outcome"), "{lines:#?}");

    // The next start (here the console) settles it.
    let mut term = crate::common::Term::spawn_with_env(
        &["--config", config.to_str().unwrap()],
        dir.path(),
        100,
        30,
        &[
            ("CORDON_SIM_SECRET", "cordon-demo-secret"),
            ("CORDON_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    term.wait_for("1 request from an earlier run", Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let last = loop {
        let lines = crate::common::audit_lines(&data);
        let last = lines
            .iter()
            .rfind(|l| l["run"] == request["run"] && l["request_id"] == request["request_id"])
            .unwrap()
            .clone();
        if last["status"] == "Succeeded" {
            break last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(last["outcome"], "confirmed");
    assert_eq!(
        last["action_id"],
        made.as_str(),
        "the action made in that run"
    );
    assert_ne!(last["action_id"], older.as_str());
    term.send("q");
    term.wait_exit(Duration::from_secs(30))
        .expect("cordon exits");
}

/// A write that changes nothing is refused before anything is sent: isolating an
/// isolated machine, releasing a free one. `--force` sends it anyway.
#[test]
fn no_op_writes_are_refused_unless_forced() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let names = crate::common::succeeding_machine_names(2);
    let isolates = |name: &str| -> usize {
        let out = cordon(
            dir.path(),
            &config,
            &["actions", "--machine", name, "--type", "Isolate", "--json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        list.iter()
            .filter(|a| a["requestorComment"] == "IR-noop")
            .count()
    };
    let out = cordon(
        dir.path(),
        &config,
        &["isolate", &names[0], "--comment", "IR-noop", "--wait"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(isolates(&names[0]), 1);

    let again = cordon(
        dir.path(),
        &config,
        &["isolate", &names[0], "--comment", "IR-noop", "--json"],
    );
    assert_eq!(again.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json[0]["result"], "refused");
    assert_eq!(json[0]["error"]["code"], "AlreadyIsolated");
    assert_eq!(isolates(&names[0]), 1, "nothing was sent");

    let free = cordon(
        dir.path(),
        &config,
        &["unisolate", &names[1], "--comment", "IR-noop"],
    );
    assert_eq!(free.status.code(), Some(1));
    let text = String::from_utf8_lossy(&free.stdout);
    assert!(text.contains("refused: not isolated"), "{text}");

    let forced = cordon(
        dir.path(),
        &config,
        &["isolate", &names[0], "--comment", "IR-noop", "--force"],
    );
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(isolates(&names[0]), 2, "--force sends it");
}

/// Issue 16: Full or Selective is shown after sending, although the service (and the
/// simulator, as the service does) leaves `scope` null. Some writes are answered with
/// garbage, so their actions are adopted by a read-back rather than by the 201; every
/// one still reads Selective — in this run, and after a restart, from the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_isolation_is_known_after_sending_and_after_a_restart() {
    use cordon_core::api::models::IsolationState;
    use cordon_core::api::{ActionFilter, ScopeBook, all_actions};
    let cfg = SimConfig {
        machines: 60,
        step: Duration::from_millis(50),
        garbage_rate: 0.3,
        seed: 11,
        ..SimConfig::default()
    };
    let (sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let cancel = CancellationToken::new();
    let client = fast_client(&running, &cfg);
    let mut w = spawn(
        Arc::new(client.clone()),
        AuditLog::open(&audit_path, ctx()).unwrap(),
        WorkerSettings {
            poll_interval: Duration::from_millis(100),
            ..WorkerSettings::default()
        },
        cancel.clone(),
    );
    let targets: Vec<Machine> = sim
        .machines_snapshot()
        .into_iter()
        .filter(|m| fate_of(m) == Fate::Succeeds)
        .take(12)
        .collect();
    let requests: Vec<WriteRequest> = targets
        .iter()
        .enumerate()
        .map(|(i, m)| WriteRequest {
            request_id: i as u64 + 1,
            machine_id: m.id.clone(),
            machine_name: m.display_name().into(),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Selective,
            },
            comment: cordon_core::domain::Comment::parse("IR-scope").unwrap(),
        })
        .collect();
    w.commands
        .send(WorkerCommand::Submit(requests.clone()))
        .await
        .unwrap();
    let mut accepted = 0;
    while accepted < requests.len() {
        match tokio::time::timeout(Duration::from_secs(60), w.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            WorkerEvent::Accepted { action, .. } => {
                assert_eq!(action.scope.as_deref(), Some("Selective"));
                accepted += 1;
            }
            WorkerEvent::Failed { error, .. } => panic!("{error:?}"),
            _ => {}
        }
    }
    assert!(
        sim.stats().garbage > 0,
        "some answers were garbage: {:?}",
        sim.stats()
    );
    cancel.cancel();
    let _ = w.join.await;

    let ours = |states: Vec<(String, IsolationState)>| -> Vec<IsolationState> {
        states
            .into_iter()
            .filter(|(id, _)| targets.iter().any(|t| &t.id == id))
            .map(|(_, s)| s)
            .collect()
    };
    let read = |api: MdeClient| async move {
        let actions = all_actions(&api, &ActionFilter::isolation()).await.unwrap();
        cordon_core::domain::isolation_states(&actions)
    };
    let selective = |s: &IsolationState| s.scope() == Some(IsolationType::Selective);
    // This run's client remembers what it sent.
    let now = ours(read(client).await);
    assert_eq!(now.len(), targets.len());
    assert!(now.iter().all(selective), "{now:?}");
    // A client that knows nothing sees what the service says: no scope.
    let blind = ours(read(fast_client(&running, &cfg)).await);
    assert!(blind.iter().all(|s| s.scope().is_none()), "{blind:?}");
    // A restart: the audit log tells the new client.
    let book = ScopeBook::new(cordon_core::audit::known_scopes(
        &AuditLog::read_all(&audit_path).unwrap(),
        "demo",
    ));
    let restarted = MdeClient::new(
        &demo_profile(&running, &cfg),
        ClientOptions {
            scopes: book,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let later = ours(read(restarted).await);
    assert!(later.iter().all(selective), "{later:?}");
    stop.cancel();
}

/// Issue 10, "done when": a 40-machine bulk against `cordon simulate` failing a fifth
/// of all calls (half of the failed writes after the service acted) ends with every
/// machine Succeeded, exactly one accepted action each, and exit 0.
#[test]
fn a_bulk_of_40_against_a_service_failing_a_fifth_of_calls_ends_all_succeeded() {
    let sim = simulate(&["--fail-rate", "0.2", "--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    // Machines whose isolate succeeds and that are not isolated already (the demo
    // fleet has some isolated from before): read through the faulty service, again
    // when a listing fails all its read retries.
    let listed = (0..5)
        .map(|_| cordon(dir.path(), &config, &["machines", "--json"]))
        .find(|o| o.status.success())
        .expect("the machines can be listed");
    let machines: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let free = |name: &String| {
        machines
            .iter()
            .any(|m| m["computerDnsName"] == name.as_str() && m["isolationState"] == "Not isolated")
    };
    let names: Vec<String> = crate::common::succeeding_machine_names(80)
        .into_iter()
        .filter(free)
        .take(40)
        .collect();
    assert_eq!(names.len(), 40);
    let comment = "IR-40 bulk under faults";
    let mut args: Vec<&str> = vec!["isolate"];
    args.extend(names.iter().map(String::as_str));
    args.extend(["--comment", comment, "--wait", "--json"]);
    let out = cordon(dir.path(), &config, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(0), "{results:#?}\n{stderr}");
    assert_eq!(results.len(), 40);
    for r in &results {
        assert_eq!(r["result"], "accepted", "{r:#}");
        assert_eq!(r["action"]["status"], "Succeeded", "{r:#}");
    }
    // Exactly one action each: read back through the same faulty service (a listing
    // that fails all its read retries is read again).
    let listing = (0..5)
        .map(|_| {
            cordon(
                dir.path(),
                &config,
                &["actions", "--type", "Isolate", "--json"],
            )
        })
        .find(|o| o.status.success())
        .expect("the actions can be listed");
    let actions: Vec<serde_json::Value> = serde_json::from_slice(&listing.stdout).unwrap();
    for name in &names {
        let n = actions
            .iter()
            .filter(|a| a["computerDnsName"] == name.as_str() && a["requestorComment"] == comment)
            .count();
        assert_eq!(n, 1, "{name} has {n} isolate actions");
    }
}

/// Issue 10: every start settles earlier runs' unfinished requests, listings too. An
/// isolate whose process died before its POST (a request line, no outcome) is closed
/// `not_sent` by the next `cordon machines`, which says so on stderr and keeps stdout
/// the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_settles_an_earlier_runs_unsent_request() {
    let sim = simulate(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let name = crate::common::succeeding_machine_names(1).remove(0);
    let machine = cordon_sim::Simulator::new(SimConfig::default())
        .machines_snapshot()
        .into_iter()
        .find(|m| m.computer_dns_name.as_deref() == Some(name.as_str()))
        .unwrap();
    let audit_path = dir.path().join("data").join("audit.jsonl");
    let earlier = AuditLog::open(
        &audit_path,
        AuditContext {
            user: "tester".into(),
            profile: "sim".into(),
            tenant: "00000000-0000-4000-8000-00000000c0de".into(),
        },
    )
    .unwrap();
    let request = WriteRequest {
        request_id: 1,
        machine_id: machine.id.clone(),
        machine_name: name.clone(),
        op: WriteOp::Isolate {
            isolation_type: IsolationType::Full,
        },
        comment: cordon_core::domain::Comment::parse("IR-died-before-post").unwrap(),
    };
    let mut rec = earlier.request_record(&request);
    // Its process has exited.
    let mut child = Command::new("true").spawn().unwrap();
    rec.run = format!("20260101T000000.000Z-{}", child.id());
    child.wait().unwrap();
    earlier.append(&rec).unwrap();
    earlier.flush().await.unwrap();
    drop(earlier);

    let out = tokio::task::spawn_blocking(move || {
        let out = cordon(dir.path(), &config, &["machines", "--json"]);
        (out, dir)
    })
    .await
    .unwrap();
    let (out, _dir) = out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed.len() > 100);
    assert!(
        stderr.contains("1 request from an earlier run: 1 never sent."),
        "{stderr}"
    );
    let lines = AuditLog::read_all(&audit_path).unwrap();
    let closing = lines
        .iter()
        .find(|l| l.phase == cordon_core::audit::Phase::Outcome)
        .expect("a closing line");
    assert_eq!(closing.outcome, Some(cordon_core::audit::Outcome::NotSent));
    assert_eq!(closing.run, rec.run);
}

/// Issue 13: a protected profile's writes need `--confirm <profile>` (nothing is sent
/// without it, exit 2), and a machine with a protected tag needs it in any profile.
#[test]
fn protected_profiles_and_tags_need_confirm_on_the_command_line() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let plain = config_for(dir.path(), sim.1);
    let text = std::fs::read_to_string(&plain).unwrap();
    let protected = dir.path().join("protected.toml");
    std::fs::write(
        &protected,
        text.replace("[profiles.sim]\n", "[profiles.sim]\nprotected = true\n"),
    )
    .unwrap();
    let names = crate::common::succeeding_machine_names(1);
    let isolates = |name: &str| -> usize {
        let out = cordon(
            dir.path(),
            &plain,
            &["actions", "--machine", name, "--type", "Isolate", "--json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        list.iter()
            .filter(|a| a["requestorComment"] == "IR-protected")
            .count()
    };
    let refused = cordon(
        dir.path(),
        &protected,
        &["isolate", &names[0], "--comment", "IR-protected"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("profile sim is protected") && said.contains("--confirm sim"),
        "{said}"
    );
    assert_eq!(isolates(&names[0]), 0, "nothing was sent");
    let wrong = cordon(
        dir.path(),
        &protected,
        &[
            "isolate",
            &names[0],
            "--comment",
            "IR-protected",
            "--confirm",
            "prod",
        ],
    );
    assert_eq!(wrong.status.code(), Some(2));
    let sent = cordon(
        dir.path(),
        &protected,
        &[
            "isolate",
            &names[0],
            "--comment",
            "IR-protected",
            "--confirm",
            "sim",
        ],
    );
    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(isolates(&names[0]), 1);

    // A protected tag, in a profile that is not protected: the machine's own tag.
    let listed = cordon(dir.path(), &plain, &["machines", "--json"]);
    let machines: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let (target, tag) = crate::common::succeeding_machine_names(40)
        .into_iter()
        .skip(1)
        .find_map(|name| {
            let tag = machines
                .iter()
                .find(|m| m["computerDnsName"] == name.as_str())?["machineTags"][0]
                .as_str()?
                .to_string();
            Some((name, tag))
        })
        .expect("the demo fleet tags some machines");
    let tagged = dir.path().join("tagged.toml");
    std::fs::write(&tagged, format!("protected_tags = [\"{tag}\"]\n{text}")).unwrap();
    let refused = cordon(
        dir.path(),
        &tagged,
        &["isolate", &target, "--comment", "IR-protected"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("tagged {tag}")));
    assert_eq!(isolates(&target), 0);
}

/// Issue 13: plans. `--dry-run` prints the exact request and sends nothing; `--plan`
/// saves it; `apply` sends it after asking (`--yes` in a script), and refuses a plan
/// for another profile, an old one, or one it cannot ask about.
#[test]
fn a_plan_is_shown_saved_and_applied_once_and_refused_elsewhere() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), sim.1);
    let name = crate::common::succeeding_machine_names(6).remove(5);
    let isolates = || -> usize {
        let out = cordon(
            dir.path(),
            &config,
            &["actions", "--machine", &name, "--type", "Isolate", "--json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        list.iter()
            .filter(|a| a["requestorComment"] == "IR-plan")
            .count()
    };
    let dry = cordon(
        dir.path(),
        &config,
        &[
            "isolate",
            &name,
            "--comment",
            "IR-plan",
            "--type",
            "selective",
            "--dry-run",
        ],
    );
    assert_eq!(dry.status.code(), Some(0));
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(
        shown.contains("POST /api/machines/") && shown.contains("/isolate"),
        "{shown}"
    );
    assert!(
        shown.contains(r#"{"Comment":"IR-plan","IsolationType":"Selective"}"#),
        "{shown}"
    );
    assert_eq!(isolates(), 0, "a dry run sends nothing");

    let file = dir.path().join("plan.json");
    let saved = cordon(
        dir.path(),
        &config,
        &[
            "isolate",
            &name,
            "--comment",
            "IR-plan",
            "--plan",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(saved.status.code(), Some(0));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(isolates(), 0);
    // A script must say --yes: stdin here is not a terminal.
    let unasked = cordon(dir.path(), &config, &["apply", file.to_str().unwrap()]);
    assert_eq!(unasked.status.code(), Some(2));
    assert_eq!(isolates(), 0);
    let applied = cordon(
        dir.path(),
        &config,
        &["apply", file.to_str().unwrap(), "--yes", "--wait"],
    );
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(isolates(), 1);

    // Another profile's plan, and an old plan, are refused.
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    plan["profile"] = "prod-eu".into();
    std::fs::write(&file, plan.to_string()).unwrap();
    let elsewhere = cordon(
        dir.path(),
        &config,
        &["apply", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(elsewhere.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("made for profile prod-eu"));
    plan["profile"] = "sim".into();
    plan["created"] = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339()
        .into();
    std::fs::write(&file, plan.to_string()).unwrap();
    let old = cordon(
        dir.path(),
        &config,
        &["apply", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(old.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&old.stderr).contains("older than --max-age"));
    assert_eq!(isolates(), 1);
}
