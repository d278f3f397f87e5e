//! Group commit: every message waiting when a commit starts shares it, so one
//! directory fsync and one SQLite transaction serve many SMTP sessions.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify};

use super::IngestError;
use crate::blobs::ContentStore;
use crate::blobs::Staged;
use crate::store::{NewMessage, Store};

const MAX_GROUP: usize = 512;

pub(super) struct Pending {
    pub message: NewMessage,
    /// The raw bytes, written but not yet durable; published before the commit.
    pub staged: Option<Staged>,
    pub reply: oneshot::Sender<Result<i64, IngestError>>,
}

pub(super) async fn run(
    store: Store,
    spool: ContentStore,
    mut rx: mpsc::Receiver<Pending>,
    wake: Arc<Notify>,
) {
    let mut group: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        // Files first, then the rows that point at them; no erasure between.
        let gate = spool.gate().await;
        let staged: Vec<Staged> = group.iter_mut().filter_map(|p| p.staged.take()).collect();
        let sp = spool.clone();
        let synced = tokio::task::spawn_blocking(move || sp.publish(&staged))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        let messages: Vec<NewMessage> = group.iter().map(|p| p.message.clone()).collect();
        let result = match synced {
            Ok(()) => store.enqueue(&messages).await.map_err(IngestError::from),
            Err(e) => Err(IngestError::Spool(e)),
        };
        drop(gate);
        match result {
            Ok(ids) => {
                for (p, id) in group.drain(..).zip(ids) {
                    let _ = p.reply.send(Ok(id));
                }
                wake.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, n = group.len(), "queue commit failed");
                let msg = e.to_string();
                for p in group.drain(..) {
                    let _ = p
                        .reply
                        .send(Err(IngestError::Spool(std::io::Error::other(msg.clone()))));
                }
            }
        }
    }
}
