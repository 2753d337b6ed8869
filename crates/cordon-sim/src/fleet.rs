//! The seeded demo fleet: realistic names, platforms and health, with some history, so
//! the console has something to find, isolate and release. Deterministic from the seed.
//!
//! The fleet is compact: each generated machine is kept as the ~36 bytes its random
//! draws produced (`Compact`), and the `Machine` is built from them when asked for, so a
//! million machines take tens of megabytes, not gigabytes. The draws happen once, in
//! fleet order, from one seeded stream, so the fleet is the same as ever for a seed.
//! Lookups need no map per machine: an id is found by binary search in an index sorted
//! by id, and a generated name (`ws-hr-00042.contoso.local`) names its own row.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::odata::Val;
use cordon_core::api::models::{IpAddress, Machine};

const DEPTS: &[&str] = &[
    "fin", "hr", "rad", "er", "lab", "icu", "ops", "dev", "pharm", "it",
];

/// How an isolate of this machine ends in the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Succeeds,
    /// The action ends Failed.
    Fails,
    /// The action ends TimeOut (the device never picked it up).
    TimesOut,
    /// 400 OsPlatformNotSupported (iOS and Android).
    Unsupported,
}

/// The fate of a machine: iOS/Android are unsupported; Inactive devices time out;
/// one in twenty of the rest (by id hash) fails; everything else succeeds.
pub fn fate_of(m: &Machine) -> Fate {
    if let Some("iOS" | "Android") = m.os_platform.as_deref() {
        return Fate::Unsupported;
    }
    if m.health_status.as_deref() == Some("Inactive") {
        return Fate::TimesOut;
    }
    if id_hash(&m.id) % 20 == 7 {
        return Fate::Fails;
    }
    Fate::Succeeds
}

/// A stable hash of a device id (FNV-1a), for deterministic per-machine behaviour.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first machine (in fleet order) with this fate, with a plain name.
pub fn pick_machine(machines: &[Machine], fate: Fate) -> Option<&Machine> {
    machines.iter().find(|m| {
        fate_of(m) == fate
            && m.computer_dns_name
                .as_deref()
                .is_some_and(|n| n.is_ascii() && n.chars().all(|c| !c.is_control()))
    })
}

/// What one generated machine's random draws produced; everything else is derived.
#[derive(Debug, Clone, Copy)]
struct Compact {
    /// The id: 40 lowercase hex digits, two to a byte.
    id: [u8; 20],
    ip: [u8; 3],
    dept: u8,
    /// Index into `OS`.
    os: u8,
    health: u8,
    risk: u8,
    exposure: u8,
    /// `ward-N`, or 0 for none.
    ward: u8,
    vip: bool,
    rbac: u8,
    seen_minutes: u16,
    first_days: u16,
}

/// (kind, osPlatform, version) by the roll's band.
const OS: &[(&str, &str, &str)] = &[
    ("ws", "Windows11", "23H2"),
    ("ws", "Windows10", "22H2"),
    ("srv", "WindowsServer2022", "21H2"),
    ("srv", "WindowsServer2019", "1809"),
    ("lnx", "Linux", "6.1"),
    ("mac", "macOS", "14.4"),
    ("mob", "iOS", "17.2"),
    ("mob", "Android", "14"),
];
const HEALTH: &[&str] = &[
    "Active",
    "Inactive",
    "ImpairedCommunication",
    "NoSensorData",
];
const RISK: &[&str] = &["None", "Informational", "Low", "Medium", "High"];
const EXPOSURE: &[&str] = &["None", "Low", "Medium", "High"];

