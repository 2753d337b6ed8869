//! Parse one 10,000-machine page, as the client does for every page of a large tenant:
//! into the full `Machine` (the CLI) and into the compact `MachineSummary` (the console).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use cordon_core::api::MachineSummary;
use cordon_core::api::models::{Machine, ODataPage};

/// A page shaped like the service's: every documented field present, numbers where the
/// service sends numbers (rbacGroupId), tags and IP lists.
fn page_json(n: usize) -> String {
    let machines: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{:040x}", i as u128 * 2_654_435_761),
                "computerDnsName": format!("ws-fin-{i:05}.contoso.local"),
                "firstSeen": "2024-03-01T10:11:12.1234567Z",
                "lastSeen": "2026-11-21T08:00:00.0000000Z",
                "osPlatform": "Windows11",
                "osVersion": null,
                "osProcessor": "x64",
                "osArchitecture": "64-bit",
                "version": "23H2",
                "osBuild": 22631,
                "lastIpAddress": format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256),
                "lastExternalIpAddress": "203.0.113.7",
                "healthStatus": "Active",
                "rbacGroupId": 140,
                "rbacGroupName": null,
                "riskScore": "None",
                "exposureLevel": "Medium",
                "deviceValue": "Normal",
                "onboardingStatus": "Onboarded",
                "isAadJoined": true,
                "aadDeviceId": "80fe8ff8-2624-418e-9591-41f0491218f9",
                "machineTags": ["finance", "tier-2"],
                "ipAddresses": [{"ipAddress": "10.0.0.4", "macAddress": "0A1B2C3D4E5F", "type": "Ethernet", "operationalStatus": "Up"}],
                "agentVersion": "10.8750.22621.3527",
                "defenderAvStatus": "Updated",
            })
        })
        .collect();
    serde_json::json!({
        "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Machines",
        "value": machines,
        "@odata.nextLink": "https://api.securitycenter.microsoft.com/api/machines?$skip=10000",
    })
    .to_string()
}

fn parse_page(c: &mut Criterion) {
    let body = page_json(10_000);
    let mut group = c.benchmark_group("parse");
    group.sample_size(20);
    group.bench_function("machines_page_10k", |b| {
        b.iter(|| {
            let page: ODataPage<Machine> =
                serde_json::from_str(black_box(&body)).expect("valid page");
            black_box(page.value.len())
        })
    });
    group.bench_function("summaries_page_10k", |b| {
        b.iter(|| {
            let page: ODataPage<MachineSummary> =
                serde_json::from_slice(black_box(body.as_bytes())).expect("valid page");
            black_box(page.value.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_page);
criterion_main!(benches);
