//! `cordon machines` and `cordon actions` as scripts use them (issue 11): every output
//! format parses, `--fields` chooses the columns, listings span pages, `--limit` keeps
//! exactly the newest, and a reader that stops early (`| head`) or Ctrl-C ends the
//! stream cleanly. Against the embedded simulator (`--demo`, real HTTP on loopback) and
//! against a scripted loopback mock where the exact pages matter.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use crate::client_support::*;
use crate::common::BIN;

/// `cordon --demo …`: the simulator inside the binary, its audit log in `home`.
fn demo(home: &std::path::Path, machines: usize) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["--demo", "--demo-machines", &machines.to_string()])
        .env("HOME", home)
        .env("CORDON_DATA_DIR", home.join("data"))
        .env_remove("CORDON_PROFILE");
    cmd
}

fn run(mut cmd: Command, args: &[&str]) -> (String, String, Option<i32>) {
    let out = cmd.args(args).output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// RFC 4180 records (quoted cells may hold commas and doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "CSV ends mid-record"
    );
    rows
}

/// 10,000 machines and the seeded re-onboarded twin: two pages of the machine list.
const FLEET: usize = 10_000;
const LISTED: usize = FLEET + 1;

#[test]
fn every_format_of_a_two_page_listing_parses_and_agrees() {
    let home = tempfile::tempdir().unwrap();
    let listing = |format: &str| {
        let (stdout, stderr, code) =
            run(demo(home.path(), FLEET), &["machines", "--output", format]);
        assert_eq!(code, Some(0), "{format}: {stderr}");
        stdout
    };

    let json: Value = serde_json::from_str(&listing("json")).expect("one JSON array");
    let array = json.as_array().unwrap();
    assert_eq!(array.len(), LISTED);
    let ids: HashSet<&str> = array.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), LISTED, "each machine once across the pages");
    assert!(array.iter().all(|m| m["isolationState"].is_string()));
    let isolated = array
        .iter()
        .filter(|m| m["isolationState"] == "Isolated")
        .count();
    assert!(isolated > 0, "the seeded isolations show");

    let jsonl = listing("jsonl");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("one object a line"))
        .collect();
    // Each run starts its own demo fleet (times move with the clock): compare what is
    // stable, the machines and their states, in order.
    let key = |m: &Value| format!("{} {}", m["id"], m["isolationState"]);
    assert!(
        lines.iter().map(key).eq(array.iter().map(key)),
        "jsonl holds the same machines as json"
    );

    let csv = parse_csv(&listing("csv"));
    assert_eq!(csv.len(), LISTED + 1, "a header and one row a machine");
    assert_eq!(csv[0][0], "id");
    assert_eq!(csv[0][csv[0].len() - 2], "isolationState");
    assert_eq!(csv[0].last().unwrap(), "isolationScope");
    assert!(csv.iter().all(|r| r.len() == csv[0].len()));
    let name = csv[0].iter().position(|h| h == "computerDnsName").unwrap();
    assert_eq!(csv[1][name], array[0]["computerDnsName"].as_str().unwrap());

    let table = listing("table");
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("NAME") && rows[0].contains("ISOLATION"));
    assert_eq!(rows.len(), LISTED + 2, "header, rows, count");
    assert_eq!(rows[rows.len() - 1], format!("{LISTED} machines"));
    // Fixed columns: the ISOLATION column starts at the same place on every row.
    let at = rows[0].find("ISOLATION").unwrap();
    for row in &rows[1..rows.len() - 1] {
        let cell: String = row.chars().skip(at).take(15).collect();
        assert!(
            ["Not isolated   ", "Isolated       "].contains(&cell.as_str()),
            "{row}"
        );
    }
}

