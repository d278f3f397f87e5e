//! A card's mail as mbox (mboxrd) with the original bytes, for the CLI and HTTP.

use std::io::{self, Write};

use crate::blobs::ContentStore;
use crate::mail::mbox;
use crate::store::MessageRef;

/// Writes every message to `out`; blocking (run off the async runtime).
pub fn write_mbox(
    spool: &ContentStore,
    messages: &[MessageRef],
    out: &mut impl Write,
) -> io::Result<usize> {
    for m in messages {
        let raw = spool.get(&m.sha256)?;
        let date = chrono::DateTime::parse_from_rfc3339(&m.received_at)
            .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".into());
        mbox::write_message(out, m.mail_from.as_deref().unwrap_or(""), &date, &raw)?;
    }
    out.flush()?;
    Ok(messages.len())
}

/// A `Write` that hands chunks to an async consumer (an HTTP response body).
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
