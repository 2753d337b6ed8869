//! Writes: opening the comment box for isolate, release or cancel (which machines
//! it targets, and when it refuses: read-only profile, a list still refreshing under
//! the analyst's choice), the comment and confirmation modals, and the submit that
//! turns a confirmed form into requests.

use tui_input::Input;

use crate::tui::action::{Action, Effect};
use crate::tui::present::{confirm_text, group_thousands};
use crate::tui::state::{
    Batch, CommentForm, ConfirmForm, MachineRow, Modal, Pane, PendingOp, RequestInfo, RequestStage,
    State, Target,
};
use cordon_core::sanitize::clean;
use cordon_core::worker::protocol::{Command, WriteRequest};

use super::insert_text;

fn readonly_refusal(state: &mut State) -> bool {
    if state.info.readonly {
        state.status.error = Some(format!(
            "profile {} is read-only: isolate/release/cancel are disabled",
            clean(&state.info.profile)
        ));
        true
    } else {
        false
    }
}

fn target_of(row: &MachineRow) -> Target {
    Target {
        id: row.machine.id().to_string(),
        name: clean(row.machine.display_name()).into_owned(),
        hidden_by_filter: false,
    }
}

pub(super) fn open_comment(state: &mut State, op: PendingOp) {
    if readonly_refusal(state) || refreshing_refusal(state, true) {
        return;
    }
    let m = &state.machines;
    let mut not_included = None;
    let targets: Vec<Target> = if m.marked.is_empty() {
        m.selected_row().map(target_of).into_iter().collect()
    } else {
        // List order, so the modal reads like the screen. Marks the filter hides are
        // targets too; they are flagged so the modals name them.
        let hidden = m.marked_hidden();
        let mut t: Vec<Target> = m
            .rows()
            .iter()
            .enumerate()
            .filter(|(_, r)| m.marked.contains(r.machine.id()))
            .map(|(i, r)| Target {
                hidden_by_filter: hidden.binary_search(&i).is_ok(),
                ..target_of(r)
            })
            .collect();
        t.dedup_by(|a, b| a.id == b.id);
        not_included = m
            .selected_row()
            .filter(|r| !m.marked.contains(r.machine.id()))
            .map(|r| target_of(r).name);
        t
    };
    if targets.is_empty() {
        state.status.error =
            Some("No machine selected: load machines or clear the filter first.".into());
        return;
    }
    state.status.error = None;
    let prefill = match (&op, targets.as_slice()) {
        (PendingOp::Release, [one]) => release_prefill(state, &one.id),
        _ => None,
    };
    let input = match (prefill, &state.info.comment_template) {
        (Some(text), _) => Input::new(text),
        // The template's first placeholder is where typing starts.
        (None, Some(template)) => next_placeholder(&Input::new(template.clone())),
        (None, None) => Input::default(),
    };
    state.modal = Some(Modal::Comment(CommentForm {
        op,
        targets,
        not_included,
        input,
        error: None,
        recalled: None,
    }));
}

/// The first `{placeholder}` of a template still in the text: (start, end) in chars.
fn placeholder(text: &str) -> Option<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.iter().position(|&c| c == '{')?;
    let len = chars[start..].iter().position(|&c| c == '}')?;
    let inner = &chars[start + 1..start + len];
    (!inner.is_empty() && inner.iter().all(|c| c.is_alphanumeric() || *c == '_'))
        .then_some((start, start + len + 1))
}

/// Remove the first placeholder and put the cursor where it was, ready for its value.
fn next_placeholder(input: &Input) -> Input {
    let text = input.value();
    match placeholder(text) {
        Some((start, end)) => {
            let rest: String = text
                .chars()
                .take(start)
                .chain(text.chars().skip(end))
                .collect();
            Input::new(rest).with_cursor(start)
        }
        None => input.clone(),
    }
}

