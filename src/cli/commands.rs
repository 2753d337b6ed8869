//! The subcommands themselves. Each returns its standard output and exit code, so tests
//! can run them against the simulator without spawning the binary.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::args::OutputFormat;
use super::output::{ACTIONS, Listing, MACHINES, MachineLine, MachineRow, WriteError};
use super::{CliError, parse_comment};
use cordon_core::api::models::{ActionStatus, IsolationState, Machine, MachineAction};
use cordon_core::api::{
    ActionFilter, ActionPages, DefenderApi, IsolationType, MachinePages, all_actions, all_machines,
    odata_quote,
};
use cordon_core::audit::AuditLog;
use cordon_core::sanitize::clean;
use cordon_core::worker::protocol::{Command, ErrorInfo, WorkerEvent, WriteOp, WriteRequest};
use cordon_core::worker::{WorkerSettings, spawn};

/// What a subcommand printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub exit_code: u8,
}

impl Output {
    /// Cleaned text for a terminal (the rule `terminal_safe` applies to stdout).
    pub fn terminal_safe_text(text: &str) -> String {
        Output {
            stdout: text.to_string(),
            exit_code: 0,
        }
        .terminal_safe()
        .into_owned()
    }

    /// The text to write: the writes' way to stdout (listings stream through
    /// `cli::output::Listing`, which applies the same rules). Whatever was formatted into
    /// `stdout`, no escape sequence, control, bidi or invisible character from the
    /// service reaches the terminal raw (JSON keeps them as `\uXXXX` escapes).
    pub fn terminal_safe(&self) -> std::borrow::Cow<'_, str> {
        let trimmed = self.stdout.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            cordon_core::sanitize::escape_json_text(&self.stdout)
        } else {
            cordon_core::sanitize::clean_lines(&self.stdout)
        }
    }
}

/// How a streamed listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every page was read and written.
    Complete { records: usize },
    /// Ctrl-C: the output holds whole records up to here (a JSON array stays unclosed).
    Interrupted { records: usize },
    /// The reader went away (`| head`): nothing more to do.
    ReaderGone,
}

/// How a listing is printed: `--output`, `--fields`.
#[derive(Debug, Clone)]
pub struct Printing {
    pub format: OutputFormat,
    pub fields: Vec<String>,
}

/// A write error ends a listing: the reader's choice (a closed pipe, exit 0) or a
/// failure (exit 1).
fn ended_by(e: WriteError, records: usize) -> Result<Ended, CliError> {
    match e {
        WriteError::Closed => Ok(Ended::ReaderGone),
        other => {
            tracing::debug!(records, error = %other, "listing stopped");
            Err(CliError::Failed(other.to_string()))
        }
    }
}

/// `cordon machines [--filter ODATA] [--output FORMAT] [--fields F,…]`: the isolation
/// states are read first (one paged read of the isolation actions, folded into a map of
/// machine id → state), then each machine page is written as it arrives and dropped.
pub async fn machines<A: DefenderApi, W: Write>(
    api: &A,
    filter: Option<String>,
    printing: &Printing,
    out: W,
    interrupt: &CancellationToken,
) -> Result<Ended, CliError> {
    let listing = Listing::new(out, printing.format, &MACHINES, &printing.fields)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let pages = MachinePages::new(filter);
    let states = tokio::select! {
        states = isolation_states(api) => states?,
        () = interrupt.cancelled() => return Ok(Ended::Interrupted { records: 0 }),
    };
    stream_machines(api, pages, &states, listing, interrupt).await
}

