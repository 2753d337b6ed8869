//! The embedded Defender for Endpoint simulator: a real HTTP server on loopback that
//! serves Entra's token endpoint and the machine and machine-action APIs as documented
//! (docs/mde-api.md), with the service's quirks: 201 vs 200, duplicate handling, rate limits
//! with Retry-After, `@odata.nextLink` paging, the error envelope. `--demo` and the tests
//! run against it; production code never depends on it otherwise.
//!
//! The engine (`Simulator`) is separate from HTTP (`http.rs`), so tests can also call it
//! in-process (`InProcess`) under paused tokio time. All engine time is tokio time;
//! action status is derived lazily from the creation instant (no background tasks).
//!
//! How isolates end (see `fleet::fate_of`): iOS/Android answer 400
//! OsPlatformNotSupported; Inactive devices end TimeOut; one in twenty others (by id
//! hash) end Failed; the rest Succeed. Unisolate succeeds. A duplicate while an
//! isolation action is active answers 400 ActiveRequestAlreadyExists (even id hash) or
//! 201 with the existing action (odd), never creating a second one.

mod engine;
mod fleet;
mod http;
pub mod identity;
mod inprocess;
pub mod odata;

use std::time::Duration;

pub use engine::{Fault, RouteKind, SimError, SimStats, Simulator};
pub use fleet::{Fate, fate_of, id_hash, pick_machine};
pub use http::{RunningSim, SIM_CA_PEM, serve, serve_tls};
pub use inprocess::InProcess;

use cordon_core::config::{Auth, Cloud, Profile, SecretSource};

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Fleet size (default 250); 1,000,000 works (the fleet is compact: `fleet.rs`).
    pub machines: usize,
    pub seed: u64,
    /// Time per status step: Pending → InProgress → final.
    pub step: Duration,
    /// Chance of a 500 on an API call.
    pub fail_rate: f64,
    pub latency: Duration,
    /// Chance the connection is cut without a complete answer.
    pub drop_rate: f64,
    /// Chance of a 200 with malformed JSON.
    pub garbage_rate: f64,
    pub token_ttl: Duration,
    /// 100 calls/min and 1,500/h per API per client, answered with 429 + Retry-After.
    pub enforce_rate_limits: bool,
    /// Add machines whose names, tags and comments hold escape sequences and such.
    pub hostile_names: bool,
    /// Answer writes with 403, as for an app without Machine.Isolate.
    pub forbid_writes: bool,
    /// Hold the answer to a write this long *after* it took effect: a client killed or
    /// timed out meanwhile leaves an action it never heard about (the recovery case).
    pub write_hold: Duration,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The app's registered certificate (PEM); assertions must be signed by its key.
    pub registered_certificate: String,
    /// The federated token (workload identity) the app trusts.
    pub federated_token: String,
    /// Device codes are approved at once as this user (the demo); otherwise they wait
    /// for `/devicelogin`.
    pub auto_approve_user: Option<String>,
    pub device_code_ttl: Duration,
    /// The secret App Service puts in IDENTITY_HEADER.
    pub identity_header: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            machines: 250,
            seed: 42,
            step: Duration::from_secs(3),
            fail_rate: 0.0,
            latency: Duration::ZERO,
            drop_rate: 0.0,
            garbage_rate: 0.0,
            token_ttl: Duration::from_secs(3599),
            enforce_rate_limits: true,
            hostile_names: false,
            forbid_writes: false,
            write_hold: Duration::ZERO,
            tenant_id: "00000000-0000-4000-8000-00000000c0de".into(),
            client_id: "00000000-0000-4000-8000-0000000000de".into(),
            client_secret: "cordon-demo-secret".into(),
            registered_certificate: identity::DEMO_CERTIFICATE_PEM.into(),
            federated_token: identity::DEMO_FEDERATED_TOKEN.into(),
            auto_approve_user: None,
            device_code_ttl: Duration::from_secs(900),
            identity_header: "cordon-sim-identity-header".into(),
        }
    }
}

/// A profile that signs in to a running simulator through the normal HTTP path.
pub fn demo_profile(running: &RunningSim, cfg: &SimConfig) -> Profile {
    Profile {
        name: "demo".into(),
        tenant_id: cfg.tenant_id.clone(),
        client_id: cfg.client_id.clone(),
        auth: Auth::ClientSecret(SecretSource::Value(secrecy::SecretString::from(
            cfg.client_secret.clone(),
        ))),
        ca_file: None,
        proxy: None,
        cloud: Cloud::Commercial,
        api_base: running.base_url.clone(),
        authority: running.base_url.clone(),
        scope: Cloud::Commercial.preset().scope.into(),
        readonly: false,
        protected: false,
        protected_tags: Vec::new(),
        comment_rule: Default::default(),
        comment_template: None,
        color: Some("green".into()),
    }
}

/// The TOML a user pastes into their config to use `cordon simulate`.
pub fn profile_snippet(
    running: &RunningSim,
    cfg: &SimConfig,
    certificate: Option<&std::path::Path>,
) -> String {
    let mut out = format!(
        "# Add these profiles to your config (see config.example.toml), then:\n\
         #   export CORDON_SIM_SECRET='{secret}'\n\
         #   cordon --profile sim\n\
         [profiles.sim]\n\
         tenant_id = \"{tenant}\"\n\
         client_id = \"{client}\"\n\
         client_secret_env = \"CORDON_SIM_SECRET\"\n\
         api_base = \"{base}\"\n\
         authority = \"{base}\"\n\
         color = \"green\"\n\
         \n\
         # As yourself: `cordon --profile sim-analyst login`, then enter the code at\n\
         # {base}/devicelogin (or start the simulator with --auto-approve alice@contoso.com).\n\
         [profiles.sim-analyst]\n\
         auth = \"device-code\"\n\
         tenant_id = \"{tenant}\"\n\
         client_id = \"{client}\"\n\
         api_base = \"{base}\"\n\
         authority = \"{base}\"\n\
         \n\
         # A managed identity: export AZURE_POD_IDENTITY_AUTHORITY_HOST={base}\n\
         [profiles.sim-mi]\n\
         auth = \"managed-identity\"\n\
         tenant_id = \"{tenant}\"\n\
         api_base = \"{base}\"\n\
         authority = \"{base}\"\n",
        secret = cfg.client_secret,
        tenant = cfg.tenant_id,
        client = cfg.client_id,
        base = running.base_url,
    );
    if let Some(path) = certificate {
        out.push_str(&format!(
            "\n# The app's registered certificate (key and certificate, written for you):\n\
             [profiles.sim-cert]\n\
             auth = \"certificate\"\n\
             certificate_file = \"{path}\"\n\
             tenant_id = \"{tenant}\"\n\
             client_id = \"{client}\"\n\
             api_base = \"{base}\"\n\
             authority = \"{base}\"\n",
            path = path.display(),
            tenant = cfg.tenant_id,
            client = cfg.client_id,
            base = running.base_url,
        ));
    }
    out
}
