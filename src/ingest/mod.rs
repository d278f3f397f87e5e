//! The one ingest entry point. Every source (SMTP today) calls
//! [`Ingest::accept`]; it returns only once the raw bytes are fsync'd in the
//! spool and the queue row is committed. Parsing and indexing happen later in
//! the [`worker`], from the durable queue.

pub mod auth;
pub mod classify;
mod committer;
mod incoming;
pub mod texts;
pub mod worker;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify};

pub use incoming::IncomingBody;

pub use texts::{TextSignals, TextWorker};
pub use worker::Worker;

use crate::blobs::ContentStore;
use crate::domain::{ArchiveCode, Source};
use crate::store::{Annotations, NewMessage, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no recipient is a live archive address")]
    NoCard,
    #[error("spool write failed: {0}")]
    Spool(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest is shutting down")]
    ShuttingDown,
    /// Free space on the data disk is below `storage.min_free_bytes`.
    #[error("only {free} bytes free on the data disk, below storage.min_free_bytes ({min})")]
    NoSpace { free: u64, min: u64 },
}

/// The raw message handed to ingest: bytes in memory, or a body that
/// arrived in pieces and may already be on disk.
pub enum RawMessage {
    Bytes(Vec<u8>),
    Incoming(Box<IncomingBody>),
}

impl From<Vec<u8>> for RawMessage {
    fn from(bytes: Vec<u8>) -> Self {
        RawMessage::Bytes(bytes)
    }
}

impl From<IncomingBody> for RawMessage {
    fn from(body: IncomingBody) -> Self {
        RawMessage::Incoming(Box::new(body))
    }
}

/// Who sent the message and to which addresses, as the source saw it.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub helo: String,
    pub peer: String,
    pub rcpt_to: Vec<String>,
}

#[derive(Clone)]
pub struct Ingest {
    store: Store,
    spool: ContentStore,
    domain: String,
    committer: mpsc::Sender<committer::Pending>,
    wake: Arc<Notify>,
    /// Live codes already looked up (code → card). Codes are never reissued;
    /// a regenerated card's old code is removed with `forget_code`.
    routes: Arc<std::sync::Mutex<Routes>>,
    /// Below this many free bytes on the spool's disk nothing new is taken.
    min_free_bytes: u64,
}

/// The route cache and how many codes were forgotten: a lookup that began
/// before a `forget_code` must not put what it read back in.
#[derive(Default)]
struct Routes {
    cards: std::collections::HashMap<String, i64>,
    forgotten: u64,
}

impl Routes {
    /// Caches what a lookup read, unless a code was forgotten since it
    /// began (`generation`): it may be the one it read.
    fn remember(&mut self, code: &str, card: i64, generation: u64) {
        if self.forgotten == generation {
            self.cards.insert(code.to_owned(), card);
        }
    }

    fn forget(&mut self, code: &str) {
        self.cards.remove(code);
        self.forgotten += 1;
    }
}

impl Ingest {
    /// Starts the group-commit task; `wake` is notified after each commit so the
    /// worker picks new messages up at once.
    pub fn start(store: Store, spool: ContentStore, domain: String, wake: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(committer::run(
            store.clone(),
            spool.clone(),
            rx,
            wake.clone(),
        ));
        Ingest {
            store,
            spool,
            domain,
            committer: tx,
            wake,
            routes: Arc::default(),
            min_free_bytes: 0,
        }
    }

    /// Refuses new messages (`IngestError::NoSpace`) while the spool's disk
    /// has fewer than `bytes` free; what was accepted is never touched.
    pub fn with_min_free_bytes(mut self, bytes: u64) -> Self {
        self.min_free_bytes = bytes;
        self
    }