/// Write each machine page as it arrives, then drop it; stop between records on Ctrl-C.
async fn stream_machines<A: DefenderApi, W: Write>(
    api: &A,
    mut pages: MachinePages,
    states: &IsolationMap,
    mut listing: Listing<W>,
    interrupt: &CancellationToken,
) -> Result<Ended, CliError> {
    loop {
        let page = tokio::select! {
            next = pages.next::<MachineLine, _>(api) => next.map_err(|e| CliError::from_api(&e))?,
            // Every record written so far was flushed with its page.
            () = interrupt.cancelled() => return Ok(Ended::Interrupted { records: listing.records() }),
        };
        let Some(machines) = page else { break };
        for machine in &machines {
            if interrupt.is_cancelled() {
                break;
            }
            let row = MachineRow {
                machine,
                state: states.get(machine.id()),
            };
            if let Err(e) = listing.record(&row) {
                return ended_by(e, listing.records());
            }
        }
        drop(machines);
        if let Err(e) = listing.flush() {
            return ended_by(e, listing.records());
        }
        if interrupt.is_cancelled() {
            return Ok(Ended::Interrupted {
                records: listing.records(),
            });
        }
    }
    match listing.finish() {
        Ok(()) => Ok(Ended::Complete {
            records: listing.records(),
        }),
        Err(e) => ended_by(e, listing.records()),
    }
}

/// The isolation state of every machine with an Isolate/Unisolate action, folded page
/// by page: the map holds one entry per such machine (the deciding action's time and
/// the state), never the actions. Same rule as `IsolationState::derive`: the newest
/// action that was not Cancelled decides (the first listed among equal times).
#[derive(Debug, Default)]
pub struct IsolationMap {
    by_machine: HashMap<Box<str>, (Option<chrono::DateTime<chrono::Utc>>, IsolationState)>,
}

impl IsolationMap {
    pub fn fold(&mut self, action: &MachineAction) {
        if !action.is_isolation() || action.status == ActionStatus::Cancelled {
            return;
        }
        let Some(id) = action.machine_id.as_deref() else {
            return;
        };
        let at = cordon_core::domain::models::parse_time(action.creation_date_time_utc.as_deref());
        let state = IsolationState::derive(std::iter::once(action));
        match self.by_machine.get_mut(id) {
            Some(entry) if at > entry.0 => *entry = (at, state),
            Some(_) => {}
            None => {
                self.by_machine.insert(id.into(), (at, state));
            }
        }
    }

    /// A machine with no isolation action was never isolated.
    pub fn get(&self, machine_id: &str) -> IsolationState {
        self.by_machine
            .get(machine_id)
            .map_or(IsolationState::NotIsolated, |(_, state)| *state)
    }

    pub fn len(&self) -> usize {
        self.by_machine.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_machine.is_empty()
    }
}

/// Latest isolation state of every machine that has an Isolate/Unisolate action.
async fn isolation_states<A: DefenderApi>(api: &A) -> Result<IsolationMap, CliError> {
    let mut pages = ActionPages::new(ActionFilter::isolation());
    let mut map = IsolationMap::default();
    while let Some(page) = pages.next(api).await.map_err(|e| CliError::from_api(&e))? {
        for action in &page {
            map.fold(action);
        }
    }
    Ok(map)
}

/// What `cordon actions` asks for.
#[derive(Debug, Clone, Default)]
pub struct ActionsQuery {
    pub machine: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub types: Vec<String>,
    pub statuses: Vec<String>,
    pub limit: Option<usize>,
}

