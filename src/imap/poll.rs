//! One pass over an account's folders: list new UIDs, fetch in batches, hand to the sink,
//! then act on the server and advance the cursor.

use std::collections::HashMap;

use async_imap::types::Flag;
use tokio::sync::watch;

use super::actions::{apply, drain, fetch_bodies};
use super::conn::{Conn, COMMAND_TIMEOUT};
use super::error::step;
use super::signin::{connect, Credentials};
use super::skipped::{describe, record, take_retries};
use super::{Cursor, ImapAccount, ImapError, ImapSink, Skipped};

/// At most this many messages per body FETCH...
const BATCH_MAX_MESSAGES: usize = 50;
/// ...and at most this many bytes (a single larger message still gets its own batch).
const BATCH_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What a pass did, filled in as it goes so a failing pass still reports its progress.
#[derive(Debug, Default)]
pub(crate) struct PassReport {
    pub taken: usize,
    /// Messages skipped as too large (each durably recorded by the sink).
    pub skipped: Vec<Skipped>,
    /// Skipped messages an admin asked for that were dealt with (taken, gone, still large).
    pub retried: usize,
    /// UIDVALIDITY and UIDNEXT of each folder as seen at SELECT, for the IDLE race check.
    pub seen: HashMap<String, (u32, Option<u32>)>,
}

/// One pass over every folder of the account: fetch messages with UID > cursor (all of them
/// when UIDVALIDITY changed), hand each to the sink in UID order, and only after the sink
/// returned Ok apply the after-action on the server, then advance and save the cursor.
/// Returns how many messages were accepted. Oversized messages are recorded with the sink,
/// logged at error level and skipped (`run_account` also shows them in the status).
pub async fn poll_once<S: ImapSink>(account: &ImapAccount, sink: &S) -> Result<usize, ImapError> {
    account.validate()?;
    let mut report = PassReport::default();
    let mut conn = connect(account, &Credentials::for_account(account)).await?;
    let result = poll_session(&mut conn, account, sink, &mut report, None).await;
    if result.is_ok() {
        conn.logout().await;
    }
    result.map(|()| report.taken)
}

