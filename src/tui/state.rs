//! The console's state, grouped per pane. Rendering only reads it; `update` alone
//! changes it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use tui_input::Input;

use super::ledger::Ledger;
use super::query::Query;
use super::search::SearchKeys;

use cordon_core::api::MachineSummary;
use cordon_core::api::models::{IsolationState, IsolationType, MachineAction};
use cordon_core::worker::protocol::{RequestId, WriteOp};

/// Longest comment the service accepts from us.
pub use cordon_core::domain::MAX_COMMENT_CHARS;

/// What the header shows about the active profile.
#[derive(Debug, Clone, Default)]
pub struct ProfileInfo {
    pub profile: String,
    pub tenant: String,
    pub cloud: String,
    /// For plans saved from the console (`p` in the confirmation).
    pub api_base: String,
    pub readonly: bool,
    pub audit_path: Option<PathBuf>,
    /// Writes need the profile name (or a bulk's size) typed (`domain::protection`).
    pub protected: bool,
    pub protected_tags: Vec<String>,
    /// The profile's `comment_pattern`, enforced as the CLI does.
    pub comment_rule: cordon_core::domain::CommentRule,
    /// The profile's `comment_template`: the comment box starts with it.
    pub comment_template: Option<String>,
    /// Every profile of the config, for `:profile`.
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Machines,
    History,
}

/// One machine in the list, with its derived isolation state.
#[derive(Debug, Clone)]
pub struct MachineRow {
    /// Compact: one allocation per machine, search key included.
    pub machine: MachineSummary,
    /// None until derived (the load's action listing or the machine's history).
    pub isolation: Option<IsolationState>,
    /// Delivered by the load in progress (rows a completed refresh did not deliver are
    /// removed then).
    pub seen: bool,
}

/// The machine list. At 1,000,000 machines every per-row byte counts: rows are compact
/// summaries, the id index stores row numbers and hashes only (`IdIndex`), and the
/// isolation state lives in the row instead of a second map keyed by id.
#[derive(Debug, Clone, Default)]
pub struct MachineList {
    /// Changed only by the methods below, which keep `index` and `keys` in step.
    rows: Vec<MachineRow>,
    /// The rows' search keys end to end, for filters over many rows.
    keys: SearchKeys,
    /// Row numbers, found by hashing the id stored in the row.
    index: IdIndex,
    /// Isolation states of the list a refresh is replacing, handed to the new rows as
    /// they arrive, until the refresh's own states replace them.
    carried: HashMap<String, IsolationState>,
    /// Indices into `rows` that pass the filter, in list order or `sort`'s.
    pub visible: Vec<usize>,
    /// The column the list is sorted by, and whether descending; None: the service's
    /// order.
    pub sort: Option<(SortKey, bool)>,
    /// Columns the analyst hid (`[ui] columns`, `:hide`); the name always shows.
    pub hidden_columns: Vec<SortKey>,
    /// Position in `visible`.
    pub selected: usize,
    /// First visible position drawn (the list renders only the viewport).
    pub scroll: usize,
    /// Marked machine ids (survive refresh and filtering).
    pub marked: HashSet<String>,
    pub loading: bool,
    /// Periodic refresh ticks skipped since the last load completed (a large list is
    /// re-listed less often).
    pub refresh_skips: u32,
    /// Machines whose state an action update set since the current load began: the
    /// load's listing is older than that and must not overwrite it.
    pub touched: HashSet<String>,
    pub generation: Option<u64>,
    /// When a refresh replaced the list, the machine to select again once it arrives.
    pub reselect: Option<String>,
    pub total: Option<usize>,
    /// Every row in `sort` order, kept until the rows (or, for the isolation column,
    /// their states) change: a large list re-sorted under a filter picks its rows out
    /// of it instead of sorting again.
    order: Option<SortedRows>,
    /// Bumped by every change to the rows.
    rows_revision: u64,
    /// Bumped by every change to the rows' isolation states.
    states_revision: u64,
    /// A shown row's sort value may have changed in place (a refresh updated it, or
    /// its state changed) since `visible` was last put in order: the next change to
    /// `visible` sorts it again instead of relying on its order.
    order_stale: bool,
}

#[derive(Debug, Clone)]
struct SortedRows {
    sort: (SortKey, bool),
    rows_revision: u64,
    states_revision: u64,
    rows: Vec<u32>,
}

impl MachineList {
    pub fn rows(&self) -> &[MachineRow] {
        &self.rows
    }