/// Releasing a machine whose isolation is in its history: the comment starts by naming
/// that isolation ("release of IR-1234 isolation by alice, 2h ago: "), so the record
/// says which isolation this release answers.
fn release_prefill(state: &State, machine_id: &str) -> Option<String> {
    use cordon_core::api::models::{ActionStatus, ActionType};
    let isolation = state
        .history
        .cache
        .get(machine_id)?
        .iter()
        .filter(|a| a.action_type == ActionType::Isolate)
        .find(|a| matches!(a.status, ActionStatus::Succeeded | ActionStatus::InProgress))?;
    let comment: String = clean(isolation.requestor_comment.as_deref()?)
        .chars()
        .take(60)
        .collect();
    let by = isolation
        .requestor
        .as_deref()
        .map(|r| format!(" by {}", clean(r)))
        .unwrap_or_default();
    let when = cordon_core::api::models::parse_time(isolation.creation_date_time_utc.as_deref())
        .map(|t| {
            format!(
                ", {}",
                crate::tui::present::ago_secs((state.now - t).num_seconds())
            )
        })
        .unwrap_or_default();
    Some(format!(
        "release of {} isolation{by}{when}: ",
        comment.trim()
    ))
}

/// After a refresh replaced the list, the highlighted row may not be the machine the
/// analyst chose (it is reselected when it arrives; it may never arrive), and marked
/// machines may be missing: a write now could hit the wrong machine or silently skip
/// marked ones. `uses_marks`: the write targets the marks when there are any.
fn refreshing_refusal(state: &mut State, uses_marks: bool) -> bool {
    let m = &state.machines;
    let what = if uses_marks && !m.marked.is_empty() {
        let missing = m
            .marked
            .iter()
            .filter(|id| m.index_of(id).is_none())
            .count();
        (missing > 0).then(|| {
            format!(
                "{} of the {} marked machines {}",
                group_thousands(missing),
                group_thousands(m.marked.len()),
                if missing == 1 { "is" } else { "are" }
            )
        })
    } else {
        m.reselect
            .is_some()
            .then(|| "the machine you had selected is".to_string())
    };
    let Some(what) = what else {
        return false;
    };
    state.status.error = Some(if m.loading {
        format!(
            "The list is refreshing: {what} not back yet. Nothing was started; try again in a moment."
        )
    } else {
        format!(
            "{} not in the list now. Nothing was started; press r to reload, or choose again (arrows; Esc clears marks).",
            capitalise(&what)
        )
    });
    true
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub(super) fn open_cancel(state: &mut State) {
    // Cancel acts on the highlighted machine whatever is marked.
    if readonly_refusal(state) || refreshing_refusal(state, false) {
        return;
    }
    let Some(row) = state.machines.selected_row() else {
        state.status.error = Some("No machine selected: load machines first.".into());
        return;
    };
    let target = target_of(row);
    // The history pane's entry only if the pane shows this very machine.
    let from_selection = (state.focus == Pane::History
        && state.history.machine_id.as_deref() == Some(target.id.as_str()))
    .then(|| state.history.selected_entry())
    .flatten()
    .filter(|a| a.status.is_active());
    let entries = state
        .history
        .cache
        .get(&target.id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let action = from_selection.or_else(|| entries.iter().find(|a| a.status.is_active()));
    let Some(action) = action else {
        state.status.error = Some(format!("no pending action to cancel on {}", target.name));
        return;
    };
    let op = PendingOp::Cancel {
        action_id: action.id.clone(),
        action_type: clean(action.action_type.as_str()).into_owned(),
    };
    state.status.error = None;
    state.modal = Some(Modal::Comment(CommentForm {
        op,
        targets: vec![target],
        not_included: None,
        input: Input::default(),
        error: None,
        recalled: None,
    }));
}

pub(super) fn on_comment(
    state: &mut State,
    mut form: CommentForm,
    action: Action,
) -> Option<Modal> {
    match action {
        Action::Text(req) => {
            form.input.handle(req);
            form.error = None;
        }
        Action::Paste(text) => {
            insert_text(&mut form.input, &text);
            form.error = None;
        }
        // Tab: the template's next placeholder while one is left, else the type.
        Action::NextField
            if state.info.comment_template.is_some()
                && placeholder(form.input.value()).is_some() =>
        {
            form.input = next_placeholder(&form.input);
        }
        Action::NextField => {
            if let PendingOp::Isolate(t) = form.op {
                form.op = PendingOp::Isolate(t.next());
            }
        }
        // Up: an earlier comment of this session; Down: a later one, then empty.
        Action::Move(delta) if !state.recent_comments.is_empty() => {
            let next = match (form.recalled, delta < 0) {
                (None, true) => Some(0),
                (None, false) => None,
                (Some(i), true) => Some((i + 1).min(state.recent_comments.len() - 1)),
                (Some(0), false) => None,
                (Some(i), false) => Some(i - 1),
            };
            form.recalled = next;
            form.input = Input::new(
                next.map(|i| state.recent_comments[i].clone())
                    .unwrap_or_default(),
            );
            form.error = None;
        }
        Action::Back => {
            state.status.notice = Some("Nothing sent.".into());
            return None;
        }
        Action::Submit
            if state.info.comment_template.is_some()
                && placeholder(form.input.value()).is_some() =>
        {
            let (start, end) = placeholder(form.input.value()).unwrap_or((0, 0));
            let name: String = form
                .input
                .value()
                .chars()
                .skip(start)
                .take(end - start)
                .collect();
            form.error = Some(format!("Fill in {name} first (Tab jumps to it)."));
        }
        Action::Submit => {
            // The one comment rule: the error is shown inside the modal.
            match state.info.comment_rule.parse(form.input.value()) {
                Err(e) => form.error = Some(e.to_string()),
                Ok(comment) => {
                    let no_ops = no_ops(state, &form.op, &form.targets);
                    let challenge = protection(state, &form.targets);
                    return Some(Modal::Confirm(ConfirmForm {
                        comment,
                        op: form.op,
                        targets: form.targets,
                        not_included: form.not_included,
                        no_ops,
                        armed: false,
                        challenge,
                        typed: Input::default(),
                    }));
                }
            }
        }
        _ => {}
    }
    Some(Modal::Comment(form))
}

/// A protected profile, or a target with a protected tag: what must be typed.
fn protection(
    state: &State,
    targets: &[Target],
) -> Option<cordon_core::domain::protection::Challenge> {
    use cordon_core::domain::protection::{Facts, challenge};
    let tags: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            state
                .machines
                .by_id(&t.id)
                .map(|r| r.machine.machine_tags().map(str::to_string).collect())
                .unwrap_or_default()
        })
        .collect();
    let facts: Vec<Facts> = targets
        .iter()
        .zip(&tags)
        .map(|(t, tags)| Facts {
            name: &t.name,
            tags,
        })
        .collect();
    challenge(
        &state.info.profile,
        state.info.protected,
        &state.info.protected_tags,
        &facts,
    )
}

