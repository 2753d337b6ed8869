//! State transitions of the console: Action sequences in, state and effects out. One
//! file per concern; the scenario helpers they share are here.

#![allow(clippy::unwrap_used)]

mod filter_at_scale;
mod loading;
mod navigation;
mod refresh;
mod worker_events;
mod writes;

use cordon::tui::action::Effect;
use cordon::tui::present::confirm_text;
use cordon::tui::state::Modal;
use cordon_core::worker::protocol::{Command, WriteRequest};

fn submits(fx: &[Effect]) -> Vec<Vec<WriteRequest>> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(Command::Submit(r)) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn history_loads(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(Command::LoadHistory { machine_id }) => Some(machine_id.clone()),
            _ => None,
        })
        .collect()
}

fn confirm_sentence(s: &cordon::tui::state::State) -> String {
    match &s.modal {
        Some(Modal::Confirm(f)) => confirm_text(f),
        other => panic!("expected the confirmation, got {other:?}"),
    }
}
