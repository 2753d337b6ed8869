//! `MachineSummary`: the part of a machine the console lists, stored compactly.
//!
//! At 100,000 machines the full `Machine` (two dozen optional strings, one heap block
//! each) costs ~160 bytes of headers and ~20 allocations per machine for fields the
//! list never draws. A summary keeps the ten fields the list shows or searches in one
//! string, with their end offsets, and deserialises straight from the page's JSON
//! without building a `Machine` first: one allocation per machine.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::models::Machine;

/// Between fields (and between tags and addresses) in the text, so a filter never
/// matches across two fields. It cannot be typed and `sanitize::clean` strips it.
const SEP: char = '\u{1f}';

/// The fields, in the order they are laid out. The first `SEARCHED` are the filter's
/// haystack (contiguous, so one search covers them).
#[derive(Clone, Copy)]
enum Field {
    Name = 0,
    Id,
    LastIp,
    Ips,
    Tags,
    Os,
    Health,
    Risk,
    Exposure,
    LastSeen,
}
const FIELDS: usize = 10;
const SEARCHED: usize = Field::Tags as usize + 1;

/// What a machine list row knows about a machine, in one allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct MachineSummary {
    /// Each field followed by `SEP`; then, only when the searched fields contain
    /// upper case, their lowercase copy (the filter's key).
    text: Box<str>,
    /// End of each field in `text` (the field starts one past the previous end).
    ends: [u32; FIELDS],
    /// Bit per field: present in the JSON (null and absent are both "missing").
    present: u16,
    /// Where the lowercase key starts, or 0 when the searched fields are the key.
    key_start: u32,
}

impl MachineSummary {
    fn field(&self, f: Field) -> &str {
        let i = f as usize;
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize + SEP.len_utf8()
        };
        &self.text[start..self.ends[i] as usize]
    }

    fn optional(&self, f: Field) -> Option<&str> {
        (self.present & (1 << f as u16) != 0).then(|| self.field(f))
    }

    pub fn id(&self) -> &str {
        self.field(Field::Id)
    }

    pub fn computer_dns_name(&self) -> Option<&str> {
        self.optional(Field::Name)
    }

    /// The DNS name, or the id when the name is missing or blank.
    pub fn display_name(&self) -> &str {
        match self.computer_dns_name() {
            Some(name) if !name.trim().is_empty() => name,
            _ => self.id(),
        }
    }

    pub fn os_platform(&self) -> Option<&str> {
        self.optional(Field::Os)
    }

    pub fn health_status(&self) -> Option<&str> {
        self.optional(Field::Health)
    }

    pub fn risk_score(&self) -> Option<&str> {
        self.optional(Field::Risk)
    }

    pub fn exposure_level(&self) -> Option<&str> {
        self.optional(Field::Exposure)
    }

    pub fn last_seen(&self) -> Option<&str> {
        self.optional(Field::LastSeen)
    }

    pub fn last_ip_address(&self) -> Option<&str> {
        self.optional(Field::LastIp)
    }

    pub fn machine_tags(&self) -> impl Iterator<Item = &str> {
        split_list(self.field(Field::Tags))
    }

    pub fn ip_addresses(&self) -> impl Iterator<Item = &str> {
        split_list(self.field(Field::Ips))
    }

    /// Lowercase name, id, addresses and tags, separated so a search cannot match
    /// across two of them. The filter searches this.
    pub fn search_key(&self) -> &str {
        if self.key_start == 0 {
            &self.text[..self.ends[SEARCHED - 1] as usize]
        } else {
            &self.text[self.key_start as usize..]
        }
    }
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(SEP).filter(|p| !p.is_empty())
}

impl fmt::Debug for MachineSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineSummary")
            .field("id", &self.id())
            .field("computer_dns_name", &self.computer_dns_name())
            .field("os_platform", &self.os_platform())
            .field("health_status", &self.health_status())
            .field("risk_score", &self.risk_score())
            .field("exposure_level", &self.exposure_level())
            .field("last_seen", &self.last_seen())
            .field("last_ip_address", &self.last_ip_address())
            .field("machine_tags", &self.machine_tags().collect::<Vec<_>>())
            .finish()
    }
}

/// Borrowed views of the fields, from either source (JSON or a `Machine`).
struct Parts<'a, I, T> {
    id: &'a str,
    name: Option<&'a str>,
    last_ip: Option<&'a str>,
    ips: I,
    tags: T,
    os: Option<&'a str>,
    health: Option<&'a str>,
    risk: Option<&'a str>,
    exposure: Option<&'a str>,
    last_seen: Option<&'a str>,
}

