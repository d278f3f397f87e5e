//! Rebuilding the index from the store: `dossier reindex`, and at start-up
//! when the index on disk has another schema. The index is a pure function of
//! the stored entries, so this is always safe.

use super::{IndexDoc, IndexError, IndexHandle};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Clears the index and indexes every live entry in pages of `page`;
/// `progress(done, total)` after each page. Returns how many were indexed.
/// Next to a running server, `serial` is the deletions' lock: each page is
/// read and written under it, so no deleted entry is indexed again.
pub async fn rebuild(
    store: &Store,
    index: &IndexHandle,
    page: i64,
    serial: Option<&tokio::sync::Mutex<()>>,
    mut progress: impl FnMut(i64, i64),
) -> Result<i64, RebuildError> {
    let total = store.entry_count().await?;
    index.clear().await?;
    let (mut after, mut done) = (0i64, 0i64);
    loop {
        let _one = match serial {
            Some(m) => Some(m.lock().await),
            None => None,
        };
        let entries = store.entries_after(after, page).await?;
        let Some(last) = entries.last() else { break };
        after = last.id;
        done += entries.len() as i64;
        index
            .upsert(entries.iter().map(IndexDoc::from_entry).collect())
            .await?;
        progress(done, total);
    }
    Ok(done)
}
