//! Buffered connection: command framing, reply batching, DATA/BDAT bodies.

use std::io;
use std::time::Duration;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

const READ_CHUNK: usize = 16 * 1024;

/// Why the connection cannot go on.
#[derive(Debug)]
pub(super) enum Closed {
    Eof,
    /// No input within the idle timeout (writes that stall become `Io`).
    Timeout,
    /// Shutdown was signalled while waiting for a command.
    Shutdown,
    Io(io::Error),
}

/// One framed command line.
pub(super) enum Input {
    Request(Result<Request<String>, smtp_proto::Error>),
    /// Longer than the line limit; the rest of it up to LF is skipped.
    TooLong,
}

pub(super) struct Conn<S> {
    stream: S,
    inbuf: Vec<u8>,
    /// Start of unconsumed input in `inbuf`.
    pos: usize,
    /// Replies waiting to be flushed; PIPELINING wants them grouped.
    pub(super) out: Vec<u8>,
    /// Discarding the tail of an over-long line.
    skipping: bool,
    line_limit: usize,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(
        stream: S,
        line_limit: usize,
        idle_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            stream,
            inbuf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            out: Vec::with_capacity(512),
            skipping: false,
            line_limit,
            idle_timeout,
            shutdown,
        }
    }

    pub(super) fn shutdown_requested(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Next command: taken from the buffer when a whole line is there,
    /// otherwise replies are flushed and more input is read.
    pub(super) async fn next_input(&mut self) -> Result<Input, Closed> {
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
        let read = tokio::time::timeout(self.idle_timeout, self.stream.read_buf(&mut self.inbuf));
        let shutdown = self.shutdown.clone();
        let result = tokio::select! {
            biased;
            () = shutdown_signalled(shutdown), if watch_shutdown => return Err(Closed::Shutdown),
            result = read => result,
        };
        match result {
            Err(_elapsed) => Err(Closed::Timeout),
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

    /// Reads a DATA body up to `<CRLF>.<CRLF>`, dot-unstuffed, otherwise byte-exact.
    /// Returns `None` when it exceeded `max` bytes: the rest was read and dropped.
    pub(super) async fn read_data(&mut self, max: usize) -> Result<Option<Vec<u8>>, Closed> {
        // DataReceiver only recognises "." after a CRLF it has seen, but the
        // body starts right after the DATA line's CRLF; prime it with one and
        // strip it again, so a leading "." line is unstuffed / ends the body.
        const PRIME: &[u8] = b"\r\n";
        let mut receiver = DataReceiver::new();
        let mut body = Vec::new();
        receiver.ingest(&mut PRIME.iter(), &mut body);
        loop {
            let done = self.feed(|bytes| receiver.ingest(bytes, &mut body));
            if body.len().saturating_sub(PRIME.len()) > max {
                drop(body);
                if !done {
                    let mut discard = DummyDataReceiver::new_data(&receiver);
                    self.skip_body(|bytes| discard.ingest(bytes)).await?;
                }
                return Ok(None);
            }
            if done {
                body.drain(..PRIME.len());
                return Ok(Some(body));
            }
            self.fill(false).await?;
        }
    }

    /// Appends exactly `size` bytes of a BDAT chunk to `body`, or drops them when `body` is None.
    pub(super) async fn read_chunk(
        &mut self,
        size: usize,
        body: Option<&mut Vec<u8>>,
    ) -> Result<(), Closed> {
        match body {
            Some(body) => {
                let mut receiver = BdatReceiver::new(size, false);
                loop {
                    if self.feed(|bytes| receiver.ingest(bytes, body)) {
                        return Ok(());
                    }
                    self.fill(false).await?;
                }
            }
            None => {
                let mut discard = DummyDataReceiver::new_bdat(size);
                if self.feed(|bytes| discard.ingest(bytes)) {
                    return Ok(());
                }
                self.skip_body(|bytes| discard.ingest(bytes)).await
            }
        }
    }

    async fn skip_body(
        &mut self,
        mut ingest: impl FnMut(&mut std::slice::Iter<'_, u8>) -> bool,
    ) -> Result<(), Closed> {
        loop {
            self.fill(false).await?;
            if self.feed(&mut ingest) {
                return Ok(());
            }
        }
    }

    /// Hands the buffered input to a receiver and consumes what it took.
    fn feed(&mut self, ingest: impl FnOnce(&mut std::slice::Iter<'_, u8>) -> bool) -> bool {
        let mut bytes = self.inbuf[self.pos..].iter();
        let done = ingest(&mut bytes);
        self.pos = self.inbuf.len() - bytes.len();
        done
    }
}

/// Resolves once shutdown is signalled; never if the sender is gone without signalling.
async fn shutdown_signalled(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
