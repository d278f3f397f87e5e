//! Permanent deletion: a deleted document or entry leaves nothing of its
//! content behind — not in the blob store, not in the raw message (the part is
//! replaced by a placeholder), not in the index (its segments are rewritten),
//! not in SQLite (secure_delete, then the WAL is checkpointed and truncated).
//! The store records a tombstone and the work still to do in one transaction;
//! `finish` does that work, at once and again at start-up after a crash.

use std::sync::Arc;

use crate::blobs::ContentStore;
use crate::mail::redact::{self, Placeholder};
use crate::search::{IndexDoc, IndexError, IndexHandle};
use crate::store::{Document, Entry, RawRewrite, Store, StoreError};

/// 20 ms steps waited for the worker (10 s).
const SETTLE_STEPS: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The message behind the entry is still being processed.
    #[error("the message is still being processed; try again in a moment")]
    Busy,
    /// The attachment's bytes were not found in its raw message, so the raw
    /// message cannot be rewritten without it; nothing was deleted.
    #[error(
        "document {0}: its attachment was not found in the stored message; nothing was deleted"
    )]
    NotInRaw(i64),
}

#[derive(Clone)]
pub struct Eraser {
    pub store: Store,
    pub spool: ContentStore,
    pub blobs: ContentStore,
    pub index: IndexHandle,
    /// One deletion at a time: they share the pending list and the purge.
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Who deletes, and why.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub by: i64,
    pub by_name: String,
    pub reason: Option<String>,
}

impl Eraser {
    pub fn new(store: Store, spool: ContentStore, blobs: ContentStore, index: IndexHandle) -> Self {
        Eraser {
            store,
            spool,
            blobs,
            index,
            lock: Arc::default(),
        }
    }

