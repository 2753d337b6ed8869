//! The filter over a list large enough to be searched through its keys buffer, on
//! every core: it finds exactly the rows a check of each row finds, while typing,
//! deleting, and through refreshes that change or drop machines.

use crate::tui_support::*;
use cordon::tui::action::{Action, UserAction};
use cordon::tui::query::Query;
use cordon::tui::state::State;
use cordon::tui::update::update;
use cordon_core::api::models::Machine;
use cordon_core::worker::protocol::WorkerEvent;
use tui_input::InputRequest;

/// Past the point where the filter splits the list over the cores.
const N: usize = 60_000;

fn fleet(n: usize) -> Vec<Machine> {
    let mut all = machines(n);
    if let Some(last) = all.last_mut() {
        last.computer_dns_name = Some("WS-HR-Upper.CONTOSO.local".into());
    }
    all
}

fn load(s: &mut State, generation: u64, fleet: Vec<Machine>) {
    page_in(s, generation, fleet);
    let total = s.machines.rows().len();
    feed(s, WorkerEvent::MachinesLoaded { generation, total });
}

fn page_in(s: &mut State, generation: u64, fleet: Vec<Machine>) {
    feed(s, WorkerEvent::MachinesLoading { generation });
    for (k, page) in fleet.chunks(10_000).enumerate() {
        feed(
            s,
            WorkerEvent::MachinesPage {
                generation,
                machines: summaries(page.iter().cloned()),
                first: k == 0,
            },
        );
    }
}

/// The ids the filter shows, in order.
fn shown(s: &State) -> Vec<String> {
    let rows = s.machines.rows();
    s.machines
        .visible
        .iter()
        .map(|&i| rows[i].machine.id().to_string())
        .collect()
}

/// The ids a check of each row, one by one, keeps for the filter's text.
fn each_row_checked(s: &State) -> Vec<String> {
    let query = Query::parse(&s.filter.input.value().to_lowercase());
    s.machines
        .rows()
        .iter()
        .filter(|r| query.matches(r.machine.search_key().as_bytes(), &r.machine, r.isolation))
        .map(|r| r.machine.id().to_string())
        .collect()
}

fn set_filter(s: &mut State, text: &str) {
    update(s, Action::Text(InputRequest::DeleteLine));
    type_text(s, text);
}

const QUERIES: [&str; 9] = [
    "ws-12",
    "ward-7 ws-3",
    "ws-3 ward-7",
    "os:lin 10.0.7",
    "ws-hr-up",
    "contoso.local",
    "m0599",
    "192.168.3 risk:hi",
    "no-such-host",
];

#[test]
fn the_keys_buffer_finds_what_checking_each_row_finds() {
    let mut s = loaded(0, 120, 40, false);
    load(&mut s, 1, fleet(N));
    user(&mut s, UserAction::Filter);
    for text in QUERIES {
        // Typed one character at a time: each narrows the one before.
        set_filter(&mut s, text);
        assert_eq!(shown(&s), each_row_checked(&s), "typed {text:?}");
        // Deleting widens: a fresh pass.
        for _ in 0..3 {
            update(&mut s, Action::Text(InputRequest::DeletePrevChar));
        }
        assert_eq!(shown(&s), each_row_checked(&s), "{text:?} less three");
    }
    set_filter(&mut s, "ws-12");
    // ws-12, ws-120..ws-129, ws-1200..ws-1299, ws-12000..ws-12999.
    assert_eq!(shown(&s).len(), 1 + 10 + 100 + 1000);
    set_filter(&mut s, "WS-HR-UPPER");
    assert_eq!(shown(&s), [format!("m{:06}", N - 1)]);
}

#[test]
fn a_refresh_that_changes_or_drops_machines_is_searched_as_it_now_is() {
    let mut s = loaded(0, 120, 40, false);
    load(&mut s, 1, fleet(N));
    user(&mut s, UserAction::Filter);
    set_filter(&mut s, "quarantine");
    assert!(shown(&s).is_empty());

    // The refresh tags one machine anew and no longer lists every seventh.
    let mut next = fleet(N);
    next[12_345].machine_tags = vec!["Quarantine-Ward".into()];
    let next: Vec<Machine> = next
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 3)
        .map(|(_, m)| m)
        .collect();
    page_in(&mut s, 2, next);
    // Still streaming: the changed row is found by what it says now.
    set_filter(&mut s, "quarantine");
    assert_eq!(shown(&s), ["m012345"]);
    for text in QUERIES {
        set_filter(&mut s, text);
        assert_eq!(shown(&s), each_row_checked(&s), "while streaming, {text:?}");
    }

    let total = s.machines.rows().len();
    feed(
        &mut s,
        WorkerEvent::MachinesLoaded {
            generation: 2,
            total,
        },
    );
    let dropped = (0..N).filter(|i| i % 7 == 3).count();
    assert_eq!(s.machines.rows().len(), N - dropped);
    set_filter(&mut s, "quarantine");
    assert_eq!(shown(&s), ["m012345"]);
    set_filter(&mut s, "m00000");
    // m000000..m000009 but m000003.
    assert_eq!(shown(&s).len(), 9);
    for text in QUERIES {
        set_filter(&mut s, text);
        assert_eq!(
            shown(&s),
            each_row_checked(&s),
            "after the refresh, {text:?}"
        );
    }
}