/// "ws-1 is already isolated": targets whose known state makes this write a no-op.
fn no_ops(state: &State, op: &PendingOp, targets: &[Target]) -> Vec<String> {
    use cordon_core::api::models::IsolationState;
    let moot: fn(IsolationState) -> bool = match op {
        PendingOp::Isolate(_) => |s| matches!(s, IsolationState::Isolated(_)),
        PendingOp::Release => |s| s == IsolationState::NotIsolated,
        PendingOp::Cancel { .. } => return Vec::new(),
    };
    targets
        .iter()
        .filter_map(|t| {
            let s = state.machines.isolation_of(&t.id).filter(|&s| moot(s))?;
            Some(match s {
                IsolationState::NotIsolated => format!("{} is not isolated", t.name),
                other => format!("{} is already {}", t.name, other.describe().to_lowercase()),
            })
        })
        .collect()
}

/// The confirmation: only an explicit yes sends; Enter and Esc mean no.
pub(super) fn on_confirm(
    state: &mut State,
    form: ConfirmForm,
    action: Action,
    fx: &mut Vec<Effect>,
) -> Option<Modal> {
    // A protected write: the typed text is the yes; y and n are letters to type.
    if let Some(challenge) = form.challenge.clone() {
        let mut form = form;
        return match action {
            Action::Text(req) => {
                form.typed.handle(req);
                Some(Modal::Confirm(form))
            }
            Action::Paste(text) => {
                insert_text(&mut form.typed, &text);
                Some(Modal::Confirm(form))
            }
            Action::Submit if challenge.accepts(form.typed.value()) => {
                if !form.no_ops.is_empty() && !form.armed {
                    form.armed = true;
                    return Some(Modal::Confirm(form));
                }
                submit(state, form, fx);
                None
            }
            Action::Submit => Some(Modal::Confirm(form)),
            Action::Back => {
                state.status.notice = Some("Nothing sent.".into());
                None
            }
            _ => Some(Modal::Confirm(form)),
        };
    }
    match action {
        Action::SavePlan => {
            fx.push(save_plan(state, &form));
            None
        }
        // A write that changes nothing for some targets needs a second yes.
        Action::Answer(true) if !form.no_ops.is_empty() && !form.armed => {
            Some(Modal::Confirm(ConfirmForm {
                armed: true,
                ..form
            }))
        }
        Action::Answer(true) => {
            submit(state, form, fx);
            None
        }
        Action::Answer(false) | Action::Back | Action::Submit => {
            state.status.notice = Some("Nothing sent.".into());
            None
        }
        _ => Some(Modal::Confirm(form)),
    }
}

