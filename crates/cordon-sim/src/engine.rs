//! The simulator's engine: fleet, actions, tokens, rate limits and fault dice, behind
//! one mutex. Every method is synchronous and quick; HTTP and in-process callers share it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;

use crate::identity::{
    DeviceCode, DeviceState, EntraError, Identity, Principal, access_token, check_assertion,
    random_token,
};
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::SimConfig;
use super::fleet::{Fate, Fleet, fate_of, id_hash};
use super::odata::{self, Entity, Val};
use cordon_core::api::models::{ActionStatus, ActionType, IsolationType, Machine, MachineAction};
use cordon_core::config::Cloud;

pub const MACHINE_FIELDS: &[&str] = &[
    "id",
    "computerDnsName",
    "osPlatform",
    "healthStatus",
    "riskScore",
    "exposureLevel",
    "deviceValue",
    "lastSeen",
    "lastIpAddress",
    "machineTags",
    "rbacGroupId",
    "onboardingStatus",
    "aadDeviceId",
    "version",
];
pub const ACTION_FIELDS: &[&str] = &[
    "id",
    "status",
    "machineId",
    "type",
    "requestor",
    "creationDateTimeUtc",
];

/// An error the service would answer with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct SimError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// For 429: seconds until a slot frees.
    pub retry_after: Option<u64>,
}

impl SimError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Each API has its own quota, as in the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    ListMachines,
    GetMachine,
    Isolate,
    Unisolate,
    ListActions,
    GetAction,
    Cancel,
}

/// A fault decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ServerError,
    Garbage,
    Drop,
}

#[derive(Debug, Clone, Default)]
pub struct SimStats {
    pub requests: HashMap<String, usize>,
    pub posts: HashMap<String, usize>,
    /// Actions created (isolate/unisolate/…) per machine id, seeded history excluded.
    pub actions_created: HashMap<String, usize>,
    pub throttled: usize,
    pub server_errors: usize,
    pub drops: usize,
    pub garbage: usize,
}

struct SimAction {
    action: MachineAction,
    /// None for seeded history (already final).
    created: Option<Instant>,
    fate: ActionStatus,
    cancelled: bool,
}

struct State {
    /// Compact: machines are built when asked for (`fleet.rs`).
    machines: Fleet,
    actions: Vec<SimAction>,
    action_index: HashMap<String, usize>,
    tokens: HashMap<String, (Principal, Instant)>,
    identity: Identity,
    windows: HashMap<(String, RouteKind), VecDeque<Instant>>,
    rng: StdRng,
    stats: SimStats,
}

#[derive(Clone)]
pub struct Simulator {
    https: Arc<std::sync::atomic::AtomicBool>,
    cfg: Arc<SimConfig>,
    start: Instant,
    start_wall: DateTime<Utc>,
    state: Arc<Mutex<State>>,
}

/// A fleet row as a filter sees it, without building the whole machine.
struct MachineEntity<'a>(&'a Fleet, usize);

impl Entity for MachineEntity<'_> {
    fn field(&self, name: &str) -> Option<Val> {
        self.0.field(self.1, name)
    }
}

/// A stored action as a filter sees it now: its status is derived from its age (as in
/// `Simulator::view`) without copying the action; the other fields a filter can name
/// do not change.
struct ActionEntity<'a>(&'a MachineAction, ActionStatus);

impl Entity for ActionEntity<'_> {
    fn field(&self, name: &str) -> Option<Val> {
        let a = self.0;
        let s = |v: &Option<String>| v.clone().map_or(Val::Null, Val::Str);
        Some(match name {
            "id" => Val::Str(a.id.clone()),
            "status" => Val::Str(self.1.as_str().to_string()),
            "machineId" => s(&a.machine_id),
            "type" => Val::Str(a.action_type.as_str().to_string()),
            "requestor" => s(&a.requestor),
            "creationDateTimeUtc" => s(&a.creation_date_time_utc),
            _ => return None,
        })
    }
}

fn parse_top(top: Option<&str>) -> Result<usize, SimError> {
    match top {
        None => Ok(10_000),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(SimError::new(
                400,
                "BadRequest",
                format!("$top must be between 1 and 10000, not '{t}'"),
            )),
        },
    }
}