/// What the list should show for the filter under `sort`: the matching rows, ordered by
/// `value` (descending when asked), equal values in the service's order.
fn expected_sorted<K: Ord>(
    s: &State,
    value: impl Fn(&cordon::tui::state::MachineRow) -> K,
    descending: bool,
) -> Vec<String> {
    let query = Query::parse(&s.filter.input.value().to_lowercase());
    let mut rows: Vec<_> = s
        .machines
        .rows()
        .iter()
        .filter(|r| query.matches(r.machine.search_key().as_bytes(), &r.machine, r.isolation))
        .collect();
    // A stable sort: ties keep the service's order.
    rows.sort_by(|a, b| {
        let order = value(a).cmp(&value(b));
        if descending { order.reverse() } else { order }
    });
    rows.iter().map(|r| r.machine.id().to_string()).collect()
}

fn risk(row: &cordon::tui::state::MachineRow) -> u8 {
    match row.machine.risk_score() {
        Some("None") => 1,
        Some("Low") => 3,
        Some("Medium") => 4,
        Some("High") => 5,
        _ => 0,
    }
}

fn isolation(row: &cordon::tui::state::MachineRow) -> Option<String> {
    row.isolation.map(|s| s.describe())
}

/// Sorted lists this large pick the shown rows out of the list's sorted order; the
/// order must be the one sorting the shown rows gives, also after the rows' states
/// change under an isolation sort.
#[test]
fn a_large_sorted_list_shows_the_same_order_as_sorting_what_it_shows() {
    use cordon_core::api::models::{IsolationState, IsolationType};
    let mut s = loaded(0, 120, 40, false);
    load(&mut s, 1, fleet(N));
    let states = |every: usize| WorkerEvent::IsolationStates {
        generation: 1,
        states: (0..N)
            .step_by(every)
            .map(|i| {
                (
                    format!("m{i:06}"),
                    IsolationState::Isolated(Some(IsolationType::Full)),
                )
            })
            .collect(),
    };
    feed(&mut s, states(3));
    for _ in 0..3 {
        user(&mut s, UserAction::SortNext); // name, last seen, risk
    }
    user(&mut s, UserAction::SortReverse);
    user(&mut s, UserAction::Filter);
    for text in [
        "ws-1",
        "ws-12",
        "",
        "ward-7",
        "os:lin ws-2",
        "os:lin",
        "contoso",
    ] {
        set_filter(&mut s, text);
        assert_eq!(shown(&s), expected_sorted(&s, risk, true), "risk, {text:?}");
        update(&mut s, Action::Text(InputRequest::DeletePrevChar));
        assert_eq!(
            shown(&s),
            expected_sorted(&s, risk, true),
            "risk, {text:?} less one"
        );
    }

    update(&mut s, Action::Submit);
    user(&mut s, UserAction::SortNext); // isolation
    user(&mut s, UserAction::Filter);
    set_filter(&mut s, "contoso");
    assert_eq!(shown(&s), expected_sorted(&s, isolation, false));
    // Other machines are isolated now: the order follows the new states.
    feed(&mut s, states(5));
    set_filter(&mut s, "contos");
    assert_eq!(
        shown(&s),
        expected_sorted(&s, isolation, false),
        "after the states changed"
    );
    assert_eq!(
        s.machines.rows()[s.machines.visible[0]]
            .isolation
            .map(|i| i.describe()),
        Some("Isolated (Full)".to_string()),
    );
    // And when the filter only narrows after a change.
    feed(&mut s, states(7));
    type_text(&mut s, "o");
    assert_eq!(
        shown(&s),
        expected_sorted(&s, isolation, false),
        "narrowed after a change"
    );
}

/// Under a sort, each page of a load is placed among the rows already shown, in order.
#[test]
fn pages_loaded_under_a_sort_arrive_in_order() {
    let mut s = loaded(0, 120, 40, false);
    for _ in 0..3 {
        user(&mut s, UserAction::SortNext); // name, last seen, risk
    }
    user(&mut s, UserAction::SortReverse);
    user(&mut s, UserAction::Filter);
    set_filter(&mut s, "ws-1");
    update(&mut s, Action::Submit);
    feed(&mut s, WorkerEvent::MachinesLoading { generation: 1 });
    let all = fleet(N);
    let mut chosen = None;
    for (k, page) in all.chunks(10_000).enumerate() {
        feed(
            &mut s,
            WorkerEvent::MachinesPage {
                generation: 1,
                machines: summaries(page.iter().cloned()),
                first: k == 0,
            },
        );
        assert_eq!(shown(&s), expected_sorted(&s, risk, true), "after page {k}");
        // Rows placed above the selection do not move it to another machine.
        let selected = s.machines.selected_id().map(str::to_string);
        match &chosen {
            None => {
                // Low in the list: the next pages' rows land above it.
                user(&mut s, UserAction::Last);
                chosen = s.machines.selected_id().map(str::to_string);
            }
            Some(id) => assert_eq!(selected.as_ref(), Some(id), "after page {k}"),
        }
    }
    assert!(shown(&s).len() > 10_000);
}

