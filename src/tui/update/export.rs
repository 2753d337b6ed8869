//! `x`: export what the focused pane shows — the machine list as filtered and sorted,
//! or the selected machine's history — to a CSV file in the directory cordon was
//! started in (0600). Building the text is pure; the runner writes it (`Effect::Export`)
//! and reports back (`Action::Exported`).

use std::path::PathBuf;

use crate::tui::action::Effect;
use crate::tui::state::{Pane, State};
use cordon_core::sanitize::clean;

/// One RFC 4180 cell: cleaned, quoted when it holds a comma, quote or line break; a
/// leading `=`, `+`, `-` or `@` gets a `'`, so a hostile name cannot become a formula
/// in a spreadsheet.
fn cell(raw: &str) -> String {
    let mut text = clean(raw).into_owned();
    if text.starts_with(['=', '+', '-', '@']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn line(cells: &[String]) -> String {
    let mut s = cells.join(",");
    s.push('\n');
    s
}

pub(super) fn export(state: &State) -> Effect {
    let stamp = state.now.format("%Y%m%dT%H%M%S");
    let profile: String = state
        .info
        .profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (what, text, rows) = match state.focus {
        Pane::History => history(state),
        Pane::Machines => machines(state),
    };
    Effect::Export {
        path: PathBuf::from(format!("cordon-{profile}-{what}-{stamp}.csv")),
        text,
        rows,
    }
}

fn machines(state: &State) -> (&'static str, String, usize) {
    let m = &state.machines;
    let mut text = line(
        &[
            "computerDnsName",
            "id",
            "osPlatform",
            "healthStatus",
            "riskScore",
            "exposureLevel",
            "isolation",
            "lastSeen",
            "lastIpAddress",
            "machineTags",
        ]
        .map(String::from),
    );
    for &i in &m.visible {
        let row = &m.rows[i];
        let s = &row.machine;
        let opt = |v: Option<&str>| cell(v.unwrap_or(""));
        text.push_str(&line(&[
            cell(s.display_name()),
            cell(s.id()),
            opt(s.os_platform()),
            opt(s.health_status()),
            opt(s.risk_score()),
            opt(s.exposure_level()),
            cell(&row.isolation.map(|st| st.describe()).unwrap_or_default()),
            opt(s.last_seen()),
            opt(s.last_ip_address()),
            cell(&s.machine_tags().collect::<Vec<_>>().join(";")),
        ]));
    }
    ("machines", text, m.visible.len())
}

fn history(state: &State) -> (&'static str, String, usize) {
    let entries = state.history.entries();
    let mut text = line(
        &[
            "creationDateTimeUtc",
            "type",
            "scope",
            "status",
            "requestor",
            "requestorComment",
            "lastUpdateDateTimeUtc",
            "id",
            "machineId",
        ]
        .map(String::from),
    );
    for a in entries {
        let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
        text.push_str(&line(&[
            opt(&a.creation_date_time_utc),
            cell(a.action_type.as_str()),
            cell(a.isolation_scope().map(|t| t.as_str()).unwrap_or("")),
            cell(a.status.as_str()),
            opt(&a.requestor),
            opt(&a.requestor_comment),
            opt(&a.last_update_date_time_utc),
            cell(&a.id),
            opt(&a.machine_id),
        ]));
    }
    ("history", text, entries.len())
}
