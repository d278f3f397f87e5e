//! Buffered connection: command framing, reply batching, time limits, the
//! STARTTLS upgrade. Message bodies (DATA/BDAT) are read in `conn/body.rs`.

mod body;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::rustls::ServerConfig;
use tracing::debug;

pub(super) use body::BodyEnd;

use super::stream::MaybeTls;
use super::SmtpConfig;

const READ_CHUNK: usize = 16 * 1024;

/// Why the connection cannot go on.
#[derive(Debug)]
pub(super) enum Closed {
    Eof,
    /// A command (or a read inside a body) did not arrive within the idle timeout.
    Timeout,
    /// A message body arrived slower than the minimum data rate.
    TooSlow,
    /// The session's total time is up.
    SessionTimeout,
    /// Shutdown was signalled while waiting for a command.
    Shutdown,
    /// The TLS handshake failed; nothing more can be said to the client.
    Handshake(io::Error),
    Io(io::Error),
}

/// One framed command line.
pub(super) enum Input {
    Request(Result<Request<String>, smtp_proto::Error>),
    /// Longer than the line limit; the rest of it up to LF is skipped.
    TooLong,
}

#[derive(Clone, Copy)]
enum Expiry {
    Idle,
    Slow,
    Session,
}

impl Expiry {
    fn closed(self) -> Closed {
        match self {
            Expiry::Idle => Closed::Timeout,
            Expiry::Slow => Closed::TooSlow,
            Expiry::Session => Closed::SessionTimeout,
        }
    }
}

pub(super) struct Conn<S> {
    stream: MaybeTls<S>,
    inbuf: Vec<u8>,
    /// Start of unconsumed input in `inbuf`.
    pos: usize,
    /// Replies waiting to be flushed; PIPELINING wants them grouped.
    pub(super) out: Vec<u8>,
    /// Discarding the tail of an over-long line.
    skipping: bool,
    line_limit: usize,
    idle_timeout: Duration,
    min_data_rate: u64,
    session_deadline: Instant,
    /// When the command being read must be complete.
    command_deadline: Instant,
    /// Set while a body is read: when it started and the bytes taken so far.
    body_clock: Option<(Instant, usize)>,
    shutdown: watch::Receiver<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(stream: S, config: &SmtpConfig, shutdown: watch::Receiver<bool>) -> Self {
        let now = Instant::now();
        Self {
            stream: MaybeTls::Plain(stream),
            inbuf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            out: Vec::with_capacity(512),
            skipping: false,
            line_limit: config.line_limit(),
            idle_timeout: config.idle_timeout,
            min_data_rate: config.min_data_rate,
            session_deadline: now + config.session_timeout,
            command_deadline: now + config.idle_timeout,
            body_clock: None,
            shutdown,
        }
    }