/// `--since`: an RFC 3339 time, a date (midnight UTC), or a span back from `now`
/// (`90m`, `24h`, `7d`).
pub fn parse_since(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, CliError> {
    let v = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let (digits, unit) = v.split_at(v.len().saturating_sub(1));
    let span = digits.parse::<i64>().ok().and_then(|n| match unit {
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    });
    match span.filter(|d| *d >= chrono::Duration::zero()) {
        Some(d) => now
            .checked_sub_signed(d)
            .ok_or_else(|| CliError::Usage(format!("--since '{}' is too far back", clean(v)))),
        None => Err(CliError::Usage(format!(
            "--since '{}' is not a time: use 2026-11-30T08:00:00Z, 2026-11-30, or 90m, 24h, 7d",
            clean(v)
        ))),
    }
}

/// `cordon actions [--machine M] [--since WHEN] [--type T] [--status S] [--limit N]`:
/// filtered by the service (OData), every page followed. Without `--limit` each page is
/// written as it arrives, in the service's order (the API documents none; the docs'
/// example and the simulator list newest first). With `--limit N` the newest N are
/// kept while the pages stream by (a bounded heap: memory follows N, not the tenant)
/// and written newest first at the end.
pub async fn actions<A: DefenderApi, W: Write>(
    api: &A,
    query: ActionsQuery,
    printing: &Printing,
    out: W,
    interrupt: &CancellationToken,
) -> Result<Ended, CliError> {
    let mut listing = Listing::new(out, printing.format, &ACTIONS, &printing.fields)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut filter = ActionFilter {
        types: query.types,
        statuses: query.statuses,
        created_since: query.since,
        ..ActionFilter::default()
    };
    if let Some(key) = &query.machine {
        filter.machine_id = Some(resolve_machine(api, key).await?.id);
    }
    let mut pages = ActionPages::new(filter);
    let mut newest = query.limit.map(Newest::new);
    loop {
        let page = tokio::select! {
            next = pages.next(api) => next.map_err(|e| CliError::from_api(&e))?,
            () = interrupt.cancelled() => {
                return match listing.flush() {
                    Ok(()) => Ok(Ended::Interrupted { records: listing.records() }),
                    Err(e) => ended_by(e, listing.records()),
                };
            }
        };
        let Some(page) = page else { break };
        match &mut newest {
            Some(kept) => page.into_iter().for_each(|a| kept.offer(a)),
            None => {
                for action in &page {
                    if interrupt.is_cancelled() {
                        break;
                    }
                    if let Err(e) = listing.record(action) {
                        return ended_by(e, listing.records());
                    }
                }
                if let Err(e) = listing.flush() {
                    return ended_by(e, listing.records());
                }
            }
        }
    }
    if let Some(kept) = newest {
        for action in kept.into_newest_first() {
            if let Err(e) = listing.record(&action) {
                return ended_by(e, listing.records());
            }
        }
    }
    match listing.finish() {
        Ok(()) => Ok(Ended::Complete {
            records: listing.records(),
        }),
        Err(e) => ended_by(e, listing.records()),
    }
}

/// The newest `limit` actions of a stream, in O(limit) memory: exactly what sorting
/// everything newest first (`domain::newest_first`, stable) and keeping the first
/// `limit` would give.
#[derive(Debug)]
pub struct Newest {
    limit: usize,
    seen: u64,
    /// A min-heap on (creation time, earlier in the stream first).
    heap: BinaryHeap<Reverse<Ranked>>,
}

#[derive(Debug)]
struct Ranked {
    at: Option<chrono::DateTime<chrono::Utc>>,
    order: Reverse<u64>,
    action: MachineAction,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl Newest {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            seen: 0,
            heap: BinaryHeap::with_capacity(limit.min(10_000) + 1),
        }
    }

    pub fn offer(&mut self, action: MachineAction) {
        self.seen += 1;
        if self.limit == 0 {
            return;
        }
        let at = cordon_core::domain::models::parse_time(action.creation_date_time_utc.as_deref());
        self.heap.push(Reverse(Ranked {
            at,
            order: Reverse(self.seen),
            action,
        }));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    pub fn into_newest_first(self) -> Vec<MachineAction> {
        // Ascending `Reverse` is descending rank: newest first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| r.action)
            .collect()
    }
}

/// A device id is 40 hex characters (docs/mde-api.md §4.1).
fn looks_like_device_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Find one machine by device id or computer DNS name. A name that matches several
/// machines (re-onboarded duplicates, the same short name in two domains) is refused
/// with the list, so a script never isolates the wrong one.
pub async fn resolve_machine<A: DefenderApi>(api: &A, key: &str) -> Result<Machine, CliError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(CliError::Usage(
            "An empty machine name was given; pass a device id or a DNS name.".into(),
        ));
    }
    if looks_like_device_id(key) {
        return match api.get_machine(key).await {
            Ok(m) => Ok(m),
            Err(e) if e.is_not_found() => Err(unknown_machine(key)),
            Err(e) => Err(CliError::from_api(&e)),
        };
    }
    let filter = format!("startswith(computerDnsName,'{}')", odata_quote(key));
    let candidates = all_machines(api, Some(filter))
        .await
        .map_err(|e| CliError::from_api(&e))?;
    let exact: Vec<&Machine> = candidates
        .iter()
        .filter(|m| m.display_name().eq_ignore_ascii_case(key))
        .collect();
    let short: Vec<&Machine> = candidates
        .iter()
        .filter(|m| {
            m.display_name()
                .split('.')
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case(key))
        })
        .collect();
    let pick = if exact.is_empty() { short } else { exact };
    match pick.len() {
        1 => Ok(pick[0].clone()),
        0 => match api.get_machine(key).await {
            // The service also resolves names itself (other casing, Entra device id).
            Ok(m) => Ok(m),
            Err(e) if e.is_not_found() => Err(unknown_machine(key)),
            Err(e) => Err(CliError::from_api(&e)),
        },
        n => {
            // Enough to tell twins apart: a re-onboarded device leaves a stale record.
            let list: Vec<String> = pick
                .iter()
                .take(10)
                .map(|m| {
                    format!(
                        "{} (id {}, last seen {}, health {})",
                        clean(m.display_name()),
                        clean(&m.id),
                        clean(m.last_seen.as_deref().unwrap_or("never")),
                        clean(m.health_status.as_deref().unwrap_or("unknown"))
                    )
                })
                .collect();
            Err(CliError::Usage(format!(
                "'{}' matches {n} machines: {}; pass the device id instead.",
                clean(key),
                list.join(", ")
            )))
        }
    }
}

