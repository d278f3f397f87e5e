//! Filtered listings of entries: a card's history and the central view over
//! every card, with totals for the filter bar and stable cursor pagination.

use std::collections::BTreeMap;

use sqlx::{QueryBuilder, Sqlite};

use super::cards::VISIBLE;
use super::entries::{json, EntryRow, ENTRY_COLS};
use super::{Entry, Result, Store, Viewer};

/// Who wrote the entries to list.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorFilter {
    User(i64),
    /// `ingest` or `system`.
    Kind(String),
}

#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub card_id: Option<i64>,
    pub kinds: Vec<String>,
    /// Communication types (any of them).
    pub type_ids: Vec<i64>,
    /// `general` or `financial`: the log of the entry's communication type.
    pub log: Option<String>,
    pub author: Option<AuthorFilter>,
    /// Unix seconds, inclusive / exclusive, on `occurred_at`.
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub has_documents: Option<bool>,
    /// Entries a text query matched in the index.
    pub ids: Option<Vec<i64>>,
    /// `Some(None)`: nobody is responsible.
    pub responsible: Option<Option<i64>>,
    pub handled: Option<bool>,
    pub campaign: Option<String>,
    pub source: Option<String>,
    /// Cards carrying this action label.
    pub card_label: Option<i64>,
    /// The card history lists open tasks apart; the central view includes them.
    pub include_open_tasks: bool,
    /// Tombstones of deleted entries (shown in place by default).
    pub include_deleted: bool,
}

/// Newest first: a page starts after this (occurred_at, id).
pub type Cursor = (i64, i64);

#[derive(Debug)]
pub struct EntryPage {
    pub total: i64,
    pub by_kind: BTreeMap<String, i64>,
    pub handled: i64,
    pub open: i64,
    pub entries: Vec<Entry>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
}

fn push_filter<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    f: &'a EntryFilter,
    viewer: Option<Viewer>,
    with_kinds: bool,
) {
    qb.push(" WHERE 1 = 1");
    if let Some(v) = viewer.filter(|v| !v.is_admin) {
        // Bound twice: the owner and the share check.
        qb.push(" AND ")
            .push(VISIBLE.replacen('?', &v.user_id.to_string(), 2));
    }
    if let Some(card) = f.card_id {
        qb.push(" AND e.card_id = ").push_bind(card);
    }
    if with_kinds && !f.kinds.is_empty() {
        qb.push(" AND e.kind IN (SELECT value FROM json_each(")
            .push_bind(json(&f.kinds))
            .push("))");
    }
    if !f.type_ids.is_empty() {
        qb.push(" AND e.comm_type_id IN (SELECT value FROM json_each(")
            .push_bind(json(&f.type_ids))
            .push("))");
    }
    if let Some(log) = &f.log {
        qb.push(" AND e.comm_type_id IN (SELECT id FROM communication_types WHERE log = ")
            .push_bind(log)
            .push(")");
    }
    match &f.author {
        Some(AuthorFilter::User(id)) => {
            qb.push(" AND e.author_id = ").push_bind(*id);
        }
        Some(AuthorFilter::Kind(k)) => {
            qb.push(" AND e.author_kind = ").push_bind(k);
        }
        None => {}
    }
    if let Some(t) = f.after {
        qb.push(" AND e.occurred_at >= ").push_bind(t);
    }
    if let Some(t) = f.before {
        qb.push(" AND e.occurred_at < ").push_bind(t);
    }
    if let Some(has) = f.has_documents {
        qb.push(if has {
            " AND EXISTS"
        } else {
            " AND NOT EXISTS"
        })
        .push(" (SELECT 1 FROM documents d WHERE d.entry_id = e.id AND d.deleted_at IS NULL)");
    }
    if let Some(ids) = &f.ids {
        qb.push(" AND e.id IN (SELECT value FROM json_each(")
            .push_bind(json(ids))
            .push("))");
    }
    match f.responsible {
        Some(Some(id)) => {
            qb.push(" AND e.responsible_id = ").push_bind(id);
        }
        Some(None) => {
            qb.push(" AND e.responsible_id IS NULL");
        }
        None => {}
    }
    match f.handled {
        Some(true) => {
            qb.push(" AND e.handled_at IS NOT NULL");
        }
        Some(false) => {
            qb.push(" AND e.handled_at IS NULL");
        }
        None => {}
    }
    if let Some(c) = &f.campaign {
        qb.push(" AND c.campaign = ").push_bind(c);
    }
    if let Some(s) = &f.source {
        qb.push(" AND c.source = ").push_bind(s);
    }
    if let Some(l) = f.card_label {
        qb.push(" AND EXISTS (SELECT 1 FROM card_labels cl WHERE cl.card_id = e.card_id AND cl.label_id = ")
            .push_bind(l)
            .push(")");
    }
    if !f.include_open_tasks {
        // IS, not =: a tombstone's status is NULL and must stay listed.
        qb.push(" AND NOT (e.kind = 'task' AND e.task_status IS 'open')");
    }
    if !f.include_deleted {
        qb.push(" AND e.deleted_at IS NULL");
    }
}

