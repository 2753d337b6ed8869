//! Presentation arithmetic shared by the reducer and the views: numbers as people read
//! them, the sentence a confirmation shows, bulk progress and its ETA. Pure functions of
//! state; no drawing, no state changes.

use cordon_core::sanitize::clean;

use super::state::{Batch, ConfirmForm, PendingOp, RequestInfo, RequestStage, State, Target};
use cordon_core::api::QUOTA_PER_MINUTE;
use cordon_core::api::quota_schedule;

/// How many target names a modal lists before "and N more".
pub const NAMES_SHOWN: usize = 3;

/// "ws-01, ws-02, ws-03 and 4 more"
pub fn target_names(targets: &[Target]) -> String {
    let mut s = targets
        .iter()
        .take(NAMES_SHOWN)
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if targets.len() > NAMES_SHOWN {
        s.push_str(&format!(" and {} more", targets.len() - NAMES_SHOWN));
    }
    s
}

/// Exactly what will be sent, in one sentence.
pub fn confirm_text(form: &ConfirmForm) -> String {
    let subject = match form.targets.as_slice() {
        [one] => one.name.clone(),
        many => format!("{} machines", group_thousands(many.len())),
    };
    match &form.op {
        PendingOp::Isolate(t) => format!(
            "Isolate {subject} ({}) with comment: \"{}\"",
            t.as_str(),
            form.comment
        ),
        PendingOp::Release => format!("Release {subject} with comment: \"{}\"", form.comment),
        PendingOp::Cancel { action_id, .. } => format!(
            "Cancel action {} on {subject} with comment: \"{}\"",
            clean(action_id),
            form.comment
        ),
    }
}

/// Progress lines for unfinished batches: "Isolate 37/1,000 done · 560 to send · ETA 6m".
/// `sep` joins the parts (" · ", or " | " for ASCII terminals).
///
/// ETA = time left to send the rest at the quota (100 a minute, 1,500 an hour: the
/// pace of the first burst would badly underestimate it) + how long an action has
/// taken to complete so far. Without a completed action yet, only the first part.
pub fn batch_progress(state: &State, sep: &str) -> Vec<String> {
    if state.batches.is_empty() {
        // The last bulk's result stays in view until the next one starts.
        return state
            .last_bulk
            .as_ref()
            .map(|b| b.line.replace(" · ", sep))
            .into_iter()
            .collect();
    }
    state
        .batches
        .iter()
        .map(|b| {
            let total = b.request_ids.len();
            let infos: Vec<&RequestInfo> = b
                .request_ids
                .iter()
                .filter_map(|id| state.requests.get(id))
                .collect();
            let done = total - infos.iter().filter(|r| !r.is_done()).count();
            let unsent = infos
                .iter()
                .filter(|r| r.stage == RequestStage::Sent)
                .count();
            let mut line = format!(
                "{} {}/{} done",
                b.verb,
                group_thousands(done),
                group_thousands(total)
            );
            // Sending takes a visible time only beyond one minute's quota.
            if unsent > 0 && total > QUOTA_PER_MINUTE as usize {
                line.push_str(&format!("{sep}{} to send", group_thousands(unsent)));
            }
            if done < total
                && let Some(eta) = batch_eta(state, b, &infos, unsent)
            {
                line.push_str(&format!("{sep}ETA {}", short_duration(eta)));
            }
            line
        })
        .collect()
}

/// Seconds until the batch should be done, when there is a basis for a guess.
fn batch_eta(state: &State, b: &Batch, infos: &[&RequestInfo], unsent: usize) -> Option<f64> {
    let secs = |d: chrono::TimeDelta| d.num_milliseconds() as f64 / 1000.0;
    let completions: Vec<f64> = infos
        .iter()
        .filter_map(|r| Some(secs(r.finished_at? - r.accepted_at?)))
        .collect();
    let lag = (!completions.is_empty())
        .then(|| completions.iter().sum::<f64>() / completions.len() as f64);
    let elapsed = secs(state.now - b.started);
    let model = if unsent > 0 {
        let sending = quota_schedule(b.request_ids.len()).as_secs_f64() - elapsed;
        Some(sending.max(0.0) + lag.unwrap_or(0.0))
    } else {
        // Everything is sent: the last accepted action should finish one lag after it.
        lag.and_then(|lag| {
            infos
                .iter()
                .filter(|r| !r.is_done())
                .filter_map(|r| r.accepted_at)
                .map(|at| secs(at - state.now) + lag)
                .reduce(f64::max)
        })
    };
    // Behind the model (a slow service, retries): fall back to the pace so far.
    let done = infos.iter().filter(|r| r.is_done()).count();
    let pace = (done > 0 && elapsed > 0.0)
        .then(|| elapsed / done as f64 * (b.request_ids.len() - done) as f64);
    match model {
        Some(eta) if eta > 0.0 => Some(eta),
        _ => pace,
    }
}

/// "3h ago" for an age in seconds ("just now" under a minute).
pub fn ago_secs(secs: i64) -> String {
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s if s < 86_400 * 365 => format!("{}d ago", s / 86_400),
        s => format!("{}y ago", s / (86_400 * 365)),
    }
}

fn short_duration(secs: f64) -> String {
    let s = secs.round().max(0.0) as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s.div_ceil(60))
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// 100000 → "100,000".
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
