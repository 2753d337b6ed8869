//! What the filter box understands: free words (each must appear in the name, id, IP
//! or tags) and `field:value` terms — `os:linux`, `health:inactive`, `risk:high`,
//! `exposure:low`, `tag:ward-7`, `ip:10.1.`, `name:ws-hr`, and `iso:` (alias `state:`)
//! for the isolation state: `iso:isolated`, `iso:not`, `iso:failed`, `iso:selective`.
//! All terms must match. Matching ignores case; text fields match anywhere, `iso:`
//! values match the start of a state word, so typing more only ever narrows.

use cordon_core::api::MachineSummary;
use cordon_core::api::models::{IsolationState, IsolationType};

use super::search::SearchKeys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Os,
    Health,
    Risk,
    Exposure,
    Tag,
    Ip,
    Iso,
}

impl Field {
    fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "name" => Self::Name,
            "os" => Self::Os,
            "health" => Self::Health,
            "risk" => Self::Risk,
            "exposure" => Self::Exposure,
            "tag" | "tags" => Self::Tag,
            "ip" => Self::Ip,
            "iso" | "state" | "isolation" => Self::Iso,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// Lowercase; searched in the summary's search key.
    Text(String),
    Field(Field, String),
}

/// A parsed filter. The empty query matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

impl Query {
    /// Any text parses: a word whose prefix is not a known field is a free word.
    pub fn parse(text: &str) -> Self {
        let terms = text
            .split_whitespace()
            .map(|word| {
                let word = word.to_lowercase();
                match word.split_once(':') {
                    Some((key, value)) => match Field::parse(key) {
                        Some(field) => Term::Field(field, value.to_string()),
                        None => Term::Text(word),
                    },
                    None => Term::Text(word),
                }
            })
            .collect();
        Self { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The query uses the isolation state, which changes under it (rows are
    /// re-checked when states arrive).
    pub fn uses_state(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t, Term::Field(Field::Iso, _)))
    }

    /// `key` is the machine's search key (`MachineSummary::search_key`).
    pub fn matches(
        &self,
        key: &[u8],
        machine: &MachineSummary,
        state: Option<IsolationState>,
    ) -> bool {
        self.matches_words(|word| contains(key, word)) && self.matches_fields(machine, state)
    }

    /// `key_has(word)` for every free word (does the row's key contain it).
    pub fn matches_words(&self, key_has: impl Fn(&[u8]) -> bool) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(word) => key_has(word.as_bytes()),
            Term::Field(..) => true,
        })
    }

    /// The `field:value` terms all hold.
    pub fn matches_fields(&self, machine: &MachineSummary, state: Option<IsolationState>) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(_) => true,
            Term::Field(field, value) => field_matches(*field, value, machine, state),
        })
    }

    /// The query has `field:value` terms (a row's key alone cannot answer it).
    pub fn has_fields(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::Field(..)))
    }

    /// Every free word can be looked for in the list's keys (`SearchKeys::searchable`).
    pub fn words_searchable(&self) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(word) => SearchKeys::searchable(word),
            Term::Field(..) => true,
        })
    }

    /// The free word to search the list's keys for (the longest: it keeps the
    /// fewest rows), and the query's other terms, which the rows it finds must
    /// also match. None when the query has no word `SearchKeys` can look for.
    pub fn split_scan_word(&self) -> Option<(&str, Query)> {
        let (at, word) = self
            .terms
            .iter()
            .enumerate()
            .filter_map(|(at, term)| match term {
                Term::Text(word) if SearchKeys::searchable(word) => Some((at, word.as_str())),
                _ => None,
            })
            .max_by_key(|(_, word)| word.len())?;
        let mut rest = self.clone();
        rest.terms.remove(at);
        Some((word, rest))
    }

    /// Every machine this query matches is matched by `older` too (the analyst typed
    /// more), so only the rows `older` kept need checking.
    pub fn narrows(&self, older: &Query) -> bool {
        let Some((last, same)) = older.terms.split_last() else {
            return true;
        };
        if self.terms.len() < older.terms.len() || self.terms[..same.len()] != *same {
            return false;
        }
        match (last, &self.terms[same.len()]) {
            (Term::Text(a), Term::Text(b)) => b.starts_with(a.as_str()),
            (Term::Field(fa, a), Term::Field(fb, b)) => fa == fb && b.starts_with(a.as_str()),
            _ => false,
        }
    }
}

fn field_matches(
    field: Field,
    value: &str,
    m: &MachineSummary,
    state: Option<IsolationState>,
) -> bool {
    let text = |s: Option<&str>| s.is_some_and(|s| contains_ignore_case(s, value));
    match field {
        Field::Name => text(Some(m.display_name())),
        Field::Os => text(m.os_platform()),
        Field::Health => text(m.health_status()),
        Field::Risk => text(m.risk_score()),
        Field::Exposure => text(m.exposure_level()),
        Field::Tag => m.machine_tags().any(|t| contains_ignore_case(t, value)),
        Field::Ip => {
            text(m.last_ip_address()) || m.ip_addresses().any(|ip| contains_ignore_case(ip, value))
        }
        Field::Iso => state.is_some_and(|s| state_words(s).iter().any(|w| w.starts_with(value))),
    }
}

/// The words `iso:` matches the start of, per state.
fn state_words(state: IsolationState) -> Vec<&'static str> {
    let scope = |s: Option<IsolationType>| match s {
        Some(IsolationType::Full) => Some("full"),
        Some(IsolationType::Selective) => Some("selective"),
        Some(IsolationType::UnManagedDevice) => Some("unmanageddevice"),
        None => None,
    };
    match state {
        IsolationState::Isolated(s) => ["isolated"].into_iter().chain(scope(s)).collect(),
        IsolationState::Isolating(s) => ["isolating", "pending"]
            .into_iter()
            .chain(scope(s))
            .collect(),
        IsolationState::Releasing => vec!["releasing", "pending"],
        IsolationState::NotIsolated => vec!["not", "notisolated", "free"],
        // Failed and TimeOut both left the machine in a state nobody can vouch for.
        IsolationState::Unknown(Some(u)) if u.timed_out => vec!["unknown", "failed", "timeout"],
        IsolationState::Unknown(_) => vec!["unknown", "failed"],
    }
}

/// Substring test tuned for many short haystacks and one needle: `str::contains`
/// builds a two-way searcher per call, which dominates at 100,000 rows; finding the
/// first byte uses memchr and needs no setup. On bytes, so a key needs no UTF-8 check
/// (a UTF-8 needle found in UTF-8 text is found at character boundaries).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(pos) = memchr::memchr(first, &haystack[from..]) {
        let at = from + pos;
        if haystack[at + 1..].starts_with(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// `needle` is lowercase; the haystack is a field as the service sent it.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_more_narrows_and_changing_kind_does_not() {
        let q = Query::parse;
        assert!(q("ws").narrows(&q("")));
        assert!(q("ws-h").narrows(&q("ws")));
        assert!(q("ws os:lin").narrows(&q("ws os:l")));
        assert!(q("ws os:l").narrows(&q("ws")));
        assert!(q("iso:isolated").narrows(&q("iso:iso")));
        // "iso" was a free word; "iso:" is a field term: a different question.
        assert!(!q("iso:").narrows(&q("iso")));
        assert!(!q("w").narrows(&q("ws")));
        assert!(!q("os:l ws").narrows(&q("ws")));
    }

    #[test]
    fn unknown_keys_are_free_words() {
        assert_eq!(
            Query::parse("Foo:Bar"),
            Query {
                terms: vec![Term::Text("foo:bar".into())]
            }
        );
    }
}
