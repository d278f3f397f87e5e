//! Each source's view of the one ingest entry point.

use crate::config::AcceptFrom;
use crate::domain::Source;
use crate::imap::{Cursor, ImapSink, Retry, RetryOutcome, Skipped};
use crate::ingest::{Envelope, IncomingBody, Ingest, IngestError};
use crate::mail::Team;
use crate::smtp::{self, DeliverError, Delivery, RcptVerdict};
use crate::store::{ImapRetryOutcome, NewImapSkipped};

/// The SMTP listener's view of ingest.
pub struct SmtpIngest {
    pub ingest: Ingest,
    /// DATA/BDAT bodies over this many bytes go to the spool as they arrive.
    pub spool_threshold: usize,
    pub quota: QuarantineQuota,
}

/// Who would end up in the quarantine, and how much it may hold.
pub struct QuarantineQuota {
    /// `quarantine.max_bytes`.
    pub max_bytes: u64,
    pub accept_from: AcceptFrom,
    pub team_domains: Vec<String>,
    pub archive_domain: String,
}

impl SmtpIngest {
    /// True when the message would be held in the quarantine (its From is
    /// outside the team, as the worker will judge it) and the quarantine
    /// cannot take it. Decided on the From header, not the envelope sender:
    /// a team member's mail may carry any bounce address (a list, an ESP).
    async fn quarantine_full(&self, body: &IncomingBody) -> Result<bool, IngestError> {
        let quota = &self.quota;
        if quota.accept_from != AcceptFrom::Team {
            return Ok(false);
        }
        let store = self.ingest.store();
        let held = u64::try_from(store.quarantine_bytes().await?).unwrap_or(0);
        if held.saturating_add(body.len() as u64) <= quota.max_bytes {
            return Ok(false);
        }
        // As the worker does: the archive domain's addresses are never team.
        let suffix = format!("@{}", quota.archive_domain.to_ascii_lowercase());
        let addresses: Vec<String> = store
            .team_users()
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| !a.ends_with(&suffix))
            .collect();
        let team = Team {
            addresses: &addresses,
            domains: &quota.team_domains,
        };
        let sender = crate::mail::sender_address(body.head());
        Ok(!sender.is_some_and(|a| team.is_member(&a)))
    }
}

impl Delivery for SmtpIngest {
    type Body = IncomingBody;

    async fn has_room(&self) -> bool {
        match self.ingest.check_room() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "refusing mail");
                false
            }
        }
    }

    async fn check_recipient(&self, rcpt: &str) -> RcptVerdict {
        match self.ingest.route(rcpt).await {
            Ok(Some(_)) => RcptVerdict::Accept,
            Ok(None) => RcptVerdict::Unknown,
            Err(e) => RcptVerdict::TempFail(e.to_string()),
        }
    }

    fn new_body(&self) -> IncomingBody {
        self.ingest.incoming(self.spool_threshold)
    }

    async fn deliver(
        &self,
        envelope: smtp::Envelope,
        body: IncomingBody,
    ) -> Result<(), DeliverError> {
        let env = Envelope {
            mail_from: envelope.mail_from,
            helo: envelope.helo,
            peer: envelope.peer.to_string(),
            rcpt_to: envelope.rcpt_to,
        };
        match self.quarantine_full(&body).await {
            Ok(false) => {}
            Ok(true) => {
                return Err(DeliverError::NoRoom(
                    "the quarantine for mail from outside the team is full".into(),
                ))
            }
            Err(e) => return Err(temporary(e)),
        }
        match self.ingest.accept(Source::Smtp, env, body).await {
            Ok(_) => Ok(()),
            // Every recipient's address was regenerated between RCPT and DATA.
            Err(IngestError::NoCard) => Err(DeliverError::Permanent(
                "no recipient is a live archive address any more".into(),
            )),
            Err(IngestError::NoSpace { .. }) => Err(DeliverError::NoRoom(
                "the archive's disk is nearly full".into(),
            )),
            Err(e) => Err(temporary(e)),
        }
    }
}

fn temporary(e: IngestError) -> DeliverError {
    tracing::error!(error = %e, "could not accept message");
    DeliverError::Temporary("could not store the message, try again later".into())
}

impl smtp::BodySink for IncomingBody {
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        IncomingBody::write(self, bytes).await
    }

    fn size(&self) -> usize {
        self.len()
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
            let sha = crate::blobs::sha256_hex(&raw);
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
