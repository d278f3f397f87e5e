//! Tasks: created on a card with a responsible user and a due date, closed as
//! done or failed (then they join the history), reopened only as the
//! reopen_task policy allows, reassigned in bulk.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::cards::load_card;
use super::error::extract::{Json, Path};
use super::history::ListParams;
use super::input::{self, IdOrCode};
use super::manual::{entry_response, index_entry};
use super::views::{EntryView, Viewing};
use super::{AppState, Caller, Error};
use crate::domain::rights::Action;
use crate::store::{AuditRecord, EntryChange, NewEntry};

/// Most tasks one bulk change touches.
const MAX_BULK: i64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    title: String,
    #[serde(alias = "text")]
    description: Option<String>,
    responsible_id: Option<i64>,
    due_at: Option<String>,
    communication_type: Option<IdOrCode>,
    contact_ids: Option<Vec<i64>>,
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    Json(b): Json<NewTask>,
) -> Result<Response, Error> {
    load_card(&st, &user, card_id).await?;
    let title = input::required("title", &b.title, input::MAX_TITLE_CHARS)?;
    let description = b
        .description
        .as_deref()
        .map(|d| input::text("description", d, input::MAX_TEXT_CHARS, true))
        .transpose()?
        .unwrap_or_default();
    let responsible_id = match b.responsible_id {
        Some(id) => Some(input::user(&st, "responsible_id", id).await?),
        None => None,
    };
    let due_at = b
        .due_at
        .as_deref()
        .map(|d| input::time("due_at", d).map(input::rfc3339))
        .transpose()?;
    let comm_type_id = match &b.communication_type {
        Some(t) => Some(input::active_type(&st, t).await?.id),
        None => None,
    };
    let contact_ids = b.contact_ids.unwrap_or_default();
    input::list_len("contact_ids", &contact_ids)?;
    let new = NewEntry {
        card_id,
        kind: "task".into(),
        author_kind: "user".into(),
        author_id: Some(user.id),
        subject: title,
        body_text: description,
        occurred_at: chrono::Utc::now().timestamp(),
        comm_type_id,
        details: json!({}),
        responsible_id,
        due_at,
        task_status: Some("open".into()),
        contact_ids,
        ..NewEntry::default()
    };
    let (id, _) = st.store.create_entry(&new).await?;
    let entry = index_entry(&st, id).await?;
    entry_response(&st, &user, StatusCode::CREATED, entry).await
}

#[derive(serde::Serialize)]
pub struct TaskList {
    total: usize,
    tasks: Vec<EntryView>,
}

/// A card's open tasks, soonest due first (closed ones are in its history).
pub async fn list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
) -> Result<axum::Json<TaskList>, Error> {
    load_card(&st, &user, card_id).await?;
    let tasks = st.store.open_tasks(card_id).await?;
    let viewing = Viewing::load(&st, &user, &tasks).await?;
    Ok(axum::Json(TaskList {
        total: tasks.len(),
        tasks: viewing.entries(tasks),
    }))
}

async fn task(
    st: &AppState,
    user: &crate::store::User,
    id: i64,
) -> Result<crate::store::Entry, Error> {
    let entry = super::entries::visible_entry(st, user, id).await?;
    if entry.kind != "task" {
        return Err(Error::NotFound("task"));
    }
    if entry.is_deleted() {
        return Err(Error::Conflict("this task was deleted".into()));
    }
    Ok(entry)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    /// `done` or `failed`.
    outcome: String,
    comment: Option<String>,
}

/// Closes an open task; it then stands in the history at the time it was closed.
pub async fn close(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(b): Json<Close>,
) -> Result<Response, Error> {
    let entry = task(&st, &user, id).await?;
    if entry.task_status.as_deref() != Some("open") {
        return Err(Error::Conflict(
            "this task is already closed (reopen it first)".into(),
        ));
    }
    let outcome = match b.outcome.as_str() {
        "done" | "failed" => b.outcome.clone(),
        other => {
            return Err(Error::Unprocessable(format!(
                "outcome must be done or failed, not {other:?}"
            )))
        }
    };
    let comment = b
        .comment
        .as_deref()
        .map(|c| input::text("comment", c, input::MAX_TEXT_CHARS, true))
        .transpose()?
        .filter(|c| !c.is_empty());
    let change = EntryChange {
        task_status: Some(outcome),
        close_comment: Some(comment),
        handled: Some(true),
        occurred_at: Some(chrono::Utc::now().timestamp()),
        ..EntryChange::default()
    };
    st.store
        .update_entry(id, &change, user.id, "close", None)
        .await?;
    let entry = index_entry(&st, id).await?;
    entry_response(&st, &user, StatusCode::OK, entry).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reopen {
    reason: Option<String>,
}

/// Reopens a closed task, as the reopen_task policy allows; audited.
pub async fn reopen(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    let b: Reopen = if body.iter().all(u8::is_ascii_whitespace) {
        Reopen::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::Unprocessable(format!("expected {{\"reason\": \"...\"}}: {e}")))?
    };
    let reason = b
        .reason
        .as_deref()
        .map(|r| input::text("reason", r, input::MAX_TITLE_CHARS, false))
        .transpose()?;
    let entry = task(&st, &user, id).await?;
    if entry.task_status.as_deref() == Some("open") {
        return Err(Error::Conflict("this task is open".into()));
    }
    let viewing = Viewing::load(&st, &user, std::slice::from_ref(&entry)).await?;
    viewing.require(Action::ReopenTask, viewing.can_reopen(&entry))?;
    let change = EntryChange {
        task_status: Some("open".into()),
        close_comment: Some(None),
        handled: Some(false),
        ..EntryChange::default()
    };
    let audit = AuditRecord {
        actor_id: Some(user.id),
        action: "reopen_task",
        target: "entry",
        target_id: Some(id),
        card_id: Some(entry.card_id),
        // Not the title or comment: the log outlives a deletion of the task.
        details: json!({"reason": reason, "status_before": entry.task_status}),
    };
    st.store
        .update_entry(id, &change, user.id, "reopen", Some(audit))
        .await?;
    let entry = index_entry(&st, id).await?;
    entry_response(&st, &user, StatusCode::OK, entry).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The new responsible user; `null` takes the tasks off everyone.
    responsible_id: Option<i64>,
    /// The central view's filters (`GET /api/entries`), limited to tasks.
    #[serde(default)]
    filter: ListParams,
}

/// Changes the responsible user of every task matching the filter (on cards
/// the caller may see); each change is a revision of its task.
pub async fn assign(
    State(st): State<AppState>,
    Caller(user): Caller,
    Json(b): Json<Assign>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let responsible = match b.responsible_id {
        Some(id) => Some(input::user(&st, "responsible_id", id).await?),
        None => None,
    };
    let mut r = b.filter.resolve(&st, &user).await?;
    if r.filter.kinds.iter().any(|k| k != "task") {
        return Err(Error::Unprocessable(
            "a bulk change of the responsible user is for tasks".into(),
        ));
    }
    r.filter.kinds = vec!["task".into()];
    r.filter.include_open_tasks = true;
    r.filter.include_deleted = false;
    let ids = st
        .store
        .entry_ids(&r.filter, user.viewer(), MAX_BULK + 1)
        .await?;
    if ids.len() as i64 > MAX_BULK {
        return Err(Error::Unprocessable(format!(
            "the filter matches more than {MAX_BULK} tasks; narrow it"
        )));
    }
    let updated = st.store.assign_entries(&ids, responsible, user.id).await?;
    Ok(axum::Json(
        json!({"matched": ids.len(), "updated": updated}),
    ))
}