fn parse_skip(skip: Option<&str>) -> Result<usize, SimError> {
    skip.map_or(Ok(0), |s| {
        s.parse().map_err(|_| {
            SimError::new(
                400,
                "BadRequest",
                format!("$skip must be a number, not '{s}'"),
            )
        })
    })
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        let start_wall = Utc::now();
        let machines = Fleet::generate(cfg.machines, cfg.seed, cfg.hostile_names, start_wall);
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed);
        let mut actions = Vec::new();
        // History: some machines already isolated, some with an older isolate/release
        // pair, some with an AV scan.
        for i in 0..machines.len() {
            let (machine_id, dns_name) = machines.id_and_name(i);
            let roll = rng.random_range(0..100u32);
            let days = |d: i64| fmt_time(start_wall - chrono::Duration::hours(d));
            let mut push = |kind: ActionType, hours_ago: i64, comment: &str| {
                let a = MachineAction {
                    id: uuid(&mut rng),
                    action_type: kind,
                    title: None,
                    requestor: Some("soc-lead@contoso.com".into()),
                    requestor_comment: Some(comment.into()),
                    status: ActionStatus::Succeeded,
                    machine_id: Some(machine_id.clone()),
                    computer_dns_name: dns_name.clone(),
                    creation_date_time_utc: Some(days(hours_ago)),
                    last_update_date_time_utc: Some(days(hours_ago - 1)),
                    cancellation_requestor: None,
                    cancellation_comment: None,
                    cancellation_date_time_utc: None,
                    error_h_result: Some(0),
                    scope: None,
                    external_id: None,
                    request_source: Some("Portal".into()),
                };
                actions.push(SimAction {
                    fate: ActionStatus::Succeeded,
                    action: a,
                    created: None,
                    cancelled: false,
                });
            };
            if roll < 12 {
                push(ActionType::Isolate, 400, "IR-0812 suspicious PowerShell");
                push(ActionType::Unisolate, 380, "IR-0812 cleared after triage");
            }
            if roll < 3 || (12..15).contains(&roll) {
                push(ActionType::Isolate, 30, "IR-0931 beaconing to known C2");
            }
            if roll % 5 == 0 {
                push(ActionType::RunAntiVirusScan, 200, "weekly full scan");
            }
        }
        if cfg.hostile_names
            && let Some(last) = machines.len().checked_sub(1)
        {
            let m = machines.machine(last);
            actions.push(SimAction {
                action: MachineAction {
                    id: uuid(&mut rng),
                    action_type: ActionType::Other("\u{1b}[31mEvil\u{1b}[0m".into()),
                    title: None,
                    requestor: Some("\u{1b}]0;owned\u{7}mallory".into()),
                    requestor_comment: Some("ok\u{1b}[2J\u{1b}[H\u{202e}gnirts\u{7}".into()),
                    status: ActionStatus::Succeeded,
                    machine_id: Some(m.id.clone()),
                    computer_dns_name: m.computer_dns_name.clone(),
                    creation_date_time_utc: Some(fmt_time(start_wall - chrono::Duration::hours(2))),
                    last_update_date_time_utc: None,
                    cancellation_requestor: None,
                    cancellation_comment: None,
                    cancellation_date_time_utc: None,
                    error_h_result: None,
                    scope: None,
                    external_id: None,
                    request_source: None,
                },
                created: None,
                fate: ActionStatus::Succeeded,
                cancelled: false,
            });
        }
        let action_index = actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.action.id.clone(), i))
            .collect();
        Self {
            start: Instant::now(),
            start_wall,
            state: Arc::new(Mutex::new(State {
                machines,
                actions,
                action_index,
                tokens: HashMap::new(),
                identity: Identity::default(),
                windows: HashMap::new(),
                rng,
                stats: SimStats::default(),
            })),
            cfg: Arc::new(cfg),
            https: Arc::default(),
        }
    }

    /// Served over HTTPS (`serve_tls`): the links it writes say so.
    pub fn set_https(&self) {
        self.https.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn scheme(&self) -> &'static str {
        if self.https.load(std::sync::atomic::Ordering::Relaxed) {
            "https"
        } else {
            "http"
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// Every machine, built (for tests and small fleets: a million take gigabytes).
    pub fn machines_snapshot(&self) -> Vec<Machine> {
        let st = self.lock();
        (0..st.machines.len())
            .map(|i| st.machines.machine(i))
            .collect()
    }

    fn wall(&self, t: Instant) -> String {
        let elapsed = t.saturating_duration_since(self.start);
        fmt_time(self.start_wall + chrono::Duration::from_std(elapsed).unwrap_or_default())
    }

    /// The action as it looks now (status derived from its age).
    fn view(&self, a: &SimAction, now: Instant) -> MachineAction {
        let mut out = a.action.clone();
        let Some((status, since)) = self.progress(a, now) else {
            return out;
        };
        if status == ActionStatus::Failed {
            out.error_h_result = Some(-2_147_024_809);
        }
        out.status = status;
        out.last_update_date_time_utc = Some(self.wall(since));
        out
    }

    /// The status an action created by a client has reached by `now`, and since when;
    /// None for seeded history and cancelled actions (their stored status stands).
    fn progress(&self, a: &SimAction, now: Instant) -> Option<(ActionStatus, Instant)> {
        let created = a.created?;
        if a.cancelled {
            return None;
        }
        let age = now.saturating_duration_since(created);
        let step = self.cfg.step;
        Some(if age < step {
            (ActionStatus::Pending, created)
        } else if age < step * 2 {
            (ActionStatus::InProgress, created + step)
        } else {
            (a.fate.clone(), created + step * 2)
        })
    }

    /// The status `view` would show, without building the view.
    fn status_now(&self, a: &SimAction, now: Instant) -> ActionStatus {
        self.progress(a, now)
            .map_or_else(|| a.action.status.clone(), |(status, _)| status)
    }

    // ---- tokens ------------------------------------------------------------------

    /// Client credentials with the secret. Errors are Entra's shape.
    pub fn issue_token(
        &self,
        tenant: &str,
        client_id: &str,
        client_secret: &str,
        scope: &str,
    ) -> Result<(String, u64), EntraError> {
        self.check_app(tenant, client_id, scope)?;
        if client_secret != self.cfg.client_secret {
            return Err((401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.".into()));
        }
        Ok(self.mint(
            Principal::App {
                client_id: client_id.to_string(),
            },
            tenant,
            scope,
        ))
    }

    /// Client credentials with an assertion: a certificate's signed JWT, or the
    /// federated token of a workload identity.
    pub fn issue_for_assertion(
        &self,
        tenant: &str,
        client_id: &str,
        assertion: &str,
        scope: &str,
    ) -> Result<(String, u64), EntraError> {
        self.check_app(tenant, client_id, scope)?;
        let federated = assertion == self.cfg.federated_token;
        if !federated {
            let path = format!("/{tenant}/oauth2/v2.0/token");
            let mut st = self.lock();
            check_assertion(
                assertion,
                client_id,
                &path,
                &self.cfg.registered_certificate,
                &mut st.identity.seen_jti,
            )?;
        }
        Ok(self.mint(
            Principal::App {
                client_id: client_id.to_string(),
            },
            tenant,
            scope,
        ))
    }

    /// Start a device-code sign-in: (device_code, user_code).
    pub fn start_device_code(
        &self,
        tenant: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<(String, String), EntraError> {
        let resource_scope = scope
            .split_whitespace()
            .find(|s| s.ends_with("/.default"))
            .unwrap_or_default()
            .to_string();
        self.check_app(tenant, client_id, &resource_scope)?;
        let mut st = self.lock();
        let device_code = random_token(&mut st.rng, 40);
        let user_code: String = random_token(&mut st.rng, 8).to_uppercase();
        let state = match &self.cfg.auto_approve_user {
            Some(user) => DeviceState::Approved(user.clone()),
            None => DeviceState::Pending,
        };
        st.identity.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: user_code.clone(),
                state,
                expires: Instant::now() + self.cfg.device_code_ttl,
                polls: 0,
            },
        );
        Ok((device_code, user_code))
    }

    /// The person at `/devicelogin` approved (or declined) a code. False when no such
    /// code is waiting.
    pub fn decide_device_code(&self, user_code: &str, user: Option<&str>) -> bool {
        let mut st = self.lock();
        let code = user_code.trim().to_uppercase();
        match st
            .identity
            .device_codes
            .values_mut()
            .find(|d| d.user_code == code && d.state == DeviceState::Pending)
        {
            Some(d) => {
                d.state = match user {
                    Some(u) => DeviceState::Approved(u.to_string()),
                    None => DeviceState::Declined,
                };
                true
            }
            None => false,
        }
    }

    /// A poll of the token endpoint with a device code: tokens once approved.
    pub fn poll_device_code(
        &self,
        tenant: &str,
        client_id: &str,
        device_code: &str,
    ) -> Result<(String, u64, String), EntraError> {
        let pending = |e: &'static str, code: u32, text: &str| (400, e, code, text.to_string());
        let user = {
            let mut st = self.lock();
            let Some(d) = st.identity.device_codes.get_mut(device_code) else {
                return Err(pending(
                    "invalid_grant",
                    70000,
                    "The device code is not valid.",
                ));
            };
            d.polls += 1;
            if Instant::now() >= d.expires {
                return Err(pending(
                    "expired_token",
                    70020,
                    "The device code has expired.",
                ));
            }
            match d.state.clone() {
                DeviceState::Pending => {
                    return Err(pending(
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending.",
                    ));
                }
                DeviceState::Declined => {
                    st.identity.device_codes.remove(device_code);
                    return Err(pending(
                        "authorization_declined",
                        70019,
                        "The user declined the sign-in.",
                    ));
                }
                DeviceState::Approved(user) => {
                    st.identity.device_codes.remove(device_code);
                    user
                }
            }
        };
        self.check_app(tenant, client_id, "x/.default")?;
        Ok(self.sign_in_user(&user, tenant))
    }

    /// A refresh-token grant: new tokens, the old refresh token spent (rotation).
    pub fn redeem_refresh_token(
        &self,
        tenant: &str,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<(String, u64, String), EntraError> {
        self.check_app(tenant, client_id, "x/.default")?;
        let user = self
            .lock()
            .identity
            .refresh_tokens
            .remove(refresh_token)
            .ok_or((
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired or was revoked.".to_string(),
            ))?;
        Ok(self.sign_in_user(&user, tenant))
    }

    /// Revoke every refresh token (an admin's "revoke sessions").
    pub fn revoke_refresh_tokens(&self) {
        self.lock().identity.refresh_tokens.clear();
    }

    fn sign_in_user(&self, user: &str, tenant: &str) -> (String, u64, String) {
        let (access, ttl) = self.mint(
            Principal::User {
                upn: user.to_string(),
            },
            tenant,
            Cloud::Commercial.preset().scope,
        );
        let mut st = self.lock();
        let refresh = random_token(&mut st.rng, 64);
        st.identity
            .refresh_tokens
            .insert(refresh.clone(), user.to_string());
        (access, ttl, refresh)
    }

    /// A managed-identity token (the host's identity needs no other proof).
    pub fn issue_managed_identity(&self, client_id: Option<&str>) -> (String, u64) {
        let id = client_id.unwrap_or("00000000-0000-4000-8000-00000000a1d0");
        self.mint(
            Principal::ManagedIdentity {
                client_id: id.to_string(),
            },
            &self.cfg.tenant_id.clone(),
            Cloud::Commercial.preset().scope,
        )
    }

    fn check_app(&self, tenant: &str, client_id: &str, scope: &str) -> Result<(), EntraError> {
        if tenant != self.cfg.tenant_id {
            return Err((
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            ));
        }
        if client_id != self.cfg.client_id {
            return Err((
                400,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory."
                ),
            ));
        }
        if !scope.ends_with("/.default") {
            return Err((
                400,
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'."
                ),
            ));
        }
        Ok(())
    }

    fn mint(&self, principal: Principal, tenant: &str, scope: &str) -> (String, u64) {
        let resource = scope.trim_end_matches("/.default");
        let mut st = self.lock();
        let nonce = random_token(&mut st.rng, 16);
        let token = access_token(&principal, tenant, resource, self.cfg.token_ttl, &nonce);
        let expiry = Instant::now() + self.cfg.token_ttl;
        st.tokens.insert(token.clone(), (principal, expiry));
        (token, self.cfg.token_ttl.as_secs())
    }

    /// Who a valid, unexpired bearer token was issued to.
    pub fn check_token(&self, token: &str) -> Option<Principal> {
        let st = self.lock();
        st.tokens
            .get(token)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(principal, _)| principal.clone())
    }

    // ---- rate limits and faults -----------------------------------------------------

    /// Count one call against the quotas; over them, a 429 with Retry-After.
    pub fn admit(&self, client: &str, kind: RouteKind) -> Result<(), SimError> {
        let mut st = self.lock();
        *st.stats.requests.entry(format!("{kind:?}")).or_default() += 1;
        if !self.cfg.enforce_rate_limits {
            return Ok(());
        }
        let now = Instant::now();
        let window = st.windows.entry((client.to_string(), kind)).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(3600))
        {
            window.pop_front();
        }
        let in_minute = window
            .iter()
            .rev()
            .take_while(|t| now.duration_since(**t) < Duration::from_secs(60))
            .count();
        let wait = if window.len() >= 1500 {
            window
                .front()
                .map(|t| (*t + Duration::from_secs(3600)).saturating_duration_since(now))
        } else if in_minute >= 100 {
            let oldest = window[window.len() - in_minute];
            Some((oldest + Duration::from_secs(60)).saturating_duration_since(now))
        } else {
            None
        };
        match wait {
            None => {
                window.push_back(now);
                Ok(())
            }
            Some(w) => {
                st.stats.throttled += 1;
                let secs = w.as_secs() + u64::from(w.subsec_nanos() > 0);
                let mut e = SimError::new(
                    429,
                    "TooManyRequests",
                    "Rate limit is exceeded. Try again later.",
                );
                e.retry_after = Some(secs.max(1));
                Err(e)
            }
        }
    }

    /// Roll the fault dice for one API call.
    pub fn roll_fault(&self) -> Fault {
        let mut st = self.lock();
        let r: f64 = st.rng.random();
        let (f, d, g) = (
            self.cfg.fail_rate,
            self.cfg.drop_rate,
            self.cfg.garbage_rate,
        );
        let fault = if r < f {
            Fault::ServerError
        } else if r < f + d {
            Fault::Drop
        } else if r < f + d + g {
            Fault::Garbage
        } else {
            Fault::None
        };
        match fault {
            Fault::ServerError => st.stats.server_errors += 1,
            Fault::Drop => st.stats.drops += 1,
            Fault::Garbage => st.stats.garbage += 1,
            Fault::None => {}
        }
        fault
    }

    /// For a faulted write: did the service act before the answer broke?
    pub fn coin(&self) -> bool {
        self.lock().rng.random::<bool>()
    }

    // ---- machines ---------------------------------------------------------------

    /// One page of machines and, when more remain, the next `$skip`.
    pub fn list_machines(
        &self,
        filter: Option<&str>,
        top: Option<&str>,
        skip: Option<&str>,
    ) -> Result<(Vec<Machine>, Option<usize>), SimError> {
        let top = parse_top(top)?;
        let skip = parse_skip(skip)?;
        let expr =
            match filter.filter(|f| !f.trim().is_empty()) {
                Some(f) => Some(odata::parse(f, MACHINE_FIELDS).map_err(|m| {
                    SimError::new(400, "ODataError", format!("Invalid filter: {m}"))
                })?),
                None => None,
            };
        let st = self.lock();
        let fleet = &st.machines;
        let Some(expr) = expr else {
            // No filter: the page is a slice of the fleet, built row by row.
            let end = skip.saturating_add(top).min(fleet.len());
            let page: Vec<Machine> = (skip.min(end)..end).map(|i| fleet.machine(i)).collect();
            let next = (end < fleet.len()).then_some(end);
            return Ok((page, next));
        };
        let mut matched =
            (0..fleet.len()).filter(|&i| odata::eval(&expr, &MachineEntity(fleet, i)));
        let page: Vec<Machine> = matched
            .by_ref()
            .skip(skip)
            .take(top)
            .map(|i| fleet.machine(i))
            .collect();
        let more = matched.next().is_some();
        let next = more.then_some(skip + page.len());
        Ok((page, next))
    }

    fn find_machine(st: &State, key: &str) -> Option<usize> {
        st.machines.find(key)
    }

    pub fn get_machine(&self, key: &str) -> Result<Machine, SimError> {
        let st = self.lock();
        Self::find_machine(&st, key)
            .map(|i| st.machines.machine(i))
            .ok_or_else(|| {
                SimError::new(
                    404,
                    "ResourceNotFound",
                    format!("Machine {key} was not found"),
                )
            })
    }

    // ---- writes -----------------------------------------------------------------

    /// Validate an isolate body: PascalCase keys are case-sensitive.
    pub fn parse_isolate_body(
        body: &serde_json::Value,
    ) -> Result<(String, IsolationType), SimError> {
        let comment = Self::parse_comment(body)?;
        let kind = match body.get("IsolationType").and_then(|v| v.as_str()) {
            None => IsolationType::Full,
            Some("Full") => IsolationType::Full,
            Some("Selective") => IsolationType::Selective,
            Some("UnManagedDevice") => IsolationType::UnManagedDevice,
            Some(other) => {
                return Err(SimError::new(
                    400,
                    "InvalidRequestBody",
                    format!(
                        "IsolationType '{other}' is not valid; use Full, Selective or UnManagedDevice"
                    ),
                ));
            }
        };
        Ok((comment, kind))
    }

    pub fn parse_comment(body: &serde_json::Value) -> Result<String, SimError> {
        match body.get("Comment").and_then(|v| v.as_str()) {
            Some(c) if !c.trim().is_empty() => Ok(c.to_string()),
            _ => Err(SimError::new(
                400,
                "MissingRequiredParameter",
                "Comment is required (parameter names are case-sensitive)",
            )),
        }
    }

    /// Isolate (`Some(type)`) or release (`None`) a machine.
    pub fn isolation(
        &self,
        key: &str,
        comment: &str,
        kind: Option<IsolationType>,
        requestor: &str,
    ) -> Result<MachineAction, SimError> {
        let now = Instant::now();
        let mut st = self.lock();
        let idx = Self::find_machine(&st, key).ok_or_else(|| {
            SimError::new(
                404,
                "ResourceNotFound",
                format!("Machine {key} was not found"),
            )
        })?;
        let machine = st.machines.machine(idx);
        let route = if kind.is_some() {
            "isolate"
        } else {
            "unisolate"
        };
        *st.stats.posts.entry(route.to_string()).or_default() += 1;
        if self.cfg.forbid_writes {
            return Err(SimError::new(
                403,
                "Forbidden",
                "The application does not have the Machine.Isolate permission",
            ));
        }
        let fate = fate_of(&machine);
        if kind.is_some() && fate == Fate::Unsupported {
            return Err(SimError::new(
                400,
                "OsPlatformNotSupported",
                format!(
                    "Isolation is not supported on {}",
                    machine.os_platform.as_deref().unwrap_or("this platform")
                ),
            ));
        }
        // The service's duplicate handling (docs/mde-api.md §5.3).
        let active = st
            .actions
            .iter()
            .filter(|a| {
                a.action.machine_id.as_deref() == Some(machine.id.as_str())
                    && a.action.is_isolation()
            })
            .map(|a| self.view(a, now))
            .find(|a| a.status.is_active());
        if let Some(existing) = active {
            return if id_hash(&machine.id) % 2 == 0 {
                Err(SimError::new(
                    400,
                    "ActiveRequestAlreadyExists",
                    "Action is already in progress",
                ))
            } else {
                Ok(existing)
            };
        }
        let final_status = match (kind.is_some(), fate) {
            (true, Fate::Fails) => ActionStatus::Failed,
            (true, Fate::TimesOut) => ActionStatus::TimeOut,
            _ => ActionStatus::Succeeded,
        };
        let id = uuid(&mut st.rng);
        let action = MachineAction {
            id: id.clone(),
            action_type: if kind.is_some() {
                ActionType::Isolate
            } else {
                ActionType::Unisolate
            },
            title: None,
            requestor: Some(requestor.to_string()),
            requestor_comment: Some(comment.to_string()),
            status: ActionStatus::Pending,
            machine_id: Some(machine.id.clone()),
            computer_dns_name: machine.computer_dns_name.clone(),
            creation_date_time_utc: Some(self.wall(now)),
            last_update_date_time_utc: Some(self.wall(now)),
            cancellation_requestor: None,
            cancellation_comment: None,
            cancellation_date_time_utc: None,
            error_h_result: Some(0),
            scope: None,
            external_id: None,
            request_source: Some("PublicApi".into()),
        };
        *st.stats
            .actions_created
            .entry(machine.id.clone())
            .or_default() += 1;
        let sim_action = SimAction {
            action,
            created: Some(now),
            fate: final_status,
            cancelled: false,
        };
        let view = self.view(&sim_action, now);
        let at = st.actions.len();
        st.action_index.insert(id, at);
        st.actions.push(sim_action);
        Ok(view)
    }

    pub fn list_actions(
        &self,
        filter: Option<&str>,
        top: Option<&str>,
        skip: Option<&str>,
    ) -> Result<(Vec<MachineAction>, Option<usize>), SimError> {
        let top = parse_top(top)?;
        let skip = parse_skip(skip)?;
        let expr =
            match filter.filter(|f| !f.trim().is_empty()) {
                Some(f) => Some(odata::parse(f, ACTION_FIELDS).map_err(|m| {
                    SimError::new(400, "ODataError", format!("Invalid filter: {m}"))
                })?),
                None => None,
            };
        let now = Instant::now();
        let st = self.lock();
        // Newest first, as the docs' example suggests. Only the page is copied out: the
        // rows before it are filtered on the stored action and its derived status.
        let mut matched = st.actions.iter().rev().filter(|a| {
            expr.as_ref()
                .is_none_or(|e| odata::eval(e, &ActionEntity(&a.action, self.status_now(a, now))))
        });
        let page: Vec<MachineAction> = matched
            .by_ref()
            .skip(skip)
            .take(top)
            .map(|a| self.view(a, now))
            .collect();
        let more = matched.next().is_some();
        let next = more.then_some(skip + page.len());
        Ok((page, next))
    }

    pub fn get_action(&self, id: &str) -> Result<MachineAction, SimError> {
        let now = Instant::now();
        let st = self.lock();
        st.action_index
            .get(id)
            .map(|i| self.view(&st.actions[*i], now))
            .ok_or_else(|| {
                SimError::new(
                    404,
                    "ResourceNotFound",
                    format!("Machine action {id} was not found"),
                )
            })
    }

    pub fn cancel(
        &self,
        id: &str,
        comment: &str,
        requestor: &str,
    ) -> Result<MachineAction, SimError> {
        let now = Instant::now();
        let mut st = self.lock();
        *st.stats.posts.entry("cancel".to_string()).or_default() += 1;
        let Some(&i) = st.action_index.get(id) else {
            return Err(SimError::new(
                404,
                "ResourceNotFound",
                format!("Machine action {id} was not found"),
            ));
        };
        let current = self.view(&st.actions[i], now);
        if current.status.is_final() {
            return Err(SimError::new(
                400,
                "BadRequest",
                format!(
                    "Action {id} is already {} and cannot be cancelled",
                    current.status.as_str()
                ),
            ));
        }
        let wall = self.wall(now);
        let a = &mut st.actions[i];
        a.cancelled = true;
        a.action.status = ActionStatus::Cancelled;
        a.action.cancellation_requestor = Some(requestor.to_string());
        a.action.cancellation_comment = Some(comment.to_string());
        a.action.cancellation_date_time_utc = Some(wall.clone());
        a.action.last_update_date_time_utc = Some(wall);
        Ok(a.action.clone())
    }
}

fn uuid(rng: &mut StdRng) -> String {
    let hex: String = (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
