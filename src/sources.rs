//! Each source's view of the one ingest entry point.

use crate::domain::Source;
use crate::imap::{Cursor, ImapSink};
use crate::ingest::{Envelope, Ingest, IngestError};
use crate::smtp::{self, DeliverError, Delivery, RcptVerdict};

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
}
