//! Plans: what a write would send, without sending it. `--dry-run` prints the exact
//! requests (method, path, JSON body) after every pre-check; `--plan FILE` saves them
//! as JSON; `cordon apply FILE` sends a saved plan after showing it and asking once,
//! refusing one made for another profile or tenant, or older than `--max-age`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CliError;
use super::commands::{Output, WriteResult};
use cordon_core::api::IsolationType;
use cordon_core::config::Profile;
use cordon_core::domain::Comment;
use cordon_core::sanitize::clean;
use cordon_core::worker::protocol::{WriteOp, WriteRequest};

/// One request as it would go on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedRequest {
    pub machine: String,
    pub machine_id: String,
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

/// A refusal found while planning (nothing would be sent for it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedRefusal {
    pub machine: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// `cordon-plan/1`.
    pub format: String,
    pub profile: String,
    pub tenant: String,
    pub api_base: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub requests: Vec<PlannedRequest>,
    #[serde(default)]
    pub refused: Vec<PlannedRefusal>,
}

const FORMAT: &str = "cordon-plan/1";

fn wire(req: &WriteRequest) -> PlannedRequest {
    let (path, body) = match &req.op {
        WriteOp::Isolate { isolation_type } => (
            format!("/api/machines/{}/isolate", req.machine_id),
            serde_json::json!({"Comment": req.comment.as_str(), "IsolationType": isolation_type.as_str()}),
        ),
        WriteOp::Unisolate => (
            format!("/api/machines/{}/unisolate", req.machine_id),
            serde_json::json!({"Comment": req.comment.as_str()}),
        ),
        WriteOp::Cancel { action_id } => (
            format!("/api/machineactions/{action_id}/cancel"),
            serde_json::json!({"Comment": req.comment.as_str()}),
        ),
    };
    PlannedRequest {
        machine: req.machine_name.clone(),
        machine_id: req.machine_id.clone(),
        method: "POST".into(),
        path,
        body,
    }
}

/// The plan for these requests (and the refusals the pre-checks found).
pub fn make(
    profile: &Profile,
    requests: &[WriteRequest],
    refused: &[(WriteRequest, WriteResult)],
) -> Plan {
    let mut plan = make_for(
        &profile.name,
        &profile.tenant_id,
        &profile.api_base,
        requests,
        chrono::Utc::now(),
    );
    plan.refused = refusals(refused);
    plan
}

/// A plan with no refusals, for the console (`p` in the confirmation).
pub fn make_for(
    profile: &str,
    tenant: &str,
    api_base: &str,
    requests: &[WriteRequest],
    created: chrono::DateTime<chrono::Utc>,
) -> Plan {
    Plan {
        format: FORMAT.into(),
        profile: profile.to_string(),
        tenant: tenant.to_string(),
        api_base: api_base.to_string(),
        created,
        requests: requests.iter().map(wire).collect(),
        refused: Vec::new(),
    }
}

fn refusals(refused: &[(WriteRequest, WriteResult)]) -> Vec<PlannedRefusal> {
    refused
        .iter()
        .map(|(req, r)| {
            let (code, message) = match r {
                WriteResult::Failed(e) => (e.code.clone(), e.message.clone()),
                WriteResult::AlreadyActive(a) => (
                    "ActiveRequestAlreadyExists".into(),
                    format!(
                        "an {} action is already {}",
                        a.action_type.as_str(),
                        a.status.as_str()
                    ),
                ),
                WriteResult::Accepted(_) => ("Accepted".into(), String::new()),
            };
            PlannedRefusal {
                machine: req.machine_name.clone(),
                code,
                message,
            }
        })
        .collect()
}

/// The plan as the terminal shows it: one line per request, then the refusals.
pub fn show(plan: &Plan) -> String {
    let mut out = format!(
        "Plan for profile {} (tenant {}), made {}: {} request(s) would be sent.\n",
        clean(&plan.profile),
        clean(&plan.tenant),
        plan.created
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plan.requests.len()
    );
    for r in &plan.requests {
        out.push_str(&format!(
            "  {} {}  {}  # {}\n",
            r.method,
            clean(&r.path),
            clean(&r.body.to_string()),
            clean(&r.machine)
        ));
    }
    for r in &plan.refused {
        out.push_str(&format!(
            "  not sent: {}: {} ({})\n",
            clean(&r.machine),
            clean(&r.message),
            clean(&r.code)
        ));
    }
    out
}

/// `--dry-run` (and `--plan FILE`): print the plan, or its JSON; write it to `file`.
pub fn dry_run(plan: &Plan, json: bool, file: Option<&Path>) -> Result<Output, CliError> {
    let text = serde_json::to_string_pretty(plan)
        .map_err(|e| CliError::Failed(format!("cannot encode the plan: {e}")))?;
    if let Some(path) = file {
        cordon_core::private_fs::write_private(path, text.as_bytes()).map_err(|e| {
            CliError::Usage(format!("cannot write the plan to {}: {e}", path.display()))
        })?;
    }
    let mut stdout = if json {
        format!("{text}\n")
    } else {
        show(plan)
    };
    if let Some(path) = file
        && !json
    {
        stdout.push_str(&format!(
            "Saved to {}; send it with: cordon apply {}\n",
            path.display(),
            path.display()
        ));
    }
    Ok(Output {
        stdout,
        exit_code: 0,
    })
}

