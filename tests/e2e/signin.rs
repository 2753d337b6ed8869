//! Sign-in methods through the real binary against `cordon simulate` in its own
//! process (issue 12): as the analyst (`login`, then writes with no prompt, the action
//! and the audit line naming the analyst), a managed identity (IMDS and App Service
//! endpoints, and none at all), the Azure CLI (a stand-in `az` on PATH: signed in, not
//! signed in, missing) — and no token in any output, log or the audit log.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::sim_process::{cordon_env, simulate};

const TENANT: &str = "00000000-0000-4000-8000-00000000c0de";
const CLIENT: &str = "00000000-0000-4000-8000-0000000000de";

fn config(dir: &std::path::Path, port: u16, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "default_profile = \"{name}\"\n[profiles.{name}]\ntenant_id = \"{TENANT}\"\n{body}\n\
             api_base = \"http://127.0.0.1:{port}\"\nauthority = \"http://127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    path
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Approve a device code at the simulator's sign-in page as alice@contoso.com, as the
/// analyst would on another device.
fn approve_as_alice(port: u16, code: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = format!("code={code}&user=alice%40contoso.com&decision=approve");
    write!(
        s,
        "POST /devicelogin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Every file cordon wrote, and its output, free of tokens: a JWT starts `eyJ`.
fn assert_no_token(dir: &std::path::Path, outputs: &[&str]) {
    for out in outputs {
        assert!(!out.contains("eyJ"), "a token in the output: {out}");
    }
    for file in ["data/cordon.log", "data/audit.jsonl"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(!text.contains("eyJ"), "a token in {file}");
    }
}

#[test]
fn an_analyst_logs_in_once_and_later_writes_name_them() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        sim.1,
        "analyst",
        &format!("auth = \"device-code\"\nclient_id = \"{CLIENT}\""),
    );
    // Before login: told what to run, exit 3.
    let before = cordon_env(dir.path(), &config, &["machines"], &[]);
    assert_eq!(before.status.code(), Some(3), "{}", text(&before));
    assert!(text(&before).contains("cordon --profile analyst login"));

    let mut login = Command::new(crate::common::BIN)
        .args(["--config", config.to_str().unwrap(), "login"])
        .env("CORDON_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let code = first
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no code in: {first}"))
        .to_string();
    // The analyst approves on "another device".
    approve_as_alice(sim.1, &code);
    let out = login.wait_with_output().unwrap();
    let login_out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{login_out}");
    assert!(
        login_out.contains("Signed in as alice@contoso.com"),
        "{login_out}"
    );

    let who = cordon_env(dir.path(), &config, &["whoami", "--json"], &[]);
    let w: serde_json::Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(w["principal"], "alice@contoso.com");
    assert_eq!(w["kind"], "user");
    assert_eq!(w["canIsolate"], true);

    let target = crate::common::succeeding_machine_name();
    let write = cordon_env(
        dir.path(),
        &config,
        &[
            "isolate",
            &target,
            "--comment",
            "IR-5150 as the analyst",
            "--wait",
            "--json",
        ],
        &[],
    );
    assert_eq!(write.status.code(), Some(0), "{}", text(&write));
    let result: serde_json::Value = serde_json::from_slice(&write.stdout).unwrap();
    assert_eq!(result[0]["action"]["requestor"], "alice@contoso.com");
    let audit = crate::common::audit_lines(&dir.path().join("data"));
    assert!(
        audit
            .iter()
            .filter(|l| l["comment"] == "IR-5150 as the analyst")
            .all(|l| l["principal"] == "alice@contoso.com"),
        "{audit:#?}"
    );
    assert_no_token(dir.path(), &[&login_out, &text(&who), &text(&write)]);
    // The refresh token is only in the cache.
    let cache_dir = dir.path().join("data/tokens");
    let cache = std::fs::read_dir(&cache_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let refresh: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let refresh = refresh["refresh_token"].as_str().unwrap().to_string();
    for file in ["data/cordon.log", "data/audit.jsonl"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
        assert!(!text.contains(&refresh), "the refresh token in {file}");
    }
    let logout = cordon_env(dir.path(), &config, &["logout"], &[]);
    assert!(logout.status.success());
    assert!(!cache.exists());
}

#[test]
fn a_managed_identity_lists_and_isolates_through_either_endpoint() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.1, "mi", "auth = \"managed-identity\"");
    let base = format!("http://127.0.0.1:{}", sim.1);
    let imds = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str())];
    let listed = cordon_env(dir.path(), &config, &["machines", "--json"], &imds);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let target = crate::common::succeeding_machine_names(2).remove(1);
    let write = cordon_env(
        dir.path(),
        &config,
        &[
            "isolate",
            &target,
            "--comment",
            "IR-5151 by the VM",
            "--wait",
        ],
        &imds,
    );
    assert_eq!(write.status.code(), Some(0), "{}", text(&write));

    let endpoint = format!("{base}/msi/token");
    let app_service = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "cordon-sim-identity-header"),
    ];
    let who = cordon_env(dir.path(), &config, &["whoami"], &app_service);
    assert_eq!(who.status.code(), Some(0), "{}", text(&who));
    assert!(text(&who).contains("managed-identity"));
    let wrong = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "not-the-secret"),
    ];
    let refused = cordon_env(dir.path(), &config, &["machines"], &wrong);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));

    // No endpoint at all (not an Azure host): said plainly, exit 3.
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let absent = cordon_env(
        dir.path(),
        &config,
        &["machines"],
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", nowhere.as_str())],
    );
    assert_eq!(absent.status.code(), Some(3), "{}", text(&absent));
    assert!(
        text(&absent).contains("no managed-identity endpoint answered"),
        "{}",
        text(&absent)
    );
    assert_no_token(dir.path(), &[&text(&listed), &text(&write), &text(&who)]);
}

