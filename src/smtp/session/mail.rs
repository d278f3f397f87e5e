//! The mail transaction: MAIL, RCPT, DATA, BDAT and the hand-off to [`Delivery`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_proto::{MailFrom, RcptTo};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

use super::super::conn::BodyEnd;
use super::super::params::{unsupported_mail_param, unsupported_rcpt_param};
use super::super::{reply, BodySink, DeliverError, Delivery, Envelope, RcptVerdict};
use super::{End, Session};

const SIZE_EXCEEDED: &str = "Message size exceeds fixed maximum message size";
const NO_STORAGE: &str = "Insufficient system storage, try again later";

pub(super) struct Transaction<B> {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// Some once a BDAT chunk was accepted; DATA is then refused.
    bdat: Option<B>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send, D: Delivery> Session<'_, S, D> {
    pub(super) async fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(503, [5, 5, 1], "Error: send HELO/EHLO first");
        }
        if self.config.require_tls && self.tls.is_none() {
            return self.error(530, [5, 7, 0], "Must issue a STARTTLS command first");
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
        if !self.delivery.has_room().await {
            warn!("MAIL refused: storage is low");
            return self.reply(452, [4, 3, 1], NO_STORAGE);
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
            Some(_) if !self.delivery.has_room().await => {
                warn!("DATA refused: storage is low");
                self.reply(452, [4, 3, 1], NO_STORAGE);
            }
            Some(_) => {
                reply::start_data(&mut self.conn.out);
                let max = self.config.max_message_bytes;
                let mut body = self.delivery.new_body();
                let end = self.conn.read_data(max, &mut body).await;
                match end.map_err(End::Closed)? {
                    BodyEnd::Complete => self.deliver(body).await,
                    BodyEnd::TooBig => self.too_big(),
                    BodyEnd::Failed(e) => self.body_failed(&e),
                }
            }
        }
        Ok(())
    }

    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<(), End> {
        let max = self.config.max_message_bytes;
        let first = self.txn.as_ref().is_some_and(|txn| txn.bdat.is_none());
        let room = !first || self.delivery.has_room().await;
        let Some(txn) = self.txn.as_mut().filter(|txn| !txn.rcpt_to.is_empty()) else {
            // The chunk bytes must be consumed either way, or they would be read as commands.
            self.skip_chunk(size).await?;
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
        let done = txn.bdat.as_ref().map_or(0, BodySink::size);
        if done.saturating_add(size) > max || !room {
            self.skip_chunk(size).await?;
            self.bdat_failed = !last;
            if room {
                self.too_big();
            } else {
                self.txn = None;
                warn!("BDAT refused: storage is low");
                self.reply(452, [4, 3, 1], NO_STORAGE);
            }
            return Ok(());
        }
        let body = txn.bdat.get_or_insert_with(|| self.delivery.new_body());
        let end = self.conn.read_chunk(size, Some(body)).await;
        match end.map_err(End::Closed)? {
            BodyEnd::Complete if last => {
                let body = self.txn.as_mut().and_then(|txn| txn.bdat.take());
                if let Some(body) = body {
                    self.deliver(body).await;
                }
            }
            BodyEnd::Complete => self.reply(250, [2, 0, 0], &format!("{size} bytes received")),
            BodyEnd::TooBig => self.too_big(),
            BodyEnd::Failed(e) => {
                self.bdat_failed = !last;
                self.body_failed(&e);
            }
        }
        Ok(())
    }

    async fn skip_chunk(&mut self, size: usize) -> Result<(), End> {
        self.conn
            .read_chunk::<D::Body>(size, None)
            .await
            .map(|_| ())
            .map_err(End::Closed)
    }

    fn too_big(&mut self) {
        self.txn = None;
        info!("message refused: over max_message_bytes");
        self.reply(552, [5, 3, 4], SIZE_EXCEEDED);
    }

    fn body_failed(&mut self, e: &std::io::Error) {
        self.txn = None;
        warn!(error = %e, "message body could not be kept");
        self.reply(
            451,
            [4, 3, 0],
            "Temporary failure: could not store the message",
        );
    }

    async fn deliver(&mut self, body: D::Body) {
        let Some(txn) = self.txn.take() else { return };
        self.bdat_failed = false;
        let envelope = Envelope {
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: txn.mail_from,
            rcpt_to: txn.rcpt_to,
            peer: self.peer,
            tls: self.tls.clone(),
        };
        let (size, rcpts) = (body.size(), envelope.rcpt_to.len());
        match self.delivery.deliver(envelope, body).await {
            Ok(()) => {
                let id = queue_id();
                let tls = self.tls.as_deref().unwrap_or("none");
                info!(queue_id = %id, size, rcpts, tls, "message accepted");
                self.reply(250, [2, 0, 0], &format!("Ok: queued as {id}"));
            }
            Err(DeliverError::Temporary(reason)) => {
                warn!(%reason, size, rcpts, "delivery failed temporarily");
                self.reply(451, [4, 3, 0], &format!("Temporary failure: {reason}"));
            }
            Err(DeliverError::NoRoom(reason)) => {
                warn!(%reason, size, rcpts, "delivery refused: no room");
                self.reply(
                    452,
                    [4, 3, 1],
                    &format!("Insufficient system storage: {reason}"),
                );
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