    pub fn selected_row(&self) -> Option<&MachineRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    /// Marked machines that are listed but hidden by the filter, as row numbers in list
    /// order. A bulk acts on them too, so the border and the modals say so.
    pub fn marked_hidden(&self) -> Vec<usize> {
        if self.visible.len() == self.rows.len() {
            return Vec::new(); // no filter: nothing listed is hidden
        }
        // `visible` is in list order (ascending row numbers) unless sorted.
        let shown: Option<HashSet<usize>> =
            self.sort.map(|_| self.visible.iter().copied().collect());
        let is_shown = |i: &usize| match &shown {
            Some(set) => set.contains(i),
            None => self.visible.binary_search(i).is_ok(),
        };
        let mut hidden: Vec<usize> = self
            .marked
            .iter()
            .filter_map(|id| self.index_of(id))
            .filter(|i| !is_shown(i))
            .collect();
        hidden.sort_unstable();
        hidden
    }

    /// Mark every machine the filter shows, or unmark them.
    pub fn mark_visible(&mut self, mark: bool) {
        for &i in &self.visible {
            let id = self.rows[i].machine.id();
            if !mark {
                self.marked.remove(id);
            } else if !self.marked.contains(id) {
                self.marked.insert(id.to_string());
            }
        }
    }

    pub fn selected_id(&self) -> Option<&str> {
        self.selected_row().map(|r| r.machine.id())
    }

