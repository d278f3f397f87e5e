//! IMAP poller: takes mail from shared mailboxes (e.g. archive@company.com) and hands each
//! message to the durable ingest path through [`ImapSink`].
//!
//! Safety rule: the server is only changed (flag / move / delete) after the sink said the
//! message is durably committed, and the cursor only advances past messages that were accepted
//! (or skipped as oversized, which is logged and recorded). A crash in between means a
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
            ..Default::default()
        }
    }
}
