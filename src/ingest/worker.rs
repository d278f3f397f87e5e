//! Takes messages from the durable queue, turns them into history entries and
//! documents, and indexes them. Every step is idempotent, so a message that was
//! being processed during a crash is simply processed again at start-up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::texts::TextSignals;
use crate::blobs::ContentStore;
use crate::blobs::Staged;
use crate::config::AcceptFrom;
use crate::extract::Kind;
use crate::mail::{self, Direction, Team};
use crate::search::{IndexDoc, IndexError, IndexHandle};
use crate::store::{
    EmailMeta, NewDocument, NewEmailEntry, QueuedMessage, Store, StoreError, StoredEntry,
};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub spool: ContentStore,
    pub blobs: ContentStore,
    pub index: IndexHandle,
    pub batch_size: u32,
    /// Raw bytes of one batch together (at least one message is taken).
    pub batch_max_bytes: u64,
    pub max_attempts: u32,
    /// `archive.team_domains`; users' own addresses are read per batch.
    pub team_domains: Vec<String>,
    pub accept_from: AcceptFrom,
    pub archive_domain: String,
    /// Erases what a re-delivered deleted mail brought along.
    pub eraser: crate::erase::Eraser,
    /// Attachment text is extracted after the batch, by the text worker.
    pub texts: TextSignals,
    pub mime_limits: mail::Limits,
    /// SPF/DKIM/DMARC (`archive.sender_auth`), once per message.
    pub sender_check: super::auth::SenderCheck,
}

/// What one message produced, before it is stored.
struct Prepared {
    entries: Vec<NewEmailEntry>,
    /// Attachment files, published (made durable) before the entries commit.
    blobs: Vec<Staged>,
}

impl Worker {
    /// Processes one batch from the queue; returns how many messages it took.
    /// Returns once the batch is stored, indexed and marked done.
    ///
    /// The attempt is counted durably before any message is looked at, so a
    /// message that takes the whole process down is counted on the next start
    /// and parked after `max_attempts`; messages that were in a batch when it
    /// stopped are then processed one at a time until the culprit is found.
    pub async fn run_once(&self) -> Result<usize, WorkerError> {
        let queued = self
            .store
            .take_batch(self.batch_size, self.batch_max_bytes, self.max_attempts)
            .await?;
        if queued.is_empty() {
            return Ok(0);
        }
        let n = queued.len();
        let team = self.team_list().await?;
        let (mut entries, mut staged, mut ok_ids) = (Vec::new(), Vec::new(), Vec::new());
        let mut auth = self
            .sender_check
            .results(&self.store, &self.spool, &queued)
            .await?;
        for msg in queued {
            let id = msg.id;
            let (spool, blobs, team) = (self.spool.clone(), self.blobs.clone(), team.clone());
            let limits = self.mime_limits;
            let auth = auth.remove(&id);
            let prepared = tokio::task::spawn_blocking(move || {
                prepare(&spool, &blobs, &team, &msg, &limits, auth.as_ref())
            })
            .await
            .unwrap_or_else(|e| Err(panicked(e)));
            match prepared {
                Ok(Outcome::Ready(p)) => {
                    entries.extend(p.entries);
                    staged.extend(p.blobs);
                    ok_ids.push(id);
                }
                Ok(Outcome::Quarantine(reason)) => {
                    tracing::info!(message = id, %reason, "quarantined");
                    self.store.quarantine(id, &reason).await?;
                }
                Err(e) => {
                    tracing::warn!(message = id, error = %e, "message processing failed");
                    self.store
                        .message_failed(id, &e.to_string(), self.max_attempts)
                        .await?;
                }
            }
        }
        let stored = {
            // Files and the rows that use them, with no erasure in between.
            let _gate = self.blobs.gate().await;
            let blobs = self.blobs.clone();
            tokio::task::spawn_blocking(move || blobs.publish(&staged))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            self.store.store_email_entries(&entries, &ok_ids).await?
        };
        let redelivered = stored.iter().any(|s| matches!(s, StoredEntry::Deleted(_)));
        let docs: Vec<IndexDoc> = entries
            .iter()
            .zip(stored)
            .filter_map(|(e, s)| match s {
                StoredEntry::Inserted(id) | StoredEntry::Existing(id) => {
                    Some(IndexDoc::from_new(id, e))
                }
                StoredEntry::Duplicate(_) | StoredEntry::Deleted(_) => None,
            })
            .collect();
        if let Err(e) = self.index.upsert(docs).await {
            // Back to the queue, so the next step (or the next start) retries.
            self.store.set_message_state(&ok_ids, "queued").await?;
            return Err(e.into());
        }
        self.store.set_message_state(&ok_ids, "done").await?;
        if entries.iter().any(|e| !e.documents.is_empty()) {
            self.texts.wake();
        }
        if redelivered {
            if let Err(e) = self.eraser.finish().await {
                tracing::error!(error = %e, "erasing a re-delivered deleted mail failed; retried later");
            }
        }
        Ok(n)
    }