impl<'a, I, T> Parts<'a, I, T>
where
    I: Iterator<Item = &'a str>,
    T: Iterator<Item = &'a str>,
{
    fn build(self) -> MachineSummary {
        let mut text = String::with_capacity(160);
        let mut ends = [0u32; FIELDS];
        let mut present = 0u16;
        let mut put = |text: &mut String, f: Field, value: Option<&str>| {
            if let Some(v) = value {
                present |= 1 << f as u16;
                text.push_str(v);
            }
            ends[f as usize] = offset(text.len());
            text.push(SEP);
        };
        // A list item is split on SEP later, so one inside an item must not survive.
        let put_list = |text: &mut String, items: &mut dyn Iterator<Item = &str>| {
            for (n, item) in items.enumerate() {
                if n > 0 {
                    text.push(SEP);
                }
                text.extend(item.chars().map(|c| if c == SEP { '\u{fffd}' } else { c }));
            }
        };
        put(&mut text, Field::Name, self.name);
        put(&mut text, Field::Id, Some(self.id));
        put(&mut text, Field::LastIp, self.last_ip);
        let mut ips = self.ips;
        put_list(&mut text, &mut ips);
        put(&mut text, Field::Ips, Some(""));
        let mut tags = self.tags;
        put_list(&mut text, &mut tags);
        put(&mut text, Field::Tags, Some(""));
        put(&mut text, Field::Os, self.os);
        put(&mut text, Field::Health, self.health);
        put(&mut text, Field::Risk, self.risk);
        put(&mut text, Field::Exposure, self.exposure);
        put(&mut text, Field::LastSeen, self.last_seen);

        // Most names, ids and addresses are lowercase already: then the searched fields
        // are their own key and no copy is stored.
        let searched = &text[..ends[SEARCHED - 1] as usize];
        let key_start = if searched.chars().any(lowers_differently) {
            let lower = searched.to_lowercase();
            let start = offset(text.len());
            text.push_str(&lower);
            start
        } else {
            0
        };
        MachineSummary {
            text: text.into_boxed_str(),
            ends,
            present,
            key_start,
        }
    }
}

/// Whether lowercasing changes `c` (upper case, and title case such as 'ǅ').
fn lowers_differently(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        !c.to_lowercase().eq(std::iter::once(c))
    }
}

/// Offsets are u32: a machine's text over 4 GiB cannot come from a 10,000-row page.
fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl From<&Machine> for MachineSummary {
    fn from(m: &Machine) -> Self {
        Parts {
            id: &m.id,
            name: m.computer_dns_name.as_deref(),
            last_ip: m.last_ip_address.as_deref(),
            ips: m
                .ip_addresses
                .iter()
                .filter_map(|a| a.ip_address.as_deref()),
            tags: m.machine_tags.iter().map(String::as_str),
            os: m.os_platform.as_deref(),
            health: m.health_status.as_deref(),
            risk: m.risk_score.as_deref(),
            exposure: m.exposure_level.as_deref(),
            last_seen: m.last_seen.as_deref(),
        }
        .build()
    }
}

impl From<Machine> for MachineSummary {
    fn from(m: Machine) -> Self {
        Self::from(&m)
    }
}

/// The JSON fields a summary needs; every other field of the machine is skipped by
/// the parser without allocating.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    computer_dns_name: Option<Text<'a>>,
    #[serde(default, borrow)]
    last_ip_address: Option<Text<'a>>,
    #[serde(default, borrow)]
    ip_addresses: Option<Vec<WireIp<'a>>>,
    #[serde(default, borrow)]
    machine_tags: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    os_platform: Option<Text<'a>>,
    #[serde(default, borrow)]
    health_status: Option<Text<'a>>,
    #[serde(default, borrow)]
    risk_score: Option<Text<'a>>,
    #[serde(default, borrow)]
    exposure_level: Option<Text<'a>>,
    #[serde(default, borrow)]
    last_seen: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireIp<'a> {
    #[serde(default, borrow)]
    ip_address: Option<Text<'a>>,
}

/// A JSON string borrowed from the input when it has no escapes (the usual case),
/// owned otherwise. `Cow<str>` alone only borrows as a direct field, not inside
/// `Option` or `Vec`.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

fn text<'a>(t: &'a Option<Text<'_>>) -> Option<&'a str> {
    t.as_ref().map(|t| t.0.as_ref())
}

impl<'de> Deserialize<'de> for MachineSummary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let ips = w.ip_addresses.as_deref().unwrap_or_default();
        let tags = w.machine_tags.as_deref().unwrap_or_default();
        Ok(Parts {
            id: &w.id.0,
            name: text(&w.computer_dns_name),
            last_ip: text(&w.last_ip_address),
            ips: ips.iter().filter_map(|a| text(&a.ip_address)),
            tags: tags.iter().map(|t| t.0.as_ref()),
            os: text(&w.os_platform),
            health: text(&w.health_status),
            risk: text(&w.risk_score),
            exposure: text(&w.exposure_level),
            last_seen: text(&w.last_seen),
        }
        .build())
    }
}