    /// The row number of a machine id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.find(id, &self.rows)
    }

    pub fn by_id(&self, id: &str) -> Option<&MachineRow> {
        self.index_of(id).map(|i| &self.rows[i])
    }

    pub fn isolation_of(&self, id: &str) -> Option<IsolationState> {
        match self.by_id(id) {
            Some(row) => row.isolation,
            None => self.carried.get(id).copied(),
        }
    }

    /// Record a machine's derived state. A machine a refresh has not delivered yet
    /// keeps it until its row arrives.
    pub fn set_isolation(&mut self, id: &str, state: IsolationState) {
        self.states_revision += 1;
        self.order_stale = true;
        match self.index_of(id) {
            Some(i) => self.rows[i].isolation = Some(state),
            None if self.loading => {
                self.carried.insert(id.to_string(), state);
            }
            None => {}
        }
    }

    /// A refresh begins: its pages update the rows in place, so the selection, the
    /// marks and the states stay put while it streams; rows it does not deliver are
    /// removed only when it completes (`remove_unseen`).
    pub fn begin_refresh(&mut self) {
        for row in &mut self.rows {
            row.seen = false;
        }
    }

    /// The refresh completed: drop the machines it no longer lists. Returns how many.
    pub fn remove_unseen(&mut self) -> usize {
        self.rows_revision += 1;
        let before = self.rows.len();
        self.rows.retain(|r| r.seen);
        let removed = before - self.rows.len();
        if removed > 0 {
            self.rebuild_keys();
            self.index.rebuild(&self.rows);
        }
        removed
    }

    /// Append a page; returns the first new row number. A machine already listed
    /// (pages overlap when the list shifts under paging) keeps one row.
    pub fn push_page(&mut self, machines: Vec<MachineSummary>) -> usize {
        self.rows_revision += 1;
        let from = self.rows.len();
        self.rows.reserve(machines.len());
        self.index.reserve(machines.len());
        for machine in machines {
            match self.index.find(machine.id(), &self.rows) {
                Some(i) => {
                    let row = &mut self.rows[i];
                    if row.machine.search_key() != machine.search_key() {
                        self.keys.mark_stale(); // rebuilt when the refresh completes
                    }
                    row.machine = machine;
                    row.seen = true;
                    self.order_stale = true;
                }
                None => {
                    let Ok(n) = u32::try_from(self.rows.len()) else {
                        break; // 4 billion machines: not a tenant
                    };
                    let isolation = self.carried.get(machine.id()).copied();
                    self.keys.push(machine.search_key());
                    self.rows.push(MachineRow {
                        machine,
                        isolation,
                        seen: true,
                    });
                    self.index.insert(&self.rows[n as usize], n);
                }
            }
        }
        from
    }

    /// The load's own states arrived: listed machines it does not name have no
    /// isolation action, so they were never isolated. Machines an action update set
    /// since the load began, and `in_flight` (machines with a request of ours still in
    /// flight), may know something newer than the load's listing.
    pub fn settle_isolation<'a>(
        &mut self,
        states: Vec<(String, IsolationState)>,
        in_flight: impl IntoIterator<Item = &'a str>,
    ) {
        self.states_revision += 1;
        self.order_stale = true;
        let mut newer: HashSet<String> = std::mem::take(&mut self.touched);
        newer.extend(in_flight.into_iter().map(str::to_string));
        let keep: HashSet<&str> = newer.iter().map(String::as_str).collect();
        // A machine is kept only when something newer is actually known about it.
        let newer = |row: &MachineRow| row.isolation.is_some() && keep.contains(row.machine.id());
        for row in &mut self.rows {
            if !newer(row) {
                row.isolation = Some(IsolationState::NotIsolated);
            }
        }
        for (id, state) in states {
            if let Some(i) = self.index_of(&id)
                && !newer(&self.rows[i])
            {
                self.rows[i].isolation = Some(state);
            }
        }
        self.carried.clear();
    }

    /// The refresh ended (or failed): states not yet handed over are stale, and keys
    /// it changed in place are put into the search buffers.
    pub fn finish_refresh(&mut self) {
        self.carried.clear();
        if self.keys.is_stale() {
            self.rebuild_keys();
        }
    }

    fn rebuild_keys(&mut self) {
        self.keys
            .rebuild(self.rows.iter().map(|r| r.machine.search_key()));
    }

    /// A listing of `generation` belongs to a refresh that a newer one has replaced.
    pub fn is_stale(&self, generation: u64) -> bool {
        self.generation.is_some_and(|g| generation < g)
    }

    /// A page of refresh `generation` arrived (`first`: its first page). Rows are
    /// updated in place or appended, new rows that match the filter become
    /// visible, and the machine to reselect is selected as soon as it is back.
    pub fn receive_page(
        &mut self,
        generation: u64,
        machines: Vec<MachineSummary>,
        first: bool,
        query: &Query,
    ) {
        self.generation = Some(generation);
        self.loading = true;
        if first {
            self.begin_refresh();
        }
        let chosen = self.selected_id().map(str::to_string);
        let from = self.push_page(machines);
        let added = self.matching(from, query);
        match self.sort {
            // New rows have the highest row numbers: list order stays ascending.
            None => self.visible.extend(added),
            // Rows this refresh updated in place may belong elsewhere now: sort again,
            // except on a large list, where that would cost a sort of everything per
            // page; there they are put in order when the refresh ends.
            Some(_) if self.order_stale && self.visible.len() < SORTED_ROWS_FROM => {
                self.visible.extend(added);
                self.apply_sort();
            }
            Some(sort) => self.insert_sorted(&added, sort),
        }
        // Rows placed above the selection must not move it to another machine.
        if let Some(pos) = chosen.and_then(|id| self.position_of(&id)) {
            self.selected = pos;
        }
        if let Some(pos) = self.reselect.as_deref().and_then(|id| self.position_of(id)) {
            self.selected = pos;
            self.reselect = None;
        }
    }

    /// The refresh delivered all `total` machines: machines it did not deliver are gone,
    /// and rows updated in place may match the filter differently now. The
    /// chosen machine stays selected; if it is gone the highlight lands elsewhere, so it
    /// is kept in `reselect` and writes refuse until the analyst chooses again. Returns
    /// how many marks were dropped (`drop_unlisted_marks`).
    pub fn complete_refresh(&mut self, total: usize, query: &Query) -> usize {
        self.loading = false;
        self.total = Some(total);
        self.refresh_skips = 0;
        let chosen = self.selected_id().map(str::to_string);
        self.remove_unseen();
        self.finish_refresh();
        self.visible = self.matching(0, query);
        self.apply_sort();
        if let Some(id) = chosen {
            match self.position_of(&id) {
                Some(pos) => self.selected = pos,
                None => {
                    self.reselect.get_or_insert(id);
                }
            }
        }
        self.drop_unlisted_marks()
    }

    /// Marks on machines the service no longer lists could never be reviewed or
    /// cleared on screen: drop them. Returns how many.
    fn drop_unlisted_marks(&mut self) -> usize {
        let gone: Vec<String> = self
            .marked
            .iter()
            .filter(|id| self.index_of(id).is_none())
            .cloned()
            .collect();
        for id in &gone {
            self.marked.remove(id);
        }
        gone.len()
    }

    /// The position in `visible` of a machine id: None when it is not listed or the
    /// filter hides it.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        let idx = self.index_of(id)?;
        self.visible.iter().position(|&i| i == idx)
    }

    /// Row numbers from `from` on that match the filter, ascending.
    pub fn matching(&self, from: usize, query: &Query) -> Vec<usize> {
        let from = from.min(self.rows.len());
        if query.is_empty() {
            return (from..self.rows.len()).collect();
        }
        let rows = &self.rows;
        if self.keys.covers(rows.len())
            && query.words_searchable()
            && let Some((word, rest)) = query.split_scan_word()
        {
            // One pass over the keys finds the word; only its rows meet the rest.
            let keys = &self.keys;
            let rest_holds = |i: usize| key_matches(&rest, |w| keys.contains(i, w), &rows[i]);
            return split_rows(from..rows.len(), |part| keys.find(word, part, rest_holds));
        }
        split_rows(from..rows.len(), |part| {
            part.filter(|&i| row_matches(query, &rows[i])).collect()
        })
    }

    /// Order `visible` by `sort` (equal values keep the service's order).
    pub fn apply_sort(&mut self) {
        self.order_stale = false;
        let Some(sort) = self.sort else {
            self.visible.sort_unstable();
            return;
        };
        if self.visible.len() < SORTED_ROWS_FROM || self.visible.len() < self.rows.len() / 8 {
            self.visible = sorted(&self.rows, &self.visible, sort);
            return;
        }
        // Many rows shown: pick them out of every row in order (sorted once).
        let mut shown = vec![0u64; self.rows.len().div_ceil(64)];
        for &i in &self.visible {
            shown[i / 64] |= 1 << (i % 64);
        }
        self.visible = self
            .sorted_rows(sort)
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| shown[i / 64] & (1 << (i % 64)) != 0)
            .collect();
    }

    /// Put `added` rows where `sort` places them among the shown rows, which are in
    /// that order (unless `order_stale`: then near it, until the refresh ends). Each
    /// page of a load costs a binary search per new row, not a sort of everything
    /// shown (a million rows under the name sort took 0.5 s a page).
    fn insert_sorted(&mut self, added: &[usize], sort: (SortKey, bool)) {
        let rows = &self.rows;
        let (key, descending) = sort;
        let before = |a: usize, b: usize| {
            let order = key.value(&rows[a]).cmp(&key.value(&rows[b]));
            let order = if descending { order.reverse() } else { order };
            order.then(a.cmp(&b)).is_lt()
        };
        let mut merged = Vec::with_capacity(self.visible.len() + added.len());
        let mut start = 0;
        for row in sorted(rows, added, sort) {
            let at = start + self.visible[start..].partition_point(|&v| before(v, row));
            merged.extend_from_slice(&self.visible[start..at]);
            merged.push(row);
            start = at;
        }
        merged.extend_from_slice(&self.visible[start..]);
        self.visible = merged;
    }

    /// Sort the shown rows again if a sort value changed in place, keeping the same
    /// machine selected.
    pub fn restore_order(&mut self) {
        if !self.order_stale || self.sort.is_none() {
            return;
        }
        let chosen = self.selected_id().map(str::to_string);
        self.apply_sort();
        if let Some(pos) = chosen.and_then(|id| self.position_of(&id)) {
            self.selected = pos;
        }
    }

    pub fn order_stale(&self) -> bool {
        self.order_stale && self.sort.is_some()
    }

    /// Every row in `sort` order, sorted again only when what it depends on changed.
    fn sorted_rows(&mut self, sort: (SortKey, bool)) -> &[u32] {
        let states_revision = match sort.0 {
            SortKey::Isolation => self.states_revision,
            _ => 0, // the other columns do not depend on the states
        };
        let fresh = self.order.as_ref().is_some_and(|o| {
            o.sort == sort
                && o.rows_revision == self.rows_revision
                && o.states_revision == states_revision
        });
        if !fresh {
            let all: Vec<usize> = (0..self.rows.len()).collect();
            self.order = Some(SortedRows {
                sort,
                rows_revision: self.rows_revision,
                states_revision,
                rows: sorted(&self.rows, &all, sort)
                    .into_iter()
                    .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                    .collect(),
            });
        }
        self.order.as_ref().map_or(&[], |o| &o.rows)
    }

    /// The filter grew longer: only the rows still visible can match it. Their
    /// order is kept.
    pub fn narrow_visible(&mut self, query: &Query) {
        let rows = &self.rows;
        let keys = (self.keys.covers(rows.len()) && query.words_searchable()).then_some(&self.keys);
        // A row's key from the keys buffer: near the previous row's when many rows are
        // shown, where its summary would be a cache miss.
        let holds = |i: usize| match keys {
            Some(keys) => key_matches(query, |w| keys.contains(i, w), &rows[i]),
            None => row_matches(query, &rows[i]),
        };
        let visible = &self.visible;
        if visible.len() < PARALLEL_FROM {
            self.visible.retain(|&i| holds(i));
            return;
        }
        if keys.is_some() && visible.len() >= rows.len() / 8 {
            // Many rows shown: one search over all the keys (vectorised, memory read
            // in order) beats checking the shown rows one by one.
            let found = self.matching(0, query);
            if self.sort.is_none() && visible.len() == rows.len() {
                self.visible = found; // every row was shown, in list order
                return;
            }
            let mut hit = vec![0u64; rows.len().div_ceil(64)];
            for i in found {
                hit[i / 64] |= 1 << (i % 64);
            }
            self.visible.retain(|&i| hit[i / 64] & (1 << (i % 64)) != 0);
            return;
        }
        self.visible = split_rows(0..visible.len(), |part| {
            part.map(|p| visible[p]).filter(|&i| holds(i)).collect()
        });
    }
}