    pub(super) fn shutdown_requested(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(super) fn session_expired(&self) -> bool {
        Instant::now() >= self.session_deadline
    }

    pub(super) fn tls_summary(&self) -> Option<String> {
        self.stream.tls_summary()
    }

    /// Next command: taken from the buffer when a whole line is there,
    /// otherwise replies are flushed and more input is read. The whole line
    /// must arrive within the idle timeout (a byte now and then is not enough).
    pub(super) async fn next_input(&mut self) -> Result<Input, Closed> {
        self.command_deadline = Instant::now() + self.idle_timeout;
        loop {
            if let Some(input) = self.next_buffered() {
                return Ok(input);
            }
            self.fill(true).await?;
        }
    }

    /// Frames lines here rather than with smtp-proto's `RequestReceiver`,
    /// whose limit is a fixed 4096: `max_line_bytes` must be honoured and an
    /// over-long line answered once, then skipped to its LF.
    fn next_buffered(&mut self) -> Option<Input> {
        loop {
            let avail = &self.inbuf[self.pos..];
            let newline = avail.iter().position(|&b| b == b'\n');
            if self.skipping {
                match newline {
                    Some(i) => {
                        self.pos += i + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        self.pos = self.inbuf.len();
                        return None;
                    }
                }
            }
            return match newline {
                Some(i) if i < self.line_limit => {
                    let line = &avail[..=i];
                    let request = Request::parse(&mut line.iter()).map(Request::into_owned);
                    self.pos += i + 1;
                    Some(Input::Request(request))
                }
                Some(i) => {
                    self.pos += i + 1;
                    Some(Input::TooLong)
                }
                None if avail.len() >= self.line_limit => {
                    self.pos = self.inbuf.len();
                    self.skipping = true;
                    Some(Input::TooLong)
                }
                None => None,
            };
        }
    }

    /// The earliest limit on the next read, and which one it is.
    fn read_deadline(&self) -> (Instant, Expiry) {
        let mut best = (self.session_deadline, Expiry::Session);
        let mut consider = |at: Instant, why| {
            if at < best.0 {
                best = (at, why);
            }
        };
        match self.body_clock {
            Some((start, taken)) => {
                consider(Instant::now() + self.idle_timeout, Expiry::Idle);
                if self.min_data_rate > 0 {
                    let earned = Duration::from_secs_f64(taken as f64 / self.min_data_rate as f64);
                    consider(start + self.idle_timeout + earned, Expiry::Slow);
                }
            }
            None => consider(self.command_deadline, Expiry::Idle),
        }
        best
    }

    /// Flushes pending replies, then reads at least one byte.
    /// `watch_shutdown` is false while a message body is in flight, so a
    /// started transfer is allowed to finish (serve's grace period bounds it).
    async fn fill(&mut self, watch_shutdown: bool) -> Result<(), Closed> {
        self.flush().await.map_err(Closed::Io)?;
        if self.pos > 0 {
            self.inbuf.drain(..self.pos);
            self.pos = 0;
        }
        self.inbuf.reserve(READ_CHUNK);
        let (deadline, why) = self.read_deadline();
        let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.inbuf));
        let shutdown = self.shutdown.clone();
        let result = tokio::select! {
            biased;
            () = shutdown_signalled(shutdown), if watch_shutdown => return Err(Closed::Shutdown),
            result = read => result,
        };
        match result {
            Err(_elapsed) => Err(why.closed()),
            Ok(Err(e)) => Err(Closed::Io(e)),
            Ok(Ok(0)) => Err(Closed::Eof),
            Ok(Ok(_)) => Ok(()),
        }
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.idle_timeout, write).await {
            Ok(result) => {
                self.out.clear();
                result
            }
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Best-effort final flush and FIN.
    pub(super) async fn close(mut self) {
        if self.flush().await.is_ok() {
            let _ = tokio::time::timeout(self.idle_timeout, self.stream.shutdown()).await;
        }
    }

    /// Sends the pending replies (the `220` to STARTTLS), then runs the TLS
    /// handshake. Input the client pipelined after STARTTLS came in clear
    /// text and is discarded (RFC 3207 §4.2; the CVE-2011-0411 class).
    pub(super) async fn start_tls(&mut self, config: Arc<ServerConfig>) -> Result<(), Closed> {
        self.flush().await.map_err(Closed::Io)?;
        let dropped = self.inbuf.len() - self.pos;
        if dropped > 0 {
            debug!(dropped, "discarded plaintext pipelined after STARTTLS");
        }
        self.inbuf.clear();
        self.pos = 0;
        self.skipping = false;
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.stream, MaybeTls::Gone) else {
            return Err(Closed::Io(io::Error::other("TLS is already active")));
        };
        let deadline = self
            .session_deadline
            .min(Instant::now() + self.idle_timeout);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        match tokio::time::timeout_at(deadline, acceptor.accept(plain)).await {
            Ok(Ok(tls)) => {
                self.stream = MaybeTls::Tls(Box::new(tls));
                Ok(())
            }
            Ok(Err(e)) => Err(Closed::Handshake(e)),
            Err(_) => Err(Closed::Timeout),
        }
    }
}

/// Resolves once shutdown is signalled; never if the sender is gone without signalling.
async fn shutdown_signalled(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