#[test]
fn fields_choose_the_columns_of_every_format_and_an_unknown_one_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let fields = "isolationState,computerDnsName,id";
    for format in ["json", "jsonl", "csv", "table"] {
        let (stdout, stderr, code) = run(
            demo(home.path(), 20),
            &["machines", "--output", format, "--fields", fields],
        );
        assert_eq!(code, Some(0), "{format}: {stderr}");
        let first = match format {
            "json" => serde_json::from_str::<Value>(&stdout).unwrap()[0].clone(),
            "jsonl" => serde_json::from_str(stdout.lines().next().unwrap()).unwrap(),
            "csv" => {
                let rows = parse_csv(&stdout);
                assert_eq!(rows[0], ["isolationState", "computerDnsName", "id"]);
                assert_eq!(rows[1].len(), 3);
                continue;
            }
            _ => {
                let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
                assert_eq!(header, ["isolationState", "computerDnsName", "id"]);
                continue;
            }
        };
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{format}: {first}");
        assert!(first["isolationState"].is_string() && first["id"].is_string());
    }
    let (stdout, stderr, code) = run(
        demo(home.path(), 20),
        &["actions", "--output", "jsonl", "--fields", "id,type,status"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let action: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(action.as_object().unwrap().len(), 3, "{action}");

    for (args, field) in [
        (&["machines", "--fields", "id,hostname"][..], "hostname"),
        (
            &["actions", "--output", "csv", "--fields", "isolationState"],
            "isolationState",
        ),
    ] {
        let (stdout, stderr, code) = run(demo(home.path(), 20), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} printed: {stdout}");
        assert!(
            stderr.contains(&format!("'{field}'")) && stderr.contains("the fields are"),
            "{stderr}"
        );
    }
    let (_, stderr, code) = run(
        demo(home.path(), 20),
        &["machines", "--json", "--output", "csv"],
    );
    assert_eq!(code, Some(2), "--json is --output json: {stderr}");
}

/// Three pages of machines and three of actions, linked by `@odata.nextLink`; a machine
/// name with a comma and quotes.
async fn paged_service() -> Mock {
    let base: Arc<OnceLock<String>> = Arc::default();
    let link_base = base.clone();
    let mock = Mock::start(move |req, earlier| {
        if req.is_token() {
            return token_ok(earlier, json!(3599));
        }
        let skip: usize = req
            .query_map()
            .get("$skip")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let page = |value: Vec<Value>| {
            let mut body = json!({ "value": value });
            if skip < 4 {
                let base = link_base.get().cloned().unwrap_or_default();
                body["@odata.nextLink"] = json!(format!("{base}{}?$skip={}", req.path, skip + 2));
            }
            json_response(200, body)
        };
        match req.path.as_str() {
            "/api/machines" => page(
                (skip..skip + 2)
                    .map(|i| {
                        let name = if i == 0 {
                            "ws-1, \"the\" lab.contoso.com".to_string()
                        } else {
                            format!("ws-{i}.contoso.com")
                        };
                        machine_json(&format!("m{i}"), &name)
                    })
                    .collect(),
            ),
            "/api/machineactions" => {
                // Service order is not time order: the newest is on the second page.
                let hours = [3, 9, 1, 23, 5, 7];
                page(
                    (skip..skip + 2)
                        .map(|i| {
                            let mut a =
                                action_json(&format!("a{i}"), "Isolate", "Succeeded", Some("m1"));
                            a["creationDateTimeUtc"] =
                                json!(format!("2026-01-01T{:02}:00:00Z", hours[i]));
                            a
                        })
                        .collect(),
                )
            }
            _ => mde_error(404, "ResourceNotFound", "no such thing"),
        }
    })
    .await;
    let _ = base.set(mock.base.clone());
    mock
}

fn mock_cordon(base: &str, home: &std::path::Path, args: &[&str]) -> (String, String, Option<i32>) {
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"mock\"\n[profiles.mock]\ntenant_id = \"{TENANT}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"CORDON_TEST_SECRET\"\n\
             api_base = \"{base}\"\nauthority = \"{base}\"\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&config)
        .env("HOME", home)
        .env("CORDON_TEST_SECRET", SECRET)
        .env("CORDON_DATA_DIR", home.join("data"))
        .env_remove("CORDON_PROFILE");
    run(cmd, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_followed_names_are_quoted_and_limit_keeps_the_newest() {
    let mock = paged_service().await;
    let home = tempfile::tempdir().unwrap();
    let go = |args: &'static [&'static str]| {
        let (base, home) = (mock.base.clone(), home.path().to_path_buf());
        tokio::task::spawn_blocking(move || mock_cordon(&base, &home, args))
    };

    let (csv, stderr, code) = go(&[
        "machines",
        "--output",
        "csv",
        "--fields",
        "id,computerDnsName",
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        csv.contains("m0,\"ws-1, \"\"the\"\" lab.contoso.com\"\n"),
        "{csv}"
    );
    let rows = parse_csv(&csv);
    assert_eq!(rows.len(), 7, "a header and 6 machines over 3 pages");
    assert_eq!(rows[1][1], "ws-1, \"the\" lab.contoso.com");
    assert_eq!(rows[6][0], "m5");

    // Streamed: every page, in the service's order.
    let (jsonl, stderr, code) = go(&["actions", "--output", "jsonl", "--fields", "id"])
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let ids: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, ["a0", "a1", "a2", "a3", "a4", "a5"].map(|s| json!(s)));

    // --limit: exactly the newest, newest first, whichever page they were on.
    let (json, stderr, code) = go(&["actions", "--json", "--limit", "3"]).await.unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let newest: Vec<String> = serde_json::from_str::<Value>(&json)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(newest, ["a3", "a1", "a5"], "23h, 9h, 7h");

    // The filters went to the service as OData on the first page.
    let (_, stderr, code) = go(&[
        "actions",
        "--output",
        "csv",
        "--type",
        "Isolate",
        "--status",
        "Succeeded,Failed",
        "--since",
        "2026-01-01",
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let first_pages: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/machineactions" && !r.query_map().contains_key("$skip"))
        .collect();
    let filter = first_pages
        .last()
        .and_then(|r| r.query_map().get("$filter").cloned())
        .unwrap_or_default();
    for part in [
        "type eq 'Isolate'",
        "status eq 'Succeeded'",
        "status eq 'Failed'",
        "creationDateTimeUtc ge 2026-01-01",
    ] {
        assert!(filter.contains(part), "{part} not in {filter}");
    }
}

/// Spawn a listing with stdout piped; the caller reads what it needs.
fn spawn_listing(home: &std::path::Path, args: &[&str]) -> std::process::Child {
    let mut cmd = demo(home, FLEET);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly_with_exit_0() {
    let home = tempfile::tempdir().unwrap();
    for format in ["jsonl", "json", "csv", "table"] {
        let mut child = spawn_listing(home.path(), &["machines", "--output", format]);
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(
            !first.is_empty(),
            "{format}: a first line before the last page"
        );
        // `| head -1`: the reader goes away with most of the listing unread.
        drop(reader);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{format}: {stderr}");
        assert!(
            stderr.is_empty(),
            "{format}: nothing on stderr, got {stderr}"
        );
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_mid_stream_leaves_whole_records_and_exit_130() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let home = tempfile::tempdir().unwrap();
    for format in ["jsonl", "csv"] {
        let mut child = spawn_listing(home.path(), &["machines", "--output", format]);
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        // The listing is blocked on the full pipe: it cannot have finished.
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{format}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        let all = first + &rest;
        assert!(all.ends_with('\n'), "{format}: ends on a whole record");
        let records = match format {
            "jsonl" => {
                for line in all.lines() {
                    let _: Value = serde_json::from_str(line).expect("whole records only");
                }
                all.lines().count()
            }
            _ => {
                let rows = parse_csv(&all);
                assert!(rows.iter().all(|r| r.len() == rows[0].len()));
                rows.len() - 1
            }
        };
        assert!(records < LISTED, "{format}: stopped early ({records})");
    }
}
