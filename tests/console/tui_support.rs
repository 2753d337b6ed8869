//! Deterministic fixtures shared by the tui_* tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cordon::tui::action::{Action, Effect, UserAction};
use cordon::tui::state::{ProfileInfo, State};
use cordon::tui::update::update;
use cordon_core::api::MachineSummary;
use cordon_core::api::models::{ActionStatus, ActionType, IpAddress, Machine, MachineAction};
use cordon_core::worker::protocol::WorkerEvent;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn machine(i: usize) -> Machine {
    Machine {
        id: format!("m{i:06}"),
        computer_dns_name: Some(format!("ws-{i:02}.contoso.local")),
        last_seen: Some(iso(now() - Duration::minutes(i as i64 * 37))),
        os_platform: Some(if i % 3 == 0 { "Linux" } else { "Windows11" }.into()),
        health_status: Some(if i % 4 == 0 { "Inactive" } else { "Active" }.into()),
        risk_score: Some(["None", "Low", "Medium", "High"][i % 4].into()),
        exposure_level: Some(["Low", "Medium", "High"][i % 3].into()),
        last_ip_address: Some(format!("10.0.{}.{}", i / 250, i % 250)),
        ip_addresses: vec![IpAddress {
            ip_address: Some(format!("192.168.{}.{}", i / 250, i % 250)),
            ..Default::default()
        }],
        machine_tags: if i % 5 == 0 {
            vec!["ward-7".into()]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

pub fn machines(n: usize) -> Vec<Machine> {
    (0..n).map(machine).collect()
}

pub fn action(
    id: &str,
    machine_id: &str,
    kind: ActionType,
    status: ActionStatus,
    minutes_ago: i64,
    comment: &str,
) -> MachineAction {
    MachineAction {
        id: id.into(),
        action_type: kind,
        title: None,
        requestor: Some("analyst@contoso.com".into()),
        requestor_comment: Some(comment.into()),
        status,
        machine_id: Some(machine_id.into()),
        computer_dns_name: None,
        creation_date_time_utc: Some(iso(now() - Duration::minutes(minutes_ago))),
        last_update_date_time_utc: Some(iso(now() - Duration::minutes(minutes_ago - 1))),
        cancellation_requestor: None,
        cancellation_comment: None,
        cancellation_date_time_utc: None,
        error_h_result: None,
        scope: None,
        external_id: None,
        request_source: None,
    }
}

pub fn info(readonly: bool) -> ProfileInfo {
    ProfileInfo {
        profile: "prod-eu".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        cloud: "commercial".into(),
        api_base: "https://api.securitycenter.microsoft.com".into(),
        readonly,
        audit_path: Some("/var/lib/cordon/audit.jsonl".into()),
        protected: false,
        protected_tags: vec!["domain-controller".into()],
        comment_rule: Default::default(),
        comment_template: None,
        profiles: Vec::new(),
    }
}

/// A state of the given size with `n` machines loaded in one generation.
pub fn loaded(n: usize, width: u16, height: u16, readonly: bool) -> State {
    let mut s = State::new(info(readonly), now());
    update(&mut s, Action::Resize { width, height });
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    feed(
        &mut s,
        WorkerEvent::MachinesPage {
            generation: 1,
            machines: summaries(machines(n)),
            first: true,
        },
    );
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 1,
            total: n,
        },
    );
    s
}

pub fn feed(s: &mut State, ev: WorkerEvent) -> Vec<Effect> {
    update(s, Action::Worker(ev))
}

pub fn user(s: &mut State, a: UserAction) -> Vec<Effect> {
    update(s, Action::User(a))
}

pub fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, Action::Text(tui_input::InputRequest::InsertChar(c)));
    }
}

/// The compact form the worker sends for a page of machines.
pub fn summaries(machines: impl IntoIterator<Item = Machine>) -> Vec<MachineSummary> {
    machines.into_iter().map(MachineSummary::from).collect()
}
