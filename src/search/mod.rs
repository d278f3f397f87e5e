//! Full-text search: schema, the single writer task, and the shared reader.

mod budget;
mod facets;
mod guard;
pub mod query;
mod reader;
mod rebuild;
mod schema;
mod writer;

pub use budget::{Budget, CancelOnDrop};
pub use guard::SearchLimits;
pub use reader::{Hit, SearchError, SearchRequest, SearchResults, Searcher, Sort};
pub use rebuild::{rebuild, RebuildError};
pub use schema::{IndexDoc, Schema};
pub use writer::{IndexHandle, IndexWriterTask};

use std::path::Path;

use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index at {path}: {source}")]
    Open {
        path: String,
        source: tantivy::TantivyError,
    },
    #[error(
        "the search index at {0} is locked by another process (is dossier already running? stop it before `dossier reindex`)"
    )]
    Locked(String),
    /// The index on disk was written with another schema (an older version).
    #[error("the search index at {0} has another schema; it must be rebuilt")]
    SchemaMismatch(String),
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the index writer has stopped")]
    WriterGone,
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

/// Present in the index directory while a rebuild runs: the index is then
/// incomplete, so a start that finds it rebuilds again.
const REBUILDING: &str = "rebuilding";

/// Marks `dir` as being rebuilt, durably, before the index is cleared.
pub(crate) fn begin_rebuild(dir: &Path) -> std::io::Result<()> {
    std::fs::File::create(dir.join(REBUILDING))?.sync_all()?;
    std::fs::File::open(dir)?.sync_all()
}

/// Clears the mark once the last commit of a rebuild is on disk.
pub(crate) fn end_rebuild(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_file(dir.join(REBUILDING))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The opened index plus its one long-lived reader.
#[derive(Clone)]
pub struct SearchIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub schema: Schema,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if needed. An index with another
    /// schema is `SchemaMismatch`: the caller rebuilds it from the store.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let schema = Schema::new();
        let open = |e: tantivy::TantivyError| IndexError::Open {
            path: dir.display().to_string(),
            source: e,
        };
        let mmap = MmapDirectory::open(dir).map_err(|e| open(e.into()))?;
        let index = Index::open_or_create(mmap, schema.schema.clone()).map_err(|e| match e {
            tantivy::TantivyError::SchemaError(_) => {
                IndexError::SchemaMismatch(dir.display().to_string())
            }
            e => open(e),
        })?;
        Self::from_index(index, schema)
    }

    /// Opens the index, or replaces one with another schema by an empty one;
    /// `true` when it was replaced (the caller then rebuilds it).
    /// An index a rebuild left unfinished (a crash, a kill) counts as stale.
    pub fn open_or_replace(dir: &Path) -> Result<(Self, bool), IndexError> {
        if dir.join(REBUILDING).exists() {
            tracing::warn!(dir = %dir.display(), "a rebuild of the search index was interrupted; rebuilding it from the store");
            return Ok((Self::recreate(dir)?, true));
        }
        match Self::open(dir) {
            Ok(i) => Ok((i, false)),
            Err(IndexError::SchemaMismatch(_)) => {
                tracing::warn!(dir = %dir.display(), "the search index has an older schema; rebuilding it from the store");
                Ok((Self::recreate(dir)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes whatever is in `dir` and creates an empty index (used by reindex
    /// when the on-disk schema is from another version).
    pub fn recreate(dir: &Path) -> Result<Self, IndexError> {
        if dir.exists() {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                // Keep dotfiles such as the repository's .gitkeep.
                if entry.file_name().to_string_lossy().starts_with('.') && entry.path().is_file() {
                    continue;
                }
                if entry.path().is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        Self::open(dir)
    }

    fn from_index(index: Index, schema: Schema) -> Result<Self, IndexError> {
        schema::register_tokenizers(&index);
        // Reloaded by the writer right after each commit, so a message is
        // searchable as soon as its commit returns.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            schema,
        })
    }
}
