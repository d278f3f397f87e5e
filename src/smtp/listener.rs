//! Accept loop: connection cap, session tasks, graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::{run_session, Delivery, SmtpConfig};

const TOO_MANY_CONNECTIONS: &[u8] = b"421 4.3.2 Too many connections, try again later\r\n";

/// Pause after an accept error that is not about one connection (e.g. EMFILE),
/// so the loop does not spin while the process is out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept loop. Stops accepting when `shutdown` resolves, then lets in-flight sessions finish
/// (they answer 421 4.3.2 to the next command and close; a message whose DATA is already
/// being delivered completes) for up to `config.shutdown_grace`, aborts the rest, then returns.
///
/// Accept errors are logged and retried, so in practice this returns `Ok`.
pub async fn serve<D: Delivery>(
    listener: TcpListener,
    delivery: Arc<D>,
    config: Arc<SmtpConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(
        config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let mut sessions = JoinSet::new();
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "smtp listening");
    }
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = sessions.join_next(), if !sessions.is_empty() => log_join(joined),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, "connection refused: max_connections reached");
                        reject(stream);
                        continue;
                    };
                    // Replies are already batched; Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    let delivery = Arc::clone(&delivery);
                    let config = Arc::clone(&config);
                    let stop = stop_rx.clone();
                    sessions.spawn(async move {
                        run_session(stream, peer, &*delivery, &config, stop).await;
                        drop(permit);
                    });
                }
                Err(e) if is_per_connection(&e) => warn!(error = %e, "accept failed"),
                Err(e) => {
                    error!(error = %e, "accept failed; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }

    drop(listener);
    stop_tx.send_replace(true);
    info!(sessions = sessions.len(), "smtp shutting down");
    let drain = async {
        while let Some(joined) = sessions.join_next().await {
            log_join(joined);
        }
    };
    if tokio::time::timeout(config.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            sessions = sessions.len(),
            "shutdown grace period over; aborting sessions"
        );
        sessions.shutdown().await;
    }
    info!("smtp stopped");
    Ok(())
}

/// Best effort, without blocking the accept loop: a fresh socket's send
/// buffer is empty, so one non-blocking write normally takes the whole line.
fn reject(stream: TcpStream) {
    let _ = stream.try_write(TOO_MANY_CONNECTIONS);
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            error!("smtp session panicked");
        }
    }
}
