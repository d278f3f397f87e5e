//! One SMTP session: greeting, command loop and dispatch, closing replies.

use std::net::SocketAddr;

use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::{debug, info, Instrument};

use super::conn::{Closed, Conn, Input};
use super::{reply, Delivery, SmtpConfig};

mod mail;

use mail::Transaction;

const HELP: &str = "Commands: EHLO HELO STARTTLS MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT";

/// How the command loop ended.
#[derive(Debug)]
enum End {
    Quit,
    TooManyErrors,
    TooManyCommands,
    Closed(Closed),
}

struct Session<'a, S, D: Delivery> {
    conn: Conn<S>,
    delivery: &'a D,
    config: &'a SmtpConfig,
    peer: SocketAddr,
    helo: Option<String>,
    txn: Option<Transaction<D::Body>>,
    /// A BDAT was refused: chunks the client had already pipelined are
    /// dropped without counting as errors (RFC 3030 §4.2) until BDAT LAST.
    bdat_failed: bool,
    errors: usize,
    commands: usize,
    /// Protocol and cipher once STARTTLS succeeded.
    tls: Option<String>,
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
        let mut conn = Conn::new(stream, config, shutdown);
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
            commands: 0,
            tls: None,
        };
        let end = session.run().await;
        let mut conn = session.conn;
        let out = &mut conn.out;
        let timeout = |what: &str| format!("{} Error: {what}", config.hostname);
        match &end {
            End::Quit | End::Closed(Closed::Eof) => {}
            End::Closed(Closed::Io(e)) => debug!(error = %e, "connection error"),
            End::Closed(Closed::Handshake(e)) => info!(error = %e, "TLS handshake failed"),
            End::TooManyErrors => reply::push(out, 421, [4, 7, 0], "Too many errors"),
            End::TooManyCommands => reply::push(out, 421, [4, 7, 0], "Too many commands"),
            End::Closed(Closed::Shutdown) => {
                reply::push(out, 421, [4, 3, 2], "Service shutting down")
            }
            End::Closed(Closed::Timeout) => {
                reply::push(out, 421, [4, 4, 2], &timeout("timeout exceeded"))
            }
            End::Closed(Closed::TooSlow) => {
                reply::push(out, 421, [4, 4, 2], &timeout("data transfer too slow"))
            }
            End::Closed(Closed::SessionTimeout) => {
                reply::push(out, 421, [4, 4, 2], &timeout("session time limit exceeded"))
            }
        }
        let (errors, commands) = (session.errors, session.commands);
        info!(outcome = ?end, errors, commands, "session closed");
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
            // Checked here too: pipelined commands are taken without a read.
            if self.conn.session_expired() {
                return End::Closed(Closed::SessionTimeout);
            }
            self.commands += 1;
            if self.commands > self.config.max_commands {
                return End::TooManyCommands;
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
                let starttls = config.tls.is_some() && self.tls.is_none();
                reply::ehlo(
                    &mut self.conn.out,
                    &config.hostname,
                    config.max_message_bytes,
                    starttls,
                );
            }
            Request::Helo { host } => {
                self.greeted(host);
                reply::helo(&mut self.conn.out, &self.config.hostname);
            }
            Request::Mail { from } => self.mail(from).await,
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
            Request::StartTls if self.config.tls.is_some() => return self.start_tls().await,
            // AUTH, EXPN, ETRN, ATRN, BURL, LHLO (and STARTTLS without a
            // certificate): parsed but not offered.
            other => {
                debug!(command = other.name(), "command not implemented");
                self.error(502, [5, 5, 1], "Command not implemented");
            }
        }
        Ok(())
    }

    async fn start_tls(&mut self) -> Result<(), End> {
        if self.tls.is_some() {
            self.error(503, [5, 5, 1], "Error: TLS already active");
            return Ok(());
        }
        if self.txn.is_some() {
            self.error(503, [5, 5, 1], "Error: MAIL transaction in progress");
            return Ok(());
        }
        let Some(tls) = self.config.tls.clone() else {
            return Ok(());
        };
        reply::push(&mut self.conn.out, 220, [2, 0, 0], "Ready to start TLS");
        self.conn.start_tls(tls).await.map_err(End::Closed)?;
        // RFC 3207 §4.2: forget everything learnt from the client in clear text.
        self.helo = None;
        self.txn = None;
        self.bdat_failed = false;
        self.tls = self.conn.tls_summary();
        debug!(tls = self.tls.as_deref(), "TLS started");
        Ok(())
    }

    fn greeted(&mut self, host: String) {
        // EHLO/HELO also reset any transaction (RFC 5321 §4.1.4).
        self.helo = Some(host);
        self.txn = None;
        self.bdat_failed = false;
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