    /// Who counts as the team while this batch is processed.
    async fn team_list(&self) -> Result<TeamList, WorkerError> {
        // Addresses on the archive domain (like the bootstrap admin's) are
        // never team: anyone can put them in a From header.
        let suffix = format!("@{}", self.archive_domain.to_ascii_lowercase());
        let mut users = self.store.team_users().await?;
        users.retain(|(_, a)| !a.ends_with(&suffix));
        Ok(TeamList {
            addresses: users.iter().map(|(_, a)| a.clone()).collect(),
            users: Arc::new(users),
            domains: self.team_domains.clone(),
            accept_from: self.accept_from,
            types: Arc::new(self.store.comm_types().await?),
            sender_auth: self.sender_check.policy,
        })
    }

    /// Runs until `shutdown`: drains the queue whenever woken, and scans it
    /// every `poll` anyway. The batch in progress at shutdown completes.
    pub async fn run(self, wake: Arc<Notify>, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(0) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(poll) => {}
                        // Err: the sender is gone, which also means stop.
                        r = shutdown.changed() => if r.is_err() { break },
                    }
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::error!(error = %e, "ingest worker step failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        r = shutdown.changed() => if r.is_err() { break },
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        tracing::info!("ingest worker stopped");
    }
}

/// Who counts as the team, and the type rules, while a batch is processed.
#[derive(Clone)]
struct TeamList {
    addresses: Vec<String>,
    /// (user id, lowercased address)
    users: Arc<Vec<(i64, String)>>,
    domains: Vec<String>,
    accept_from: AcceptFrom,
    types: Arc<Vec<crate::store::CommType>>,
    sender_auth: crate::mail::auth::SenderAuth,
}

impl TeamList {
    fn team(&self) -> Team<'_> {
        Team {
            addresses: &self.addresses,
            domains: &self.domains,
        }
    }

    fn user_id(&self, m: Option<&crate::domain::Mailbox>) -> Option<i64> {
        let address = m?.address.as_deref()?.trim().to_lowercase();
        self.users
            .iter()
            .find(|(_, a)| *a == address)
            .map(|(id, _)| *id)
    }
}

/// The author of a mail entry: the team member who forwarded it, or who
/// wrote it (their own mail BCC'd), when they are a user.
fn mail_author(team: &TeamList, e: &mail::Extracted) -> Option<i64> {
    team.user_id(e.forwarded_by.as_ref())
        .or_else(|| team.user_id(e.from.as_ref()))
}

enum Outcome {
    Ready(Prepared),
    Quarantine(String),
}

/// A panic while processing one message fails that message only.
fn panicked(e: tokio::task::JoinError) -> std::io::Error {
    let what = match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into()),
        Err(e) => e.to_string(),
    };
    std::io::Error::other(format!("processing panicked: {what}"))
}

