//! The service's entities (docs/mde-api.md §4) as cordon reasons about them: machines,
//! machine actions, their types and statuses, and the isolation state they add up to.
//! Shared by the client and the simulator so both sides agree on the wire format.
//!
//! Every quirk in docs/mde-api.md §7 is absorbed here: optional fields, string-or-number
//! ids, `lastUpdateTimeUtc` vs `lastUpdateDateTimeUtc`, `"None"` vs null, unknown enum
//! values kept as `Other(String)`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A device as `GET /api/machines` returns it. Only `id` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default)]
    pub first_seen: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub os_platform: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub os_processor: Option<String>,
    #[serde(default)]
    pub os_architecture: Option<String>,
    #[serde(default, deserialize_with = "string_or_number_opt")]
    pub version: Option<String>,
    #[serde(default)]
    pub os_build: Option<i64>,
    #[serde(default)]
    pub last_ip_address: Option<String>,
    #[serde(default)]
    pub last_external_ip_address: Option<String>,
    #[serde(default)]
    pub health_status: Option<String>,
    /// Documented as a string; every real sample is a number.
    #[serde(default, deserialize_with = "string_or_number_opt")]
    pub rbac_group_id: Option<String>,
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    /// `"None"` (a value) is distinct from JSON null (absent).
    #[serde(default)]
    pub risk_score: Option<String>,
    #[serde(default)]
    pub exposure_level: Option<String>,
    #[serde(default)]
    pub device_value: Option<String>,
    /// Docs spell it `onboardingstatus`; data uses `Onboarded` or `onboarded`.
    #[serde(default, alias = "onboardingstatus")]
    pub onboarding_status: Option<String>,
    #[serde(default)]
    pub is_aad_joined: Option<bool>,
    #[serde(default)]
    pub aad_device_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub machine_tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub defender_av_status: Option<String>,
}

impl Machine {
    /// The name an analyst knows the machine by: its DNS name, or its id when the
    /// name is missing or empty.
    pub fn display_name(&self) -> &str {
        match self.computer_dns_name.as_deref() {
            Some(name) if !name.trim().is_empty() => name,
            _ => &self.id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub operational_status: Option<String>,
}

/// A machine action (isolate, unisolate, scan, …) as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    pub id: String,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub requestor: Option<String>,
    #[serde(default)]
    pub requestor_comment: Option<String>,
    pub status: ActionStatus,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default)]
    pub creation_date_time_utc: Option<String>,
    /// Real bodies say `lastUpdateDateTimeUtc`; the docs' list example says `lastUpdateTimeUtc`.
    #[serde(default, alias = "lastUpdateTimeUtc")]
    pub last_update_date_time_utc: Option<String>,
    #[serde(default)]
    pub cancellation_requestor: Option<String>,
    #[serde(default)]
    pub cancellation_comment: Option<String>,
    #[serde(default)]
    pub cancellation_date_time_utc: Option<String>,
    #[serde(default)]
    pub error_h_result: Option<i64>,
    /// Documented as Full/Selective for isolation, but null on every real isolate
    /// action seen; cordon fills it for the actions it sent (`api::ScopeBook`).
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub request_source: Option<String>,
}

impl MachineAction {
    pub fn is_isolation(&self) -> bool {
        matches!(
            self.action_type,
            ActionType::Isolate | ActionType::Unisolate
        )
    }

    /// Full or Selective, for an Isolate whose `scope` says so (the docs' casing or
    /// any other: a real service varies it).
    pub fn isolation_scope(&self) -> Option<IsolationType> {
        if self.action_type != ActionType::Isolate {
            return None;
        }
        IsolationType::parse(self.scope.as_deref()?)
    }
}

/// Action types. Unknown values (the portal creates others) are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActionType {
    Isolate,
    Unisolate,
    RunAntiVirusScan,
    Offboard,
    LiveResponse,
    CollectInvestigationPackage,
    StopAndQuarantineFile,
    RestrictCodeExecution,
    UnrestrictCodeExecution,
    Other(String),
}

