//! The real binary against a hostile Defender stand-in on loopback: nothing the service
//! sends reaches the terminal raw, whatever the command and output format.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::client_support::*;
use serde_json::json;

use crate::common::BIN;

/// OSC 52 (clipboard), OSC 0 (title), CSI 2J (wipe), CR LF and a forged line, 8-bit
/// CSI, a bidi override and an invisible character.
const HOSTILE: &str = "\u{1b}]52;c;cm0gLXJmIH4gIyBwd25lZA==\u{7}\u{1b}]0;pwned\u{7}\u{1b}[2J\r\ncordon: all clear\u{9b}31mPending\u{202e}x\u{200b}";

fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{200b}', '\r'] {
        assert!(
            !text.contains(bad),
            "{what} carries U+{:04X} raw:\n{text:?}",
            u32::from(bad)
        );
    }
}

async fn hostile_service() -> Mock {
    Mock::start(|req, earlier| {
        if req.is_token() {
            return token_ok(earlier, json!(3599));
        }
        let mut action = action_json("act-1", "Isolate", HOSTILE, Some("m1"));
        action["requestorComment"] = json!(HOSTILE);
        // The name stays plain so `ws1` resolves; every other text field is hostile.
        let mut machine = machine_json("m1", "ws1.contoso.com");
        for field in [
            "osPlatform",
            "healthStatus",
            "riskScore",
            "lastSeen",
            "rbacGroupName",
        ] {
            machine[field] = json!(HOSTILE);
        }
        machine["machineTags"] = json!([HOSTILE]);
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", p) if p.ends_with("/isolate") => json_response(201, action),
            ("GET", "/api/machines") => json_response(200, json!({ "value": [machine] })),
            ("GET", "/api/machineactions") => json_response(200, json!({"value": [action]})),
            _ => mde_error(404, "ResourceNotFound", HOSTILE),
        }
    })
    .await
}

fn cordon(base: &str, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    cordon_in(base, home, &home.join("data"), args)
}

fn cordon_in(
    base: &str,
    home: &std::path::Path,
    data: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"hostile\"\n[profiles.hostile]\ntenant_id = \"{TENANT}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"CORDON_TEST_SECRET\"\n\
             api_base = \"{base}\"\nauthority = \"{base}\"\n"
        ),
    )
    .unwrap();
    Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("CORDON_TEST_SECRET", SECRET)
        .env("CORDON_DATA_DIR", data)
        .env_remove("CORDON_PROFILE")
        .output()
        .expect("run cordon")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_status_never_reaches_the_terminal_raw() {
    let mock = hostile_service().await;
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["isolate", "ws1", "--comment", "IR-1"][..],
        &["isolate", "ws1", "--comment", "IR-1", "--json"],
        &["actions"],
        &["actions", "--json"],
        &["machines", "--json"],
        &["cancel", "act-404", "--comment", "IR-1"],
        // Every streamed format, and chosen fields (issue 11).
        &["machines"],
        &["machines", "--output", "jsonl"],
        &["machines", "--output", "csv"],
        &[
            "machines",
            "--output",
            "table",
            "--fields",
            "osPlatform,machineTags,rbacGroupName",
        ],
        &["actions", "--output", "jsonl"],
        &["actions", "--output", "csv"],
        &[
            "actions",
            "--output",
            "json",
            "--fields",
            "type,status,requestorComment",
        ],
        &[
            "actions",
            "--limit",
            "1",
            "--output",
            "csv",
            "--fields",
            "status,requestor",
        ],
    ] {
        let (base, home) = (mock.base.clone(), home.path().to_path_buf());
        let out = tokio::task::spawn_blocking(move || cordon(&base, &home, args))
            .await
            .unwrap();
        assert_terminal_safe(&format!("stdout of {args:?}"), &out.stdout);
        assert_terminal_safe(&format!("stderr of {args:?}"), &out.stderr);
        assert!(
            out.status.success() || args[0] != "machines" && args[0] != "actions",
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args.contains(&"--json") || args.contains(&"json") {
            let _: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e})"));
        }
        if args.contains(&"jsonl") {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let _: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{args:?} printed an invalid line ({e})"));
            }
        }
        if args.contains(&"csv") {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.lines().count() >= 2, "{args:?}: {text}");
        }
    }
    // The isolate itself was sent: the status was shown cleaned, not dropped.
    assert_eq!(mock.count("POST", "/api/machines/m1/isolate"), 2);
}

/// Another user of a shared jump host plants links where cordon writes its logs: nothing
/// is written through them, their targets keep their content and mode, and cordon says
/// why it stopped before sending anything.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_symlinks_at_the_logs_are_never_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let mock = hostile_service().await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("shared");
    std::fs::create_dir_all(&data).unwrap();
    let rc = home.path().join("victim.bashrc");
    std::fs::write(&rc, "# rc\n").unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
    for name in ["audit.jsonl", "cordon.log"] {
        std::os::unix::fs::symlink(&rc, data.join(name)).unwrap();
    }
    let (base, h, d) = (mock.base.clone(), home.path().to_path_buf(), data.clone());
    let out = tokio::task::spawn_blocking(move || {
        cordon_in(&base, &h, &d, &["isolate", "ws1", "--comment", "IR-1"])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), "# rc\n");
    let mode = std::fs::metadata(&rc).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the link's target was chmodded");
    assert_eq!(
        mock.count("POST", "/api/machines/m1/isolate"),
        0,
        "nothing may be sent"
    );
}

