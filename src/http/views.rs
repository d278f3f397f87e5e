//! How entries and documents look in the API, and what the caller may do with
//! each: the same functions answer `can` and guard the routes, so a hidden
//! button and a 403 never disagree.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{AppState, Error};
use crate::domain::rights::{Action, Actor, Item, Policies};
use crate::domain::{EntryKind, Mailbox};
use crate::store::{CommType, Document, Entry, Revision, User};

#[derive(Debug, Clone, Serialize)]
pub struct UserRef {
    pub id: i64,
    pub name: Option<String>,
    pub email: String,
}

impl From<&User> for UserRef {
    fn from(u: &User) -> Self {
        UserRef {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct Author {
    /// `user`, `ingest` (mail; `user` is then who forwarded it) or `system`.
    pub kind: String,
    pub user: Option<UserRef>,
}

#[derive(Serialize)]
pub struct TypeRef {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub colour: String,
    pub log: String,
    pub active: bool,
}

#[derive(Serialize)]
pub struct ContactRef {
    pub id: i64,
    pub name: String,
}

#[derive(Serialize)]
pub struct TombstoneView {
    pub deleted_at: String,
    pub deleted_by: Option<UserRef>,
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct DocumentCan {
    pub delete: bool,
}

#[derive(Serialize)]
pub struct DocumentView {
    pub id: i64,
    pub entry_id: Option<i64>,
    pub card_id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// `ok`, `unsupported` or `failed: reason` (text extraction for search).
    pub text_status: Option<String>,
    pub created_at: String,
    pub uploaded_by: Option<UserRef>,
    /// Set on a tombstone: the bytes are gone, these facts stay.
    pub deleted: Option<TombstoneView>,
    pub can: DocumentCan,
}

#[derive(Serialize)]
pub struct TaskView {
    /// `open`, `done` or `failed`.
    pub status: String,
    pub due_at: Option<String>,
    pub closed_at: Option<String>,
    pub closed_by: Option<UserRef>,
    pub comment: Option<String>,
}

#[derive(Serialize)]
pub struct EntryCan {
    pub edit: bool,
    pub delete: bool,
    /// Tasks: close an open one / reopen a closed one.
    pub close: bool,
    pub reopen: bool,
}

#[derive(Serialize)]
pub struct RevisionView {
    pub id: i64,
    pub revised_at: String,
    pub revised_by: Option<UserRef>,
    pub change: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Serialize)]
pub struct EntryView {
    pub id: i64,
    pub card_id: i64,
    pub kind: String,
    /// The title of the entry (the subject of a mail).
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<String>,
    /// When it happened (editable for manual entries).
    pub occurred_at: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// The text of the entry (the body of a mail).
    pub body_text: String,
    pub message_id: Option<String>,
    /// `incoming` or `outgoing`; for mail, the card's contacts decide when
    /// they took part (from a contact: incoming; to one: outgoing).
    pub direction: Option<String>,
    /// For a forward: the salesperson who forwarded it, when, and their note.
    pub forwarded_by: Option<Mailbox>,
    pub forwarded_at: Option<String>,
    pub forward_note: Option<String>,
    pub forward_chain: Vec<Mailbox>,
    /// The date as written in a forwarded header block.
    pub date_raw: Option<String>,
    /// True when `date` is the forward's date because the original's could not be read.
    pub date_is_fallback: bool,
    /// What a bound kept from being read (too many MIME parts, too deep, …);
    /// the raw message holds everything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    pub author: Author,
    pub communication_type: Option<TypeRef>,
    /// `general` or `financial`: the log the communication type belongs to.
    pub log: Option<String>,
    pub reference: Option<Value>,
    pub details: Value,
    pub responsible: Option<UserRef>,
    pub handled: bool,
    pub handled_at: Option<String>,
    pub handled_by: Option<UserRef>,
    pub task: Option<TaskView>,
    /// The card's contacts who took part.
    pub contacts: Vec<ContactRef>,
    pub attachments: Vec<DocumentView>,
    /// Sender authentication of the message behind a mail entry (SPF, DKIM,
    /// DMARC as RFC 8601 words, `aligned`); null when it was not checked.
    pub auth: Option<crate::domain::AuthResults>,
    pub deleted: Option<TombstoneView>,
    pub can: EntryCan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<RevisionView>>,
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn created(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Everything rendering and rights checks need, loaded once per request.
pub struct Viewing {
    pub caller: Actor,
    pub policies: Policies,
    users: HashMap<i64, UserRef>,
    types: HashMap<i64, CommType>,
    owners: HashMap<i64, Option<i64>>,
    /// card → (lowercased address, contact id, name)
    contacts: HashMap<i64, Vec<(String, i64, String)>>,
    /// entry → linked contacts (manual entries)
    links: HashMap<i64, Vec<(i64, String)>>,
    /// message → its sender authentication results
    auth: HashMap<i64, crate::domain::AuthResults>,
    edit_window: chrono::Duration,
    now: DateTime<Utc>,
}

impl Viewing {
    /// For these entries (their cards' owners and contacts are loaded).
    pub async fn load(st: &AppState, caller: &User, entries: &[Entry]) -> Result<Self, Error> {
        let mut cards: Vec<i64> = entries.iter().map(|e| e.card_id).collect();
        cards.sort_unstable();
        cards.dedup();
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let mut contacts: HashMap<i64, Vec<(String, i64, String)>> = HashMap::new();
        for (card, email, id, name) in st.store.contact_addresses(&cards).await? {
            contacts.entry(card).or_default().push((email, id, name));
        }
        let mut links: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        for (entry, id, name) in st.store.entry_contact_links(&ids).await? {
            links.entry(entry).or_default().push((id, name));
        }
        let mut messages: Vec<i64> = entries.iter().filter_map(|e| e.message_row).collect();
        messages.sort_unstable();
        messages.dedup();
        let auth = st.store.message_auth(&messages).await?;
        Ok(Viewing {
            auth,
            caller: Actor {
                user_id: caller.id,
                is_admin: caller.is_admin,
            },
            policies: st.store.policies().await?,
            users: st
                .store
                .users()
                .await?
                .iter()
                .map(|u| (u.id, UserRef::from(u)))
                .collect(),
            types: st
                .store
                .comm_types()
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect(),
            owners: st.store.card_owners(&cards).await?.into_iter().collect(),
            contacts,
            links,
            edit_window: chrono::Duration::minutes(st.edit_window_minutes as i64),
            now: Utc::now(),
        })
    }

    pub fn user(&self, id: Option<i64>) -> Option<UserRef> {
        id.and_then(|id| self.users.get(&id).cloned())
    }

    fn owner(&self, card: i64) -> Option<i64> {
        self.owners.get(&card).copied().flatten()
    }

    fn allows(&self, action: Action, item: Item) -> bool {
        self.policies
            .rule(action)
            .allows(self.caller, item, self.now)
    }

    /// 403 with the policy's words unless `allowed`.
    pub fn require(&self, action: Action, allowed: bool) -> Result<(), Error> {
        if allowed {
            Ok(())
        } else {
            Err(Error::Policy(self.policies.rule(action).refusal(action)))
        }
    }

    /// Author (within the edit window), or the edit_others_entry policy (its
    /// `author` choice means admins here: the author is not an other).
    pub fn can_edit(&self, e: &Entry) -> bool {
        let manual = EntryKind::parse(&e.kind).is_some_and(EntryKind::is_manual);
        if e.is_deleted() || !manual || e.author_kind != "user" {
            return false;
        }
        let age = self.now - created(&e.created_at);
        let own = e.author_id == Some(self.caller.user_id);
        if own && self.edit_window > chrono::Duration::zero() && age <= self.edit_window {
            return true;
        }
        let others = Item {
            author_id: None,
            card_owner_id: self.owner(e.card_id),
            created_at: created(&e.created_at),
        };
        self.allows(Action::EditOthersEntry, others)
    }

    fn entry_item(&self, e: &Entry) -> Item {
        Item {
            author_id: e.author_id,
            card_owner_id: self.owner(e.card_id),
            created_at: created(&e.created_at),
        }
    }

    pub fn can_delete_entry(&self, e: &Entry) -> bool {
        !e.is_deleted() && self.allows(Action::DeleteEntry, self.entry_item(e))
    }

    pub fn can_reopen(&self, e: &Entry) -> bool {
        !e.is_deleted()
            && e.kind == "task"
            && e.task_status.as_deref().is_some_and(|s| s != "open")
            && self.allows(Action::ReopenTask, self.entry_item(e))
    }

    pub fn can_delete_document(&self, d: &Document) -> bool {
        !d.is_deleted()
            && self.allows(
                Action::DeleteDocument,
                Item {
                    author_id: d.uploaded_by,
                    card_owner_id: self.owner(d.card_id),
                    created_at: created(&d.created_at),
                },
            )
    }

    fn tombstone(
        &self,
        at: &Option<String>,
        by: Option<i64>,
        reason: &Option<String>,
    ) -> Option<TombstoneView> {
        at.as_ref().map(|at| TombstoneView {
            deleted_at: at.clone(),
            deleted_by: self.user(by),
            reason: reason.clone(),
        })
    }

    pub fn document(&self, d: Document) -> DocumentView {
        DocumentView {
            can: DocumentCan {
                delete: self.can_delete_document(&d),
            },
            deleted: self.tombstone(&d.deleted_at, d.deleted_by, &d.delete_reason),
            uploaded_by: self.user(d.uploaded_by),
            id: d.id,
            entry_id: d.entry_id,
            card_id: d.card_id,
            filename: d.filename,
            content_type: d.content_type,
            size: d.size,
            sha256: d.sha256,
            text_status: d.text_status,
            created_at: d.created_at,
        }
    }

    /// The card's contacts among the mail's people, and the direction they give.
    fn participants(&self, e: &Entry) -> (Vec<ContactRef>, Option<String>) {
        let mut out: Vec<ContactRef> = self
            .links
            .get(&e.id)
            .map(|l| {
                l.iter()
                    .map(|(id, name)| ContactRef {
                        id: *id,
                        name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let card = self
            .contacts
            .get(&e.card_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let find = |m: &Mailbox| {
            let a = m.address.as_deref()?.trim().to_lowercase();
            card.iter().find(|(addr, _, _)| *addr == a)
        };
        let from_contact = e.from.as_ref().and_then(find);
        let to_contacts: Vec<_> = e.to.iter().chain(&e.cc).filter_map(find).collect();
        for (_, id, name) in from_contact.into_iter().chain(to_contacts.iter().copied()) {
            if !out.iter().any(|c| c.id == *id) {
                out.push(ContactRef {
                    id: *id,
                    name: name.clone(),
                });
            }
        }
        let direction = match (
            e.kind.as_str(),
            from_contact.is_some(),
            !to_contacts.is_empty(),
        ) {
            ("email", true, _) => Some("incoming".to_owned()),
            ("email", false, true) => Some("outgoing".to_owned()),
            _ => e.direction.clone(),
        };
        (out, direction)
    }

    pub fn entry(&self, e: Entry) -> EntryView {
        let can = EntryCan {
            edit: self.can_edit(&e),
            delete: self.can_delete_entry(&e),
            close: !e.is_deleted() && e.kind == "task" && e.task_status.as_deref() == Some("open"),
            reopen: self.can_reopen(&e),
        };
        let (contacts, direction) = self.participants(&e);
        let ty = e.comm_type_id.and_then(|id| self.types.get(&id));
        let task = (e.kind == "task" && !e.is_deleted()).then(|| TaskView {
            status: e.task_status.clone().unwrap_or_else(|| "open".into()),
            due_at: e.due_at.clone(),
            closed_at: e.handled_at.clone(),
            closed_by: self.user(e.handled_by),
            comment: e.close_comment.clone(),
        });
        let deleted = e
            .deleted
            .as_ref()
            .and_then(|t| self.tombstone(&Some(t.deleted_at.clone()), t.deleted_by, &t.reason));
        EntryView {
            id: e.id,
            card_id: e.card_id,
            kind: e.kind,
            subject: e.subject,
            from: e.from,
            to: e.to,
            cc: e.cc,
            date: e.date,
            occurred_at: rfc3339(e.occurred_at),
            created_at: e.created_at,
            updated_at: e.updated_at,
            body_text: e.body_text,
            message_id: e.message_id,
            direction,
            forwarded_by: e.meta.forwarded_by,
            forwarded_at: e.meta.forwarded_at,
            forward_note: e.meta.forward_note,
            forward_chain: e.meta.forward_chain,
            date_raw: e.meta.date_raw,
            date_is_fallback: e.meta.date_is_fallback,
            skipped: e.meta.skipped,
            author: Author {
                kind: e.author_kind,
                user: self.user(e.author_id),
            },
            communication_type: ty.map(|t| TypeRef {
                id: t.id,
                name: t.name.clone(),
                code: t.code.clone(),
                colour: t.colour.clone(),
                log: t.log.clone(),
                active: t.active,
            }),
            log: ty.map(|t| t.log.clone()),
            reference: e.reference,
            details: e.details,
            responsible: self.user(e.responsible_id),
            handled: e.handled_at.is_some(),
            handled_at: e.handled_at,
            handled_by: self.user(e.handled_by),
            task,
            contacts,
            attachments: e.documents.into_iter().map(|d| self.document(d)).collect(),
            auth: e.message_row.and_then(|m| self.auth.get(&m).cloned()),
            deleted,
            can,
            revisions: None,
        }
    }

    pub fn revisions(&self, revs: Vec<Revision>) -> Vec<RevisionView> {
        revs.into_iter()
            .map(|r| RevisionView {
                before: r.before(),
                after: r.after(),
                id: r.id,
                revised_at: r.revised_at,
                revised_by: self.user(r.revised_by),
                change: r.change,
            })
            .collect()
    }

    pub fn entries(&self, entries: Vec<Entry>) -> Vec<EntryView> {
        entries.into_iter().map(|e| self.entry(e)).collect()
    }
}
