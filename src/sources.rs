//! Each source's view of the one ingest entry point.

use crate::domain::Source;
use crate::imap::{Cursor, ImapSink, Retry, RetryOutcome, Skipped};
use crate::ingest::{Envelope, Ingest, IngestError};
use crate::smtp::{self, DeliverError, Delivery, RcptVerdict};
use crate::store::{ImapRetryOutcome, NewImapSkipped};

/// The SMTP listener's view of ingest.
pub struct SmtpIngest(pub Ingest);

impl Delivery for SmtpIngest {
    async fn check_recipient(&self, rcpt: &str) -> RcptVerdict {
        match self.0.route(rcpt).await {
            Ok(Some(_)) => RcptVerdict::Accept,
            Ok(None) => RcptVerdict::Unknown,
            Err(e) => RcptVerdict::TempFail(e.to_string()),
        }
    }

    async fn deliver(&self, envelope: smtp::Envelope, raw: Vec<u8>) -> Result<(), DeliverError> {
        let env = Envelope {
            mail_from: envelope.mail_from,
            helo: envelope.helo,
            peer: envelope.peer.to_string(),
            rcpt_to: envelope.rcpt_to,
        };
        match self.0.accept(Source::Smtp, env, raw).await {
            Ok(_) => Ok(()),
            // Every recipient's address was regenerated between RCPT and DATA.
            Err(IngestError::NoCard) => Err(DeliverError::Permanent(
                "no recipient is a live archive address any more".into(),
            )),
            Err(e) => {
                tracing::error!(error = %e, "could not accept message");
                Err(DeliverError::Temporary(
                    "could not store the message, try again later".into(),
                ))
            }
        }
    }
}

/// The IMAP poller's view of ingest: routes by headers, quarantines what
/// routes nowhere, and keeps the folder cursors in the store.
pub struct ImapIngest(pub Ingest);

impl ImapSink for ImapIngest {
    async fn accept(&self, account: &str, folder: &str, raw: Vec<u8>) -> Result<(), String> {
        let env = Envelope {
            mail_from: String::new(),
            helo: String::new(),
            peer: format!("imap:{account}/{folder}"),
            rcpt_to: vec![],
        };
        let cards = self
            .0
            .route_by_headers(&raw)
            .await
            .map_err(|e| e.to_string())?;
        let result = if cards.is_empty() {
            let sha = crate::ingest::spool::sha256_hex(&raw);
            if self
                .0
                .store()
                .is_quarantined(&sha)
                .await
                .map_err(|e| e.to_string())?
            {
                // Fetched again (UIDVALIDITY rescan): already held once.
                return Ok(());
            }
            let reason = "no archive address or [#code] found in the message".to_owned();
            self.0.accept_unrouted(Source::Imap, env, raw, reason).await
        } else {
            self.0.accept_for(Source::Imap, env, raw, cards).await
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn load_cursor(&self, account: &str, folder: &str) -> Result<Option<Cursor>, String> {
        let row = self
            .0
            .store()
            .imap_cursor(account, folder)
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.map(|(v, u)| Cursor {
            uid_validity: v as u32,
            last_uid: u as u32,
        }))
    }

    async fn save_cursor(&self, account: &str, folder: &str, cursor: Cursor) -> Result<(), String> {
        self.0
            .store()
            .save_imap_cursor(
                account,
                folder,
                cursor.uid_validity.into(),
                cursor.last_uid.into(),
            )
            .await
            .map_err(|e| e.to_string())
    }

    async fn record_skipped(&self, account: &str, m: &Skipped) -> Result<(), String> {
        let row = NewImapSkipped {
            account: account.to_string(),
            folder: m.folder.clone(),
            uid_validity: m.uid_validity.into(),
            uid: m.uid.into(),
            size: i64::try_from(m.size).unwrap_or(i64::MAX),
            max_bytes: i64::try_from(m.max_message_bytes).unwrap_or(i64::MAX),
            subject: m.subject.clone(),
            from: m.from.clone(),
            message_id: m.message_id.clone(),
        };
        let store = self.0.store();
        store
            .record_imap_skipped(&row)
            .await
            .map_err(|e| e.to_string())
    }

    async fn retries(&self, account: &str, folder: &str) -> Result<Vec<Retry>, String> {
        let rows = self.0.store().imap_retries(account, folder).await;
        Ok(rows
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(id, uid_validity, uid)| Retry {
                id,
                uid_validity: uid_validity as u32,
                uid: uid as u32,
            })
            .collect())
    }

    async fn retry_done(&self, id: i64, outcome: RetryOutcome) -> Result<(), String> {
        let outcome = match outcome {
            RetryOutcome::Taken => ImapRetryOutcome::Taken,
            RetryOutcome::Gone(n) => ImapRetryOutcome::Gone(n),
            RetryOutcome::StillTooLarge(n) => ImapRetryOutcome::StillTooLarge(n),
        };
        let store = self.0.store();
        store
            .finish_imap_retry(id, &outcome)
            .await
            .map_err(|e| e.to_string())
    }

    async fn skipped_count(&self, account: &str) -> Result<u64, String> {
        let n = self.0.store().imap_skipped_count(account).await;
        n.map(|n| n as u64).map_err(|e| e.to_string())
    }
}