/// Serialised as the API's field names, so `--json` output and tests can compare it
/// with a `Machine`.
impl Serialize for MachineSummary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("MachineSummary", 9)?;
        st.serialize_field("id", self.id())?;
        st.serialize_field("computerDnsName", &self.computer_dns_name())?;
        st.serialize_field("osPlatform", &self.os_platform())?;
        st.serialize_field("healthStatus", &self.health_status())?;
        st.serialize_field("riskScore", &self.risk_score())?;
        st.serialize_field("exposureLevel", &self.exposure_level())?;
        st.serialize_field("lastSeen", &self.last_seen())?;
        st.serialize_field("lastIpAddress", &self.last_ip_address())?;
        st.serialize_field("machineTags", &self.machine_tags().collect::<Vec<_>>())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_only_what_it_needs_and_reads_back_every_field() {
        let json = r#"{"id":"abc123","computerDnsName":"WS-Fin-01.contoso.local",
            "osPlatform":"Windows11","healthStatus":"Active","riskScore":"None",
            "exposureLevel":null,"lastSeen":"2026-11-21T08:00:00Z","lastIpAddress":"10.0.0.1",
            "ipAddresses":[{"ipAddress":"192.168.1.5","macAddress":"x"},{"ipAddress":null}],
            "machineTags":["Ward-3","icu"],"rbacGroupId":7,"osBuild":22631}"#;
        let s: MachineSummary = serde_json::from_str(json).unwrap();
        assert_eq!(s.id(), "abc123");
        assert_eq!(s.computer_dns_name(), Some("WS-Fin-01.contoso.local"));
        assert_eq!(s.os_platform(), Some("Windows11"));
        assert_eq!(s.health_status(), Some("Active"));
        assert_eq!(s.risk_score(), Some("None"));
        assert_eq!(s.exposure_level(), None);
        assert_eq!(s.last_seen(), Some("2026-11-21T08:00:00Z"));
        assert_eq!(s.last_ip_address(), Some("10.0.0.1"));
        assert_eq!(s.ip_addresses().collect::<Vec<_>>(), ["192.168.1.5"]);
        assert_eq!(s.machine_tags().collect::<Vec<_>>(), ["Ward-3", "icu"]);
        assert_eq!(
            s.search_key(),
            "ws-fin-01.contoso.local\u{1f}abc123\u{1f}10.0.0.1\u{1f}192.168.1.5\u{1f}ward-3\u{1f}icu"
        );
    }

    #[test]
    fn agrees_with_the_full_model_and_handles_nulls_and_escapes() {
        let json = r#"{"id":"m\u00e9","computerDnsName":"a\"b","machineTags":null,
            "ipAddresses":null,"lastIpAddress":""}"#;
        let s: MachineSummary = serde_json::from_str(json).unwrap();
        let m: Machine = serde_json::from_str(json).unwrap();
        assert_eq!(s, MachineSummary::from(&m));
        assert_eq!(s.id(), "mé");
        assert_eq!(s.computer_dns_name(), Some("a\"b"));
        assert_eq!(s.last_ip_address(), Some(""));
        assert_eq!(s.machine_tags().count(), 0);
        // Already lowercase: the searched fields are the key, no copy stored.
        assert_eq!(s.key_start, 0);
    }

    #[test]
    fn a_separator_inside_a_tag_cannot_split_it_or_join_fields() {
        let m = Machine {
            id: "id\u{1f}x".into(),
            machine_tags: vec!["a\u{1f}b".into()],
            ..Machine::default()
        };
        let s = MachineSummary::from(&m);
        assert_eq!(s.id(), "id\u{1f}x");
        assert_eq!(s.machine_tags().collect::<Vec<_>>(), ["a\u{fffd}b"]);
    }

    #[test]
    fn the_key_is_lowercase_whatever_the_letters() {
        for name in ["WS-01", "ǅungla-pc", "ΣΤΑΘΜΟΣ", "plain-lower"] {
            let m = Machine {
                id: "x".into(),
                computer_dns_name: Some(name.into()),
                ..Machine::default()
            };
            let s = MachineSummary::from(&m);
            let expected = format!("{}\u{1f}x\u{1f}\u{1f}\u{1f}", name.to_lowercase());
            assert_eq!(s.search_key(), expected, "{name}");
            assert_eq!(
                s.computer_dns_name(),
                Some(name),
                "the name itself keeps its case"
            );
        }
    }

    #[test]
    fn blank_name_falls_back_to_the_id() {
        let s: MachineSummary =
            serde_json::from_str(r#"{"id":"x1","computerDnsName":"  "}"#).unwrap();
        assert_eq!(s.display_name(), "x1");
    }

    #[test]
    fn a_machine_without_id_is_an_error() {
        assert!(serde_json::from_str::<MachineSummary>(r#"{"computerDnsName":"a"}"#).is_err());
        assert!(serde_json::from_str::<MachineSummary>(r#"{"id":5}"#).is_err());
    }
}
