//! `cordon simulate` in its own process, and the binary run against it.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

pub struct Sim(pub std::process::Child, pub u16);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn simulate(extra: &[&str]) -> Sim {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = vec![
        "simulate".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(crate::common::BIN)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    Sim(child, port)
}

pub fn config_for(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[profiles.sim]\ntenant_id = \"00000000-0000-4000-8000-00000000c0de\"\n\
             client_id = \"00000000-0000-4000-8000-0000000000de\"\nclient_secret_env = \"CORDON_SIM_SECRET\"\n\
             api_base = \"http://127.0.0.1:{port}\"\nauthority = \"http://127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    path
}

pub fn cordon(
    dir: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    cordon_env(dir, config, args, &[])
}

/// `cordon --config CONFIG ARGS` with the simulator's secret, a private data dir,
/// the debug log at trace, and `env` on top.
pub fn cordon_env(
    dir: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(crate::common::BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("CORDON_SIM_SECRET", "cordon-demo-secret")
        .env("CORDON_DATA_DIR", dir.join("data"))
        .env("CORDON_LOG", "trace")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
