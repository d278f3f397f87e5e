//! The per-account loop: poll, then wait for mail (IDLE or sleep), back off on failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use rand::Rng;
use tokio::sync::watch;

use super::conn::{Conn, COMMAND_TIMEOUT};
use super::error::step;
use super::poll::{poll_session, PassReport};
use super::signin::{connect, Credentials};
use super::skipped::describe_skip;
use super::{AccountStatus, ImapAccount, ImapError, ImapSink, LastSkipped};

/// Re-issue IDLE well inside the 29 minutes of RFC 2177 (and NAT timeouts).
const IDLE_MAX: Duration = Duration::from_secs(20 * 60);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(300);

enum Wake {
    Poll,
    Shutdown,
}

/// Runs until `shutdown` turns true (or its sender is dropped): poll, then wait for new mail
/// with IDLE on the first folder when the server supports it (re-IDLE at most every 20 min,
/// and wake at `poll_interval_secs` to cover the other folders), else sleep the interval.
/// Failures back off exponentially with jitter (cap 5 min) and land in `status`.
pub async fn run_account<S: ImapSink>(
    account: ImapAccount,
    sink: Arc<S>,
    status: Arc<Mutex<AccountStatus>>,
    mut shutdown: watch::Receiver<bool>,
) {
    update(&status, |s| {
        let fresh = AccountStatus::for_account(&account);
        (s.name, s.auth, s.grant) = (fresh.name, fresh.auth, fresh.grant);
    });
    if let Err(e) = account.validate() {
        tracing::error!(account = %account.name, "{e}");
        update(&status, |s| s.last_error = Some(stamped(&e.to_string())));
        wait_shutdown(&mut shutdown).await;
        return;
    }
    account.warn_if_cleartext();
    let interval = Duration::from_secs(account.poll_interval_secs.max(1));
    let auth_backoff = Duration::from_secs(account.auth_failure_backoff_secs);
    // One token cache for the account's whole life.
    let creds = Credentials::for_account(&account);
    let mut conn: Option<Conn> = None;
    let mut failures: u32 = 0;

    loop {
        if *shutdown.borrow() {
            break;
        }
        renew_token(&mut conn, &creds, &account, &status).await;
        update(&status, |s| s.last_poll = Some(now()));
        let mut report = PassReport::default();
        let result = match conn.as_mut() {
            Some(c) => poll_session(c, &account, &*sink, &mut report, Some(&shutdown)).await,
            None => {
                // Connecting to a dead host can take long; nothing is in flight yet, so a
                // shutdown simply abandons it.
                let connected = tokio::select! {
                    c = connect(&account, &creds) => c,
                    () = wait_shutdown(&mut shutdown) => break,
                };
                match connected {
                    Ok(c) => {
                        let c = conn.insert(c);
                        poll_session(c, &account, &*sink, &mut report, Some(&shutdown)).await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        pass_status(&status, &report, &account, &creds, &*sink).await;

        let wake = match result {
            Ok(()) => {
                failures = 0;
                update(&status, |s| s.last_success = Some(now()));
                match conn.take() {
                    Some(c) if c.caps.idle => {
                        // Wake in time to renew the token before the server drops the session.
                        let wait = match creds.tokens().and_then(|t| t.renew_in()) {
                            Some(renew) => interval.min(renew.max(Duration::from_secs(1))),
                            None => interval,
                        };
                        match idle_wait(c, &account, &report, wait, &mut shutdown).await {
                            Ok((c, wake)) => {
                                conn = Some(c);
                                Ok(wake)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    other => {
                        // No IDLE: a fresh login per pass beats a connection gone stale.
                        if let Some(c) = other {
                            c.logout().await;
                        }
                        Ok(sleep_or_shutdown(interval, &mut shutdown).await)
                    }
                }
            }
            Err(e) => Err(e),
        };

        match wake {
            Ok(Wake::Poll) => {}
            Ok(Wake::Shutdown) => break,
            Err(e) => {
                conn = None;
                failures = failures.saturating_add(1);
                let mut delay = backoff(failures);
                // Refused credentials will not fix themselves within seconds: no hammering.
                if e.is_permanent() {
                    delay = delay.max(auth_backoff);
                }
                tracing::warn!(account = %account.name, retry_in_ms = delay.as_millis() as u64, "IMAP poll failed: {e}");
                update(&status, |s| s.last_error = Some(stamped(&e.to_string())));
                if let Wake::Shutdown = sleep_or_shutdown(delay, &mut shutdown).await {
                    break;
                }
            }
        }
    }
    if let Some(c) = conn {
        c.logout().await;
    }
}

/// What a pass changes in the status: messages taken, skipped ones, the token's times.
async fn pass_status<S: ImapSink>(
    status: &Mutex<AccountStatus>,
    report: &PassReport,
    account: &ImapAccount,
    creds: &Credentials,
    sink: &S,
) {
    update(status, |s| s.messages_taken += report.taken as u64);
    token_status(creds, status);
    if let Some(last) = report.skipped.last() {
        let lines: Vec<String> = report
            .skipped
            .iter()
            .map(|s| describe_skip(&account.name, s))
            .collect();
        update(status, |s| {
            s.last_error = Some(stamped(&lines.join("; ")));
            s.last_skipped = Some(LastSkipped {
                at: now(),
                message: last.clone(),
            });
        });
    }
    match sink.skipped_count(&account.name).await {
        Ok(n) => update(status, |s| s.skipped_oversize = n),
        Err(e) => tracing::warn!(account = %account.name, "counting skipped messages: {e}"),
    }
}

/// Waits in IDLE on the first folder until it reports a change, the interval passes, or
/// shutdown. Returns the connection (back out of IDLE) for the next pass.
async fn idle_wait(
    mut conn: Conn,
    account: &ImapAccount,
    report: &PassReport,
    interval: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(Conn, Wake), ImapError> {
    let folder = &account.folders[0];
    let ctx = format!("SELECT {folder:?}");
    let mbox = step(&ctx, COMMAND_TIMEOUT, conn.session.select(folder)).await?;
    // Mail that arrived after the pass's SELECT would not be announced in IDLE: poll now.
    let seen = report.seen.get(folder).copied();
    if seen.is_none_or(|(uv, next)| mbox.uid_validity != Some(uv) || mbox.uid_next != next) {
        return Ok((conn, Wake::Poll));
    }
    let (caps, token_expires) = (conn.caps, conn.token_expires);
    let mut handle = conn.session.idle();
    step("IDLE", COMMAND_TIMEOUT, handle.init()).await?;
    let wake = {
        let (idle, _stop) = handle.wait_with_timeout(interval.min(IDLE_MAX));
        tokio::select! {
            r = idle => match r {
                // Timeout, new data, or the stream ended (DONE below then reports a dead link).
                Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt) => Wake::Poll,
                Err(e) => return Err(ImapError::from_imap("IDLE", e)),
            },
            () = wait_shutdown(shutdown) => Wake::Shutdown,
        }
    };
    let session = step("DONE", COMMAND_TIMEOUT, handle.done()).await?;
    let conn = Conn {
        session,
        caps,
        token_expires,
    };
    Ok((conn, wake))
}

/// When the token the open session signed in with is due, fetch a new one and sign in again
/// with it (servers such as Exchange Online end sessions whose token expired). If the token
/// endpoint fails, the session is kept for as long as the server keeps it.
async fn renew_token(
    conn: &mut Option<Conn>,
    creds: &Credentials,
    account: &ImapAccount,
    status: &Mutex<AccountStatus>,
) {
    let (Some(c), Some(tokens)) = (conn.as_ref(), creds.tokens()) else {
        return;
    };
    if c.token_expires.is_none() || !tokens.due() {
        return;
    }
    match tokens.refresh().await {
        Ok(_) => {
            if let Some(c) = conn.take() {
                c.logout().await;
            }
        }
        Err(e) => {
            let expired = c.token_expires.is_some_and(|at| Instant::now() >= at);
            tracing::warn!(account = %account.name, expired, "could not renew the OAuth2 token; keeping the session: {e}");
            update(status, |s| s.last_error = Some(stamped(&e.to_string())));
        }
    }
    token_status(creds, status);
}

fn token_status(creds: &Credentials, status: &Mutex<AccountStatus>) {
    if let Some(tokens) = creds.tokens() {
        let info = tokens.info();
        let rfc =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        update(status, |s| {
            s.token_refreshed_at = info.refreshed_at.map(rfc);
            s.token_expires_at = info.expires_at.map(rfc);
        });
    }
}

fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let full = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_CAP);
    // Jitter in [full/2, full] so accounts sharing a server do not retry in lockstep.
    let ms = full.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> Wake {
    tokio::select! {
        () = tokio::time::sleep(d) => Wake::Poll,
        () = wait_shutdown(shutdown) => Wake::Shutdown,
    }
}

/// Resolves once shutdown is requested or its sender is gone.
async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn update(status: &Mutex<AccountStatus>, f: impl FnOnce(&mut AccountStatus)) {
    // A panic elsewhere must not stop status updates.
    let mut guard = status.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard);
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn stamped(msg: &str) -> String {
    format!("{}: {msg}", now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        for n in 1..40 {
            let d = backoff(n);
            let full = BACKOFF_BASE
                .saturating_mul(1 << (n - 1).min(16))
                .min(BACKOFF_CAP);
            assert!(d <= full && d >= full / 2, "{n}: {d:?}");
        }
        assert!(backoff(100) <= BACKOFF_CAP);
    }
}