fn unknown_machine(key: &str) -> CliError {
    CliError::Usage(format!(
        "No machine matches '{}'; check the name with `cordon machines --filter \"startswith(computerDnsName,'...')\"`.",
        clean(key)
    ))
}

/// The end of one write request.
#[derive(Debug, Clone)]
pub enum WriteResult {
    Accepted(MachineAction),
    AlreadyActive(MachineAction),
    Failed(ErrorInfo),
}

/// Submit writes through the worker, wait for one outcome per request and, with `wait`,
/// for each accepted action to reach a final state. Ctrl-C (`interrupt`) stops waiting.
pub async fn run_writes<A: DefenderApi>(
    api: Arc<A>,
    audit: AuditLog,
    settings: WorkerSettings,
    requests: Vec<WriteRequest>,
    wait: bool,
    interrupt: CancellationToken,
) -> Vec<(WriteRequest, WriteResult)> {
    let cancel = CancellationToken::new();
    let mut handle = spawn(api, audit, settings, cancel.clone());
    let mut results: HashMap<u64, WriteResult> = HashMap::new();
    let total = requests.len();
    // Earlier runs' unfinished requests are settled first (they may concern the same
    // machines), then this submission.
    let mut recovered = handle.commands.send(Command::Recover).await.is_err();
    if handle
        .commands
        .send(Command::Submit(requests.clone()))
        .await
        .is_err()
    {
        tracing::error!("worker stopped before the submission");
    }
    let done = |results: &HashMap<u64, WriteResult>| {
        results.len() == total
            && (!wait
                || results.values().all(|r| match r {
                    WriteResult::Accepted(a) => a.status.is_final(),
                    _ => true,
                }))
    };
    // Progress on a terminal only, in the console's words; a pipe or a log gets nothing
    // extra.
    let show_progress = wait && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let verb = requests.first().map_or("Write", |r| r.op.verb());
    let mut shown = String::new();
    while !(done(&results) && recovered) {
        if show_progress {
            let line = wait_progress(verb, total, &results);
            if line != shown {
                eprintln!("cordon: {line}");
                shown = line;
            }
        }
        let event = tokio::select! {
            e = handle.events.recv() => e,
            () = interrupt.cancelled() => break,
        };
        let Some(event) = event else { break };
        match event {
            WorkerEvent::Accepted { request_id, action } => {
                results.insert(request_id, WriteResult::Accepted(action));
            }
            WorkerEvent::AlreadyActive { request_id, action } => {
                results.insert(request_id, WriteResult::AlreadyActive(action));
            }
            WorkerEvent::Failed { request_id, error } => {
                results.insert(request_id, WriteResult::Failed(error));
            }
            WorkerEvent::Recovered { report } => {
                recovered = true;
                if let Some(sentence) = report.sentence() {
                    eprintln!("cordon: {}", clean(&sentence));
                }
            }
            WorkerEvent::ActionUpdated { action } => {
                for r in results.values_mut() {
                    // A read made before our write answered (recovery follows the same
                    // action from an earlier run) must not take a final status back:
                    // a cancel that ended it Cancelled stays Cancelled.
                    if let WriteResult::Accepted(a) = r
                        && a.id == action.id
                        && (!a.status.is_final() || action.status.is_final())
                    {
                        *a = action.clone();
                    }
                }
            }
            _ => {}
        }
    }
    if show_progress {
        let line = wait_progress(verb, total, &results);
        if line != shown {
            eprintln!("cordon: {line}");
        }
    }
    cancel.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), handle.join).await;
    requests
        .into_iter()
        .map(|r| {
            let result = results.remove(&r.request_id).unwrap_or_else(|| {
                WriteResult::Failed(ErrorInfo {
                    code: "Interrupted".into(),
                    message: "cordon stopped before the outcome was known; check `cordon actions --machine ...`".into(),
                })
            });
            (r, result)
        })
        .collect()
}

