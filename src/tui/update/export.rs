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
    export_to(state, None)
}

/// Export to `file` (`:export FILE`): JSON when it ends in `.json`, else CSV; without a
/// file, CSV under a name that says what and when.
pub(super) fn export_to(state: &State, file: Option<&str>) -> Effect {
    let (what, headers, rows) = match state.focus {
        Pane::History => history(state),
        Pane::Machines => machines(state),
    };
    let json = file.is_some_and(|f| f.to_ascii_lowercase().ends_with(".json"));
    let text = if json {
        to_json(&headers, &rows)
    } else {
        to_csv(&headers, &rows)
    };
    Effect::Export {
        path: PathBuf::from(
            file.map(str::to_string)
                .unwrap_or_else(|| file_name(state, what, "csv")),
        ),
        text,
        rows: rows.len(),
    }
}

/// `cordon-PROFILE-WHAT-TIMESTAMP.EXT`: what and when, and a profile name made safe
/// for a file name.
pub(super) fn file_name(state: &State, what: &str, ext: &str) -> String {
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
    format!(
        "cordon-{profile}-{what}-{}.{ext}",
        state.now.format("%Y%m%dT%H%M%S")
    )
}

fn to_csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut text = line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        text.push_str(&line(&row.iter().map(|c| cell(c)).collect::<Vec<_>>()));
    }
    text
}

/// One JSON object per row, the headers as keys; text cleaned like every cell.
fn to_json(headers: &[&str], rows: &[Vec<String>]) -> String {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let map: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .zip(row)
                .map(|(h, v)| (h.to_string(), clean(v).into_owned().into()))
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&values).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

fn machines(state: &State) -> Table {
    let m = &state.machines;
    let headers = vec![
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
    ];
    let rows = m
        .visible
        .iter()
        .map(|&i| {
            let row = &m.rows()[i];
            let s = &row.machine;
            let opt = |v: Option<&str>| v.unwrap_or("").to_string();
            vec![
                s.display_name().to_string(),
                s.id().to_string(),
                opt(s.os_platform()),
                opt(s.health_status()),
                opt(s.risk_score()),
                opt(s.exposure_level()),
                row.isolation.map(|st| st.describe()).unwrap_or_default(),
                opt(s.last_seen()),
                opt(s.last_ip_address()),
                s.machine_tags().collect::<Vec<_>>().join(";"),
            ]
        })
        .collect();
    ("machines", headers, rows)
}

fn history(state: &State) -> Table {
    let headers = vec![
        "creationDateTimeUtc",
        "type",
        "scope",
        "status",
        "requestor",
        "requestorComment",
        "lastUpdateDateTimeUtc",
        "id",
        "machineId",
    ];
    let rows = state
        .history
        .entries()
        .iter()
        .map(|a| {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            vec![
                opt(&a.creation_date_time_utc),
                a.action_type.as_str().to_string(),
                a.isolation_scope()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                a.status.as_str().to_string(),
                opt(&a.requestor),
                opt(&a.requestor_comment),
                opt(&a.last_update_date_time_utc),
                a.id.clone(),
                opt(&a.machine_id),
            ]
        })
        .collect();
    ("history", headers, rows)
}