/// A proxy on the path: with HTTP(S)_PROXY set, a plain-http loopback authority and a
/// remote https api_base, the client secret goes straight to loopback and never to the
/// proxy (it once did, in clear, because proxies were off only when both endpoints were
/// loopback). The proxy sees at most a CONNECT for the remote host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_never_sees_what_goes_to_loopback() {
    use std::io::{Read, Write};
    let mock = hostile_service().await;
    // A raw proxy that records every byte it is sent and refuses to tunnel.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            for conn in proxy.incoming() {
                let Ok(mut conn) = conn else { break };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                if let Ok(n) = conn.read(&mut buf) {
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
            }
        });
    }
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.p]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_env = \"CORDON_TEST_SECRET\"\n\
             api_base = \"https://api.securitycenter.microsoft.com\"\nauthority = \"{}\"\n",
            mock.base
        ),
    )
    .unwrap();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let h = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--config", config.to_str().unwrap(), "machines"])
            .env("HOME", &h)
            .env("CORDON_DATA_DIR", h.join("data"))
            .env("CORDON_TEST_SECRET", SECRET)
            .env("HTTP_PROXY", &proxy_url)
            .env("HTTPS_PROXY", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // The listing cannot succeed (the proxy refuses the tunnel); that is not the point.
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        mock.token_requests(),
        1,
        "the sign-in went straight to loopback"
    );
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(!seen.contains(SECRET), "the proxy saw the secret: {seen}");
    assert!(
        !seen.contains("client_secret"),
        "the proxy saw the token request: {seen}"
    );
    assert!(
        seen.is_empty() || seen.starts_with("CONNECT api.securitycenter.microsoft.com:443"),
        "{seen}"
    );
}

/// The hostile service's absurd answers, through the real binary: each ends with exit 1
/// (or, for an absurd token lifetime, works with a clamped one) within 60 s, and no run
/// holds more than 256 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_answers_end_promptly_in_bounded_memory() {
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};
    type Handler = Box<dyn Fn(&Recorded, &str) -> axum::response::Response + Send + Sync>;
    let page = |next: Option<String>| {
        let mut body = json!({"value": [machine_json("m1", "ws1.contoso.com")]});
        if let Some(n) = next {
            body["@odata.nextLink"] = json!(n);
        }
        json_response(200, body)
    };
    let cases: Vec<(&str, &[&str], Option<i32>, Handler)> = vec![
        (
            "an endless chunked body",
            &["machines"],
            Some(1),
            Box::new(|_, _| endless_response(64 * 1024)),
        ),
        (
            "a declared 2 GiB body",
            &["machines"],
            Some(1),
            Box::new(|_, _| declared_response(2 << 30)),
        ),
        (
            "a page link to its own page",
            &["machines"],
            Some(1),
            Box::new(move |req, base| {
                let q = req.query.clone().unwrap_or_default();
                page(Some(format!("{base}{}?{q}", req.path)))
            }),
        ),
        (
            "a page link to its own page, met by an isolate's pre-check",
            &["isolate", "ws1", "--comment", "IR-1"],
            Some(1),
            Box::new(move |req, base| {
                let q = req.query.clone().unwrap_or_default();
                page(Some(format!("{base}{}?{q}", req.path)))
            }),
        ),
        (
            "Retry-After: u64::MAX",
            &["machines"],
            Some(1),
            Box::new(|_, _| throttled("18446744073709551615")),
        ),
        (
            "Retry-After: 999999999",
            &["machines"],
            Some(1),
            Box::new(|_, _| throttled("999999999")),
        ),
    ];
    for (what, args, expected, api) in cases {
        let base: Arc<OnceLock<String>> = Arc::default();
        let b = base.clone();
        let mock = Mock::start(move |req, earlier| {
            if req.is_token() {
                return token_ok(earlier, json!(3599));
            }
            api(req, b.get().map_or("", String::as_str))
        })
        .await;
        base.set(mock.base.clone()).unwrap();
        let home = tempfile::tempdir().unwrap();
        let (b, h) = (mock.base.clone(), home.path().to_path_buf());
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || cordon(&b, &h, args))
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(
            out.status.code(),
            expected,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took < Duration::from_secs(60), "{what} took {took:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim().lines().count(),
            1,
            "{what}: one line: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mock.count("POST", "/api/machines/m1/isolate"), 0, "{what}");
    }
    // An absurd token lifetime is clamped: the listing works.
    let mock = Mock::start(|req, earlier| {
        if req.is_token() {
            return token_ok(earlier, json!(1e300));
        }
        if req.path.starts_with("/api/machineactions") {
            return json_response(200, json!({"value": []}));
        }
        json_response(
            200,
            json!({"value": [machine_json("m1", "ws1.contoso.com")]}),
        )
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let (b, h) = (mock.base.clone(), home.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || cordon(&b, &h, &["machines"]))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The largest of every cordon run above (the kernel keeps the children's maximum).
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let max_kb = usage.max_rss();
    assert!(max_kb < 256 * 1024, "a cordon run peaked at {max_kb} kB");
}