/// "Isolate 1/3 done · 2 in progress · 1 failed": where a `--wait` stands.
pub fn wait_progress(verb: &str, total: usize, results: &HashMap<u64, WriteResult>) -> String {
    let (mut ended, mut in_progress, mut failed) = (0, 0, 0);
    for r in results.values() {
        match r {
            WriteResult::Accepted(a) if a.status == ActionStatus::Succeeded => ended += 1,
            WriteResult::Accepted(a) if a.status.is_final() => {
                ended += 1;
                failed += 1;
            }
            WriteResult::Accepted(_) => in_progress += 1,
            WriteResult::AlreadyActive(_) | WriteResult::Failed(_) => {
                ended += 1;
                failed += 1;
            }
        }
    }
    let waiting = total.saturating_sub(ended + in_progress);
    let mut line = format!("{verb} {ended}/{total} done");
    if in_progress > 0 {
        line.push_str(&format!(" · {in_progress} in progress"));
    }
    if waiting > 0 {
        line.push_str(&format!(" · {waiting} to send"));
    }
    if failed > 0 {
        line.push_str(&format!(" · {failed} failed or refused"));
    }
    line
}

/// Exit code and printed report of a batch of writes.
pub fn report_writes(
    results: &[(WriteRequest, WriteResult)],
    wait: bool,
    json_out: bool,
) -> Output {
    let mut exit_code = 0u8;
    for (req, r) in results {
        let cancel = matches!(req.op, WriteOp::Cancel { .. });
        let code = match r {
            // A cancellation succeeds when the action ends Cancelled.
            WriteResult::Accepted(a) if cancel => u8::from(a.status != ActionStatus::Cancelled),
            WriteResult::Accepted(a) if wait && a.status != ActionStatus::Succeeded => 1,
            WriteResult::Accepted(a)
                if !wait && !a.status.is_active() && a.status != ActionStatus::Succeeded =>
            {
                1
            }
            WriteResult::Accepted(_) => 0,
            WriteResult::AlreadyActive(_) => 1,
            WriteResult::Failed(e) if e.code == "AuthenticationFailed" => 3,
            WriteResult::Failed(_) => 1,
        };
        exit_code = exit_code.max(code);
    }
    let stdout = if json_out {
        // One shape for every entry, whatever happened: the request, the result, the
        // action when there is one, the error when there is one.
        let values: Vec<serde_json::Value> = results
            .iter()
            .map(|(req, r)| {
                let (result, action, error) = match r {
                    WriteResult::Accepted(a) => ("accepted", Some(a), None),
                    WriteResult::AlreadyActive(a) => (
                        "refused",
                        Some(a),
                        Some(json!({
                            "code": "ActiveRequestAlreadyExists",
                            "message": format!(
                                "an isolation action is already {} for this machine (action {}); nothing was sent",
                                clean(a.status.as_str()),
                                clean(&a.id)
                            ),
                        })),
                    ),
                    WriteResult::Failed(e) => (
                        match e.code.as_str() {
                            "NotConfirmed" => "not_confirmed",
                            "AlreadyIsolated" | "NotIsolated" => "refused",
                            _ => "failed",
                        },
                        None,
                        Some(json!({ "code": e.code, "message": e.message })),
                    ),
                };
                json!({
                    "machine": req.machine_name,
                    "machineId": req.machine_id,
                    "request": req.op.audit_name(),
                    "isolationType": match &req.op {
                        WriteOp::Isolate { isolation_type } => Some(isolation_type.as_str()),
                        _ => None,
                    },
                    "result": result,
                    "status": action.map(|a| a.status.as_str().to_string()),
                    "action": action,
                    "error": error,
                })
            })
            .collect();
        to_json_line(&values)
    } else {
        let mut s = String::new();
        for (req, r) in results {
            let name = clean(&req.machine_name);
            let what = match &req.op {
                WriteOp::Isolate { isolation_type } => {
                    format!("Isolate ({})", isolation_type.as_str())
                }
                WriteOp::Unisolate => "Unisolate".to_string(),
                WriteOp::Cancel { action_id } => format!("Cancel {}", clean(action_id)),
            };
            let line = match r {
                WriteResult::Accepted(a) => format!(
                    "{name}  {what}  {}  action {}",
                    clean(a.status.as_str()),
                    clean(&a.id)
                ),
                WriteResult::AlreadyActive(a) => format!(
                    "{name}  {what}  refused: an isolation action is already {} (action {}); nothing was sent",
                    clean(a.status.as_str()),
                    clean(&a.id)
                ),
                WriteResult::Failed(e)
                    if matches!(e.code.as_str(), "AlreadyIsolated" | "NotIsolated") =>
                {
                    format!(
                        "{name}  {what}  refused: {} ({})",
                        clean(&e.message),
                        e.code
                    )
                }
                WriteResult::Failed(e) => {
                    format!("{name}  {what}  failed: {} ({})", clean(&e.message), e.code)
                }
            };
            s.push_str(&line);
            s.push('\n');
        }
        s
    };
    Output { stdout, exit_code }
}

