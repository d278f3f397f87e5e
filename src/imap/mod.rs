//! IMAP poller: takes mail from shared mailboxes (e.g. archive@company.com) and hands each
//! message to the durable ingest path through [`ImapSink`].
//!
//! Safety rule: the server is only changed (flag / move / delete) after the sink said the
//! message is durably committed, and the cursor only advances past messages that were accepted
//! or skipped as oversized, and a skipped one only once the sink durably recorded it (an admin
//! can have it fetched later, see [`ImapSink::retries`]). A crash in between means a
//! re-fetch, which the ingest layer dedups by Message-ID.
//!
//! [`poll_once`] is one pass; [`run_account`] loops forever (IDLE when available) with
//! exponential backoff on failure. Run one `run_account` task per account.

mod actions;
mod config;
mod conn;
mod error;
pub mod oauth;
mod poll;
mod run;
mod signin;
mod skipped;

use std::future::Future;

pub use config::{
    default_auth_failure_backoff_secs, default_folders, default_keyword, default_max_message_bytes,
    default_poll_interval_secs, AfterAction, AuthMethod, ImapAccount, Security,
    DEFAULT_AUTH_FAILURE_BACKOFF_SECS, DEFAULT_MAX_MESSAGE_BYTES,
};
pub use error::ImapError;
pub use poll::poll_once;
pub use run::run_account;

/// How far a folder has been taken: messages with UID <= `last_uid` under this `uid_validity`
/// have been accepted (or deliberately skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// Implemented by the ingest layer.
pub trait ImapSink: Send + Sync + 'static {
    /// Durably accept one message (Ok only once fsync'd + committed).
    /// Err = not accepted: nothing is done to the message on the server.
    fn accept(
        &self,
        account: &str,
        folder: &str,
        raw: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;

    fn load_cursor(
        &self,
        account: &str,
        folder: &str,
    ) -> impl Future<Output = Result<Option<Cursor>, String>> + Send;

    fn save_cursor(
        &self,
        account: &str,
        folder: &str,
        cursor: Cursor,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Durably records a message too large to fetch, before the cursor moves past it.
    /// Called again for the same message after a crash: must be idempotent.
    fn record_skipped(
        &self,
        account: &str,
        skipped: &Skipped,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Skipped messages of `folder` an admin asked to have fetched after all.
    fn retries(
        &self,
        account: &str,
        folder: &str,
    ) -> impl Future<Output = Result<Vec<Retry>, String>> + Send;

    fn retry_done(
        &self,
        id: i64,
        outcome: RetryOutcome,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// How many of the account's skipped messages are still not fetched.
    fn skipped_count(&self, account: &str) -> impl Future<Output = Result<u64, String>> + Send;
}

/// A message over `max_message_bytes`, described without its bytes (from its header fields
/// when the server gave them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub folder: String,
    pub uid_validity: u32,
    pub uid: u32,
    pub size: u64,
    pub max_message_bytes: u64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub message_id: Option<String>,
}

/// An admin's request to fetch a skipped message (the limit was raised meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub id: i64,
    pub uid_validity: u32,
    pub uid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Fetched and accepted.
    Taken,
    /// No longer there; the text says why.
    Gone(String),
    /// Still over the limit; the text says by how much.
    StillTooLarge(String),
}

/// The latest skipped message of an account, for the status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastSkipped {
    pub at: String,
    #[serde(flatten)]
    pub message: Skipped,
}

/// Health of one account, kept up to date by [`run_account`]. Times are RFC 3339 (UTC).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccountStatus {
    pub name: String,
    /// Start of the latest poll attempt.
    pub last_poll: Option<String>,
    /// End of the latest poll that completed without error.
    pub last_success: Option<String>,
    /// Latest failure or skipped message, prefixed with its time. Not cleared by a later
    /// success (compare with `last_success`), so a skipped message stays visible.
    pub last_error: Option<String>,
    pub messages_taken: u64,
    /// How the account signs in: `password` or `oauth2`.
    pub auth: AuthMethod,
    /// The OAuth2 grant (`client_credentials`, `jwt_bearer`, `refresh_token`), for oauth2.
    pub grant: Option<oauth::Grant>,
    /// When dossier last obtained an access token, and until when that token is valid.
    pub token_refreshed_at: Option<String>,
    pub token_expires_at: Option<String>,
    /// The account's size limit; larger messages are skipped.
    pub max_message_bytes: u64,
    /// Skipped messages not fetched yet (they are listed in `GET /api/admin/failed`).
    pub skipped_oversize: u64,
    pub last_skipped: Option<LastSkipped>,
}

impl AccountStatus {
    /// The status of an account that has not been polled yet.
    pub fn for_account(account: &ImapAccount) -> AccountStatus {
        AccountStatus {
            name: account.name.clone(),
            auth: account.auth,
            grant: match account.auth {
                AuthMethod::OAuth2 => account.oauth2.as_ref().map(|o| o.grant()),
                AuthMethod::Password => None,
            },
            max_message_bytes: account.max_message_bytes,
            ..Default::default()
        }
    }
}
