//! Which machine actions a question is about, with constructors named for the questions
//! cordon asks, so "the isolation actions" is written once.

/// The action types that decide whether a machine is isolated.
pub const ISOLATION_TYPES: [&str; 2] = ["Isolate", "Unisolate"];
/// The statuses in which the service may still act on an action.
pub const ACTIVE_STATUSES: [&str; 2] = ["Pending", "InProgress"];

/// A `$filter` on `/api/machineactions`. Every field narrows; lists match any of their
/// values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    pub machine_id: Option<String>,
    /// Matches any of these machines (batched pre-checks of a bulk action).
    pub machine_ids: Vec<String>,
    /// Matches any of these action ids (batched polling).
    pub ids: Vec<String>,
    /// Matches any of these types, e.g. `["Isolate", "Unisolate"]`.
    pub types: Vec<String>,
    /// Matches any of these statuses, e.g. `["Pending", "InProgress"]`.
    pub statuses: Vec<String>,
    /// Created at or after this instant.
    pub created_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl ActionFilter {
    /// Every action of one machine (its history).
    pub fn history_of(machine_id: &str) -> Self {
        Self {
            machine_id: Some(machine_id.to_string()),
            ..Self::default()
        }
    }

    /// The isolation actions of the whole tenant (isolation states of a listing).
    pub fn isolation() -> Self {
        Self {
            types: ISOLATION_TYPES.map(String::from).to_vec(),
            ..Self::default()
        }
    }

    /// The isolation actions of one machine (the pre-check of a write).
    pub fn isolation_of(machine_id: &str) -> Self {
        Self {
            machine_id: Some(machine_id.to_string()),
            ..Self::isolation()
        }
    }

    /// The isolation actions of any of these machines (the batched pre-check of a bulk).
    pub fn isolation_of_any(machine_ids: Vec<String>) -> Self {
        Self {
            machine_ids,
            ..Self::isolation()
        }
    }

    /// These actions, by id.
    pub fn by_ids(ids: Vec<String>) -> Self {
        Self {
            ids,
            ..Self::default()
        }
    }

    /// Actions of these types the service may still act on (one poll covers them all).
    pub fn active_of_types(types: Vec<String>) -> Self {
        Self {
            types,
            statuses: ACTIVE_STATUSES.map(String::from).to_vec(),
            ..Self::default()
        }
    }

    /// The OData `$filter` expression, or None when nothing is filtered.
    pub fn to_odata(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(id) = &self.machine_id {
            parts.push(format!("machineId eq '{}'", odata_quote(id)));
        }
        if !self.machine_ids.is_empty() {
            parts.push(any_of("machineId", &self.machine_ids));
        }
        if !self.ids.is_empty() {
            parts.push(any_of("id", &self.ids));
        }
        if !self.types.is_empty() {
            parts.push(any_of("type", &self.types));
        }
        if !self.statuses.is_empty() {
            parts.push(any_of("status", &self.statuses));
        }
        if let Some(t) = self.created_since {
            // An OData datetime literal is written bare, not quoted.
            parts.push(format!(
                "creationDateTimeUtc ge {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(" and "))
        }
    }
}

fn any_of(field: &str, values: &[String]) -> String {
    let alts: Vec<String> = values
        .iter()
        .map(|v| format!("{field} eq '{}'", odata_quote(v)))
        .collect();
    if alts.len() == 1 {
        alts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", alts.join(" or "))
    }
}

/// Escape a string literal for OData: a single quote is doubled.
pub fn odata_quote(s: &str) -> String {
    s.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_questions_become_odata() {
        assert_eq!(
            ActionFilter::isolation_of("m'1").to_odata().as_deref(),
            Some("machineId eq 'm''1' and (type eq 'Isolate' or type eq 'Unisolate')")
        );
        let since = chrono::DateTime::parse_from_rfc3339("2026-11-30T08:00:00.5Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let f = ActionFilter {
            statuses: vec!["Failed".into()],
            created_since: Some(since),
            ..ActionFilter::default()
        };
        assert_eq!(
            f.to_odata().as_deref(),
            Some("status eq 'Failed' and creationDateTimeUtc ge 2026-11-30T08:00:00Z")
        );
        assert_eq!(ActionFilter::default().to_odata(), None);
    }
}
