//! What is done on the server once the sink has accepted messages, plus small helpers.

use std::collections::HashMap;

use futures_util::{Stream, StreamExt};

use super::conn::{Conn, COMMAND_TIMEOUT};
use super::error::step;
use super::{AfterAction, ImapAccount, ImapError};

/// Compact IMAP sequence set (`1:3,7,9:10`) from ascending UIDs.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            end = uids[i + 1];
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Reads a response stream to its tagged end, each item under a deadline. The stream must be
/// drained before the session can send its next command.
pub(crate) async fn drain<T, S>(context: &str, stream: S) -> Result<Vec<T>, ImapError>
where
    S: Stream<Item = Result<T, async_imap::error::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(COMMAND_TIMEOUT, stream.next()).await {
            Err(_) => {
                return Err(ImapError::Timeout {
                    context: context.to_string(),
                    after: COMMAND_TIMEOUT,
                })
            }
            Ok(None) => return Ok(out),
            Ok(Some(Ok(item))) => out.push(item),
            Ok(Some(Err(e))) => return Err(ImapError::from_imap(context, e)),
        }
    }
}

/// Applies the account's after-action to `uids` (ascending, in the selected folder).
/// `keyword_ok` is false when the folder cannot store keywords; then only `\Seen` is set.
pub(crate) async fn apply(
    conn: &mut Conn,
    account: &ImapAccount,
    keyword_ok: bool,
    uids: &[u32],
) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uid_set(uids);
    match account.after {
        AfterAction::Flag => {
            let flags = if keyword_ok {
                format!("(\\Seen {})", account.keyword)
            } else {
                "(\\Seen)".to_string()
            };
            store(conn, &set, &format!("+FLAGS.SILENT {flags}")).await
        }
        AfterAction::Move => {
            let dest = account
                .move_to
                .as_deref()
                .ok_or_else(|| ImapError::Config("after = \"move\" needs move_to".into()))?;
            if conn.caps.mv {
                transfer(conn, &set, dest, true).await
            } else {
                // RFC 6851 fallback: COPY, then delete the originals.
                transfer(conn, &set, dest, false).await?;
                store(conn, &set, "+FLAGS.SILENT (\\Deleted)").await?;
                expunge(conn, &set).await
            }
        }
        AfterAction::Delete => {
            store(conn, &set, "+FLAGS.SILENT (\\Deleted)").await?;
            expunge(conn, &set).await
        }
    }
}

async fn store(conn: &mut Conn, set: &str, query: &str) -> Result<(), ImapError> {
    let ctx = format!("UID STORE {set} {query}");
    let stream = step(&ctx, COMMAND_TIMEOUT, conn.session.uid_store(set, query)).await?;
    drain(&ctx, stream).await.map(drop)
}

async fn expunge(conn: &mut Conn, set: &str) -> Result<(), ImapError> {
    if conn.caps.uidplus {
        let ctx = format!("UID EXPUNGE {set}");
        let stream = step(&ctx, COMMAND_TIMEOUT, conn.session.uid_expunge(set)).await?;
        drain(&ctx, stream).await.map(drop)
    } else {
        // Without UIDPLUS a plain EXPUNGE also removes messages others marked \Deleted in this
        // folder; acceptable for a dedicated archive mailbox, and the only option left.
        let stream = step("EXPUNGE", COMMAND_TIMEOUT, conn.session.expunge()).await?;
        drain("EXPUNGE", stream).await.map(drop)
    }
}

/// UID MOVE (`mv`) or UID COPY to `dest`, creating `dest` once if the server refuses
/// (typically `NO [TRYCREATE]` because the folder does not exist yet).
async fn transfer(conn: &mut Conn, set: &str, dest: &str, mv: bool) -> Result<(), ImapError> {
    let verb = if mv { "UID MOVE" } else { "UID COPY" };
    let ctx = format!("{verb} {set} {dest:?}");
    let mut created = false;
    loop {
        let result = if mv {
            step(&ctx, COMMAND_TIMEOUT, conn.session.uid_mv(set, dest)).await
        } else {
            step(&ctx, COMMAND_TIMEOUT, conn.session.uid_copy(set, dest)).await
        };
        match result {
            Err(ImapError::Protocol { .. }) if !created => {
                let create = format!("CREATE {dest:?}");
                if step(&create, COMMAND_TIMEOUT, conn.session.create(dest))
                    .await
                    .is_err()
                {
                    return result;
                }
                tracing::info!(folder = dest, "created IMAP folder for moved messages");
                created = true;
            }
            other => return other,
        }
    }
}

/// Full raw bodies of `uids`, without setting `\Seen` (BODY.PEEK).
pub(crate) async fn fetch_bodies(
    conn: &mut Conn,
    uids: &[u32],
) -> Result<HashMap<u32, Vec<u8>>, ImapError> {
    let mut bodies = HashMap::with_capacity(uids.len());
    if uids.is_empty() {
        return Ok(bodies);
    }
    let set = uid_set(uids);
    let ctx = format!("UID FETCH {set} (BODY.PEEK[])");
    let stream = step(
        &ctx,
        COMMAND_TIMEOUT,
        conn.session.uid_fetch(&set, "(UID BODY.PEEK[])"),
    )
    .await?;
    for f in drain(&ctx, stream).await? {
        if let (Some(uid), Some(body)) = (f.uid, f.body()) {
            if uids.binary_search(&uid).is_ok() {
                bodies.insert(uid, body.to_vec());
            }
        }
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }
}