impl ActionType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Isolate => "Isolate",
            Self::Unisolate => "Unisolate",
            Self::RunAntiVirusScan => "RunAntiVirusScan",
            Self::Offboard => "Offboard",
            Self::LiveResponse => "LiveResponse",
            Self::CollectInvestigationPackage => "CollectInvestigationPackage",
            Self::StopAndQuarantineFile => "StopAndQuarantineFile",
            Self::RestrictCodeExecution => "RestrictCodeExecution",
            Self::UnrestrictCodeExecution => "UnrestrictCodeExecution",
            Self::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "Isolate" => Self::Isolate,
            "Unisolate" => Self::Unisolate,
            "RunAntiVirusScan" => Self::RunAntiVirusScan,
            "Offboard" => Self::Offboard,
            // The older docs wrote "Live Response" with a space.
            "LiveResponse" | "Live Response" => Self::LiveResponse,
            "CollectInvestigationPackage" => Self::CollectInvestigationPackage,
            "StopAndQuarantineFile" => Self::StopAndQuarantineFile,
            "RestrictCodeExecution" => Self::RestrictCodeExecution,
            "UnrestrictCodeExecution" => Self::UnrestrictCodeExecution,
            other => Self::Other(other.to_string()),
        }
    }
}

impl Serialize for ActionType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// Action status. Final states: Succeeded, Failed, TimeOut, Cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
    Other(String),
}

impl ActionStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimeOut => "TimeOut",
            Self::Cancelled => "Cancelled",
            Self::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "Pending" => Self::Pending,
            "InProgress" => Self::InProgress,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            "TimeOut" => Self::TimeOut,
            "Cancelled" => Self::Cancelled,
            other => Self::Other(other.to_string()),
        }
    }

    /// Pending or InProgress: the service may still act on it.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }

    /// A final state: nothing will change any more. Unknown values are treated as
    /// not final so that they keep being polled rather than silently dropped.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimeOut | Self::Cancelled
        )
    }
}

impl Serialize for ActionStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// The `IsolationType` body value, in the exact casing the service requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum IsolationType {
    #[default]
    Full,
    Selective,
    UnManagedDevice,
}

impl IsolationType {
    pub const ALL: [IsolationType; 3] = [Self::Full, Self::Selective, Self::UnManagedDevice];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "Full",
            Self::Selective => "Selective",
            Self::UnManagedDevice => "UnManagedDevice",
        }
    }

    /// The type a text names, in any casing (the service's `scope`, the audit log).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The next type in the Tab cycle of the comment modal.
    pub fn next(self) -> Self {
        match self {
            Self::Full => Self::Selective,
            Self::Selective => Self::UnManagedDevice,
            Self::UnManagedDevice => Self::Full,
        }
    }
}

/// The isolation state of a machine, derived from its most recent Isolate/Unisolate
/// action (the Machine entity has no such field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsolationState {
    /// Full or Selective when known: the service leaves the action's `scope` null, so
    /// it is known only for actions cordon sent (see `api::ScopeBook`).
    Isolated(Option<IsolationType>),
    Isolating(Option<IsolationType>),
    Releasing,
    NotIsolated,
    /// The newest isolation action ended Failed or TimeOut (or in a status this build
    /// does not know): nobody can vouch for the machine's state.
    Unknown(Option<Unverified>),
}

/// Which isolation action left a machine `Unknown`, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unverified {
    /// An Unisolate (release) rather than an Isolate.
    pub release: bool,
    /// TimeOut rather than Failed.
    pub timed_out: bool,
}

