//! How a machine's actions add up: newest first, and the isolation state they leave.

use std::borrow::Borrow;
use std::collections::HashMap;

use crate::domain::models::{ActionType, IsolationState, MachineAction, parse_time};

/// Sort actions newest first by creation time. Times are compared parsed: the service
/// sends up to 7 fractional digits, so text order is wrong. Undated actions go last.
pub fn newest_first<T: Borrow<MachineAction>>(actions: &mut [T]) {
    actions.sort_by_key(|a| {
        std::cmp::Reverse(parse_time(a.borrow().creation_date_time_utc.as_deref()))
    });
}

/// The isolation state of every machine that has isolation actions among these.
pub fn isolation_states<T: Borrow<MachineAction>>(actions: &[T]) -> Vec<(String, IsolationState)> {
    let mut by_machine: HashMap<&str, Vec<&MachineAction>> = HashMap::new();
    for a in actions {
        let a = a.borrow();
        if matches!(a.action_type, ActionType::Isolate | ActionType::Unisolate)
            && let Some(id) = a.machine_id.as_deref()
        {
            by_machine.entry(id).or_default().push(a);
        }
    }
    by_machine
        .into_iter()
        .map(|(id, acts)| (id.to_string(), IsolationState::derive(acts)))
        .collect()
}
