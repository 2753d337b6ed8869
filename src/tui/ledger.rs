//! The console's record of this session's requests. It holds only the requests of
//! bulks still running (a finished bulk leaves its summary and failures in
//! `State::last_bulk` and its requests are dropped), indexes them by the action each
//! follows and keeps the in-flight count, so an action update costs the same at the
//! tenth request of a session as at the ten-thousandth.

use std::collections::HashMap;

use super::state::{RequestInfo, RequestStage};
use cordon_core::worker::protocol::RequestId;

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    infos: HashMap<RequestId, RequestInfo>,
    by_action: HashMap<String, Vec<RequestId>>,
    in_flight: usize,
}

impl Ledger {
    pub fn insert(&mut self, id: RequestId, info: RequestInfo) {
        self.track(id, &info, 1);
        if let Some(old) = self.infos.insert(id, info) {
            self.track(id, &old, -1);
        }
    }

    pub fn get(&self, id: &RequestId) -> Option<&RequestInfo> {
        self.infos.get(id)
    }

    /// Requests without a final outcome yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// Machines with a request still in flight.
    pub fn unfinished_machines(&self) -> impl Iterator<Item = &str> {
        self.infos
            .values()
            .filter(|r| !r.is_done())
            .map(|r| r.machine_id.as_str())
    }

    /// The requests following this action.
    pub fn following(&self, action_id: &str) -> Vec<RequestId> {
        self.by_action.get(action_id).cloned().unwrap_or_default()
    }

    /// Change one request, keeping the count and the index true. Returns whether it
    /// became done with this change.
    pub fn update(&mut self, id: RequestId, change: impl FnOnce(&mut RequestInfo)) -> bool {
        let Some(info) = self.infos.get_mut(&id) else {
            return false;
        };
        let before = info.clone();
        change(info);
        let after = info.clone();
        let became_done = !before.is_done() && after.is_done();
        self.track(id, &before, -1);
        self.track(id, &after, 1);
        became_done
    }

    /// Drop a request (its bulk has finished).
    pub fn remove(&mut self, id: RequestId) -> Option<RequestInfo> {
        let info = self.infos.remove(&id)?;
        self.track(id, &info, -1);
        Some(info)
    }

    /// Count `info` in (+1) or out (-1) of the in-flight count and the action index.
    fn track(&mut self, id: RequestId, info: &RequestInfo, sign: i8) {
        if !info.is_done() {
            if sign > 0 {
                self.in_flight += 1;
            } else {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
        }
        if let RequestStage::Tracking { action_id, .. } = &info.stage {
            if sign > 0 {
                let ids = self.by_action.entry(action_id.clone()).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            } else if let Some(ids) = self.by_action.get_mut(action_id) {
                ids.retain(|&r| r != id);
                if ids.is_empty() {
                    self.by_action.remove(action_id);
                }
            }
        }
    }
}