impl IsolationState {
    /// The state's one word, stable for scripts (`isolationState` in JSON).
    pub fn label(self) -> &'static str {
        match self {
            Self::Isolated(_) => "Isolated",
            Self::Isolating(_) => "Isolating",
            Self::Releasing => "Releasing",
            Self::NotIsolated => "Not isolated",
            Self::Unknown(_) => "Unknown",
        }
    }

    /// Full or Selective, where known.
    pub fn scope(self) -> Option<IsolationType> {
        match self {
            Self::Isolated(scope) | Self::Isolating(scope) => scope,
            _ => None,
        }
    }

    /// What a person reads: `Isolated (Selective)`, `Isolate failed`, `Release timed out`.
    pub fn describe(self) -> String {
        match self {
            Self::Isolated(Some(t)) | Self::Isolating(Some(t)) => {
                format!("{} ({})", self.label(), t.as_str())
            }
            Self::Unknown(Some(u)) => u.describe().to_string(),
            other => other.label().to_string(),
        }
    }

    /// The same in at most 15 columns, for the machine list.
    pub fn short(self) -> &'static str {
        match self {
            Self::Isolated(Some(IsolationType::Full)) => "Isolated (Full)",
            Self::Isolated(Some(IsolationType::Selective)) => "Isolated (Sel.)",
            Self::Isolated(Some(IsolationType::UnManagedDevice)) => "Isolated (Unm.)",
            Self::Unknown(Some(u)) => u.short(),
            other => other.label(),
        }
    }

    /// Isolated or on the way there: a second Isolate would change nothing.
    pub fn is_isolated(self) -> bool {
        matches!(self, Self::Isolated(_) | Self::Isolating(_))
    }

    /// Derive the state from a machine's actions (any order, any types).
    ///
    /// The newest Isolate/Unisolate decides. A Cancelled one never took effect, so the
    /// one before it decides. Failed or TimeOut leaves the device in a state nobody can
    /// vouch for: Unknown, so the analyst looks at the history. No isolation action
    /// at all means the device was never isolated.
    pub fn derive<'a>(actions: impl IntoIterator<Item = &'a MachineAction>) -> Self {
        let mut isolation: Vec<&MachineAction> =
            actions.into_iter().filter(|a| a.is_isolation()).collect();
        crate::domain::newest_first(&mut isolation);
        for action in isolation {
            let isolate = action.action_type == ActionType::Isolate;
            let scope = action.isolation_scope();
            return match (&action.status, isolate) {
                (ActionStatus::Cancelled, _) => continue,
                (ActionStatus::Pending | ActionStatus::InProgress, true) => Self::Isolating(scope),
                (ActionStatus::Pending | ActionStatus::InProgress, false) => Self::Releasing,
                (ActionStatus::Succeeded, true) => Self::Isolated(scope),
                (ActionStatus::Succeeded, false) => Self::NotIsolated,
                (ActionStatus::Failed, _) => Self::Unknown(Some(Unverified {
                    release: !isolate,
                    timed_out: false,
                })),
                (ActionStatus::TimeOut, _) => Self::Unknown(Some(Unverified {
                    release: !isolate,
                    timed_out: true,
                })),
                (ActionStatus::Other(_), _) => Self::Unknown(None),
            };
        }
        Self::NotIsolated
    }
}

impl Unverified {
    pub fn describe(self) -> &'static str {
        match (self.release, self.timed_out) {
            (false, false) => "Isolate failed",
            (false, true) => "Isolate timed out",
            (true, false) => "Release failed",
            (true, true) => "Release timed out",
        }
    }

    fn short(self) -> &'static str {
        match (self.release, self.timed_out) {
            (false, false) => "Isolate failed",
            (false, true) => "Isolate TimeOut",
            (true, false) => "Release failed",
            (true, true) => "Release TimeOut",
        }
    }
}

/// Parse an API DateTimeOffset (ISO 8601, up to 7 fractional digits). Text comparison
/// is wrong when the number of fractional digits differs, so compare parsed instants.
pub fn parse_time(s: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Accept `"140"`, `140` or null for fields documented as strings but sent as numbers.
fn string_or_number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        Str(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Option::<StrOrNum>::deserialize(d)? {
        None => None,
        Some(StrOrNum::Str(s)) => Some(s),
        Some(StrOrNum::Int(n)) => Some(n.to_string()),
        Some(StrOrNum::Float(f)) => Some(f.to_string()),
    })
}

fn null_as_empty_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