fn prepare(
    spool: &ContentStore,
    blobs: &ContentStore,
    team: &TeamList,
    msg: &QueuedMessage,
    limits: &mail::Limits,
    auth: Option<&crate::domain::AuthResults>,
) -> Result<Outcome, std::io::Error> {
    let raw = spool.get(&msg.sha256)?;
    let received = chrono::DateTime::parse_from_rfc3339(&msg.received_at)
        .map(|d| d.timestamp())
        .unwrap_or(0);
    // Who may archive is decided on the headers alone, before the (costlier)
    // unwrapping ever sees a stranger's message.
    if !msg.released {
        let sender = mail::sender_address(&raw);
        let is_team = sender.as_deref().is_some_and(|a| team.team().is_member(a));
        let team_only = team.accept_from == AcceptFrom::Team;
        let (policy, who) = (team.sender_auth, sender.as_deref());
        if let Some(reason) = mail::auth::judge(policy, team_only, who, is_team, auth) {
            return Ok(Outcome::Quarantine(reason));
        }
    }
    let analysis = mail::analyze_within(&raw, &team.team(), limits);
    let skipped = analysis.skipped;
    let extracted = analysis.entries;
    let several = extracted.len() > 1;
    let mut entries = Vec::new();
    let mut staged = Vec::new();
    for (i, e) in extracted.into_iter().enumerate() {
        let mut documents = Vec::with_capacity(e.attachments.len());
        for a in &e.attachments {
            let blob = blobs.stage(&a.bytes)?;
            let sha256 = blob.sha.clone();
            staged.push(blob);
            // The text comes later, from the sandboxed text worker.
            let status = Kind::initial_status(&a.content_type, a.filename.as_deref());
            documents.push(NewDocument {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.bytes.len() as i64,
                sha256,
                text_status: Some(status.to_owned()),
                text: None,
            });
        }
        // The same mail forwarded twice is one entry per card; another
        // system's retry (same external id) too.
        let ann = msg.annotations.as_ref();
        let dedup_key = match ann.and_then(|a| a.external_id.as_deref()) {
            Some(ext) if several => format!("ext:{ext}:{i}"),
            Some(ext) => format!("ext:{ext}"),
            None => mail::dedup_key(e.message_id.as_deref(), &msg.sha256, several.then_some(i)),
        };
        let sender_domain = e
            .from
            .as_ref()
            .and_then(|m| m.address.as_deref())
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.to_owned());
        let author_id = ann
            .and_then(|a| a.author_id)
            .or_else(|| mail_author(team, &e));
        for (card_id, rcpt) in &msg.cards {
            let tag = super::classify::plus_tag(rcpt);
            // A type the caller named wins if it still exists; else the rules.
            let comm_type_id = ann
                .and_then(|a| a.comm_type_id)
                .filter(|id| team.types.iter().any(|t| t.id == *id))
                .or_else(|| {
                    super::classify::classify(
                        &team.types,
                        tag.as_deref(),
                        sender_domain.as_deref(),
                        &e.subject,
                    )
                });
            let date = e.date.map(|d| d.to_rfc3339());
            entries.push(NewEmailEntry {
                card_id: *card_id,
                message_row: msg.id,
                dedup_key: dedup_key.clone(),
                subject: ann
                    .and_then(|a| a.subject.clone())
                    .unwrap_or_else(|| e.subject.clone()),
                from: e.from.clone(),
                to: e.to.clone(),
                cc: e.cc.clone(),
                date,
                occurred_at: ann
                    .and_then(|a| a.occurred_at)
                    .unwrap_or_else(|| e.date.map_or(received, |d| d.timestamp())),
                body_text: ann
                    .and_then(|a| a.body_text.clone())
                    .unwrap_or_else(|| e.body_text.clone()),
                message_id: e.message_id.clone(),
                direction: Some(ann.and_then(|a| a.direction.clone()).unwrap_or_else(|| {
                    match e.direction {
                        Direction::Incoming => "incoming",
                        Direction::Outgoing => "outgoing",
                    }
                    .to_owned()
                })),
                meta: EmailMeta {
                    forwarded_by: e.forwarded_by.clone(),
                    forwarded_at: e.forwarded_at.map(|d| d.to_rfc3339()),
                    forward_note: e.forward_note.clone(),
                    forward_chain: e.forward_chain.clone(),
                    date_raw: e.date_raw.clone(),
                    date_is_fallback: e.date_is_fallback,
                    skipped: skipped.clone(),
                },
                documents: documents.clone(),
                author_id,
                author_kind: if ann.is_some() { "user" } else { "ingest" },
                comm_type_id,
                reference: ann.and_then(|a| a.reference.clone()),
            });
        }
    }
    Ok(Outcome::Ready(Prepared {
        entries,
        blobs: staged,
    }))
}
