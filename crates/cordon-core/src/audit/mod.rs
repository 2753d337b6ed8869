//! The audit log: an append-only JSON-lines record of every write cordon sends, apart
//! from the debug log. Each request is written (and fsynced) *before* the POST, and its
//! outcome is appended after, so a crash mid-request still leaves the request on disk.
//! No secret or token ever reaches this file: records are built only from the fields
//! below.
//!
//! One task owns the file (`writer`), writing on the blocking pool: nothing blocks a
//! tokio worker thread on disk.
//! A request line is acknowledged only once it is fsynced, and the worker waits for
//! that before sending; outcome lines are queued and fsynced right after. Lines that
//! arrive together are written and fsynced together (a bulk costs a few fsyncs, not
//! one per line). `flush` waits for everything queued so far.

mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{WriteOp, WriteRequest};

/// Who and where: stamped on every record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditContext {
    pub user: String,
    pub profile: String,
    pub tenant: String,
}

/// `request` before sending, `outcome` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Request,
    Outcome,
}

/// How a request ended: exactly one of these (issue 4, "nothing lost").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The service holds an action for it; `status` is its latest known status.
    Confirmed,
    /// Not sent (or not acted on) for a stated reason, e.g. already in progress.
    Refused,
    /// Sent and failed, with the reason.
    Failed,
    /// Found at a later start with no outcome, and the service has no action for it:
    /// it never reached the service. Final; never read again.
    #[serde(rename = "not_sent")]
    NotSent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: String,
    pub phase: Phase,
    #[serde(flatten)]
    pub context: AuditContext,
    /// One id per cordon process: request ids restart at each run.
    pub run: String,
    /// Who the service records as acting (the analyst's UPN, or `app <name>`), beside
    /// the local OS `user`; from the sign-in's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub request_id: u64,
    pub machine_id: String,
    pub machine_name: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_type: Option<String>,
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write the audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit log writer of {path} has stopped")]
    WriterGone { path: PathBuf },
}

/// A cheap-to-clone handle to the writer thread.
#[derive(Debug, Clone)]
pub struct AuditLog {
    writer: Option<Arc<writer::Writer>>,
    path: PathBuf,
    context: AuditContext,
    run: String,
    principal: crate::auth::PrincipalSlot,
}

