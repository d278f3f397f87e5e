//! Permanent deletion: a deleted document or entry leaves nothing of its
//! content behind — not in the blob store, not in the raw message (the part is
//! replaced by a placeholder), not in the index (its segments are rewritten),
//! not in SQLite (secure_delete, then the WAL is checkpointed and truncated).
//! The store records a tombstone and the work still to do in one transaction;
//! `finish` does that work, at once and again at start-up after a crash.

use std::sync::Arc;

use crate::ingest::ContentStore;
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
            if matches!(state.as_deref(), Some("done" | "erased")) {
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
                .raw_still_needs(&raw_sha, &doc.sha256, doc.id)
                .await?
            {
                rewrite = self.rewrite_raw(&raw_sha, doc, who).await?;
            }
        }
        self.store
            .tombstone_document(doc.id, who.by, who.reason.as_deref(), rewrite.as_ref())
            .await?;
        self.finish_locked().await
    }

    async fn rewrite_raw(
        &self,
        raw_sha: &str,
        doc: &Document,
        who: &Deletion,
    ) -> Result<Option<RawRewrite>, EraseError> {
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
            tracing::warn!(document = doc.id, "attachment not found in its raw message");
            return Ok(None);
        };
        let new_size = new.len() as i64;
        let spool = self.spool.clone();
        let new_sha = tokio::task::spawn_blocking(move || spool.put_durable(&new))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(Some(RawRewrite {
            old_sha: raw_sha.to_owned(),
            new_sha,
            new_size,
        }))
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
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        for p in &pending {
            match (p.what.as_str(), p.sha256.as_deref(), p.entry_id) {
                ("blob", Some(sha), _) if self.store.blob_unused(sha).await? => {
                    self.remove(&self.blobs, sha).await?;
                }
                ("spool", Some(sha), _) if self.store.spool_unused(sha).await? => {
                    self.remove(&self.spool, sha).await?;
                }
                ("index", _, Some(id)) => match self.store.entry(id).await {
                    // A live entry is indexed again without its deleted documents.
                    Ok(e) if !e.is_deleted() => upserts.push(IndexDoc::from_entry(&e)),
                    Ok(_) | Err(StoreError::NotFound) => deletes.push(id),
                    Err(e) => return Err(e.into()),
                },
                _ => {}
            }
        }
        if !deletes.is_empty() {
            self.index.delete(deletes).await?;
        }
        if !upserts.is_empty() {
            self.index.upsert(upserts).await?;
        }
        self.index.purge().await?;
        let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
        self.store.erasures_done(&ids).await?;
        if !self.store.checkpoint().await? {
            tracing::warn!(
                "WAL checkpoint after a deletion stayed busy; the next one completes it"
            );
        }
        Ok(())
    }

    async fn remove(&self, files: &ContentStore, sha: &str) -> Result<(), EraseError> {
        let (files, sha) = (files.clone(), sha.to_owned());
        tokio::task::spawn_blocking(move || files.remove(&sha))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }
}
