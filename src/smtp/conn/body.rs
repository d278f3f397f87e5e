//! DATA and BDAT bodies, handed to a [`BodySink`] as they arrive, so a large
//! message never has to sit in memory here.

use std::io;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::{Closed, Conn};
use crate::smtp::BodySink;

/// Decoded bytes collected before they are handed to the sink.
const FLUSH_BYTES: usize = 64 * 1024;

/// How a body transfer ended; in every case the connection is in sync again
/// (the rest of a refused body was read and dropped).
#[derive(Debug)]
pub(in crate::smtp) enum BodyEnd {
    Complete,
    /// Over the size limit.
    TooBig,
    /// The sink failed (e.g. the spool could not be written).
    Failed(io::Error),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Reads a DATA body up to `<CRLF>.<CRLF>` into `body`, dot-unstuffed,
    /// otherwise byte-exact, at most `max` bytes.
    pub(in crate::smtp) async fn read_data<B: BodySink>(
        &mut self,
        max: usize,
        body: &mut B,
    ) -> Result<BodyEnd, Closed> {
        self.body_clock = Some((Instant::now(), 0));
        let end = self.read_data_inner(max, body).await;
        self.body_clock = None;
        end
    }

    async fn read_data_inner<B: BodySink>(
        &mut self,
        max: usize,
        body: &mut B,
    ) -> Result<BodyEnd, Closed> {
        // DataReceiver only recognises "." after a CRLF it has seen, but the
        // body starts right after the DATA line's CRLF; prime it with one and
        // strip it again, so a leading "." line is unstuffed / ends the body.
        const PRIME: &[u8] = b"\r\n";
        // On CRLF.CRLF the receiver takes back the CR it just pushed: never
        // hand over the last bytes before the end is seen.
        const KEEP: usize = 2;
        let mut receiver = DataReceiver::new();
        let mut buf = Vec::with_capacity(FLUSH_BYTES + READ_SLACK);
        receiver.ingest(&mut PRIME.iter(), &mut buf);
        let mut skip = PRIME.len();
        loop {
            let done = self.feed(|bytes| receiver.ingest(bytes, &mut buf));
            // Before the end a trailing CR may still be taken back: allow it.
            let slack = usize::from(!done);
            if body.size() + (buf.len() - skip) > max.saturating_add(slack) {
                if !done {
                    let mut discard = DummyDataReceiver::new_data(&receiver);
                    self.skip_body(|bytes| discard.ingest(bytes)).await?;
                }
                return Ok(BodyEnd::TooBig);
            }
            if done || buf.len() >= FLUSH_BYTES + KEEP {
                let upto = if done { buf.len() } else { buf.len() - KEEP };
                if upto > skip {
                    if let Err(e) = body.write(&buf[skip..upto]).await {
                        if !done {
                            let mut discard = DummyDataReceiver::new_data(&receiver);
                            self.skip_body(|bytes| discard.ingest(bytes)).await?;
                        }
                        return Ok(BodyEnd::Failed(e));
                    }
                    buf.drain(..upto);
                    skip = 0;
                }
                if done {
                    return Ok(BodyEnd::Complete);
                }
            }
            self.fill(false).await?;
        }
    }

    /// Appends exactly `size` bytes of a BDAT chunk to `body`, or drops them when `body` is None.
    pub(in crate::smtp) async fn read_chunk<B: BodySink>(
        &mut self,
        size: usize,
        body: Option<&mut B>,
    ) -> Result<BodyEnd, Closed> {
        self.body_clock = Some((Instant::now(), 0));
        let end = self.read_chunk_inner(size, body).await;
        self.body_clock = None;
        end
    }

    async fn read_chunk_inner<B: BodySink>(
        &mut self,
        size: usize,
        body: Option<&mut B>,
    ) -> Result<BodyEnd, Closed> {
        let Some(body) = body else {
            self.skip_chunk(size).await?;
            return Ok(BodyEnd::Complete);
        };
        let mut receiver = BdatReceiver::new(size, false);
        let mut buf = Vec::new();
        let mut left = size;
        loop {
            let before = buf.len();
            let done = self.feed(|bytes| receiver.ingest(bytes, &mut buf));
            left -= buf.len() - before;
            if done || buf.len() >= FLUSH_BYTES {
                if let Err(e) = body.write(&buf).await {
                    self.skip_chunk(left).await?;
                    return Ok(BodyEnd::Failed(e));
                }
                buf.clear();
                if done {
                    return Ok(BodyEnd::Complete);
                }
            }
            self.fill(false).await?;
        }
    }

    async fn skip_chunk(&mut self, size: usize) -> Result<(), Closed> {
        let mut discard = DummyDataReceiver::new_bdat(size);
        if self.feed(|bytes| discard.ingest(bytes)) {
            return Ok(());
        }
        self.skip_body(|bytes| discard.ingest(bytes)).await
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
        let consumed = self.inbuf.len() - bytes.len() - self.pos;
        self.pos += consumed;
        if let Some((_, taken)) = &mut self.body_clock {
            *taken += consumed;
        }
        done
    }
}

/// Room for one read beyond the flush threshold, so `buf` rarely reallocates.
const READ_SLACK: usize = 16 * 1024;