impl AuditLog {
    /// Open (creating private parent dirs) for appending; see `private_fs` for what is
    /// refused and how the file is kept 0600.
    pub fn open(path: &Path, context: AuditContext) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            crate::private_fs::create_private_dir(parent).map_err(io)?;
        }
        // Private, and never through a planted link (a shared jump host).
        let file = crate::private_fs::open_private_append(path).map_err(io)?;
        Ok(Self {
            writer: Some(Arc::new(writer::Writer::start(file, path).map_err(io)?)),
            path: path.to_path_buf(),
            context,
            run: new_run_id(),
            principal: Default::default(),
        })
    }

    /// A log that records nothing (tests of code paths that never write).
    pub fn disabled(context: AuditContext) -> Self {
        Self {
            writer: None,
            path: PathBuf::new(),
            context,
            run: new_run_id(),
            principal: Default::default(),
        }
    }

    /// Name in each record who the service will record as acting: the signed-in
    /// analyst (delegated) or the app, as the latest token says.
    pub fn with_principal(mut self, slot: crate::auth::PrincipalSlot) -> Self {
        self.principal = slot;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This process's run id, stamped on every record it writes.
    pub fn run(&self) -> &str {
        &self.run
    }

    pub fn context(&self) -> &AuditContext {
        &self.context
    }

    /// The record written before a request is sent.
    pub fn request_record(&self, req: &WriteRequest) -> AuditRecord {
        let (isolation_type, action_id) = match &req.op {
            WriteOp::Isolate { isolation_type } => {
                (Some(isolation_type.as_str().to_string()), None)
            }
            WriteOp::Unisolate => (None, None),
            WriteOp::Cancel { action_id } => (None, Some(action_id.clone())),
        };
        AuditRecord {
            time: now_rfc3339(),
            phase: Phase::Request,
            context: self.context.clone(),
            run: self.run.clone(),
            principal: self.principal.get(),
            request_id: req.request_id,
            machine_id: req.machine_id.clone(),
            machine_name: req.machine_name.clone(),
            action: req.op.audit_name().to_string(),
            isolation_type,
            comment: req.comment.to_string(),
            action_id,
            outcome: None,
            status: None,
            error_code: None,
            error_message: None,
        }
    }

    /// Append the request line and wait until it is on disk. Call before sending;
    /// refuse to send if this fails.
    pub async fn log_request(&self, req: &WriteRequest) -> Result<(), AuditError> {
        self.append_durably(&self.request_record(req)).await
    }

    /// Queue the request line of a request that will not be sent (refused before
    /// sending): its outcome line follows at once, so nothing waits on the disk.
    pub fn log_unsent_request(&self, req: &WriteRequest) -> Result<(), AuditError> {
        self.append(&self.request_record(req))
    }

    /// Append the outcome line for `req`.
    pub fn log_outcome(
        &self,
        req: &WriteRequest,
        outcome: Outcome,
        action_id: Option<&str>,
        status: Option<&str>,
        error: Option<(&str, &str)>,
    ) -> Result<(), AuditError> {
        let mut rec = self.request_record(req);
        rec.phase = Phase::Outcome;
        rec.outcome = Some(outcome);
        if let Some(id) = action_id {
            rec.action_id = Some(id.to_string());
        }
        rec.status = status.map(str::to_string);
        if let Some((code, message)) = error {
            rec.error_code = Some(code.to_string());
            rec.error_message = Some(message.to_string());
        }
        self.append(&rec)
    }

    /// Append the outcome of a request recorded by an earlier run (recovery): the line
    /// keeps that run's id and request id, so the pair is complete.
    pub fn log_recovered_outcome(
        &self,
        request: &AuditRecord,
        action_id: &str,
        status: &str,
    ) -> Result<(), AuditError> {
        let mut rec = request.clone();
        rec.time = now_rfc3339();
        rec.phase = Phase::Outcome;
        rec.outcome = Some(Outcome::Confirmed);
        rec.action_id = Some(action_id.to_string());
        rec.status = Some(status.to_string());
        rec.error_code = None;
        rec.error_message = None;
        self.append(&rec)
    }

    /// Close a request of an earlier run that never reached the service.
    pub fn log_not_sent(&self, request: &AuditRecord, reason: &str) -> Result<(), AuditError> {
        let mut rec = request.clone();
        rec.time = now_rfc3339();
        rec.phase = Phase::Outcome;
        rec.outcome = Some(Outcome::NotSent);
        rec.action_id = request.action_id.clone();
        rec.status = None;
        rec.error_code = Some("NotSent".to_string());
        rec.error_message = Some(reason.to_string());
        self.append(&rec)
    }

    /// Queue one line; the writer thread writes and fsyncs it shortly. An error here
    /// means the writer has stopped; a failed write is logged by the writer (the
    /// request then has no outcome line, so the next start settles it again).
    pub fn append(&self, rec: &AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        writer
            .queue(line_of(rec, &self.path)?, None)
            .map_err(|()| self.gone())
    }

    /// Write one line and wait until it is fsynced.
    pub async fn append_durably(&self, rec: &AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        writer
            .queue(line_of(rec, &self.path)?, Some(tx))
            .map_err(|()| self.gone())?;
        self.acknowledged(rx).await
    }

    /// Wait until every line queued so far is on disk (before the process exits).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        writer
            .queue(Vec::new(), Some(tx))
            .map_err(|()| self.gone())?;
        self.acknowledged(rx).await
    }

    /// The writer's answer for a line (or a flush barrier) it was given.
    async fn acknowledged(
        &self,
        rx: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
    ) -> Result<(), AuditError> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(AuditError::Io {
                path: self.path.clone(),
                source,
            }),
            Err(_) => Err(self.gone()),
        }
    }

    fn gone(&self) -> AuditError {
        AuditError::WriterGone {
            path: self.path.clone(),
        }
    }

    /// Read every record of a log file (for recovery at start-up and for tests).
    /// Lines that do not parse (a torn last line) are skipped.
    pub fn read_all(path: &Path) -> std::io::Result<Vec<AuditRecord>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Requests with a `request` line but no `outcome` line: cordon stopped mid-way.
    pub fn unfinished(records: &[AuditRecord]) -> Vec<&AuditRecord> {
        use std::collections::HashSet;
        let done: HashSet<(&str, u64)> = records
            .iter()
            .filter(|r| r.phase == Phase::Outcome)
            .map(|r| (r.run.as_str(), r.request_id))
            .collect();
        records
            .iter()
            .filter(|r| r.phase == Phase::Request)
            .filter(|r| !done.contains(&(r.run.as_str(), r.request_id)))
            .collect()
    }
}

/// What a new session must pick up from earlier runs of `profile`: ids of actions that
/// were accepted but never seen final, and machines whose request has no outcome at all
/// (cordon stopped mid-POST), whose history must be read to learn what happened.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    /// Accepted actions never seen final, with the request record behind each.
    pub actions: Vec<(String, AuditRecord)>,
    /// Request records with no outcome at all.
    pub orphans: Vec<AuditRecord>,
}