/// A stand-in `az` on PATH: it records its arguments and prints what the test left
/// for it (a token the simulator issued to the managed identity, in az's shape), or
/// fails as an `az` that is not signed in does.
#[test]
fn the_azure_cli_profile_uses_az_and_says_what_to_do_when_it_cannot() {
    let sim = simulate(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.1, "az", "auth = \"azure-cli\"");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A token the simulator accepts, fetched as a managed identity would.
    let body = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", sim.1)).unwrap();
        write!(s, "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://api.securitycenter.microsoft.com HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer.split("\r\n\r\n").nth(1).unwrap().to_string()
    };
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let az_json = serde_json::json!({
        "accessToken": token["access_token"],
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": 4070908800u64,
        "subscription": "x", "tenant": TENANT, "tokenType": "Bearer"
    });
    std::fs::write(dir.path().join("az.json"), az_json.to_string()).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" > {args}\nif [ -f {out} ]; then cat {out}; else echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1; fi\n",
        args = dir.path().join("az.args").display(),
        out = dir.path().join("az.json").display()
    );
    let az = bin.join("az");
    std::fs::write(&az, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let env = [("PATH", path.as_str())];
    let listed = cordon_env(dir.path(), &config, &["machines"], &env);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let args = std::fs::read_to_string(dir.path().join("az.args")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "account get-access-token --resource https://api.securitycenter.microsoft.com --tenant {TENANT} --output json"
        )
    );
    let target = crate::common::succeeding_machine_names(3).remove(2);
    let write = cordon_env(
        dir.path(),
        &config,
        &["isolate", &target, "--comment", "IR-5152 via az"],
        &env,
    );
    assert_eq!(write.status.code(), Some(0), "{}", text(&write));

    std::fs::remove_file(dir.path().join("az.json")).unwrap();
    let not_signed_in = cordon_env(dir.path(), &config, &["machines"], &env);
    assert_eq!(not_signed_in.status.code(), Some(3));
    assert!(
        text(&not_signed_in).contains(&format!("az login --tenant {TENANT}")),
        "{}",
        text(&not_signed_in)
    );
    let missing = cordon_env(
        dir.path(),
        &config,
        &["machines"],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing).contains("not installed or not on PATH"),
        "{}",
        text(&missing)
    );
    assert_no_token(dir.path(), &[&text(&listed), &text(&write)]);
}

/// A loopback CONNECT proxy: tunnels each connection and records where to.
struct ConnectProxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap_or(0);
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    log.lock().unwrap().push(line.trim().to_string());
                    let Ok(upstream) = std::net::TcpStream::connect(&target) else {
                        return;
                    };
                    let mut client = client;
                    client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .unwrap();
                    let (mut c2, mut u2) =
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let mut upstream = upstream;
                    let up = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut u2);
                        let _ = u2.shutdown(std::net::Shutdown::Write);
                    });
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = upstream.read(&mut buf) {
                        if n == 0 || client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = client.shutdown(std::net::Shutdown::Write);
                    let _ = up.join();
                });
            }
        });
        Self { port, seen }
    }
}

