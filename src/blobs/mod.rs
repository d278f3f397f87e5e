//! Content-addressed files: raw messages (the spool) and attachment blobs. The
//! bottom layer: it knows digests and files, nothing of mail or the store.
//! Paths come only from SHA-256 hex digests, never from user input.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file written by `stage`, made durable by `publish`.
#[derive(Debug)]
pub struct Staged {
    pub sha: String,
    /// None when the content was already stored.
    tmp: Option<PathBuf>,
    path: PathBuf,
}

#[cfg(target_os = "linux")]
fn syncfs(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = File::open(path)?;
    // SAFETY: syncfs only reads the descriptor, which `dir` keeps open.
    // Since Linux 5.8 it reports writeback errors of the filesystem.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    /// Held while files are published and their rows committed, and while
    /// unused files are removed: an erasure never takes a file that a row
    /// about to commit will point at.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl ContentStore {
    /// Creates the root and its 256 fan-out directories up front (and makes them
    /// durable once), so storing a file only ever needs its own directory synced.
    pub fn open(root: &Path) -> io::Result<Self> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)?;
        for i in 0..=255u8 {
            let d = root.join(format!("{i:02x}"));
            if !d.exists() {
                fs::create_dir(&d)?;
            }
        }
        // Leftovers of writes interrupted by a crash. Only old ones: a CLI
        // command opening the store must not delete a running server's files.
        let stale = std::time::Duration::from_secs(3600);
        for e in fs::read_dir(&tmp)?.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > stale);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
        sync_dir(root)?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(ContentStore {
            root: root.to_owned(),
            gate: Default::default(),
        })
    }

    /// See `gate`; hold the guard across the publish and the commit.
    pub async fn gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate.lock().await
    }

    fn path_of(&self, sha: &str) -> Option<PathBuf> {
        is_digest(sha).then(|| self.root.join(&sha[..2]).join(sha))
    }

    /// Writes `bytes` to a temp file, not yet durable and not yet visible
    /// under its digest; `publish` makes a group of staged files durable with
    /// a constant number of disk flushes. Nothing is written if the content
    /// is already stored.
    pub fn stage(&self, bytes: &[u8]) -> io::Result<Staged> {
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha).expect("a fresh digest is valid");
        if path.exists() {
            // Only published (hence durable) files ever carry a digest name.
            return Ok(Staged {
                sha,
                tmp: None,
                path,
            });
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{sha}.{:016x}", rand::random::<u64>()));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        Ok(Staged {
            sha,
            tmp: Some(tmp),
            path,
        })
    }

    /// A fresh path in the staging area, for a file `stage_file` will take.
    pub fn staging_path(&self, prefix: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{prefix}.{:016x}", rand::random::<u64>()))
    }

    /// Stages a file already written at `tmp` (in the staging area) whose
    /// SHA-256 is `sha`, as `stage` does for bytes in memory.
    pub fn stage_file(&self, sha: String, tmp: PathBuf) -> io::Result<Staged> {
        let path = self
            .path_of(&sha)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a digest"))?;
        if path.exists() {
            fs::remove_file(&tmp)?;
            return Ok(Staged {
                sha,
                tmp: None,
                path,
            });
        }
        Ok(Staged {
            sha,
            tmp: Some(tmp),
            path,
        })
    }

    /// Bytes an unprivileged process may still write on the store's filesystem.
    pub fn free_bytes(&self) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.root.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: statvfs fills the zeroed struct and reads only the NUL-terminated path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }

    /// Group commit for files: flush the data of every staged file, move them
    /// to their digest names, flush the directories. When this returns Ok, all
    /// of them survive a crash or power loss.
    pub fn publish(&self, staged: &[Staged]) -> io::Result<()> {
        // Content found already stored at stage time must still be there (an
        // admin may have deleted a quarantined copy meanwhile).
        if let Some(gone) = staged.iter().find(|s| s.tmp.is_none() && !s.path.exists()) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("stored content {} vanished; retry", gone.sha),
            ));
        }
        let pending: Vec<&Staged> = staged.iter().filter(|s| s.tmp.is_some()).collect();
        if pending.is_empty() {
            return Ok(());
        }
        self.flush_data(&pending)?;
        let mut dirs = std::collections::BTreeSet::new();
        for s in &pending {
            let tmp = s.tmp.as_ref().expect("filtered");
            if s.path.exists() {
                // Published meanwhile by another message with the same content.
                let _ = fs::remove_file(tmp);
            } else {
                fs::rename(tmp, &s.path)?;
                dirs.insert(s.path.parent().expect("fan-out dir").to_owned());
            }
        }
        self.flush_dirs(&dirs)
    }

    /// Stores `bytes` durably on its own; returns the digest.
    pub fn put_durable(&self, bytes: &[u8]) -> io::Result<String> {
        let staged = self.stage(bytes)?;
        self.publish(std::slice::from_ref(&staged))?;
        Ok(staged.sha)
    }

    /// One `syncfs` flushes every file at once (a single device flush) where
    /// per-file fsyncs would flush once each.
    #[cfg(target_os = "linux")]
    fn flush_data(&self, _files: &[&Staged]) -> io::Result<()> {
        syncfs(&self.root)
    }

    #[cfg(not(target_os = "linux"))]
    fn flush_data(&self, files: &[&Staged]) -> io::Result<()> {
        for s in files {
            File::open(s.tmp.as_ref().expect("pending"))?.sync_all()?;
        }
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn flush_dirs(&self, _dirs: &std::collections::BTreeSet<PathBuf>) -> io::Result<()> {
        syncfs(&self.root)
    }

    #[cfg(not(target_os = "linux"))]
    fn flush_dirs(&self, dirs: &std::collections::BTreeSet<PathBuf>) -> io::Result<()> {
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    /// Removes stored content for good (the caller checked nothing uses it).
    pub fn remove(&self, sha: &str) -> io::Result<()> {
        let path = self
            .path_of(sha)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a digest"))?;
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().expect("fan-out dir")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The first `n` bytes of stored content (enough for the headers).
    pub fn get_prefix(&self, sha: &str, n: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let path = self
            .path_of(sha)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a digest"))?;
        let mut out = Vec::new();
        File::open(path)?.take(n).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Stored content opened for reading (handed to the extraction child).
    pub fn open_file(&self, sha: &str) -> io::Result<File> {
        let path = self
            .path_of(sha)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a digest"))?;
        File::open(path)
    }

    pub fn get(&self, sha: &str) -> io::Result<Vec<u8>> {
        let path = self
            .path_of(sha)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a digest"))?;
        fs::read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(&dir.path().join("spool")).unwrap();
        let a = cs.put_durable(b"hello").unwrap();
        let b = cs.put_durable(b"hello").unwrap();
        assert_eq!(a, b);
        assert_eq!(cs.get(&a).unwrap(), b"hello");
        assert!(cs.get("../../etc/passwd").is_err());
        assert!(cs.get(&"A".repeat(64)).is_err());
    }
}