const FROM: &str = " FROM entries e JOIN cards c ON c.id = e.card_id";

impl Store {
    /// One page of entries matching `f`, newest first, with the totals of the
    /// whole filter: the count, counts per kind (ignoring the kind filter, so a
    /// filter bar can show what the other kinds would give) and how many are
    /// handled or open. `viewer` limits the listing to the cards they may see.
    pub async fn list_entries(
        &self,
        f: &EntryFilter,
        viewer: Option<Viewer>,
        cursor: Option<Cursor>,
        offset: i64,
        limit: i64,
    ) -> Result<EntryPage> {
        let mut qb =
            QueryBuilder::new("SELECT COUNT(*), COALESCE(SUM(e.handled_at IS NOT NULL), 0)");
        qb.push(FROM);
        push_filter(&mut qb, f, viewer, true);
        let (total, handled): (i64, i64) = qb.build_query_as().fetch_one(&self.pool).await?;

        let mut qb = QueryBuilder::new("SELECT e.kind, COUNT(*)");
        qb.push(FROM);
        push_filter(&mut qb, f, viewer, false);
        qb.push(" GROUP BY e.kind");
        let by_kind: BTreeMap<String, i64> = qb
            .build_query_as::<(String, i64)>()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();

        let mut qb = QueryBuilder::new(format!("SELECT {ENTRY_COLS}"));
        qb.push(FROM);
        push_filter(&mut qb, f, viewer, true);
        if let Some((at, id)) = cursor {
            qb.push(" AND (e.occurred_at < ")
                .push_bind(at)
                .push(" OR (e.occurred_at = ")
                .push_bind(at)
                .push(" AND e.id < ")
                .push_bind(id)
                .push("))");
        }
        // One more than asked tells whether there is a next page.
        qb.push(" ORDER BY e.occurred_at DESC, e.id DESC LIMIT ")
            .push_bind(limit + 1)
            .push(" OFFSET ")
            .push_bind(if cursor.is_some() { 0 } else { offset });
        let mut rows: Vec<EntryRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let entries = self.with_documents(rows).await?;
        let next = more
            .then(|| entries.last().map(|e| (e.occurred_at, e.id)))
            .flatten();
        Ok(EntryPage {
            total,
            by_kind,
            handled,
            open: total - handled,
            entries,
            next,
        })
    }

    /// Entry ids matching `f` (for bulk changes), at most `cap`.
    pub async fn entry_ids(&self, f: &EntryFilter, viewer: Viewer, cap: i64) -> Result<Vec<i64>> {
        let mut qb = QueryBuilder::new("SELECT e.id");
        qb.push(FROM);
        push_filter(&mut qb, f, Some(viewer), true);
        qb.push(" ORDER BY e.id LIMIT ").push_bind(cap);
        Ok(qb.build_query_scalar().fetch_all(&self.pool).await?)
    }

    /// A card's open tasks, soonest due first (no due date last).
    pub async fn open_tasks(&self, card_id: i64) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} FROM entries e
             WHERE e.card_id = ? AND e.kind = 'task' AND e.task_status = 'open'
               AND e.deleted_at IS NULL
             ORDER BY e.due_at IS NULL, e.due_at, e.id"
        ))
        .bind(card_id)
        .fetch_all(&self.pool)
        .await?;
        self.with_documents(rows).await
    }

    /// Every entry one person took part in, across the cards the viewer may
    /// see: emails by address, manual entries linked to the contact.
    pub async fn contact_history(
        &self,
        contact_id: i64,
        viewer: Viewer,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<(i64, Vec<Entry>, Option<Cursor>)> {
        let matches = "(e.id IN (SELECT a.entry_id FROM entry_addresses a
                 JOIN contact_emails ce ON ce.email = a.address WHERE ce.contact_id = ?1)
              OR e.id IN (SELECT entry_id FROM entry_contacts WHERE contact_id = ?1))
             AND e.deleted_at IS NULL";
        let visible = if viewer.is_admin {
            "1 = 1".to_owned()
        } else {
            VISIBLE.replacen('?', &viewer.user_id.to_string(), 2)
        };
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) {FROM} WHERE {matches} AND {visible}"
        ))
        .bind(contact_id)
        .fetch_one(&self.pool)
        .await?;
        let (at, id) = cursor.unwrap_or((i64::MAX, i64::MAX));
        let mut rows: Vec<EntryRow> = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} {FROM} WHERE {matches} AND {visible}
               AND (e.occurred_at < ?2 OR (e.occurred_at = ?2 AND e.id < ?3))
             ORDER BY e.occurred_at DESC, e.id DESC LIMIT ?4"
        ))
        .bind(contact_id)
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let entries = self.with_documents(rows).await?;
        let next = more
            .then(|| entries.last().map(|e| (e.occurred_at, e.id)))
            .flatten();
        Ok((total, entries, next))
    }
}