fn hex_id(id: &[u8; 20]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(40);
    for b in id {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// 40 lowercase hex digits back into bytes; None for anything else.
fn parse_hex_id(key: &str) -> Option<[u8; 20]> {
    let b = key.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 20];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * k])? << 4) | nib(b[2 * k + 1])?;
    }
    Some(out)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The seeded fleet: generated machines in compact form, then the extras (the
/// re-onboarded twin and the hostile names) as whole machines. Row `i` is the same
/// machine the eager generator used to put at `i`.
pub struct Fleet {
    base: Vec<Compact>,
    extras: Vec<Machine>,
    /// Rows of `base`, sorted by id.
    id_order: Vec<u32>,
    now: chrono::DateTime<chrono::Utc>,
}

impl Fleet {
    pub fn generate(
        n: usize,
        seed: u64,
        hostile: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        assert!(
            u32::try_from(n).is_ok(),
            "a fleet is at most u32::MAX machines"
        );
        let mut rng = StdRng::seed_from_u64(seed);
        let mut base = Vec::with_capacity(n);
        // The draws below are the eager generator's, in its order and with its types
        // (the types decide how many bits each draw takes from the stream).
        for _ in 0..n {
            let dept = rng.random_range(0..DEPTS.len());
            let roll: u32 = rng.random_range(0..100);
            let os = match roll {
                0..=39 => 0,
                40..=64 => 1,
                65..=71 => 2,
                72..=75 => 3,
                76..=84 => 4,
                85..=95 => 5,
                96..=97 => 6,
                _ => 7,
            };
            let health = match rng.random_range(0..100u32) {
                0..=89 => 0,
                90..=94 => 1,
                95..=97 => 2,
                _ => 3,
            };
            let risk: usize = rng.random_range(0..5);
            let exposure: usize = rng.random_range(0..4);
            let mut id = [0u8; 20];
            for k in 0..40 {
                let d: u32 = rng.random_range(0..16);
                // `d` is below 16.
                let d = d as u8;
                id[k / 2] |= if k % 2 == 0 { d << 4 } else { d };
            }
            let ip0: i32 = rng.random_range(0..64);
            let ip1: i32 = rng.random_range(0..255);
            let ip2: i32 = rng.random_range(1..255);
            let seen: i64 = rng.random_range(0..(60 * 24 * 5));
            let first: i64 = rng.random_range(30..900);
            let ward = if rng.random_range(0..4i32) == 0 {
                rng.random_range(1..12i32)
            } else {
                0
            };
            let vip = rng.random_range(0..20i32) == 0;
            let rbac = rng.random_range(0..6u32);
            // Every value is within its target type's range by the draws above.
            base.push(Compact {
                id,
                ip: [ip0 as u8, ip1 as u8, ip2 as u8],
                dept: dept as u8,
                os,
                health,
                risk: risk as u8,
                exposure: exposure as u8,
                ward: ward as u8,
                vip,
                rbac: rbac as u8,
                seen_minutes: seen as u16,
                first_days: first as u16,
            });
        }
        let mut fleet = Fleet {
            id_order: Vec::new(),
            base,
            extras: Vec::new(),
            now,
        };
        // A re-onboarded device: a second id under the same DNS name, as the service shows
        // for re-imaged machines. Scripts naming it must be told it is ambiguous.
        if n > 3 {
            let mut twin = fleet.machine(3);
            twin.id = format!("{:040x}", 0xd0b1_e000u64 + seed);
            twin.health_status = Some("Inactive".into());
            twin.last_seen = Some(rfc3339(now - chrono::Duration::days(40)));
            fleet.extras.push(twin);
        }
        if hostile {
            fleet.extras.extend(hostile_machines(now));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| fleet.base[i as usize].id);
        fleet.id_order = order;
        fleet
    }

    pub fn len(&self) -> usize {
        self.base.len() + self.extras.len()
    }

    /// Machine `i`, built from its compact row (or cloned, for an extra).
    pub fn machine(&self, i: usize) -> Machine {
        let Some(c) = self.base.get(i) else {
            return self.extras[i - self.base.len()].clone();
        };
        let (kind, os, version) = OS[usize::from(c.os)];
        let dept = DEPTS[usize::from(c.dept)];
        let ip = format!("10.{}.{}.{}", c.ip[0], c.ip[1], c.ip[2]);
        let mut tags = Vec::new();
        if c.ward != 0 {
            tags.push(format!("ward-{}", c.ward));
        }
        if kind == "srv" {
            tags.push("tier-0".to_string());
        }
        if c.vip {
            tags.push("vip".to_string());
        }
        let rbac = u32::from(c.rbac);
        Machine {
            id: hex_id(&c.id),
            computer_dns_name: Some(self.base_name(i, c)),
            first_seen: Some(rfc3339(
                self.now - chrono::Duration::days(i64::from(c.first_days)),
            )),
            last_seen: Some(self.last_seen(c)),
            os_platform: Some(os.to_string()),
            os_architecture: Some("64-bit".to_string()),
            version: Some(version.to_string()),
            last_ip_address: Some(ip.clone()),
            last_external_ip_address: Some("203.0.113.7".to_string()),
            health_status: Some(HEALTH[usize::from(c.health)].to_string()),
            rbac_group_id: Some((rbac * 35).to_string()),
            rbac_group_name: (rbac != 0).then(|| format!("{dept}-devices")),
            risk_score: Some(RISK[usize::from(c.risk)].to_string()),
            exposure_level: Some(EXPOSURE[usize::from(c.exposure)].to_string()),
            device_value: Some("Normal".to_string()),
            onboarding_status: Some("Onboarded".to_string()),
            is_aad_joined: Some(kind != "lnx"),
            machine_tags: tags,
            ip_addresses: vec![IpAddress {
                ip_address: Some(ip),
                mac_address: Some(format!("00155D{:06X}", i & 0xff_ffff)),
                kind: Some("Ethernet".to_string()),
                operational_status: Some("Up".to_string()),
            }],
            agent_version: Some("10.8760.22621.1023".to_string()),
            defender_av_status: Some("Updated".to_string()),
            ..Machine::default()
        }
    }

    fn base_name(&self, i: usize, c: &Compact) -> String {
        let (kind, _, _) = OS[usize::from(c.os)];
        format!("{kind}-{}-{i:05}.contoso.local", DEPTS[usize::from(c.dept)])
    }

    fn last_seen(&self, c: &Compact) -> String {
        rfc3339(self.now - chrono::Duration::minutes(i64::from(c.seen_minutes)))
    }

    /// Machine `i`'s id and DNS name, without building the rest.
    pub fn id_and_name(&self, i: usize) -> (String, Option<String>) {
        match self.base.get(i) {
            Some(c) => (hex_id(&c.id), Some(self.base_name(i, c))),
            None => {
                let m = &self.extras[i - self.base.len()];
                (m.id.clone(), m.computer_dns_name.clone())
            }
        }
    }

    /// The row with this id (exact), else the row with this DNS name (any case); where
    /// two rows share a key, the later one, as a map built in fleet order would answer.
    pub fn find(&self, key: &str) -> Option<usize> {
        let n = self.base.len();
        if let Some(k) = self.extras.iter().rposition(|m| m.id == key) {
            return Some(n + k);
        }
        if let Some(id) = parse_hex_id(key)
            && let Ok(at) = self
                .id_order
                .binary_search_by(|&i| self.base[i as usize].id.cmp(&id))
        {
            return Some(self.id_order[at] as usize);
        }
        let lower = key.to_lowercase();
        if let Some(k) = self.extras.iter().rposition(|m| {
            m.computer_dns_name
                .as_deref()
                .is_some_and(|name| name.to_lowercase() == lower)
        }) {
            return Some(n + k);
        }
        // A generated name: kind-dept-NNNNN.contoso.local names row NNNNN.
        let stem = lower.strip_suffix(".contoso.local")?;
        let (prefix, digits) = stem.rsplit_once('-')?;
        let i: usize = digits.parse().ok()?;
        let c = self.base.get(i)?;
        (format!("{prefix}-{i:05}") == stem && self.base_name(i, c) == lower).then_some(i)
    }

    /// The value a `$filter` sees for `field` on row `i` (the same as the built machine's).
    pub fn field(&self, i: usize, field: &str) -> Option<Val> {
        let Some(c) = self.base.get(i) else {
            return machine_field(&self.extras[i - self.base.len()], field);
        };
        let s = |v: &str| Val::Str(v.to_string());
        let (kind, os, version) = OS[usize::from(c.os)];
        Some(match field {
            "id" => Val::Str(hex_id(&c.id)),
            "computerDnsName" => Val::Str(self.base_name(i, c)),
            "osPlatform" => s(os),
            "healthStatus" => s(HEALTH[usize::from(c.health)]),
            "riskScore" => s(RISK[usize::from(c.risk)]),
            "exposureLevel" => s(EXPOSURE[usize::from(c.exposure)]),
            "deviceValue" => s("Normal"),
            "lastSeen" => Val::Str(self.last_seen(c)),
            "lastIpAddress" => Val::Str(format!("10.{}.{}.{}", c.ip[0], c.ip[1], c.ip[2])),
            "rbacGroupId" => Val::Num(f64::from(u32::from(c.rbac) * 35)),
            "onboardingStatus" => s("Onboarded"),
            "aadDeviceId" => Val::Null,
            "version" => s(version),
            "machineTags" => {
                let mut tags = Vec::new();
                if c.ward != 0 {
                    tags.push(format!("ward-{}", c.ward));
                }
                if kind == "srv" {
                    tags.push("tier-0".to_string());
                }
                if c.vip {
                    tags.push("vip".to_string());
                }
                Val::List(tags)
            }
            _ => return None,
        })
    }
}

/// The value a `$filter` sees for `field` on a whole machine.
pub fn machine_field(m: &Machine, name: &str) -> Option<Val> {
    let s = |v: &Option<String>| v.clone().map_or(Val::Null, Val::Str);
    Some(match name {
        "id" => Val::Str(m.id.clone()),
        "computerDnsName" => s(&m.computer_dns_name),
        "osPlatform" => s(&m.os_platform),
        "healthStatus" => s(&m.health_status),
        "riskScore" => s(&m.risk_score),
        "exposureLevel" => s(&m.exposure_level),
        "deviceValue" => s(&m.device_value),
        "lastSeen" => s(&m.last_seen),
        "lastIpAddress" => s(&m.last_ip_address),
        "machineTags" => Val::List(m.machine_tags.clone()),
        "rbacGroupId" => m
            .rbac_group_id
            .as_deref()
            .and_then(|v| v.parse().ok())
            .map_or(Val::Null, Val::Num),
        "onboardingStatus" => s(&m.onboarding_status),
        "aadDeviceId" => s(&m.aad_device_id),
        "version" => s(&m.version),
        _ => return None,
    })
}

fn hostile_machines(now: chrono::DateTime<chrono::Utc>) -> Vec<Machine> {
    let names = [
        "\u{1b}]0;pwned\u{7}evil-01.contoso.local".to_string(),
        "\u{1b}[2J\u{1b}[31mred-02.contoso.local".to_string(),
        "invoice\u{202e}fdp-03.contoso.local".to_string(),
        format!("long-{}.contoso.local", "x".repeat(300)),
        "東京-サーバー-01.contoso.local".to_string(),
        "emoji-😀-05.contoso.local\u{0}\u{8}".to_string(),
    ];
    names
        .into_iter()
        .enumerate()
        .map(|(k, name)| Machine {
            id: format!("{:040x}", 0xbad0_0000u64 + k as u64),
            computer_dns_name: Some(name),
            os_platform: Some("Windows11".into()),
            health_status: Some("Active".into()),
            risk_score: Some("High".into()),
            exposure_level: Some("\u{1b}[5mHigh".into()),
            last_seen: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            machine_tags: vec!["\u{1b}]8;;http://evil\u{7}tag\u{202e}".into()],
            ..Machine::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eager generator this module used to be, kept as the reference the compact
    /// fleet must reproduce byte for byte.
    #[allow(clippy::too_many_lines)]
    pub fn generate(
        n: usize,
        seed: u64,
        hostile: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Machine> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n + 8);
        for i in 0..n {
            let dept = DEPTS[rng.random_range(0..DEPTS.len())];
            let roll: u32 = rng.random_range(0..100);
            let (kind, os, version) = match roll {
                0..=39 => ("ws", "Windows11", "23H2"),
                40..=64 => ("ws", "Windows10", "22H2"),
                65..=71 => ("srv", "WindowsServer2022", "21H2"),
                72..=75 => ("srv", "WindowsServer2019", "1809"),
                76..=84 => ("lnx", "Linux", "6.1"),
                85..=95 => ("mac", "macOS", "14.4"),
                96..=97 => ("mob", "iOS", "17.2"),
                _ => ("mob", "Android", "14"),
            };
            let health = match rng.random_range(0..100u32) {
                0..=89 => "Active",
                90..=94 => "Inactive",
                95..=97 => "ImpairedCommunication",
                _ => "NoSensorData",
            };
            let risk = ["None", "Informational", "Low", "Medium", "High"][rng.random_range(0..5)];
            let exposure = ["None", "Low", "Medium", "High"][rng.random_range(0..4)];
            let id: String = (0..40)
                .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
                .collect();
            let ip = format!(
                "10.{}.{}.{}",
                rng.random_range(0..64),
                rng.random_range(0..255),
                rng.random_range(1..255)
            );
            let seen = now - chrono::Duration::minutes(rng.random_range(0..(60 * 24 * 5)));
            let first = now - chrono::Duration::days(rng.random_range(30..900));
            let mut tags = Vec::new();
            if rng.random_range(0..4) == 0 {
                tags.push(format!("ward-{}", rng.random_range(1..12)));
            }
            if kind == "srv" {
                tags.push("tier-0".to_string());
            }
            if rng.random_range(0..20) == 0 {
                tags.push("vip".to_string());
            }
            let rbac = rng.random_range(0..6u32);
            out.push(Machine {
                id,
                computer_dns_name: Some(format!("{kind}-{dept}-{i:05}.contoso.local")),
                first_seen: Some(first.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                last_seen: Some(seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                os_platform: Some(os.to_string()),
                os_architecture: Some("64-bit".to_string()),
                version: Some(version.to_string()),
                last_ip_address: Some(ip.clone()),
                last_external_ip_address: Some("203.0.113.7".to_string()),
                health_status: Some(health.to_string()),
                rbac_group_id: Some((rbac * 35).to_string()),
                rbac_group_name: (rbac != 0).then(|| format!("{dept}-devices")),
                risk_score: Some(risk.to_string()),
                exposure_level: Some(exposure.to_string()),
                device_value: Some("Normal".to_string()),
                onboarding_status: Some("Onboarded".to_string()),
                is_aad_joined: Some(kind != "lnx"),
                machine_tags: tags,
                ip_addresses: vec![IpAddress {
                    ip_address: Some(ip),
                    mac_address: Some(format!("00155D{:06X}", i & 0xff_ffff)),
                    kind: Some("Ethernet".to_string()),
                    operational_status: Some("Up".to_string()),
                }],
                agent_version: Some("10.8760.22621.1023".to_string()),
                defender_av_status: Some("Updated".to_string()),
                ..Machine::default()
            });
        }
        // A re-onboarded device: a second id under the same DNS name, as the service shows
        // for re-imaged machines. Scripts naming it must be told it is ambiguous.
        if n > 3 {
            let mut twin = out[3].clone();
            twin.id = format!("{:040x}", 0xd0b1_e000u64 + seed);
            twin.health_status = Some("Inactive".into());
            twin.last_seen = Some(
                (now - chrono::Duration::days(40))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            out.push(twin);
        }
        if hostile {
            let names = [
                "\u{1b}]0;pwned\u{7}evil-01.contoso.local".to_string(),
                "\u{1b}[2J\u{1b}[31mred-02.contoso.local".to_string(),
                "invoice\u{202e}fdp-03.contoso.local".to_string(),
                format!("long-{}.contoso.local", "x".repeat(300)),
                "東京-サーバー-01.contoso.local".to_string(),
                "emoji-😀-05.contoso.local\u{0}\u{8}".to_string(),
            ];
            for (k, name) in names.into_iter().enumerate() {
                out.push(Machine {
                    id: format!("{:040x}", 0xbad0_0000u64 + k as u64),
                    computer_dns_name: Some(name),
                    os_platform: Some("Windows11".into()),
                    health_status: Some("Active".into()),
                    risk_score: Some("High".into()),
                    exposure_level: Some("\u{1b}[5mHigh".into()),
                    last_seen: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    machine_tags: vec!["\u{1b}]8;;http://evil\u{7}tag\u{202e}".into()],
                    ..Machine::default()
                });
            }
        }
        out
    }

    fn fleet_machines(f: &Fleet) -> Vec<Machine> {
        (0..f.len()).map(|i| f.machine(i)).collect()
    }

    #[test]
    fn the_compact_fleet_is_the_eager_one() {
        let now = chrono::Utc::now();
        for (n, seed, hostile) in [
            (0, 1, false),
            (3, 2, true),
            (250, 42, false),
            (2_000, 7, true),
        ] {
            let old = generate(n, seed, hostile, now);
            let fleet = Fleet::generate(n, seed, hostile, now);
            let new = fleet_machines(&fleet);
            assert_eq!(
                serde_json::to_string(&old).expect("json"),
                serde_json::to_string(&new).expect("json"),
                "n={n} seed={seed}"
            );
            assert_eq!(old, new);
        }
    }

    #[test]
    fn every_machine_is_found_by_id_and_name_as_a_map_would_find_it() {
        let now = chrono::Utc::now();
        let fleet = Fleet::generate(3_000, 9, true, now);
        let machines = fleet_machines(&fleet);
        let mut by_id = std::collections::HashMap::new();
        let mut by_name = std::collections::HashMap::new();
        for (i, m) in machines.iter().enumerate() {
            by_id.insert(m.id.clone(), i);
            if let Some(n) = &m.computer_dns_name {
                by_name.insert(n.to_lowercase(), i);
            }
        }
        let expect = |key: &str| {
            by_id
                .get(key)
                .or_else(|| by_name.get(&key.to_lowercase()))
                .copied()
        };
        for m in &machines {
            assert_eq!(fleet.find(&m.id), expect(&m.id));
            let name = m.computer_dns_name.clone().expect("named");
            assert_eq!(fleet.find(&name), expect(&name), "{name}");
            assert_eq!(
                fleet.find(&name.to_uppercase()),
                expect(&name.to_uppercase())
            );
        }
        // The twin shares machine 3's name: the name finds the twin, as before.
        let name3 = machines[3].computer_dns_name.clone().expect("named");
        assert_eq!(fleet.find(&name3), Some(3_000));
        for key in [
            "",
            "ws-hr-1.contoso.local",
            "ws-hr-000001.contoso.local",
            "ws-hr-99999.contoso.local",
            &machines[5].id.to_uppercase(),
            "0000000000000000000000000000000000000000",
            "nope",
        ] {
            assert_eq!(fleet.find(key), expect(key), "{key}");
        }
        for i in [0, 1, 2_999, 3_000, 3_006] {
            for f in crate::engine::MACHINE_FIELDS {
                assert_eq!(fleet.field(i, f), machine_field(&machines[i], f), "{i} {f}");
            }
        }
    }
}
