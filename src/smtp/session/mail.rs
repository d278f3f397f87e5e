//! The mail transaction: MAIL, RCPT, DATA, BDAT and the hand-off to [`Delivery`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_proto::{MailFrom, RcptTo};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

use super::super::params::{unsupported_mail_param, unsupported_rcpt_param};
use super::super::{reply, DeliverError, Delivery, Envelope, RcptVerdict};
use super::{End, Session};

const SIZE_EXCEEDED: &str = "Message size exceeds fixed maximum message size";

pub(super) struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// Some once a BDAT chunk was accepted; DATA is then refused.
    bdat: Option<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send, D: Delivery> Session<'_, S, D> {
    pub(super) fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(503, [5, 5, 1], "Error: send HELO/EHLO first");
        }
        if self.txn.is_some() {
            return self.error(503, [5, 5, 1], "Error: nested MAIL command");
        }
        if let Some(param) = unsupported_mail_param(&from) {
            return self.error(555, [5, 5, 4], &format!("Unsupported parameter {param}"));
        }
        if from.size > self.config.max_message_bytes {
            return self.reply(552, [5, 3, 4], SIZE_EXCEEDED);
        }
        self.bdat_failed = false;
        self.txn = Some(Transaction {
            mail_from: from.address,
            rcpt_to: Vec::new(),
            bdat: None,
        });
        self.reply(250, [2, 1, 0], "Ok");
    }

    pub(super) async fn rcpt(&mut self, to: RcptTo<String>) {
        // smtp-proto reads both <> and <postmaster> as "": only the latter is valid in RCPT.
        let address = match to.address.as_str() {
            "" => "postmaster".to_owned(),
            _ => to.address.clone(),
        };
        let (duplicate, full) = match &self.txn {
            None => return self.error(503, [5, 5, 1], "Error: need MAIL command"),
            Some(txn) if txn.bdat.is_some() => {
                return self.error(503, [5, 5, 1], "Error: RCPT after BDAT")
            }
            Some(txn) => (
                txn.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&address)),
                txn.rcpt_to.len() >= self.config.max_recipients,
            ),
        };
        if let Some(param) = unsupported_rcpt_param(&to) {
            return self.error(555, [5, 5, 4], &format!("Unsupported parameter {param}"));
        }
        if duplicate {
            return self.reply(250, [2, 1, 5], "Ok");
        }
        if full {
            return self.reply(452, [4, 5, 3], "Too many recipients");
        }
        match self.delivery.check_recipient(&address).await {
            RcptVerdict::Accept => {
                if let Some(txn) = &mut self.txn {
                    txn.rcpt_to.push(address);
                }
                self.reply(250, [2, 1, 5], "Ok");
            }
            RcptVerdict::Unknown => {
                let text =
                    format!("<{address}>: Recipient address rejected: unknown archive address");
                self.error(550, [5, 1, 1], &text);
            }
            RcptVerdict::TempFail(reason) => {
                warn!(%reason, "recipient check failed temporarily");
                let text = format!("<{address}>: Recipient address lookup failed, try again later");
                self.reply(451, [4, 3, 0], &text);
            }
        }
    }

    pub(super) async fn data(&mut self) -> Result<(), End> {
        match &self.txn {
            None => self.error(503, [5, 5, 1], "Error: need MAIL command"),
            Some(txn) if txn.bdat.is_some() => {
                self.error(503, [5, 5, 1], "Error: DATA not allowed after BDAT")
            }
            Some(txn) if txn.rcpt_to.is_empty() => {
                self.error(503, [5, 5, 1], "Error: need RCPT command")
            }
            Some(_) => {
                reply::start_data(&mut self.conn.out);
                let max = self.config.max_message_bytes;
                match self.conn.read_data(max).await.map_err(End::Closed)? {
                    Some(body) => self.deliver(body).await,
                    None => self.too_big(),
                }
            }
        }
        Ok(())
    }

    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<(), End> {
        let max = self.config.max_message_bytes;
        let Some(txn) = self.txn.as_mut().filter(|txn| !txn.rcpt_to.is_empty()) else {
            // The chunk bytes must be consumed either way, or they would be read as commands.
            self.conn
                .read_chunk(size, None)
                .await
                .map_err(End::Closed)?;
            if self.bdat_failed {
                self.bdat_failed = !last;
                self.reply(503, [5, 5, 1], "Error: transaction already failed");
            } else if self.txn.is_none() {
                self.error(503, [5, 5, 1], "Error: need MAIL command");
            } else {
                self.error(503, [5, 5, 1], "Error: need RCPT command");
            }
            return Ok(());
        };
        let body = txn.bdat.get_or_insert_with(Vec::new);
        if body.len().saturating_add(size) > max {
            self.conn
                .read_chunk(size, None)
                .await
                .map_err(End::Closed)?;
            self.bdat_failed = !last;
            self.too_big();
            return Ok(());
        }
        self.conn
            .read_chunk(size, Some(body))
            .await
            .map_err(End::Closed)?;
        if last {
            let body = txn.bdat.take().unwrap_or_default();
            self.deliver(body).await;
        } else {
            self.reply(250, [2, 0, 0], &format!("{size} bytes received"));
        }
        Ok(())
    }

    fn too_big(&mut self) {
        self.txn = None;
        info!("message refused: over max_message_bytes");
        self.reply(552, [5, 3, 4], SIZE_EXCEEDED);
    }

    async fn deliver(&mut self, body: Vec<u8>) {
        let Some(txn) = self.txn.take() else { return };
        self.bdat_failed = false;
        let envelope = Envelope {
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: txn.mail_from,
            rcpt_to: txn.rcpt_to,
            peer: self.peer,
        };
        let (size, rcpts) = (body.len(), envelope.rcpt_to.len());
        match self.delivery.deliver(envelope, body).await {
            Ok(()) => {
                let id = queue_id();
                info!(queue_id = %id, size, rcpts, "message accepted");
                self.reply(250, [2, 0, 0], &format!("Ok: queued as {id}"));
            }
            Err(DeliverError::Temporary(reason)) => {
                warn!(%reason, size, rcpts, "delivery failed temporarily");
                self.reply(451, [4, 3, 0], &format!("Temporary failure: {reason}"));
            }
            Err(DeliverError::Permanent(reason)) => {
                warn!(%reason, size, rcpts, "delivery failed permanently");
                self.reply(554, [5, 6, 0], &format!("Message rejected: {reason}"));
            }
        }
    }
}

/// Short id for the 250 reply and the log line; unique per process unless
/// more than 2^20 messages arrive within one second.
fn queue_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xF_FFFF;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs:X}{n:05X}")
}
