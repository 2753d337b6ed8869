//! Plain-text tables for the subcommands. Every API string is sanitised first.

use cordon_core::api::models::{IsolationState, Machine, MachineAction};
use cordon_core::sanitize::clean_truncated;

/// Left-aligned columns separated by two spaces; widths from the widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            let pad = widths[i].saturating_sub(cell.width());
            s.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn cell(s: Option<&str>, max: usize) -> String {
    match s {
        Some(v) if !v.is_empty() => clean_truncated(v, max),
        _ => "-".to_string(),
    }
}

pub fn machines_table(machines: &[(Machine, IsolationState)]) -> String {
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|(m, state)| {
            vec![
                clean_truncated(m.display_name(), 48),
                cell(m.os_platform.as_deref(), 20),
                cell(m.health_status.as_deref(), 20),
                cell(m.risk_score.as_deref(), 14),
                cell(m.exposure_level.as_deref(), 10),
                state.describe(),
                cell(m.last_seen.as_deref(), 20),
                clean_truncated(&m.id, 40),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "OS",
            "HEALTH",
            "RISK",
            "EXPOSURE",
            "ISOLATION",
            "LAST SEEN",
            "ID",
        ],
        &rows,
    )
}

pub fn actions_table(actions: &[MachineAction]) -> String {
    let rows: Vec<Vec<String>> = actions
        .iter()
        .map(|a| {
            vec![
                cell(a.creation_date_time_utc.as_deref(), 24),
                match a.isolation_scope() {
                    Some(t) => format!("Isolate ({})", t.as_str()),
                    None => clean_truncated(a.action_type.as_str(), 28),
                },
                clean_truncated(a.status.as_str(), 12),
                cell(a.computer_dns_name.as_deref(), 40),
                cell(a.requestor.as_deref(), 32),
                cell(a.requestor_comment.as_deref(), 60),
                clean_truncated(&a.id, 36),
            ]
        })
        .collect();
    table(
        &[
            "CREATED",
            "TYPE",
            "STATUS",
            "MACHINE",
            "REQUESTOR",
            "COMMENT",
            "ACTION ID",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_wide_characters() {
        let t = table(
            &["A", "B"],
            &[
                vec!["東京".to_string(), "x".to_string()],
                vec!["ab".to_string(), "y".to_string()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "A     B");
        assert_eq!(lines[1], "東京  x");
        assert_eq!(lines[2], "ab    y");
    }

    #[test]
    fn hostile_cells_are_cleaned() {
        let m = Machine {
            id: "abc".into(),
            computer_dns_name: Some("\u{1b}]0;pwned\u{7}evil\u{1b}[31m".into()),
            ..Machine::default()
        };
        let out = machines_table(&[(m, IsolationState::Unknown(None))]);
        assert!(!out.contains('\u{1b}'));
        assert!(out.contains("evil"));
    }
}
