//! All SQL lives here: one file per aggregate. SQLite today; a second backend
//! would come in behind a trait over `Store`, not as branches in callers.

mod audit;
mod auth;
mod cards;
mod contacts;
mod email;
mod entries;
mod erase;
mod history;
mod imap_skipped;
mod labels;
mod manual;
mod policies;
mod quarantine;
mod queue;
mod texts;
mod types;
mod users;

pub use audit::{AuditEvent, AuditFilter, AuditRecord};
pub use auth::AuthInput;
pub use cards::{Card, Viewer};
pub use contacts::{Contact, ContactFields};
pub use entries::{Document, EmailMeta, Entry, NewDocument, NewEmailEntry, StoredEntry, Tombstone};
pub use erase::{PendingErasure, RawRewrite};
pub use history::{AuthorFilter, Cursor, EntryFilter, EntryPage};
pub use imap_skipped::{ImapRetryOutcome, ImapSkipped, NewImapSkipped};
pub use labels::{Label, LabelFields};
pub use manual::{CardChange, EntryChange, NewEntry, Revision};
pub use quarantine::{FailedMessage, Quarantined};
pub use queue::{Annotations, MessageRef, NewMessage, QueuedMessage};
pub use texts::PendingText;
pub use types::{CommType, TypeFields};
pub use users::User;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// Still referenced by this many items.
    #[error("in use by {0} items")]
    InUse(i64),
    /// A write the data does not allow (e.g. a contact of another card).
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one write connection. Writers queue here (async, FIFO) instead of
    /// in SQLite's busy handler, which sleeps in steps of milliseconds.
    writer: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database and applies migrations.
    /// WAL + synchronous=FULL: a committed transaction is on disk when commit returns.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Deleted content is overwritten, not just unlinked from the
            // b-tree: a permanent deletion must leave nothing in the file.
            .pragma("secure_delete", "on");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // Writers wait their turn here; a long worker batch must not turn
            // into SMTP 451s.
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Ok(Store { pool, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
