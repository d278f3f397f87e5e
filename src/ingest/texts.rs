//! Attachment text, off the ingest path. Documents are stored with
//! `text_status = 'pending'` and searchable by name at once; this worker runs
//! the sandboxed extractor on them and indexes their entries again. A bomb
//! that keeps an extractor busy until its time limit delays only other
//! attachments' text, never the mail itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{watch, Notify};

use crate::blobs::ContentStore;
use crate::erase::{EraseError, Eraser};
use crate::extract::{Extraction, Input, Sandbox};
use crate::store::{PendingText, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] EraseError),
}

/// Pending documents taken per step.
const BATCH: u32 = 64;

#[derive(Clone)]
pub struct TextWorker {
    pub store: Store,
    pub blobs: ContentStore,
    pub sandbox: Sandbox,
    pub eraser: Eraser,
    /// `extract.max_text_bytes_per_message`: all documents of one entry together.
    pub max_text_per_entry: usize,
    pub signals: TextSignals,
}

/// How the worker is woken, and how waiters learn it did a step.
#[derive(Clone)]
pub struct TextSignals {
    wake: Arc<Notify>,
    /// Bumped after every step: waiters re-check their documents.
    done: Arc<watch::Sender<u64>>,
}

impl Default for TextSignals {
    fn default() -> Self {
        TextSignals {
            wake: Arc::default(),
            done: Arc::new(watch::channel(0).0),
        }
    }
}

impl TextSignals {
    /// New pending documents were stored.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until none of `entry_ids` has a pending document, or `limit`
    /// passes (false: the caller answers with `pending` statuses).
    pub async fn wait(
        &self,
        store: &Store,
        entry_ids: &[i64],
        limit: Duration,
    ) -> Result<bool, StoreError> {
        let mut rx = self.done.subscribe();
        let wait = async {
            loop {
                rx.borrow_and_update();
                if !store.texts_pending_for(entry_ids).await? {
                    return Ok(true);
                }
                if rx.changed().await.is_err() {
                    return Ok(false);
                }
            }
        };
        tokio::time::timeout(limit, wait).await.unwrap_or(Ok(false))
    }
}

impl TextWorker {
    /// Extracts one batch of pending documents and indexes their entries;
    /// returns how many documents it took.
    pub async fn run_once(&self) -> Result<usize, TextError> {
        let pending = self.store.pending_texts(BATCH).await?;
        let n = pending.len();
        let mut by_entry: BTreeMap<i64, Vec<PendingText>> = BTreeMap::new();
        for p in pending {
            by_entry.entry(p.entry_id).or_default().push(p);
        }
        // Entries in parallel (the sandbox bounds how many children run),
        // one entry's documents in turn, within the entry's text budget.
        let results = join_all(by_entry.into_iter().map(|(id, docs)| self.entry(id, docs))).await;
        let mut touched = Vec::new();
        for r in results {
            if let Some(id) = r? {
                touched.push(id);
            }
        }
        if !touched.is_empty() {
            self.eraser.reindex(&touched).await?;
        }
        self.signals.done.send_modify(|g| *g += 1);
        Ok(n)
    }

    /// Returns the entry's id when one of its documents changed.
    async fn entry(&self, entry_id: i64, docs: Vec<PendingText>) -> Result<Option<i64>, TextError> {
        let mut used = self.store.entry_text_bytes(entry_id).await?.max(0) as usize;
        let mut changed = false;
        for d in docs {
            let budget = self.max_text_per_entry.saturating_sub(used);
            let extraction = match self.blobs.open_file(&d.sha256) {
                Ok(file) => {
                    self.sandbox
                        .extract(
                            &d.content_type,
                            d.filename.as_deref(),
                            Input::File(file),
                            budget,
                        )
                        .await
                }
                // Erased meanwhile: the row is a tombstone, the update a no-op.
                Err(e) => Extraction::Failed(format!("the stored file cannot be read: {e}")),
            };
            if let Extraction::Failed(why) = &extraction {
                tracing::info!(document = d.id, reason = %why, "attachment text not extracted");
            }
            let status = extraction.status();
            let text = extraction.into_text();
            used += text.as_ref().map_or(0, String::len);
            changed |= self
                .store
                .set_document_text(d.id, text.as_deref(), &status)
                .await?;
        }
        Ok(changed.then_some(entry_id))
    }

    /// Runs until `shutdown`: works whenever woken, and scans every `poll`.
    pub async fn run(self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let wake = self.signals.wake.clone();
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Stopping drops the step: its children are killed, its documents
            // stay pending for the next start.
            let step = tokio::select! {
                r = self.run_once() => r,
                _ = shutdown.changed() => break,
            };
            let pause = match step {
                Ok(0) => poll,
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "attachment text step failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        tracing::info!("attachment text worker stopped");
    }
}