/// `query` holds for a row whose key has the words `key_has` says; the row itself is
/// read only for `field:value` terms.
fn key_matches(query: &Query, key_has: impl Fn(&[u8]) -> bool, row: &MachineRow) -> bool {
    query.matches_words(key_has)
        && (!query.has_fields() || query.matches_fields(&row.machine, row.isolation))
}

fn row_matches(query: &Query, row: &MachineRow) -> bool {
    query.matches(
        row.machine.search_key().as_bytes(),
        &row.machine,
        row.isolation,
    )
}

/// `rows` (row numbers) in `sort` order. Each row's value is computed once; ties are
/// broken by row number, so an unstable sort is exact and equal values keep the
/// service's order, descending too.
fn sorted(all: &[MachineRow], rows: &[usize], (key, descending): (SortKey, bool)) -> Vec<usize> {
    // Small values sort faster: levels and times are taken out of `SortValue` (whose
    // text variant makes every value 48 bytes).
    match key {
        SortKey::Risk | SortKey::Exposure => {
            by_value(all, rows, descending, |r| match key.value(r) {
                SortValue::Level(level) => level,
                _ => 0,
            })
        }
        SortKey::LastSeen => by_value(all, rows, descending, |r| match key.value(r) {
            SortValue::Time(time) => time,
            _ => None,
        }),
        _ => by_value(all, rows, descending, |r| key.value(r)),
    }
}