/// Build one request per resolved machine. Fails (exit 2) before anything is sent if
/// the comment is bad or any machine is unknown or ambiguous.
pub async fn plan_isolation<A: DefenderApi>(
    api: &A,
    keys: &[String],
    comment: &str,
    isolation_type: Option<IsolationType>,
    rule: &cordon_core::domain::CommentRule,
    tags: &mut HashMap<String, Vec<String>>,
) -> Result<Vec<WriteRequest>, CliError> {
    let comment = parse_comment(comment, rule)?;
    let mut requests = Vec::with_capacity(keys.len());
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        let m = resolve_machine(api, key).await?;
        if !seen.insert(m.id.clone()) {
            continue; // the same machine named twice: one request
        }
        tags.insert(m.id.clone(), m.machine_tags.clone());
        let op = match isolation_type {
            Some(t) => WriteOp::Isolate { isolation_type: t },
            None => WriteOp::Unisolate,
        };
        requests.push(WriteRequest {
            request_id: requests.len() as u64 + 1,
            machine_name: m.display_name().to_string(),
            machine_id: m.id,
            op,
            comment: comment.clone(),
        });
    }
    Ok(requests)
}

/// A protected profile or a machine with a protected tag: the write goes only with
/// `--confirm <the profile's name>` (or, for several machines, their number), so a
/// script cannot hit it by accident. Checked before anything is sent (exit 2).
pub fn check_protection(
    profile: &cordon_core::config::Profile,
    requests: &[WriteRequest],
    tags: &HashMap<String, Vec<String>>,
    confirm: Option<&str>,
) -> Result<(), CliError> {
    use cordon_core::domain::protection::{Facts, challenge};
    let none = Vec::new();
    let facts: Vec<Facts> = requests
        .iter()
        .map(|r| Facts {
            name: &r.machine_name,
            tags: tags.get(&r.machine_id).unwrap_or(&none),
        })
        .collect();
    let Some(challenge) = challenge(
        &profile.name,
        profile.protected,
        &profile.protected_tags,
        &facts,
    ) else {
        return Ok(());
    };
    // On the command line the profile's name always confirms (a script names what it
    // means); the number of machines, as the console asks for a bulk, does too.
    match confirm {
        Some(typed) if typed.trim() == profile.name || challenge.accepts(typed) => Ok(()),
        Some(typed) => Err(CliError::Usage(format!(
            "{}: --confirm {} does not match; nothing was sent (use --confirm {})",
            clean(&challenge.why),
            clean(typed),
            clean(&profile.name)
        ))),
        None => Err(CliError::Usage(format!(
            "{}: add --confirm {} to send this; nothing was sent",
            clean(&challenge.why),
            clean(&profile.name)
        ))),
    }
}