/// A refresh that changes sort values in place and then fails leaves the list sorted
/// by what it now shows, with the same machine selected; so does one that completes.
#[test]
fn a_refresh_that_reorders_a_sorted_list_is_put_in_order() {
    use cordon_core::worker::protocol::ErrorInfo;
    for n in [300, N] {
        let mut s = loaded(0, 120, 40, false);
        load(&mut s, 1, fleet(n));
        for _ in 0..3 {
            user(&mut s, UserAction::SortNext); // name, last seen, risk
        }
        for _ in 0..7 {
            user(&mut s, UserAction::MoveDown);
        }
        let chosen = s.machines.selected_id().map(str::to_string);
        // Every risk moves one level up.
        let mut next = fleet(n);
        for m in &mut next {
            m.risk_score = Some(
                match m.risk_score.as_deref() {
                    Some("None") => "Low",
                    Some("Low") => "Medium",
                    Some("Medium") => "High",
                    _ => "None",
                }
                .into(),
            );
        }
        page_in(&mut s, 2, next[..n / 2].to_vec());
        feed(
            &mut s,
            WorkerEvent::MachinesFailed {
                generation: 2,
                error: ErrorInfo {
                    code: "Timeout".into(),
                    message: "late".into(),
                },
            },
        );
        assert_eq!(
            shown(&s),
            expected_sorted(&s, risk, false),
            "{n} rows, failed"
        );
        assert_eq!(s.machines.selected_id().map(str::to_string), chosen);
        page_in(&mut s, 3, next.clone());
        let total = s.machines.rows().len();
        feed(
            &mut s,
            WorkerEvent::MachinesLoaded {
                generation: 3,
                total,
            },
        );
        assert_eq!(
            shown(&s),
            expected_sorted(&s, risk, false),
            "{n} rows, completed"
        );
        assert_eq!(s.machines.selected_id().map(str::to_string), chosen);
    }
}

/// Words-only queries against `str::contains` on the summary's key: a check that does
/// not go through the filter's own substring search.
#[test]
fn free_words_find_what_str_contains_finds() {
    let mut s = loaded(0, 120, 40, false);
    load(&mut s, 1, fleet(N));
    user(&mut s, UserAction::Filter);
    for text in [
        "ws-12",
        "ward-7 ws-3",
        "WS-HR-up",
        "m0599",
        "10.0.7",
        "local 192.168.3",
    ] {
        set_filter(&mut s, text);
        let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
        let expected: Vec<String> = s
            .machines
            .rows()
            .iter()
            .filter(|r| {
                words
                    .iter()
                    .all(|w| r.machine.search_key().contains(w.as_str()))
            })
            .map(|r| r.machine.id().to_string())
            .collect();
        assert_eq!(shown(&s), expected, "{text:?}");
    }
}

/// The name sort compares names' first 16 bytes before the names: names that share
/// longer beginnings, differ only in case, or are prefixes of each other still sort
/// as their lowercase text does.
#[test]
fn names_sharing_long_beginnings_sort_by_the_whole_name() {
    let mut all = fleet(N);
    for (i, m) in all.iter_mut().enumerate().take(400) {
        m.computer_dns_name = Some(match i % 4 {
            0 => format!("long-shared-prefix-host-{}", (i * 7) % 200),
            1 => format!("LONG-SHARED-PREFIX-HOST-{}", (i * 11) % 200),
            2 => "long-shared-prefix-host".to_string(),
            _ => format!("long-shared-prefix-hos{}", i % 10),
        });
    }
    let mut s = loaded(0, 120, 40, false);
    load(&mut s, 1, all);
    let name = |r: &cordon::tui::state::MachineRow| r.machine.display_name().to_lowercase();
    user(&mut s, UserAction::SortNext); // name
    user(&mut s, UserAction::Filter);
    for text in ["", "long-shared", "long-shared-prefix-host-1"] {
        set_filter(&mut s, text);
        assert_eq!(shown(&s), expected_sorted(&s, name, false), "{text:?}");
    }
    update(&mut s, Action::Submit);
    user(&mut s, UserAction::SortReverse);
    assert_eq!(shown(&s), expected_sorted(&s, name, true), "descending");
}
