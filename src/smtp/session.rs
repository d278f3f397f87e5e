//! One SMTP session: command dispatch and the mail transaction state.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_proto::{MailFrom, RcptTo, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::{debug, info, warn, Instrument};

use super::conn::{Closed, Conn, Input};
use super::params::{unsupported_mail_param, unsupported_rcpt_param};
use super::{reply, DeliverError, Delivery, Envelope, RcptVerdict, SmtpConfig};

const SIZE_EXCEEDED: &str = "Message size exceeds fixed maximum message size";
const HELP: &str = "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT";

/// How the command loop ended.
#[derive(Debug)]
enum End {
    Quit,
    TooManyErrors,
    Closed(Closed),
}

struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// Some once a BDAT chunk was accepted; DATA is then refused.
    bdat: Option<Vec<u8>>,
}

struct Session<'a, S, D> {
    conn: Conn<S>,
    delivery: &'a D,
    config: &'a SmtpConfig,
    peer: SocketAddr,
    helo: Option<String>,
    txn: Option<Transaction>,
    /// A BDAT was refused: chunks the client had already pipelined are
    /// dropped without counting as errors (RFC 3030 §4.2) until BDAT LAST.
    bdat_failed: bool,
    errors: usize,
}

/// One session over any stream (unit-testable with tokio::io::duplex).
///
/// Once `shutdown` turns true the session answers `421 4.3.2` to the next
/// command (or at once if it is waiting for one) and closes; a message body
/// being received or delivered is finished first.
pub async fn run_session<S, D>(
    stream: S,
    peer: SocketAddr,
    delivery: &D,
    config: &SmtpConfig,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    D: Delivery,
{
    let span = tracing::info_span!("smtp", %peer);
    async move {
        let mut conn = Conn::new(stream, config.line_limit(), config.idle_timeout, shutdown);
        if conn.shutdown_requested() {
            reply::push(&mut conn.out, 421, [4, 3, 2], "Service shutting down");
            conn.close().await;
            return;
        }
        debug!("connected");
        reply::greeting(&mut conn.out, &config.hostname);
        let mut session = Session {
            conn,
            delivery,
            config,
            peer,
            helo: None,
            txn: None,
            bdat_failed: false,
            errors: 0,
        };
        let end = session.run().await;
        let mut conn = session.conn;
        let out = &mut conn.out;
        match &end {
            End::Quit | End::Closed(Closed::Eof) => {}
            End::Closed(Closed::Io(e)) => debug!(error = %e, "connection error"),
            End::TooManyErrors => reply::push(out, 421, [4, 7, 0], "Too many errors"),
            End::Closed(Closed::Shutdown) => {
                reply::push(out, 421, [4, 3, 2], "Service shutting down")
            }
            End::Closed(Closed::Timeout) => {
                let text = format!("{} Error: timeout exceeded", config.hostname);
                reply::push(out, 421, [4, 4, 2], &text);
            }
        }
        info!(outcome = ?end, errors = session.errors, "session closed");
        conn.close().await;
    }
    .instrument(span)
    .await
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send, D: Delivery> Session<'_, S, D> {
    async fn run(&mut self) -> End {
        loop {
            let input = match self.conn.next_input().await {
                Ok(input) => input,
                Err(closed) => return End::Closed(closed),
            };
            if self.conn.shutdown_requested() {
                return End::Closed(Closed::Shutdown);
            }
            let errors_before = self.errors;
            let handled = match input {
                Input::TooLong => {
                    self.error(500, [5, 5, 2], "Line too long");
                    Ok(())
                }
                Input::Request(Ok(request)) => self.handle(request).await,
                Input::Request(Err(error)) => {
                    self.parse_error(error);
                    Ok(())
                }
            };
            if let Err(end) = handled {
                return end;
            }
            if self.errors > errors_before && self.errors >= self.config.max_errors {
                return End::TooManyErrors;
            }
        }
    }

    async fn handle(&mut self, request: Request<String>) -> Result<(), End> {
        match request {
            Request::Ehlo { host } => {
                self.greeted(host);
                let config = self.config;
                reply::ehlo(&mut self.conn.out, &config.hostname, config.max_message_bytes);
            }
            Request::Helo { host } => {
                self.greeted(host);
                reply::helo(&mut self.conn.out, &self.config.hostname);
            }
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => return self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => return self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.txn = None;
                self.bdat_failed = false;
                self.reply(250, [2, 0, 0], "Ok");
            }
            Request::Noop { .. } => self.reply(250, [2, 0, 0], "Ok"),
            Request::Vrfy { .. } => self.reply(
                252,
                [2, 5, 0],
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Request::Help { .. } => self.reply(214, [2, 0, 0], HELP),
            Request::Quit => {
                self.reply(221, [2, 0, 0], "Bye");
                return Err(End::Quit);
            }
            // STARTTLS, AUTH, EXPN, ETRN, ATRN, BURL, LHLO: parsed but not offered.
            other => {
                debug!(command = other.name(), "command not implemented");
                self.error(502, [5, 5, 1], "Command not implemented");
            }
        }
        Ok(())
    }

    fn greeted(&mut self, host: String) {
        // EHLO/HELO also reset any transaction (RFC 5321 §4.1.4).
        self.helo = Some(host);
        self.txn = None;
        self.bdat_failed = false;
    }

    fn mail(&mut self, from: MailFrom<String>) {
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

    async fn rcpt(&mut self, to: RcptTo<String>) {
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
                let text = format!("<{address}>: Recipient address rejected: unknown archive address");
                self.error(550, [5, 1, 1], &text);
            }
            RcptVerdict::TempFail(reason) => {
                warn!(%reason, "recipient check failed temporarily");
                let text = format!("<{address}>: Recipient address lookup failed, try again later");
                self.reply(451, [4, 3, 0], &text);
            }
        }
    }

    async fn data(&mut self) -> Result<(), End> {
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

    async fn bdat(&mut self, size: usize, last: bool) -> Result<(), End> {
        let max = self.config.max_message_bytes;
        let Some(txn) = self.txn.as_mut().filter(|txn| !txn.rcpt_to.is_empty()) else {
            // The chunk bytes must be consumed either way, or they would be read as commands.
            self.conn.read_chunk(size, None).await.map_err(End::Closed)?;
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
            self.conn.read_chunk(size, None).await.map_err(End::Closed)?;
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

    fn parse_error(&mut self, error: smtp_proto::Error) {
        use smtp_proto::Error as E;
        match error {
            E::UnknownCommand => self.error(500, [5, 5, 1], "Command unrecognized"),
            E::InvalidSenderAddress => self.error(501, [5, 1, 7], "Bad sender address syntax"),
            E::InvalidRecipientAddress => {
                self.error(501, [5, 1, 3], "Bad recipient address syntax")
            }
            E::SyntaxError { syntax } => self.error(501, [5, 5, 2], &format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => {
                self.error(501, [5, 5, 4], &format!("Invalid {param} parameter"))
            }
            E::UnsupportedParameter { param } => {
                self.error(555, [5, 5, 4], &format!("Unsupported parameter {param}"))
            }
            other => {
                debug!(error = %other, "unexpected parse result on a complete line");
                self.error(501, [5, 5, 2], "Syntax error")
            }
        }
    }

    fn reply(&mut self, code: u16, esc: [u8; 3], text: &str) {
        reply::push(&mut self.conn.out, code, esc, text);
    }

    /// A reply that counts towards `max_errors`.
    fn error(&mut self, code: u16, esc: [u8; 3], text: &str) {
        self.errors += 1;
        debug!(code, text, "command refused");
        self.reply(code, esc, text);
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