/// Corporate TLS (issue 12): against a simulator whose certificate a private CA
/// signed, cordon refuses it and names ca_file; with ca_file (or SSL_CERT_FILE) it
/// works; and through a proxy named in the profile, the traffic goes through it.
#[test]
fn a_private_ca_is_refused_until_ca_file_names_it_and_a_profile_proxy_carries_it() {
    let sim = simulate(&["--tls"]);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("corp-ca.pem");
    std::fs::write(&ca, cordon_sim::SIM_CA_PEM).unwrap();
    let https = |extra: &str| {
        let path = dir.path().join("tls.toml");
        std::fs::write(
            &path,
            format!(
                "default_profile = \"corp\"\n[profiles.corp]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\n\
                 client_secret_env = \"CORDON_SIM_SECRET\"\napi_base = \"https://127.0.0.1:{port}\"\n\
                 authority = \"https://127.0.0.1:{port}\"\n{extra}\n",
                port = sim.1
            ),
        )
        .unwrap();
        path
    };
    let untrusted = cordon_env(dir.path(), &https(""), &["machines"], &[]);
    assert_eq!(untrusted.status.code(), Some(3), "{}", text(&untrusted));
    let said = text(&untrusted);
    assert!(
        said.contains("not trusted") && said.contains("ca_file") && said.contains("127.0.0.1"),
        "{said}"
    );
    let with_ca = format!("ca_file = \"{}\"", ca.display());
    let trusted = cordon_env(dir.path(), &https(&with_ca), &["machines"], &[]);
    assert_eq!(trusted.status.code(), Some(0), "{}", text(&trusted));
    let by_env = cordon_env(
        dir.path(),
        &https(""),
        &["machines"],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    assert_eq!(by_env.status.code(), Some(0), "{}", text(&by_env));

    let proxy = ConnectProxy::start();
    let via = format!("{with_ca}\nproxy = \"http://127.0.0.1:{}\"", proxy.port);
    let proxied = cordon_env(dir.path(), &https(&via), &["machines"], &[]);
    assert_eq!(proxied.status.code(), Some(0), "{}", text(&proxied));
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("CONNECT 127.0.0.1:{}", sim.1))),
        "{seen:?}"
    );
}

/// Issue 12, in the console: a device-code profile that has not signed in shows the
/// URL and code in a modal; once the analyst approves on "another device", the console
/// closes it and loads the machines by itself.
#[test]
fn the_console_asks_for_a_sign_in_and_continues_by_itself() {
    let sim = simulate(&[]);
    let home = tempfile::tempdir().unwrap();
    let config = config(
        home.path(),
        sim.1,
        "analyst",
        &format!("auth = \"device-code\"\nclient_id = \"{CLIENT}\""),
    );
    let t = std::time::Duration::from_secs(30);
    let mut term = crate::common::Term::spawn(
        &["--config", config.to_str().unwrap()],
        home.path(),
        100,
        30,
    );
    let screen = term.wait_until("the sign-in code", t, |s| s.contains("Code: "));
    let code = screen
        .split("Code: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(screen.contains("devicelogin"), "{screen}");
    approve_as_alice(sim.1, &code);
    let after = term.wait_until("the list after sign-in", t, |s| {
        s.contains(".contoso.local") && !s.contains("Code: ")
    });
    assert!(after.contains("Signed in as alice@contoso.com"), "{after}");
    term.send("q");
    term.wait_exit(t).expect("quits");
}

/// A certificate profile through the binary, with the certificate as PKCS#12 and its
/// password in an environment variable: lists and isolates.
#[test]
fn a_certificate_profile_lists_and_isolates_with_a_pfx() {
    let sim = simulate(&["--step", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let pfx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/demo-app-cert.pfx"
    );
    let config = config(
        dir.path(),
        sim.1,
        "cert",
        &format!(
            "auth = \"certificate\"\nclient_id = \"{CLIENT}\"\ncertificate_file = \"{pfx}\"\ncertificate_password_env = \"PFX_PASS\""
        ),
    );
    let env = [("PFX_PASS", "cordon-demo-pfx")];
    let listed = cordon_env(dir.path(), &config, &["machines"], &env);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let target = crate::common::succeeding_machine_names(4).remove(3);
    let write = cordon_env(
        dir.path(),
        &config,
        &[
            "isolate",
            &target,
            "--comment",
            "IR-5153 by certificate",
            "--wait",
        ],
        &env,
    );
    assert_eq!(write.status.code(), Some(0), "{}", text(&write));
    let wrong = cordon_env(dir.path(), &config, &["machines"], &[("PFX_PASS", "nope")]);
    assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("certificate_password_env"),
        "{}",
        text(&wrong)
    );
    assert_no_token(dir.path(), &[&text(&listed), &text(&write)]);
}
