//! An in-memory [`ImapSink`] for poller tests, and the waits they share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dossier::imap::{AccountStatus, Cursor, ImapSink, Retry, RetryOutcome, Skipped};
use tokio::sync::Semaphore;

/// Records what it is given; can be told to refuse, or to block until released.
#[derive(Default)]
pub struct MemSink {
    pub accepted: Mutex<Vec<(String, String, Vec<u8>)>>,
    pub cursors: Mutex<HashMap<(String, String), Cursor>>,
    /// Accept calls that succeed before every further one fails (None = never fail).
    pub allow: Mutex<Option<usize>>,
    pub calls: AtomicUsize,
    /// When set, each accept waits for a permit.
    pub gate: Mutex<Option<Arc<Semaphore>>>,
    /// Recorded oversized messages, with their retry state (None: skipped, Some: outcome).
    pub skipped: Mutex<Vec<(Skipped, Option<RetryOutcome>)>>,
    /// Ids (indexes into `skipped`) an admin asked to retry.
    pub retry: Mutex<Vec<usize>>,
}

impl MemSink {
    pub fn raws(&self) -> Vec<Vec<u8>> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.2.clone())
            .collect()
    }
    pub fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
    pub fn cursor(&self, folder: &str) -> Option<Cursor> {
        self.cursors
            .lock()
            .unwrap()
            .get(&("test".to_string(), folder.to_string()))
            .copied()
    }
    pub fn allow(&self, n: Option<usize>) {
        *self.allow.lock().unwrap() = n;
    }
}

impl ImapSink for MemSink {
    async fn accept(&self, account: &str, folder: &str, raw: Vec<u8>) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.acquire().await.unwrap().forget();
        }
        let mut allow = self.allow.lock().unwrap();
        match allow.as_mut() {
            Some(0) => return Err("disk full (test)".into()),
            Some(n) => *n -= 1,
            None => {}
        }
        self.accepted
            .lock()
            .unwrap()
            .push((account.into(), folder.into(), raw));
        Ok(())
    }

    async fn load_cursor(&self, account: &str, folder: &str) -> Result<Option<Cursor>, String> {
        Ok(self
            .cursors
            .lock()
            .unwrap()
            .get(&(account.into(), folder.into()))
            .copied())
    }

    async fn save_cursor(&self, account: &str, folder: &str, cursor: Cursor) -> Result<(), String> {
        self.cursors
            .lock()
            .unwrap()
            .insert((account.into(), folder.into()), cursor);
        Ok(())
    }

    async fn record_skipped(&self, _account: &str, m: &Skipped) -> Result<(), String> {
        let mut skipped = self.skipped.lock().unwrap();
        if !skipped.iter().any(|(s, _)| s == m) {
            skipped.push((m.clone(), None));
        }
        Ok(())
    }

    async fn retries(&self, _account: &str, folder: &str) -> Result<Vec<Retry>, String> {
        let skipped = self.skipped.lock().unwrap();
        Ok(self
            .retry
            .lock()
            .unwrap()
            .iter()
            .filter(|i| skipped[**i].0.folder == folder)
            .map(|i| Retry {
                id: *i as i64,
                uid_validity: skipped[*i].0.uid_validity,
                uid: skipped[*i].0.uid,
            })
            .collect())
    }

    async fn retry_done(&self, id: i64, outcome: RetryOutcome) -> Result<(), String> {
        self.retry.lock().unwrap().retain(|i| *i as i64 != id);
        self.skipped.lock().unwrap()[id as usize].1 = Some(outcome);
        Ok(())
    }

    async fn skipped_count(&self, _account: &str) -> Result<u64, String> {
        let skipped = self.skipped.lock().unwrap();
        Ok(skipped
            .iter()
            .filter(|(_, o)| !matches!(o, Some(RetryOutcome::Taken)))
            .count() as u64)
    }
}

pub fn has_subject(raw: &[u8], subject: &str) -> bool {
    String::from_utf8_lossy(raw).contains(&format!("Subject: {subject}\r\n"))
}

/// Polls `cond` every 100 ms for up to `secs`; panics with `what` if it never holds.
pub async fn eventually<F: FnMut() -> bool>(secs: u64, what: &str, mut cond: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn status_of(status: &Arc<Mutex<AccountStatus>>) -> AccountStatus {
    status.lock().unwrap().clone()
}
