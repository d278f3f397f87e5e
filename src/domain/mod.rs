//! Newtypes and rules with no I/O.

mod archive;
mod auth;
mod kind;
pub mod rights;
mod token;

pub use archive::{ArchiveCode, ARCHIVE_CODE_LEN};
pub use auth::{AuthResults, AuthWord};
pub use kind::{parse_kinds, EntryKind};
pub use token::ApiToken;

use serde::{Deserialize, Serialize};

/// A display name and address, as found in a header. Either part may be missing:
/// a forwarded header block sometimes shows only a name, and we never invent one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

impl Mailbox {
    /// "Name <address>" for indexing and display.
    pub fn display(&self) -> String {
        match (&self.name, &self.address) {
            (Some(n), Some(a)) => format!("{n} <{a}>"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Where a message entered dossier. Every source calls the same ingest entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Smtp,
    Upload,
    Import,
    Imap,
    /// An original given with `POST /api/cards/{id}/entries` by another system.
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Upload => "upload",
            Source::Import => "import",
            Source::Imap => "imap",
            Source::Api => "api",
        }
    }
}