/// Read a saved plan and check it is this profile's and fresh enough.
pub fn load(path: &Path, profile: &Profile, max_age: chrono::Duration) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read the plan {} ({e})", path.display())))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a cordon plan ({e}); make one with --plan FILE",
            path.display()
        ))
    })?;
    if plan.format != FORMAT {
        return Err(CliError::Usage(format!(
            "the plan's format is {}, not {FORMAT}; make it again",
            clean(&plan.format)
        )));
    }
    if plan.profile != profile.name || plan.tenant != profile.tenant_id {
        return Err(CliError::Usage(format!(
            "the plan was made for profile {} (tenant {}), not {} (tenant {}); nothing was sent",
            clean(&plan.profile),
            clean(&plan.tenant),
            clean(&profile.name),
            clean(&profile.tenant_id)
        )));
    }
    let age = chrono::Utc::now() - plan.created;
    if age > max_age {
        return Err(CliError::Usage(format!(
            "the plan is {} min old, older than --max-age ({} min): the machines may have changed; make it again",
            age.num_minutes(),
            max_age.num_minutes()
        )));
    }
    Ok(plan)
}

/// The write requests a plan stands for, checked again (a hand-edited plan gets the
/// same comment rule and path shapes as a typed command).
pub fn requests(plan: &Plan) -> Result<Vec<WriteRequest>, CliError> {
    plan.requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let bad = |why: &str| {
                CliError::Usage(format!(
                    "request {} of the plan ({}) {why}; make the plan again",
                    i + 1,
                    clean(&r.machine)
                ))
            };
            let comment = r.body["Comment"]
                .as_str()
                .ok_or_else(|| bad("has no Comment"))?;
            let comment = Comment::parse(comment).map_err(|e| bad(&e.to_string()))?;
            let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
            let op = match segments.as_slice() {
                ["api", "machines", id, "isolate"] if *id == r.machine_id => WriteOp::Isolate {
                    isolation_type: r.body["IsolationType"]
                        .as_str()
                        .and_then(IsolationType::parse)
                        .ok_or_else(|| bad("has no valid IsolationType"))?,
                },
                ["api", "machines", id, "unisolate"] if *id == r.machine_id => WriteOp::Unisolate,
                ["api", "machineactions", action, "cancel"] => WriteOp::Cancel {
                    action_id: (*action).to_string(),
                },
                _ => return Err(bad("has a path cordon does not send")),
            };
            Ok(WriteRequest {
                request_id: i as u64 + 1,
                machine_id: r.machine_id.clone(),
                machine_name: r.machine.clone(),
                op,
                comment,
            })
        })
        .collect()
}

/// `--max-age`: a span such as `30m`, `2h`, `1d`.
pub fn parse_max_age(value: &str) -> Result<chrono::Duration, CliError> {
    let v = value.trim();
    let (digits, unit) = v.split_at(v.len().saturating_sub(1));
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| match unit {
            "m" => chrono::Duration::try_minutes(n),
            "h" => chrono::Duration::try_hours(n),
            "d" => chrono::Duration::try_days(n),
            _ => None,
        })
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--max-age '{}' is not a span such as 30m, 2h or 1d",
                clean(v)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_round_trips_to_the_same_requests_and_refuses_a_tampered_path() {
        let profile = cordon_core::config::Profile {
            name: "p".into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            auth: cordon_core::config::Auth::AzureCli,
            ca_file: None,
            proxy: None,
            cloud: cordon_core::config::Cloud::Commercial,
            api_base: "https://api.securitycenter.microsoft.com".into(),
            authority: "https://login.microsoftonline.com".into(),
            scope: "https://api.securitycenter.microsoft.com/.default".into(),
            readonly: false,
            protected: false,
            protected_tags: Vec::new(),
            comment_rule: Default::default(),
            comment_template: None,
            color: None,
        };
        let reqs = vec![WriteRequest {
            request_id: 1,
            machine_id: "a".repeat(40),
            machine_name: "ws-1".into(),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Selective,
            },
            comment: Comment::parse("IR-9").expect("comment"),
        }];
        let plan = make(&profile, &reqs, &[]);
        assert_eq!(
            plan.requests[0].path,
            format!("/api/machines/{}/isolate", "a".repeat(40))
        );
        assert_eq!(
            plan.requests[0].body,
            serde_json::json!({"Comment": "IR-9", "IsolationType": "Selective"})
        );
        assert_eq!(requests(&plan).expect("valid"), reqs);
        let mut tampered = plan.clone();
        tampered.requests[0].path = format!("/api/machines/{}/isolate", "b".repeat(40));
        assert!(requests(&tampered).is_err(), "a path for another machine");
    }
}