/// Writes that would change nothing are refused before anything is sent (unless
/// `force`): isolating a machine that is isolated, releasing one that is not. Returns
/// the requests to send and the refusals, one result each. An empty request list
/// (nothing to send) still runs no worker.
pub async fn refuse_no_ops<A: DefenderApi>(
    api: &A,
    requests: Vec<WriteRequest>,
    force: bool,
) -> Result<(Vec<WriteRequest>, Vec<(WriteRequest, WriteResult)>), CliError> {
    if force || requests.is_empty() {
        return Ok((requests, Vec::new()));
    }
    let ids: Vec<String> = requests.iter().map(|r| r.machine_id.clone()).collect();
    let mut actions = Vec::new();
    for chunk in ids.chunks(50) {
        let list = all_actions(api, &ActionFilter::isolation_of_any(chunk.to_vec()))
            .await
            .map_err(|e| CliError::from_api(&e))?;
        actions.extend(list);
    }
    let states: HashMap<String, IsolationState> = cordon_core::domain::isolation_states(&actions)
        .into_iter()
        .collect();
    let mut send = Vec::new();
    let mut refused = Vec::new();
    for req in requests {
        let state = states
            .get(&req.machine_id)
            .copied()
            .unwrap_or(IsolationState::NotIsolated);
        let no_op = match req.op {
            WriteOp::Isolate { .. } => matches!(state, IsolationState::Isolated(_))
                .then_some(("AlreadyIsolated", "already isolated")),
            WriteOp::Unisolate => {
                (state == IsolationState::NotIsolated).then_some(("NotIsolated", "not isolated"))
            }
            WriteOp::Cancel { .. } => None,
        };
        match no_op {
            Some((code, what)) => {
                let message = format!("{what}: nothing was sent (--force sends it anyway)");
                refused.push((
                    req,
                    WriteResult::Failed(ErrorInfo {
                        code: code.into(),
                        message,
                    }),
                ));
            }
            None => send.push(req),
        }
    }
    Ok((send, refused))
}

/// The request for `cordon cancel ACTION_ID --comment TEXT`.
pub async fn plan_cancel<A: DefenderApi>(
    api: &A,
    action_id: &str,
    comment: &str,
    rule: &cordon_core::domain::CommentRule,
) -> Result<WriteRequest, CliError> {
    let comment = parse_comment(comment, rule)?;
    let action = match api.get_action(action_id.trim()).await {
        Ok(a) => a,
        Err(e) if e.is_not_found() => {
            return Err(CliError::Usage(format!(
                "No machine action has the id '{}'; list them with `cordon actions`.",
                clean(action_id)
            )));
        }
        Err(e) => return Err(CliError::from_api(&e)),
    };
    Ok(WriteRequest {
        request_id: 1,
        machine_id: action.machine_id.clone().unwrap_or_default(),
        machine_name: action
            .computer_dns_name
            .clone()
            .or(action.machine_id.clone())
            .unwrap_or_else(|| "(unknown machine)".into()),
        op: WriteOp::Cancel {
            action_id: action.id,
        },
        comment,
    })
}

