//! Full or Selective, for the isolations cordon sent. The API documents a `scope` on
//! every machine action, but real services leave it null on Isolate actions
//! (docs/mde-api.md): the one record of the isolation type is the request body. The
//! book holds it per action id (seeded from the audit log at start), and the client
//! fills `scope` from it on every action it reads, so the console, the CLI and the
//! JSON all say `Isolated (Selective)` for a machine cordon isolated Selective.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::models::{IsolationType, MachineAction};

/// Shared and cheap to clone; a poisoned lock is recovered (the map stays valid).
#[derive(Debug, Clone, Default)]
pub struct ScopeBook {
    known: Arc<RwLock<HashMap<String, IsolationType>>>,
}

impl ScopeBook {
    pub fn new(known: impl IntoIterator<Item = (String, IsolationType)>) -> Self {
        Self {
            known: Arc::new(RwLock::new(known.into_iter().collect())),
        }
    }

    /// Remember the isolation type of an Isolate action cordon created or adopted.
    pub fn note(&self, action_id: &str, scope: IsolationType) {
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(action_id.to_string(), scope);
    }

    pub fn get(&self, action_id: &str) -> Option<IsolationType> {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(action_id)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill an Isolate's `scope` when the service left it empty. A value the service
    /// did send (the documented Full/Selective) is kept: it is the service's word.
    pub fn fill(&self, action: &mut MachineAction) {
        if action.isolation_scope().is_some() || !action.is_isolation() {
            return;
        }
        if let Some(scope) = self.get(&action.id)
            && action.action_type == super::models::ActionType::Isolate
        {
            action.scope = Some(scope.as_str().to_string());
        }
    }

    pub fn fill_all(&self, actions: &mut [MachineAction]) {
        if self.is_empty() {
            return;
        }
        for a in actions {
            self.fill(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{ActionStatus, ActionType};

    fn action(id: &str, kind: ActionType, scope: Option<&str>) -> MachineAction {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": kind.as_str(), "status": ActionStatus::Succeeded.as_str(),
            "scope": scope,
        }))
        .expect("action")
    }

    #[test]
    fn fills_only_isolates_it_knows_and_keeps_the_services_word() {
        let book = ScopeBook::new([("a1".to_string(), IsolationType::Selective)]);
        let mut known = action("a1", ActionType::Isolate, None);
        let mut stranger = action("a2", ActionType::Isolate, None);
        let mut said = action("a1", ActionType::Isolate, Some("full"));
        let mut release = action("a1", ActionType::Unisolate, None);
        for a in [&mut known, &mut stranger, &mut said, &mut release] {
            book.fill(a);
        }
        assert_eq!(known.isolation_scope(), Some(IsolationType::Selective));
        assert_eq!(stranger.scope, None);
        assert_eq!(said.isolation_scope(), Some(IsolationType::Full));
        assert_eq!(release.scope, None);
    }
}