fn by_value<'a, K: Ord>(
    all: &'a [MachineRow],
    rows: &[usize],
    descending: bool,
    value: impl Fn(&'a MachineRow) -> K,
) -> Vec<usize> {
    let mut keyed: Vec<(K, usize)> = rows.iter().map(|&i| (value(&all[i]), i)).collect();
    if descending {
        keyed.sort_unstable_by(|(x, i), (y, j)| y.cmp(x).then(i.cmp(j)));
    } else {
        keyed.sort_unstable();
    }
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// From this many rows shown on, a sort picks them out of the list's sorted order
/// (`MachineList::sorted_rows`) instead of sorting them.
const SORTED_ROWS_FROM: usize = 50_000;

/// From this many rows on, a filter checks them on every core: at 1,000,000 machines
/// one core takes longer than a frame. Below it, starting threads costs more than it
/// saves.
const PARALLEL_FROM: usize = 50_000;

/// `scan` over `rows`, split over the cores in contiguous parts when there are many;
/// the parts' results are joined in order, so the result is the one a single pass
/// gives.
fn split_rows(
    rows: std::ops::Range<usize>,
    scan: impl Fn(std::ops::Range<usize>) -> Vec<usize> + Sync,
) -> Vec<usize> {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(8)
    });
    let n = rows.len();
    if n < PARALLEL_FROM || cores < 2 {
        return scan(rows);
    }
    let chunk = n.div_ceil(cores);
    let part = |k: usize| rows.start + k * chunk..rows.end.min(rows.start + (k + 1) * chunk);
    let scan = &scan;
    std::thread::scope(|scope| {
        // Every part but the first on a thread of its own; the first on this one.
        let others: Vec<_> = (1..cores)
            .map(part)
            .filter(|p| !p.is_empty())
            .map(|p| scope.spawn(move || scan(p)))
            .collect();
        let mut out = scan(part(0));
        for found in others {
            match found.join() {
                Ok(found) => out.extend(found),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Row numbers by machine id, hashing the id stored in the row (a map keyed by id
/// would store every id twice). Each entry keeps the id's hash beside the row number,
/// so growing the table moves entries without reading the rows: re-reading a million
/// scattered rows stalled a 1,000,000-machine load for 0.4 s at each doubling.
#[derive(Debug, Clone, Default)]
struct IdIndex {
    /// (row number, the id's hash).
    table: HashTable<(u32, u32)>,
    hasher: RandomState,
}

impl IdIndex {
    /// A 32-bit hash, kept whole in the entry, spread over the 64 bits hashbrown reads
    /// (the bucket from the low bits, the tag from the top seven).
    fn hash(&self, id: &str) -> u32 {
        self.hasher.hash_one(id) as u32
    }

    fn spread(hash: u32) -> u64 {
        (u64::from(hash) << 32) | u64::from(hash)
    }

    fn find(&self, id: &str, rows: &[MachineRow]) -> Option<usize> {
        let hash = self.hash(id);
        self.table
            .find(Self::spread(hash), |&(i, h)| {
                h == hash && rows[i as usize].machine.id() == id
            })
            .map(|&(i, _)| i as usize)
    }

    /// `row` is row number `n`, and its id is not in the index yet.
    fn insert(&mut self, row: &MachineRow, n: u32) {
        let hash = self.hash(row.machine.id());
        self.table
            .insert_unique(Self::spread(hash), (n, hash), |&(_, h)| Self::spread(h));
    }

    fn reserve(&mut self, more: usize) {
        self.table.reserve(more, |&(_, h)| Self::spread(h));
    }

    fn rebuild(&mut self, rows: &[MachineRow]) {
        self.table.clear();
        self.reserve(rows.len());
        for (n, row) in rows.iter().enumerate() {
            self.insert(row, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
}

/// What the machine list can be sorted by (`s` cycles, `S` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    LastSeen,
    Risk,
    Isolation,
    Health,
    Os,
    Exposure,
}

impl SortKey {
    /// The name a column has in `[ui] columns` and `:hide`/`:show`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(
            match name.to_lowercase().replace(['-', '_', ' '], "").as_str() {
                "name" => Self::Name,
                "lastseen" => Self::LastSeen,
                "risk" => Self::Risk,
                "isolation" => Self::Isolation,
                "health" => Self::Health,
                "os" => Self::Os,
                "exposure" => Self::Exposure,
                _ => return None,
            },
        )
    }

    /// The cycle `s` walks: None, then these, then None again.
    pub const CYCLE: [SortKey; 7] = [
        Self::Name,
        Self::LastSeen,
        Self::Risk,
        Self::Isolation,
        Self::Health,
        Self::Os,
        Self::Exposure,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::LastSeen => "last seen",
            Self::Risk => "risk",
            Self::Isolation => "isolation",
            Self::Health => "health",
            Self::Os => "OS",
            Self::Exposure => "exposure",
        }
    }

    /// A row's value under this key. Computed once per row: comparing rows directly
    /// lowercased or parsed both sides at every comparison (0.75 s to sort a million).
    fn value(self, row: &MachineRow) -> SortValue<'_> {
        use cordon_core::api::models::parse_time;
        let m = &row.machine;
        fn text(s: Option<&str>) -> SortValue<'_> {
            let text = lowercase(s.unwrap_or(""));
            SortValue::Text(head(&text), text)
        }
        match self {
            Self::Name => text(Some(m.display_name())),
            // Newest first when ascending would surprise: "last seen" ascends in time.
            Self::LastSeen => SortValue::Time(parse_time(m.last_seen())),
            Self::Risk => SortValue::Level(level(m.risk_score())),
            Self::Exposure => SortValue::Level(level(m.exposure_level())),
            Self::Isolation => SortValue::State(row.isolation.map(|s| s.describe())),
            Self::Health => text(m.health_status()),
            Self::Os => text(m.os_platform()),
        }
    }
}

/// What a row is sorted by; within one sort every value is the same variant.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortValue<'a> {
    Level(u8),
    Time(Option<DateTime<Utc>>),
    /// The text's first 16 bytes, then the text: most comparisons end at the first,
    /// without reading the text where it lies (a cache miss per row at a million).
    Text(u128, Cow<'a, str>),
    State(Option<String>),
}

/// The first 16 bytes of `s` as a big-endian number, zero-padded: ordering by it and
/// then by `s` is ordering by `s` (a zero-padded tie falls through to `s`).
fn head(s: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = s.len().min(16);
    bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

/// `s` in lower case, borrowed when it is already (most names are).
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Risk and exposure levels in their meaning's order, not the alphabet's.
fn level(s: Option<&str>) -> u8 {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("none") => 1,
        Some("informational") => 2,
        Some("low") => 3,
        Some("medium") => 4,
        Some("high") => 5,
        _ => 0,
    }
}

#[derive(Debug, Clone, Default)]
pub struct HistoryState {
    /// Loaded histories, newest first, per machine id.
    pub cache: HashMap<String, Vec<MachineAction>>,
    pub loading: HashSet<String>,
    pub errors: HashMap<String, String>,
    /// Selected entry of the shown machine's history.
    pub selected: usize,
    /// Machine whose history is shown (follows the machine selection).
    pub machine_id: Option<String>,
    /// When the selection last moved to another machine.
    pub moved_at: Option<DateTime<Utc>>,
    /// The selection is moving in a burst (key repeat, paging): its history loads once
    /// it rests, so scrolling past 40 rows does not spend 40 calls of the budget.
    pub waiting: bool,
}

impl HistoryState {
    pub fn entries(&self) -> &[MachineAction] {
        self.machine_id
            .as_ref()
            .and_then(|id| self.cache.get(id))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn selected_entry(&self) -> Option<&MachineAction> {
        self.entries().get(self.selected)
    }
}

#[derive(Debug, Clone, Default)]
pub struct FilterState {
    pub input: Input,
    /// The filter box has focus (typing edits it).
    pub editing: bool,
    /// The lowercase needle the `visible` list was computed for.
    pub applied: String,
    /// `applied`, parsed.
    pub query: Query,
}

#[derive(Debug, Clone, Default)]
pub struct StatusLine {
    pub error: Option<String>,
    pub notice: Option<String>,
    pub budget: Option<(u32, u32)>,
}

/// The write the comment modal is collecting a comment for.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOp {
    Isolate(IsolationType),
    Release,
    Cancel {
        action_id: String,
        action_type: String,
    },
}

impl PendingOp {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Isolate(_) => "Isolate",
            Self::Release => "Release",
            Self::Cancel { .. } => "Cancel",
        }
    }

    pub fn to_write_op(&self) -> WriteOp {
        match self {
            Self::Isolate(t) => WriteOp::Isolate { isolation_type: *t },
            Self::Release => WriteOp::Unisolate,
            Self::Cancel { action_id, .. } => WriteOp::Cancel {
                action_id: action_id.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    /// Already sanitised display name.
    pub name: String,
    /// Marked, but the filter hid it when the write was opened: the analyst cannot see
    /// it on screen, so the modals name it.
    pub hidden_by_filter: bool,
}

#[derive(Debug, Clone)]
pub struct CommentForm {
    pub op: PendingOp,
    pub targets: Vec<Target>,
    /// The highlighted machine when marks decide the targets and it is not marked: the
    /// modals say it is not included.
    pub not_included: Option<String>,
    pub input: Input,
    /// Why the last Enter was refused, shown inside the modal.
    pub error: Option<String>,
    /// Which earlier comment Up/Down has recalled (0 = the latest).
    pub recalled: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ConfirmForm {
    pub op: PendingOp,
    pub targets: Vec<Target>,
    pub not_included: Option<String>,
    /// Targets this write changes nothing for ("ws-1 is already isolated"): sending
    /// needs a second `y`.
    pub no_ops: Vec<String>,
    /// The first `y` was given while `no_ops` is not empty.
    pub armed: bool,
    pub comment: cordon_core::domain::Comment,
    /// A protected profile or machine: what must be typed before it counts.
    pub challenge: Option<cordon_core::domain::protection::Challenge>,
    pub typed: Input,
}

#[derive(Debug, Clone)]
pub enum Modal {
    Comment(CommentForm),
    Confirm(ConfirmForm),
    /// `scroll`: the first row shown when the terminal is too short for all of them.
    Help {
        scroll: usize,
    },
    QuitConfirm,
    /// The last bulk's failures; `scroll` as for Help.
    Failures {
        scroll: usize,
    },
    /// A device-code profile needs the analyst to sign in: the URL and code once the
    /// worker has them.
    SignIn {
        prompt: Option<cordon_core::auth::device::PromptInfo>,
        since: DateTime<Utc>,
    },
}

/// Where one submitted request stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestStage {
    /// Sent; no outcome yet.
    Sent,
    /// Accepted (or already active): the service's action is being tracked.
    Tracking {
        action_id: String,
        final_: bool,
    },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub machine_id: String,
    pub machine_name: String,
    pub verb: &'static str,
    pub stage: RequestStage,
    /// When the service accepted it, and when its action reached a final state (the
    /// difference is the completion time bulk ETAs are based on).
    pub accepted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The final status when the action ended other than Succeeded (Failed, TimeOut,
    /// Cancelled): a bulk counts it as failed.
    pub ended_badly: Option<String>,
}

impl RequestInfo {
    pub fn is_done(&self) -> bool {
        matches!(
            self.stage,
            RequestStage::Failed(_) | RequestStage::Tracking { final_: true, .. }
        )
    }
}

/// A finished bulk: its summary line, and the machines it did not get through (kept
/// here, since the requests behind them are pruned).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOutcome {
    pub verb: &'static str,
    pub total: usize,
    /// `Isolate 32/32 done · 7 failed`.
    pub line: String,
    pub failed: Vec<FailedTarget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailedTarget {
    pub machine_id: String,
    /// Already sanitised.
    pub name: String,
    /// Already sanitised: `ended TimeOut`, or the service's refusal.
    pub why: String,
}

/// One Submit of N requests, shown as progress until every request is accounted for.
#[derive(Debug, Clone)]
pub struct Batch {
    pub verb: &'static str,
    pub request_ids: Vec<RequestId>,
    pub started: DateTime<Utc>,
    /// Requests of this batch not yet done: it finishes at 0.
    pub open: usize,
}

impl Batch {
    /// A submit numbers its requests consecutively, so a batch is a range of ids.
    pub fn contains(&self, id: RequestId) -> bool {
        match (self.request_ids.first(), self.request_ids.last()) {
            (Some(&first), Some(&last)) => (first..=last).contains(&id),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub info: ProfileInfo,
    /// The clock used for relative times and ETAs; the runner sets it, tests fix it.
    pub now: DateTime<Utc>,
    pub focus: Pane,
    pub machines: MachineList,
    pub history: HistoryState,
    pub filter: FilterState,
    pub modal: Option<Modal>,
    pub status: StatusLine,
    /// Requests of the bulks still running (`Ledger`).
    pub requests: Ledger,
    pub batches: Vec<Batch>,
    /// How the last bulk ended, kept on the list's border until the next one.
    pub last_bulk: Option<BulkOutcome>,
    pub next_request_id: RequestId,
    pub spinner: usize,
    /// Rows the machine table shows (set from the terminal size).
    pub list_height: usize,
    /// Terminal size, for layout decisions in update (paging).
    pub size: (u16, u16),
    /// The worker's event channel closed.
    pub worker_gone: bool,
    /// How often the runner sends `PeriodicRefresh`.
    pub refresh_every: std::time::Duration,
    /// A device-code sign-in is under way (the worker runs it).
    pub signing_in: bool,
    /// Comments sent this session, newest first (Up/Down recall them in the box).
    pub recent_comments: Vec<String>,
    /// The `:` command line, while it is open.
    pub command: Option<CommandLine>,
    /// Commands run this session, newest first (Up/Down recall them).
    pub command_history: Vec<String>,
    /// `:profile NAME` asked to continue in another profile: the runner ends this
    /// console and the session starts again there.
    pub switch_to: Option<String>,
}

/// The `:` command line: what is typed, and which earlier command Up/Down recalled.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub input: Input,
    pub recalled: Option<usize>,
}

impl State {
    pub fn new(info: ProfileInfo, now: DateTime<Utc>) -> Self {
        Self {
            info,
            now,
            focus: Pane::Machines,
            machines: MachineList::default(),
            history: HistoryState::default(),
            filter: FilterState::default(),
            modal: None,
            status: StatusLine::default(),
            requests: Ledger::default(),
            batches: Vec::new(),
            last_bulk: None,
            next_request_id: 1,
            spinner: 0,
            list_height: 10,
            size: (80, 24),
            worker_gone: false,
            refresh_every: std::time::Duration::from_secs(60),
            signing_in: false,
            recent_comments: Vec::new(),
            command: None,
            command_history: Vec::new(),
            switch_to: None,
        }
    }

    /// Requests without a final outcome yet.
    pub fn in_flight(&self) -> usize {
        self.requests.in_flight()
    }

    /// Something on screen moves (spinner) and needs ticks.
    pub fn is_animating(&self) -> bool {
        self.machines.loading
            || !self.history.loading.is_empty()
            || self.history.waiting
            || self.signing_in
            || self.in_flight() > 0
            || self.viewport_has_transition()
            || self.history.entries().iter().any(|a| a.status.is_active())
    }

    /// A machine in the drawn window is Isolating/Releasing (its spinner turns). Only
    /// the viewport is checked so this stays cheap with 100,000 machines.
    fn viewport_has_transition(&self) -> bool {
        let m = &self.machines;
        let end = (m.scroll + self.list_height).min(m.visible.len());
        m.visible[m.scroll.min(end)..end].iter().any(|&i| {
            matches!(
                m.rows[i].isolation,
                Some(IsolationState::Isolating(_) | IsolationState::Releasing)
            )
        })
    }
}