/// `stop` is checked between batches, so shutdown never cuts a sink call short.
pub(crate) async fn poll_session<S: ImapSink>(
    conn: &mut Conn,
    account: &ImapAccount,
    sink: &S,
    report: &mut PassReport,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<(), ImapError> {
    for folder in &account.folders {
        poll_folder(conn, account, folder, sink, report, stop).await?;
    }
    Ok(())
}

/// A message found by the listing FETCH.
#[derive(Debug, Clone, Copy)]
struct Listed {
    uid: u32,
    size: u64,
}

async fn poll_folder<S: ImapSink>(
    conn: &mut Conn,
    account: &ImapAccount,
    folder: &str,
    sink: &S,
    report: &mut PassReport,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<(), ImapError> {
    let name = account.name.as_str();
    let ctx = format!("SELECT {folder:?}");
    let mbox = step(&ctx, COMMAND_TIMEOUT, conn.session.select(folder)).await?;
    let uid_validity = mbox.uid_validity.ok_or_else(|| ImapError::Protocol {
        context: ctx.clone(),
        reason: "server sent no UIDVALIDITY".into(),
    })?;
    report
        .seen
        .insert(folder.to_string(), (uid_validity, mbox.uid_next));

    let mut last = start_from(sink, name, folder, uid_validity).await?;

    // Keywords need `\*` (or the keyword itself) in PERMANENTFLAGS; none listed means all.
    let keyword_ok = mbox.permanent_flags.is_empty()
        || mbox.permanent_flags.iter().any(|f| match f {
            Flag::MayCreate => true,
            Flag::Custom(k) => k.eq_ignore_ascii_case(&account.keyword),
            _ => false,
        });

    let (taken, retried) =
        take_retries(conn, account, folder, uid_validity, keyword_ok, sink).await?;
    report.taken += taken;
    report.retried += retried;
    if mbox.exists == 0 || last == u32::MAX {
        return Ok(());
    }
    let listed = list_new(conn, last).await?;
    for batch in batches(&listed, account.max_message_bytes) {
        if stop.is_some_and(|s| *s.borrow()) {
            return Ok(());
        }
        let wanted: Vec<u32> = batch
            .iter()
            .filter(|m| m.size <= account.max_message_bytes)
            .map(|m| m.uid)
            .collect();
        let mut bodies = fetch_bodies(conn, &wanted).await?;
        let oversized: Vec<u32> = batch
            .iter()
            .filter(|m| m.size > account.max_message_bytes)
            .map(|m| m.uid)
            .collect();
        let mut described = describe(conn, &oversized).await?;

        let mut accepted = Vec::new();
        let mut advanced = last;
        let mut failure = None;
        for m in batch {
            if m.size > account.max_message_bytes {
                // Recorded before the cursor moves past it, or not skipped at all.
                let d = described.remove(&m.uid).unwrap_or_default();
                match record(sink, account, folder, (uid_validity, m.uid, m.size), d).await {
                    Ok(skipped) => report.skipped.push(skipped),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                advanced = m.uid;
                continue;
            }
            let Some(raw) = bodies.remove(&m.uid) else {
                // Listed a moment ago but no body now: most likely expunged by someone else.
                // Stop here rather than skip it; the next pass lists again.
                failure = Some(ImapError::Protocol {
                    context: format!("UID FETCH {} in {folder:?}", m.uid),
                    reason: "server returned no body".into(),
                });
                break;
            };
            match sink.accept(name, folder, raw).await {
                Ok(()) => {
                    accepted.push(m.uid);
                    report.taken += 1;
                    advanced = m.uid;
                }
                Err(e) => {
                    failure = Some(ImapError::Sink(e));
                    break;
                }
            }
        }
        // Only accepted messages are touched; a crash before the cursor save re-fetches them.
        apply(conn, account, keyword_ok, &accepted).await?;
        if advanced != last {
            last = advanced;
            let cursor = Cursor {
                uid_validity,
                last_uid: last,
            };
            sink.save_cursor(name, folder, cursor)
                .await
                .map_err(ImapError::Sink)?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}

/// The last UID taken under `uid_validity`; 0 (and a reset cursor) when the folder was
/// renumbered.
async fn start_from<S: ImapSink>(
    sink: &S,
    name: &str,
    folder: &str,
    uid_validity: u32,
) -> Result<u32, ImapError> {
    let saved = sink
        .load_cursor(name, folder)
        .await
        .map_err(ImapError::Sink)?;
    match saved {
        Some(c) if c.uid_validity == uid_validity => Ok(c.last_uid),
        Some(c) => {
            // The server renumbered the folder: old UIDs mean nothing, so take everything
            // again (the ingest layer dedups by Message-ID).
            tracing::warn!(
                account = name,
                folder,
                old = c.uid_validity,
                new = uid_validity,
                "UIDVALIDITY changed; rescanning folder"
            );
            let reset = Cursor {
                uid_validity,
                last_uid: 0,
            };
            sink.save_cursor(name, folder, reset)
                .await
                .map_err(ImapError::Sink)?;
            Ok(0)
        }
        None => Ok(0),
    }
}

/// UIDs above `last` with their sizes, ascending.
async fn list_new(conn: &mut Conn, last: u32) -> Result<Vec<Listed>, ImapError> {
    let range = format!("{}:*", last + 1);
    let ctx = format!("UID FETCH {range} (RFC822.SIZE)");
    let stream = step(
        &ctx,
        COMMAND_TIMEOUT,
        conn.session.uid_fetch(&range, "(UID RFC822.SIZE)"),
    )
    .await?;
    let fetches = drain(&ctx, stream).await?;
    let mut listed: Vec<Listed> = fetches
        .iter()
        // `n:*` always matches the highest UID, even below n, so filter; unsolicited FETCHes
        // (flag changes by other clients) carry no size and are ignored.
        .filter_map(|f| match (f.uid, f.size) {
            (Some(uid), Some(size)) if uid > last => Some(Listed {
                uid,
                size: size.into(),
            }),
            _ => None,
        })
        .collect();
    listed.sort_by_key(|m| m.uid);
    listed.dedup_by_key(|m| m.uid);
    Ok(listed)
}

/// Splits the listing into fetch batches bounded in count and in bytes. Oversized messages are
/// kept in place (counted as zero bytes, never fetched) so they are reported in UID order.
fn batches(listed: &[Listed], max_message: u64) -> Vec<&[Listed]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, m) in listed.iter().enumerate() {
        let size = if m.size > max_message { 0 } else { m.size };
        let count = i - start;
        if count > 0 && (count >= BATCH_MAX_MESSAGES || bytes + size > BATCH_MAX_BYTES) {
            out.push(&listed[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < listed.len() {
        out.push(&listed[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(uid: u32, size: u64) -> Listed {
        Listed { uid, size }
    }

    #[test]
    fn batches_bound_count_and_bytes() {
        let many: Vec<Listed> = (1..=120).map(|u| l(u, 10)).collect();
        let sizes: Vec<usize> = batches(&many, 1000).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![50, 50, 20]);

        let big = BATCH_MAX_BYTES / 2 + 1;
        let two = [l(1, big), l(2, big), l(3, 5)];
        let sizes: Vec<usize> = batches(&two, u64::MAX).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![1, 2]);

        // Oversized ones ride along without counting bytes.
        let mixed = [l(1, u64::MAX), l(2, 5)];
        assert_eq!(batches(&mixed, 100).len(), 1);
        assert!(batches(&[], 100).is_empty());
    }
}