    /// Ok while the data disk has at least `storage.min_free_bytes` free.
    pub fn check_room(&self) -> Result<(), IngestError> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        let free = self.spool.free_bytes()?;
        if free < self.min_free_bytes {
            return Err(IngestError::NoSpace {
                free,
                min: self.min_free_bytes,
            });
        }
        Ok(())
    }

    /// An empty body for a message arriving in pieces; bodies over
    /// `threshold` bytes are streamed to the spool's staging area.
    pub fn incoming(&self, threshold: usize) -> IncomingBody {
        IncomingBody::new(self.spool.clone(), threshold)
    }

    /// The card an address routes to, if it is a live archive address.
    pub async fn route(&self, address: &str) -> Result<Option<i64>, IngestError> {
        let Some(code) = ArchiveCode::from_address(address, &self.domain) else {
            return Ok(None);
        };
        let (cached, generation) = {
            let routes = self.lock_routes();
            (routes.cards.get(code.as_str()).copied(), routes.forgotten)
        };
        if let Some(card) = cached {
            return Ok(Some(card));
        }
        let card = self.store.card_id_by_code(code.as_str()).await?;
        if let Some(card) = card {
            self.lock_routes().remember(code.as_str(), card, generation);
        }
        Ok(card)
    }

    /// Stops routing a code (its card got a new archive address). Call it
    /// after the new code is committed.
    pub fn forget_code(&self, code: &str) {
        self.lock_routes().forget(code);
    }

    fn lock_routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        // The map is only a cache: a poisoned lock still holds valid entries.
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes a message that came without an envelope (IMAP, `import --route`)
    /// by its headers, then by a `[#code]` in the subject.
    pub async fn route_by_headers(&self, raw: &[u8]) -> Result<Vec<(i64, String)>, IngestError> {
        let mut cards: Vec<(i64, String)> = Vec::new();
        for rcpt in crate::mail::routing_addresses(raw) {
            if let Some(card) = self.route(&rcpt).await? {
                if !cards.iter().any(|(c, _)| *c == card) {
                    cards.push((card, rcpt));
                }
            }
        }
        if cards.is_empty() {
            if let Some(code) = crate::mail::subject_code(raw).and_then(|c| ArchiveCode::parse(&c))
            {
                if let Some(card) = self.store.card_id_by_code(code.as_str()).await? {
                    cards.push((card, format!("[#{code}]")));
                }
            }
        }
        Ok(cards)
    }

    /// Durably accepts a message for the cards its recipients route to.
    /// Returns the queue id. Ok means: bytes fsync'd, queue row committed.
    pub async fn accept(
        &self,
        source: Source,
        envelope: Envelope,
        raw: impl Into<RawMessage>,
    ) -> Result<i64, IngestError> {
        let mut cards: Vec<(i64, String)> = Vec::new();
        for rcpt in &envelope.rcpt_to {
            if let Some(card) = self.route(rcpt).await? {
                if !cards.iter().any(|(c, _)| *c == card) {
                    cards.push((card, rcpt.clone()));
                }
            }
        }
        self.accept_for(source, envelope, raw, cards).await
    }

    /// Durably accepts a message for cards the caller already chose (an upload
    /// to a card, an import with `--card`).
    pub async fn accept_for(
        &self,
        source: Source,
        envelope: Envelope,
        raw: impl Into<RawMessage>,
        cards: Vec<(i64, String)>,
    ) -> Result<i64, IngestError> {
        if cards.is_empty() {
            return Err(IngestError::NoCard);
        }
        self.enqueue(source, envelope, raw.into(), cards, None)
            .await
    }

    /// Durably accepts a message no card could be found for: it waits in the
    /// quarantine for an admin, never dropped.
    pub async fn accept_unrouted(
        &self,
        source: Source,
        envelope: Envelope,
        raw: Vec<u8>,
        reason: String,
    ) -> Result<i64, IngestError> {
        self.enqueue(source, envelope, raw.into(), vec![], Some(reason))
            .await
    }

    /// Durably accepts an original another system logged for a card, with
    /// what it said about it (author, type, reference, external id).
    pub async fn accept_annotated(
        &self,
        envelope: Envelope,
        raw: Vec<u8>,
        card: (i64, String),
        annotations: Annotations,
    ) -> Result<i64, IngestError> {
        self.enqueue_with(
            Source::Api,
            envelope,
            raw.into(),
            vec![card],
            None,
            Some(annotations),
        )
        .await
    }

    async fn enqueue(
        &self,
        source: Source,
        envelope: Envelope,
        raw: RawMessage,
        cards: Vec<(i64, String)>,
        quarantine: Option<String>,
    ) -> Result<i64, IngestError> {
        self.enqueue_with(source, envelope, raw, cards, quarantine, None)
            .await
    }

    async fn enqueue_with(
        &self,
        source: Source,
        envelope: Envelope,
        raw: RawMessage,
        cards: Vec<(i64, String)>,
        quarantine: Option<String>,
        annotations: Option<Annotations>,
    ) -> Result<i64, IngestError> {
        self.check_room()?;
        let (staged, size) = match raw {
            RawMessage::Bytes(raw) => {
                let (spool, size) = (self.spool.clone(), raw.len());
                let staged = tokio::task::spawn_blocking(move || spool.stage(&raw))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??;
                (staged, size)
            }
            RawMessage::Incoming(body) => body.stage().await?,
        };
        let size = size as i64;
        let (reply, rx) = oneshot::channel();
        let pending = committer::Pending {
            message: NewMessage {
                sha256: staged.sha.clone(),
                size,
                source: source.as_str(),
                mail_from: envelope.mail_from,
                helo: envelope.helo,
                peer: envelope.peer,
                cards,
                trusted: matches!(source, Source::Upload | Source::Import | Source::Api),
                quarantine,
                annotations,
            },
            staged: Some(staged),
            reply,
        };
        self.committer
            .send(pending)
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::Routes;

    #[test]
    fn a_lookup_in_flight_during_a_regeneration_does_not_bring_the_old_code_back() {
        let mut routes = Routes::default();
        let before = routes.forgotten;
        // The lookup read the old code; meanwhile the card got a new one.
        routes.forget("oldcode");
        routes.remember("oldcode", 7, before);
        assert!(routes.cards.is_empty());
        // Lookups that begin afterwards are cached as usual.
        routes.remember("newcode", 7, routes.forgotten);
        assert_eq!(routes.cards.get("newcode"), Some(&7));
    }
}
