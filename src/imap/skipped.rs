//! Messages over the size limit: described from a few header fields (never the body) when
//! skipped, and fetched after all when an admin asks for it once the limit was raised.

use std::collections::HashMap;

use super::actions::{apply, drain, fetch_bodies, uid_set};
use super::conn::{Conn, COMMAND_TIMEOUT};
use super::error::step;
use super::{ImapAccount, ImapError, ImapSink, RetryOutcome, Skipped};

/// Header bytes fetched per skipped message: enough for From, Subject, Message-ID.
const HEADER_FIELDS_MAX_BYTES: u32 = 8 * 1024;

/// Subject, sender and Message-ID, as far as known.
pub(crate) type Described = (Option<String>, Option<String>, Option<String>);

/// Durably records a message skipped as too large (`at` = UIDVALIDITY, UID, size) and logs it.
pub(crate) async fn record<S: ImapSink>(
    sink: &S,
    account: &ImapAccount,
    folder: &str,
    at: (u32, u32, u64),
    (subject, from, message_id): Described,
) -> Result<Skipped, ImapError> {
    let (uid_validity, uid, size) = at;
    let skipped = Skipped {
        folder: folder.to_string(),
        uid_validity,
        uid,
        size,
        max_message_bytes: account.max_message_bytes,
        subject,
        from,
        message_id,
    };
    let name = account.name.as_str();
    sink.record_skipped(name, &skipped)
        .await
        .map_err(ImapError::Sink)?;
    let msg = describe_skip(name, &skipped);
    tracing::error!(account = name, folder, uid, size, "{msg}");
    Ok(skipped)
}

/// Subject, sender and Message-ID of `uids`, as far as the server answers. Best effort: a
/// server that refuses the FETCH leaves the description empty; a dead link is an error.
pub(crate) async fn describe(
    conn: &mut Conn,
    uids: &[u32],
) -> Result<HashMap<u32, Described>, ImapError> {
    let mut out = HashMap::new();
    if uids.is_empty() {
        return Ok(out);
    }
    let set = uid_set(uids);
    let query = format!(
        "(UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]<0.{HEADER_FIELDS_MAX_BYTES}>)"
    );
    let ctx = format!("UID FETCH {set} {query}");
    let fetched = match step(&ctx, COMMAND_TIMEOUT, conn.session.uid_fetch(&set, &query)).await {
        Ok(stream) => drain(&ctx, stream).await,
        Err(e) => Err(e),
    };
    let fetched = match fetched {
        Ok(f) => f,
        Err(e @ ImapError::Protocol { .. }) => {
            tracing::warn!("no header fields for skipped messages: {e}");
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    for f in &fetched {
        let (Some(uid), Some(header)) = (f.uid, f.header()) else {
            continue;
        };
        if uids.binary_search(&uid).is_err() {
            continue;
        }
        let parsed = mail_parser::MessageParser::default().parse_headers(header);
        let subject = parsed.as_ref().and_then(|m| m.subject()).map(str::to_owned);
        let from = parsed
            .as_ref()
            .and_then(|m| m.from())
            .and_then(|a| a.first())
            .map(|a| {
                crate::domain::Mailbox {
                    name: a.name().map(str::to_owned),
                    address: a.address().map(str::to_owned),
                }
                .display()
            });
        let message_id = parsed
            .as_ref()
            .and_then(|m| m.message_id())
            .map(str::to_owned);
        out.insert(uid, (subject, from, message_id));
    }
    Ok(out)
}

/// Fetches the skipped messages of `folder` an admin asked for, one at a time (each can be
/// up to the limit), hands each to the sink, then applies the after-action and clears it.
/// Returns how many were taken and how many retries were dealt with.
pub(crate) async fn take_retries<S: ImapSink>(
    conn: &mut Conn,
    account: &ImapAccount,
    folder: &str,
    uid_validity: u32,
    keyword_ok: bool,
    sink: &S,
) -> Result<(usize, usize), ImapError> {
    let name = account.name.as_str();
    let retries = sink.retries(name, folder).await.map_err(ImapError::Sink)?;
    let done =
        |id, outcome| async move { sink.retry_done(id, outcome).await.map_err(ImapError::Sink) };
    let mut wanted = Vec::new();
    for r in retries {
        if r.uid_validity != uid_validity {
            let why = format!(
                "{folder:?} was renumbered (UIDVALIDITY changed): its messages were listed again"
            );
            done(r.id, RetryOutcome::Gone(why)).await?;
        } else {
            wanted.push(r);
        }
    }
    let (mut taken, mut retried) = (0, 0);
    if wanted.is_empty() {
        return Ok((taken, retried));
    }
    let uids: Vec<u32> = wanted.iter().map(|r| r.uid).collect();
    let sizes = sizes(conn, &uids).await?;
    for r in wanted {
        let limit = account.max_message_bytes;
        let outcome = match sizes.get(&r.uid) {
            None => RetryOutcome::Gone(format!("UID {} is no longer in {folder:?}", r.uid)),
            Some(&size) if size > limit => RetryOutcome::StillTooLarge(format!(
                "{size} bytes is still over max_message_bytes {limit}"
            )),
            Some(_) => {
                let Some(raw) = fetch_bodies(conn, &[r.uid]).await?.remove(&r.uid) else {
                    done(
                        r.id,
                        RetryOutcome::Gone(format!("UID {} is no longer in {folder:?}", r.uid)),
                    )
                    .await?;
                    continue;
                };
                sink.accept(name, folder, raw)
                    .await
                    .map_err(ImapError::Sink)?;
                apply(conn, account, keyword_ok, &[r.uid]).await?;
                taken += 1;
                RetryOutcome::Taken
            }
        };
        tracing::info!(
            account = name,
            folder,
            uid = r.uid,
            ?outcome,
            "retried a skipped message"
        );
        retried += 1;
        done(r.id, outcome).await?;
    }
    Ok((taken, retried))
}

/// RFC822.SIZE of those of `uids` still in the folder.
async fn sizes(conn: &mut Conn, uids: &[u32]) -> Result<HashMap<u32, u64>, ImapError> {
    let set = uid_set(uids);
    let ctx = format!("UID FETCH {set} (RFC822.SIZE)");
    let stream = step(
        &ctx,
        COMMAND_TIMEOUT,
        conn.session.uid_fetch(&set, "(UID RFC822.SIZE)"),
    )
    .await?;
    Ok(drain(&ctx, stream)
        .await?
        .iter()
        .filter_map(|f| match (f.uid, f.size) {
            (Some(uid), Some(size)) if uids.contains(&uid) => Some((uid, u64::from(size))),
            _ => None,
        })
        .collect())
}

/// The skip as one line for the log and the status's `last_error`.
pub(crate) fn describe_skip(account: &str, s: &Skipped) -> String {
    let subject = s
        .subject
        .as_deref()
        .map(|t| format!(" ({t:?})"))
        .unwrap_or_default();
    format!(
        "skipped message UID {}{subject} in {:?} of account {account:?}: {} bytes exceeds max_message_bytes {}; listed in GET /api/admin/failed",
        s.uid, s.folder, s.size, s.max_message_bytes
    )
}