/// `p` in the confirmation: the same requests, saved as a plan for `cordon apply`, in
/// the directory cordon started in. Nothing is sent.
fn save_plan(state: &State, form: &ConfirmForm) -> Effect {
    let op = form.op.to_write_op();
    let requests: Vec<WriteRequest> = form
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| WriteRequest {
            request_id: i as u64 + 1,
            machine_id: t.id.clone(),
            machine_name: t.name.clone(),
            op: op.clone(),
            comment: form.comment.clone(),
        })
        .collect();
    let plan = crate::cli::plan::make_for(
        &state.info.profile,
        &state.info.tenant,
        &state.info.api_base,
        &requests,
        state.now,
    );
    Effect::SavePlan {
        path: std::path::PathBuf::from(super::export::file_name(state, "plan", "json")),
        text: serde_json::to_string_pretty(&plan).unwrap_or_default(),
        requests: requests.len(),
    }
}

fn submit(state: &mut State, form: ConfirmForm, fx: &mut Vec<Effect>) {
    let op = form.op.to_write_op();
    let verb = op.verb();
    let mut requests = Vec::with_capacity(form.targets.len());
    for target in &form.targets {
        let request_id = state.next_request_id;
        state.next_request_id += 1;
        state.requests.insert(
            request_id,
            RequestInfo {
                machine_id: target.id.clone(),
                machine_name: target.name.clone(),
                verb,
                stage: RequestStage::Sent,
                accepted_at: None,
                finished_at: None,
                ended_badly: None,
            },
        );
        requests.push(WriteRequest {
            request_id,
            machine_id: target.id.clone(),
            machine_name: target.name.clone(),
            op: op.clone(),
            comment: form.comment.clone(),
        });
    }
    let sent = form.comment.to_string();
    state.recent_comments.retain(|c| *c != sent);
    state.recent_comments.insert(0, sent);
    state.recent_comments.truncate(10);
    state.batches.push(Batch {
        verb,
        request_ids: requests.iter().map(|r| r.request_id).collect(),
        started: state.now,
        open: requests.len(),
    });
    state.status.notice = Some(format!("Sent: {}", confirm_text(&form)));
    state.status.error = None;
    state.machines.marked.clear();
    fx.push(Effect::Send(Command::Submit(requests)));
}