pub fn recovery(records: &[AuditRecord], profile: &str) -> Recovery {
    use std::collections::BTreeMap;
    let ours: Vec<AuditRecord> = records
        .iter()
        .filter(|r| r.context.profile == profile)
        .cloned()
        .collect();
    // The latest confirmed status per request (two requests can share one action: a
    // duplicate the service folded into the first), so each gets its final line.
    let mut latest: BTreeMap<(String, u64), (String, String, AuditRecord)> = BTreeMap::new();
    for r in &ours {
        if r.phase == Phase::Outcome
            && r.outcome == Some(Outcome::Confirmed)
            && let (Some(id), Some(status)) = (r.action_id.as_deref(), r.status.as_deref())
        {
            latest.insert(
                (r.run.clone(), r.request_id),
                (id.to_string(), status.to_string(), r.clone()),
            );
        }
    }
    let final_states = ["Succeeded", "Failed", "TimeOut", "Cancelled"];
    let actions = latest
        .into_values()
        .filter(|(_, status, _)| !final_states.contains(&status.as_str()))
        .map(|(id, _, rec)| (id, rec))
        .collect();
    let orphans = AuditLog::unfinished(&ours).into_iter().cloned().collect();
    Recovery { actions, orphans }
}

/// The isolation type of every Isolate action `profile`'s earlier runs created or
/// adopted: the service does not say it (`api::ScopeBook`).
pub fn known_scopes(
    records: &[AuditRecord],
    profile: &str,
) -> Vec<(String, crate::domain::models::IsolationType)> {
    records
        .iter()
        .filter(|r| r.context.profile == profile && r.phase == Phase::Outcome)
        .filter(|r| r.outcome == Some(Outcome::Confirmed))
        .filter_map(|r| {
            let scope = crate::domain::models::IsolationType::parse(r.isolation_type.as_deref()?)?;
            Some((r.action_id.clone()?, scope))
        })
        .collect()
}

