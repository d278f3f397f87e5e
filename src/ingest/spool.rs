//! Content-addressed files: raw messages (the spool) and attachment blobs.
//! Paths come only from SHA-256 hex digests, never from user input.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
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
        // Leftovers of writes interrupted by a crash.
        for e in fs::read_dir(&tmp)? {
            let _ = fs::remove_file(e?.path());
        }
        sync_dir(root)?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(ContentStore {
            root: root.to_owned(),
        })
    }

    fn path_of(&self, sha: &str) -> Option<PathBuf> {
        is_digest(sha).then(|| self.root.join(&sha[..2]).join(sha))
    }

    /// Writes `bytes` (fsync'd, then renamed into place) unless already present.
    /// Returns the digest and the directory the caller must sync before the
    /// file's name is durable; `put_durable` does both.
    pub fn put(&self, bytes: &[u8]) -> io::Result<(String, PathBuf)> {
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha).expect("a fresh digest is valid");
        let dir = path.parent().expect("fan-out dir").to_owned();
        if path.exists() {
            return Ok((sha, dir));
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{sha}.{:016x}", rand::random::<u64>()));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        Ok((sha, dir))
    }

    pub fn put_durable(&self, bytes: &[u8]) -> io::Result<String> {
        let (sha, dir) = self.put(bytes)?;
        sync_dir(&dir)?;
        Ok(sha)
    }

    pub fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a PathBuf>) -> io::Result<()> {
        for d in dirs {
            sync_dir(d)?;
        }
        Ok(())
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