    /// Waits (bounded) for the worker to finish the entry's message: it
    /// shows in the history once stored, a moment before it is indexed, and
    /// the worker's indexing must not bring deleted content back.
    async fn settled(&self, entry: &Entry) -> Result<(), EraseError> {
        let Some(row) = entry.message_row else {
            return Ok(());
        };
        for _ in 0..SETTLE_STEPS {
            let state = self.store.message_state(row).await?;
            if !matches!(state.as_deref(), Some("queued" | "stored")) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(EraseError::Busy)
    }

    /// Deletes a document; for a mail attachment the raw message is rewritten
    /// without it (unless another live document of that message has the same
    /// bytes, in which case the bytes must stay).
    ///
    /// Runs as a task of its own: a client that goes away (or a request
    /// timeout) cannot stop a deletion half-way.
    pub async fn delete_document(
        &self,
        doc: Document,
        entry: Option<Entry>,
        who: Deletion,
    ) -> Result<(), EraseError> {
        let this = self.clone();
        tokio::spawn(async move { this.delete_document_now(&doc, entry.as_ref(), &who).await })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    async fn delete_document_now(
        &self,
        doc: &Document,
        entry: Option<&Entry>,
        who: &Deletion,
    ) -> Result<(), EraseError> {
        let _one = self.lock.lock().await;
        let mut rewrite = None;
        if let Some(entry) = entry.filter(|e| e.message_row.is_some()) {
            self.settled(entry).await?;
            let raw_sha = self.store.entry_raw_sha(entry.id).await?;
            if !self
                .store
                .raw_still_needs(entry.id, &doc.sha256, doc.id)
                .await?
            {
                rewrite = Some(self.rewrite_raw(&raw_sha, doc, who).await?);
            }
        }
        self.store
            .tombstone_document(doc, who.by, who.reason.as_deref(), rewrite.as_ref())
            .await?;
        self.finish_locked().await
    }

    async fn rewrite_raw(
        &self,
        raw_sha: &str,
        doc: &Document,
        who: &Deletion,
    ) -> Result<RawRewrite, EraseError> {
        let (spool, raw_sha_owned) = (self.spool.clone(), raw_sha.to_owned());
        let raw = tokio::task::spawn_blocking(move || spool.get(&raw_sha_owned))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        let now = crate::store::now_rfc3339();
        let placeholder = Placeholder {
            filename: doc.filename.as_deref(),
            size: doc.size,
            sha256: &doc.sha256,
            deleted_at: &now,
            deleted_by: &who.by_name,
            reason: who.reason.as_deref(),
        };
        let Some(new) = redact::redact(&raw, &doc.sha256, &placeholder) else {
            tracing::error!(document = doc.id, "attachment not found in its raw message");
            return Err(EraseError::NotInRaw(doc.id));
        };
        let new_size = new.len() as i64;
        let spool = self.spool.clone();
        let new_sha = tokio::task::spawn_blocking(move || spool.put_durable(&new))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(RawRewrite {
            old_sha: raw_sha.to_owned(),
            new_sha,
            new_size,
        })
    }

    /// Deletes an entry with its documents and the raw messages only it used
    /// (as a task of its own, like `delete_document`).
    pub async fn delete_entry(&self, entry: Entry, who: Deletion) -> Result<(), EraseError> {
        let this = self.clone();
        tokio::spawn(async move {
            let _one = this.lock.lock().await;
            this.settled(&entry).await?;
            this.store
                .tombstone_entry(entry.id, who.by, who.reason.as_deref())
                .await?;
            this.finish_locked().await
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// The lock deletions hold, for others that must not interleave with one.
    pub fn serial(&self) -> &tokio::sync::Mutex<()> {
        &self.lock
    }

    /// Works off what deletions left to do (after a crash: at start-up).
    pub async fn finish(&self) -> Result<(), EraseError> {
        let _one = self.lock.lock().await;
        self.finish_locked().await
    }

    async fn finish_locked(&self) -> Result<(), EraseError> {
        let pending = self.store.pending_erasures().await?;
        if pending.is_empty() {
            return Ok(());
        }
        let (mut done, mut entries, mut wal) = (Vec::new(), Vec::new(), false);
        for p in &pending {
            match (p.what.as_str(), p.sha256.as_deref(), p.entry_id) {
                ("blob", Some(sha), _) => {
                    let _gate = self.blobs.gate().await;
                    if self.store.blob_unused(sha).await? {
                        self.remove(&self.blobs, sha).await?;
                    }
                    done.push(p.id);
                }
                ("spool", Some(sha), _) => {
                    let _gate = self.spool.gate().await;
                    if self.store.spool_unused(sha).await? {
                        self.remove(&self.spool, sha).await?;
                    }
                    done.push(p.id);
                }
                ("index", _, Some(id)) => {
                    entries.push(id);
                    done.push(p.id);
                }
                ("wal", ..) => wal = true,
                _ => done.push(p.id),
            }
        }
        let started = std::time::Instant::now();
        self.index_now(&entries).await?;
        self.index.purge().await?;
        let index_ms = started.elapsed().as_millis();
        // The WAL is checkpointed last, after every other write of the work.
        self.store.erasures_done(&done).await?;
        let checkpointed = self.store.checkpoint().await?;
        tracing::info!(
            index_ms,
            total_ms = started.elapsed().as_millis(),
            checkpointed,
            "deletion erased from the index (and, if checkpointed, the WAL)"
        );
        if checkpointed {
            if wal {
                self.store.wal_erasure_done().await?;
                self.store.checkpoint().await?;
            }
        } else {
            tracing::warn!(
                "readers kept the WAL busy after a deletion; checkpoint retried in the background"
            );
            if !wal {
                self.store.queue_wal_erasure().await?;
            }
        }
        Ok(())
    }

    /// Brings these entries in the index up to date: live ones indexed again
    /// (deleted documents drop out), tombstones removed. Callers hold the lock.
    async fn index_now(&self, ids: &[i64]) -> Result<(), EraseError> {
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        for &id in ids {
            match self.store.entry(id).await {
                Ok(e) if !e.is_deleted() => upserts.push(IndexDoc::from_entry(&e)),
                Ok(_) | Err(StoreError::NotFound) => deletes.push(id),
                Err(e) => return Err(e.into()),
            }
        }
        if !deletes.is_empty() {
            self.index.delete(deletes).await?;
        }
        if !upserts.is_empty() {
            self.index.upsert(upserts).await?;
        }
        Ok(())
    }

    /// Indexes entries written over HTTP. Read and written under the lock, so
    /// a deletion in between cannot be undone by a stale copy.
    pub async fn reindex(&self, ids: &[i64]) -> Result<(), EraseError> {
        let _one = self.lock.lock().await;
        self.index_now(ids).await
    }

    /// Retries unfinished work every `every` (a failed removal, a WAL that
    /// readers kept busy) until `stop`.
    pub async fn run_retries(
        self,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            }
            let pending = self.store.pending_erasures().await.map(|p| !p.is_empty());
            if matches!(pending, Ok(true)) {
                if let Err(e) = self.finish().await {
                    tracing::error!(error = %e, "finishing deletions failed; retrying later");
                }
            }
        }
    }

    async fn remove(&self, files: &ContentStore, sha: &str) -> Result<(), EraseError> {
        let (files, sha) = (files.clone(), sha.to_owned());
        tokio::task::spawn_blocking(move || files.remove(&sha))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }
}