fn line_of(rec: &AuditRecord, path: &Path) -> Result<Vec<u8>, AuditError> {
    let mut line = serde_json::to_vec(rec).map_err(|e| AuditError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Whether the cordon process that wrote `run` may still be running on this host: its
/// requests may be in flight right now, so another process must not settle them. The
/// run id ends with the process id; a process that no longer exists settles it. A
/// live process with that id may be another program that reused it: callers also
/// settle requests older than anything a live cordon could still be sending.
pub fn run_may_be_alive(run: &str) -> bool {
    let Some(pid) = run
        .rsplit_once('-')
        .and_then(|(_, pid)| pid.parse::<i32>().ok())
        .filter(|&p| p > 0)
    else {
        return false;
    };
    #[cfg(unix)]
    {
        // Signal 0 checks existence only; EPERM means it exists under another user.
        !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

fn new_run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The OS user running cordon, for the audit record: from the process's uid, never
/// from `$USER`.
pub fn os_user() -> String {
    crate::private_fs::os_user()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::IsolationType;

    fn req(id: u64, machine: &str) -> WriteRequest {
        WriteRequest {
            request_id: id,
            machine_id: machine.into(),
            machine_name: format!("{machine}.contoso.local"),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Full,
            },
            comment: crate::domain::Comment::parse("IR-1").expect("valid comment"),
        }
    }

    #[tokio::test]
    async fn recovery_finds_unfinished_actions_and_orphans_of_this_profile_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let ctx = |profile: &str| AuditContext {
            user: "u".into(),
            profile: profile.into(),
            tenant: "t".into(),
        };
        let log = AuditLog::open(&path, ctx("prod")).unwrap();
        // 1: accepted, then seen final — nothing to recover.
        log.log_request(&req(1, "m1")).await.unwrap();
        log.log_outcome(
            &req(1, "m1"),
            Outcome::Confirmed,
            Some("a1"),
            Some("Pending"),
            None,
        )
        .unwrap();
        log.log_outcome(
            &req(1, "m1"),
            Outcome::Confirmed,
            Some("a1"),
            Some("Succeeded"),
            None,
        )
        .unwrap();
        // 2: accepted, never seen final.
        log.log_request(&req(2, "m2")).await.unwrap();
        log.log_outcome(
            &req(2, "m2"),
            Outcome::Confirmed,
            Some("a2"),
            Some("InProgress"),
            None,
        )
        .unwrap();
        // 3: killed mid-POST: a request line only.
        log.log_request(&req(3, "m3")).await.unwrap();
        // Another profile's orphan is not ours to chase.
        AuditLog::open(&path, ctx("test"))
            .unwrap()
            .log_request(&req(1, "m9"))
            .await
            .unwrap();

        log.flush().await.unwrap();
        let records = AuditLog::read_all(&path).unwrap();
        let r = recovery(&records, "prod");
        assert_eq!(
            r.actions
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["a2"]
        );
        assert_eq!(
            r.orphans
                .iter()
                .map(|o| o.machine_id.as_str())
                .collect::<Vec<_>>(),
            ["m3"]
        );

        // Completing the orphan's pair in a later run ends its recovery.
        let later = AuditLog::open(&path, ctx("prod")).unwrap();
        later
            .log_recovered_outcome(&r.orphans[0], "a3", "Succeeded")
            .unwrap();
        later
            .log_recovered_outcome(&r.actions[0].1, "a2", "Succeeded")
            .unwrap();
        later.flush().await.unwrap();
        let r = recovery(&AuditLog::read_all(&path).unwrap(), "prod");
        assert!(r.actions.is_empty() && r.orphans.is_empty(), "{r:?}");
    }

    #[tokio::test]
    async fn two_requests_answered_by_one_action_each_get_their_final_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(
            &path,
            AuditContext {
                user: "u".into(),
                profile: "prod".into(),
                tenant: "t".into(),
            },
        )
        .unwrap();
        // The service folded the second request into the first one's action.
        for id in [4, 5] {
            log.log_request(&req(id, "m4")).await.unwrap();
            log.log_outcome(
                &req(id, "m4"),
                Outcome::Confirmed,
                Some("a4"),
                Some("Pending"),
                None,
            )
            .unwrap();
        }
        log.flush().await.unwrap();
        let r = recovery(&AuditLog::read_all(&path).unwrap(), "prod");
        let mut pending: Vec<(&str, u64)> = r
            .actions
            .iter()
            .map(|(id, rec)| (id.as_str(), rec.request_id))
            .collect();
        pending.sort();
        assert_eq!(pending, [("a4", 4), ("a4", 5)]);
        // One completed: only the other is still to be followed.
        log.log_recovered_outcome(&r.actions[0].1, "a4", "Succeeded")
            .unwrap();
        log.flush().await.unwrap();
        let r2 = recovery(&AuditLog::read_all(&path).unwrap(), "prod");
        assert_eq!(r2.actions.len(), 1);
        assert_ne!(r2.actions[0].1.request_id, r.actions[0].1.request_id);
    }

    #[test]
    fn records_never_hold_more_than_the_documented_fields() {
        let log = AuditLog::disabled(AuditContext {
            user: "u".into(),
            profile: "p".into(),
            tenant: "t".into(),
        });
        let json = serde_json::to_value(log.request_record(&req(1, "m1"))).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in &keys {
            assert!(
                [
                    "time",
                    "phase",
                    "user",
                    "profile",
                    "tenant",
                    "run",
                    "principal",
                    "request_id",
                    "machine_id",
                    "machine_name",
                    "action",
                    "isolation_type",
                    "comment"
                ]
                .contains(k),
                "unexpected audit field {k}"
            );
        }
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use crate::api::IsolationType;

    fn req(id: u64) -> WriteRequest {
        WriteRequest {
            request_id: id,
            machine_id: format!("m{id}"),
            machine_name: format!("m{id}.contoso.local"),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Full,
            },
            comment: crate::domain::Comment::parse("IR-1").expect("valid comment"),
        }
    }

    /// Issue 10: a request line is on disk when `log_request` returns (the POST may
    /// leave), queued outcome lines are on disk after `flush`, and many writers at
    /// once lose no line and tear none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_lines_are_durable_on_return_and_queued_lines_after_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(
            &path,
            AuditContext {
                user: "u".into(),
                profile: "p".into(),
                tenant: "t".into(),
            },
        )
        .expect("open");
        log.log_request(&req(1)).await.expect("request line");
        assert_eq!(AuditLog::read_all(&path).expect("read").len(), 1);

        let tasks: Vec<_> = (2..202)
            .map(|id| {
                let log = log.clone();
                tokio::spawn(async move {
                    log.log_request(&req(id)).await.expect("request line");
                    log.log_outcome(
                        &req(id),
                        Outcome::Confirmed,
                        Some("a"),
                        Some("Pending"),
                        None,
                    )
                    .expect("queued");
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        log.flush().await.expect("flush");
        let records = AuditLog::read_all(&path).expect("read");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), records.len(), "no torn line");
        assert_eq!(records.len(), 1 + 200 * 2);
        assert_eq!(AuditLog::unfinished(&records).len(), 1, "only request 1");
    }

    /// A write the disk refuses is reported to the waiter, so nothing is sent.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_write_is_reported_to_the_request_that_waits_on_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::disabled(AuditContext {
            user: "u".into(),
            profile: "p".into(),
            tenant: "t".into(),
        });
        // /dev/full refuses every write with ENOSPC.
        let full = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .expect("/dev/full");
        log.writer = Some(Arc::new(writer::Writer::start(full, &path).expect("start")));
        let err = log.log_request(&req(1)).await.expect_err("disk full");
        assert!(
            err.to_string().contains("cannot write the audit log"),
            "{err}"
        );
    }
}