fn to_json_line<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Actions of a few machines in an awkward order: equal times, undated ones,
    /// cancellations, unknown statuses, other types.
    fn awkward_actions() -> Vec<MachineAction> {
        let spec = [
            ("m1", "Isolate", "Succeeded", Some("2026-01-01T10:00:00Z")),
            (
                "m1",
                "Unisolate",
                "Succeeded",
                Some("2026-01-01T09:00:00.1234567Z"),
            ),
            ("m1", "Unisolate", "Cancelled", Some("2026-01-02T00:00:00Z")),
            ("m2", "Isolate", "Pending", Some("2026-01-01T10:00:00Z")),
            ("m2", "Unisolate", "Succeeded", Some("2026-01-01T10:00:00Z")),
            ("m3", "Isolate", "Failed", None),
            ("m3", "Unisolate", "Succeeded", None),
            ("m4", "Isolate", "Cancelled", Some("2026-01-03T00:00:00Z")),
            (
                "m5",
                "RunAntiVirusScan",
                "Succeeded",
                Some("2026-01-04T00:00:00Z"),
            ),
            ("m5", "Isolate", "Weird", Some("2026-01-01T00:00:00Z")),
            ("m6", "Unisolate", "TimeOut", Some("2026-01-01T00:00:00Z")),
            ("m6", "Isolate", "Succeeded", None),
        ];
        spec.iter()
            .enumerate()
            .map(|(i, (machine, kind, status, at))| {
                serde_json::from_value(json!({
                    "id": format!("a{i}"), "type": kind, "status": status,
                    "machineId": machine, "creationDateTimeUtc": at,
                }))
                .expect("action")
            })
            .collect()
    }

    #[test]
    fn the_folded_map_agrees_with_deriving_from_every_action() {
        let actions = awkward_actions();
        // Any page split gives the same map: the fold sees the same sequence.
        let mut map = IsolationMap::default();
        actions.iter().for_each(|a| map.fold(a));
        let expected: HashMap<String, IsolationState> =
            cordon_core::domain::isolation_states(&actions)
                .into_iter()
                .collect();
        for id in ["m1", "m2", "m3", "m4", "m5", "m6", "m7"] {
            let want = expected
                .get(id)
                .copied()
                .unwrap_or(IsolationState::NotIsolated);
            assert_eq!(map.get(id), want, "{id}");
        }
        assert_eq!(
            map.len(),
            5,
            "only machines with a deciding action take room"
        );
    }

    #[test]
    fn newest_keeps_exactly_what_sorting_everything_would() {
        let actions = awkward_actions();
        for limit in 0..=actions.len() + 1 {
            let mut kept = Newest::new(limit);
            actions.iter().cloned().for_each(|a| kept.offer(a));
            let mut all = actions.clone();
            cordon_core::domain::newest_first(&mut all);
            all.truncate(limit);
            let ids = |v: &[MachineAction]| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&kept.into_newest_first()), ids(&all), "limit {limit}");
        }
    }

    #[test]
    fn since_reads_times_dates_and_spans() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let at = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("24h").ok().as_deref(), Some("2026-12-01T12:00:00+00:00"));
        assert_eq!(at("90m").ok().as_deref(), Some("2026-12-02T10:30:00+00:00"));
        assert_eq!(at("7d").ok().as_deref(), Some("2026-11-25T12:00:00+00:00"));
        assert_eq!(
            at("2026-11-30").ok().as_deref(),
            Some("2026-11-30T00:00:00+00:00")
        );
        assert_eq!(
            at("2026-11-30T08:00:00+01:00").ok().as_deref(),
            Some("2026-11-30T07:00:00+00:00")
        );
        for bad in ["yesterday", "-5h", "5w", "", "99999999999999d"] {
            assert!(matches!(at(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
