//! Rebuilding the index from the store: `dossier reindex`, and at start-up
//! when the index on disk has another schema. The index is a pure function of
//! the stored entries, so this is always safe.

use std::path::Path;

use super::{IndexDoc, IndexError, IndexHandle};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("marking the rebuild in the index directory: {0}")]
    Mark(#[from] std::io::Error),
}

/// Entries indexed between two commits of a rebuild: a commit per page would
/// make a thousand small segments for the merges to rewrite again and again.
const COMMIT_EVERY: i64 = 100_000;

/// Clears the index and indexes every live entry in pages of `page`;
/// `progress(done, total)` after each page. Returns how many were indexed.
/// Entries become searchable every `COMMIT_EVERY` and at the end; until the
/// end, a mark in `dir` makes the next start rebuild again.
/// Next to a running server, `serial` is the deletions' lock: each page is
/// read and written under it, so no deleted entry is indexed again.
pub async fn rebuild(
    store: &Store,
    index: &IndexHandle,
    dir: &Path,
    page: i64,
    serial: Option<&tokio::sync::Mutex<()>>,
    mut progress: impl FnMut(i64, i64),
) -> Result<i64, RebuildError> {
    let total = store.entry_count().await?;
    super::begin_rebuild(dir)?;
    index.clear().await?;
    let (mut after, mut done, mut committed) = (0i64, 0i64, 0i64);
    loop {
        let lock = match serial {
            Some(m) => Some(m.lock().await),
            None => None,
        };
        let entries = store.entries_after(after, page).await?;
        let Some(last) = entries.last() else { break };
        after = last.id;
        done += entries.len() as i64;
        index
            .add_bulk(entries.iter().map(IndexDoc::from_entry).collect())
            .await?;
        drop(lock);
        if done - committed >= COMMIT_EVERY {
            index.commit().await?;
            committed = done;
        }
        progress(done, total);
    }
    index.commit().await?;
    super::end_rebuild(dir)?;
    Ok(done)
}
