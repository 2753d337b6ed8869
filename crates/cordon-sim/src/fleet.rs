//! The seeded demo fleet: realistic names, platforms and health, with some history, so
//! the console has something to find, isolate and release. Deterministic from the seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
            (now - chrono::Duration::days(40)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
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
