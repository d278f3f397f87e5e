//! A message body that arrives in pieces (SMTP DATA/BDAT): held in memory up
//! to a threshold, then streamed into a temp file in the spool's staging
//! area and hashed as it goes, so a large message never sits in RAM and is
//! never copied twice: the committer publishes that very file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::blobs::{ContentStore, Staged};

/// Bytes written to the file per blocking call once the body is on disk.
const WRITE_CHUNK: usize = 256 * 1024;
/// The start of the message kept in memory for header checks.
const HEAD_BYTES: usize = 64 * 1024;

/// A temp file with the part of the body already written, and its running digest.
struct Spilled {
    file: File,
    path: PathBuf,
    hasher: Sha256,
}

pub struct IncomingBody {
    spool: ContentStore,
    threshold: usize,
    /// Not yet written to the file (all of it while in memory).
    mem: Vec<u8>,
    head: Vec<u8>,
    spilled: Option<Spilled>,
    len: usize,
}

impl IncomingBody {
    /// Bodies up to `threshold` bytes stay in memory.
    pub fn new(spool: ContentStore, threshold: usize) -> Self {
        Self {
            spool,
            threshold,
            mem: Vec::new(),
            head: Vec::new(),
            spilled: None,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first bytes of the message (its headers, normally), at most 64 KiB.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether the body went to disk.
    pub fn is_spilled(&self) -> bool {
        self.spilled.is_some()
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.len += bytes.len();
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.mem.extend_from_slice(bytes);
        let over = self.mem.len() > self.threshold;
        if over && self.spilled.is_none() {
            let path = self.spool.staging_path("incoming");
            let file = tokio::task::spawn_blocking({
                let path = path.clone();
                move || OpenOptions::new().write(true).create_new(true).open(path)
            })
            .await
            .map_err(io::Error::other)??;
            self.spilled = Some(Spilled {
                file,
                path,
                hasher: Sha256::new(),
            });
        }
        if self.spilled.is_some() && self.mem.len() >= WRITE_CHUNK {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Appends `mem` to the file off the async threads.
    async fn write_out(&mut self) -> io::Result<()> {
        let Some(mut spilled) = self.spilled.take() else {
            return Ok(());
        };
        let mut mem = std::mem::take(&mut self.mem);
        let (spilled, mem, result) = tokio::task::spawn_blocking(move || {
            spilled.hasher.update(&mem);
            let result = spilled.file.write_all(&mem);
            mem.clear();
            (spilled, mem, result)
        })
        .await
        .map_err(io::Error::other)?;
        // Put back before `?`, so drop still removes the file on error.
        self.spilled = Some(spilled);
        // The buffer that grew to the threshold is not kept for the rest.
        self.mem = if mem.capacity() > 2 * WRITE_CHUNK {
            Vec::with_capacity(WRITE_CHUNK)
        } else {
            mem
        };
        result
    }

    /// Stages the body in the spool: the bytes for `publish`, and their size.
    pub(super) async fn stage(mut self) -> io::Result<(Staged, usize)> {
        let len = self.len;
        if self.spilled.is_none() {
            let (spool, mem) = (self.spool.clone(), std::mem::take(&mut self.mem));
            let staged = tokio::task::spawn_blocking(move || spool.stage(&mem))
                .await
                .map_err(io::Error::other)??;
            return Ok((staged, len));
        }
        self.write_out().await?;
        let Spilled { hasher, path, .. } = self.spilled.take().expect("spilled");
        let sha = hex::encode(hasher.finalize());
        let spool = self.spool.clone();
        let staged = tokio::task::spawn_blocking(move || spool.stage_file(sha, path))
            .await
            .map_err(io::Error::other)??;
        Ok((staged, len))
    }
}

impl Drop for IncomingBody {
    /// A body never staged (refused, connection lost) leaves no file behind.
    fn drop(&mut self) {
        if let Some(spilled) = self.spilled.take() {
            let _ = std::fs::remove_file(spilled.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_bodies_stay_in_memory_large_ones_stream_to_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let spool = ContentStore::open(&dir.path().join("spool")).unwrap();
        let tmp_files = || {
            std::fs::read_dir(dir.path().join("spool/tmp"))
                .unwrap()
                .count()
        };

        let mut small = IncomingBody::new(spool.clone(), 1000);
        small.write(b"Subject: s\r\n\r\nhi\r\n").await.unwrap();
        assert!(!small.is_spilled());
        assert_eq!(tmp_files(), 0);

        let mut big = IncomingBody::new(spool.clone(), 1000);
        let mut all = Vec::new();
        for i in 0..2000u32 {
            let piece = format!("line {i} of a large body\r\n");
            big.write(piece.as_bytes()).await.unwrap();
            all.extend_from_slice(piece.as_bytes());
        }
        assert!(big.is_spilled());
        assert_eq!(big.len(), all.len());
        assert!(big.head().len() <= HEAD_BYTES && all.starts_with(big.head()));
        let (staged, size) = big.stage().await.unwrap();
        assert_eq!(size, all.len());
        assert_eq!(staged.sha, crate::blobs::sha256_hex(&all));
        spool.publish(std::slice::from_ref(&staged)).unwrap();
        assert_eq!(spool.get(&staged.sha).unwrap(), all);

        // Dropped unstaged (a refused message): its temp file goes too.
        let mut refused = IncomingBody::new(spool.clone(), 10);
        refused.write(&[b'x'; 100]).await.unwrap();
        assert_eq!(tmp_files(), 1);
        drop(refused);
        assert_eq!(tmp_files(), 0);
        drop(small);
    }
}
