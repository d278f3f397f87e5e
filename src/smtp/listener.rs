//! Accept loop: connection caps (overall and per client address), session
//! tasks, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::{run_session, Delivery, SmtpConfig};

const TOO_MANY_CONNECTIONS: &[u8] = b"421 4.3.2 Too many connections, try again later\r\n";
const TOO_MANY_FROM_YOU: &[u8] =
    b"421 4.7.0 Too many connections from your address, try again later\r\n";

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
    let per_ip = PerIp::new(config.max_connections_per_ip);
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
                    // Checked first: one address over its share must not take a global slot.
                    let Some(slot) = per_ip.claim(peer.ip()) else {
                        warn!(%peer, "connection refused: max_connections_per_ip reached");
                        reject(stream, TOO_MANY_FROM_YOU);
                        continue;
                    };
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, "connection refused: max_connections reached");
                        reject(stream, TOO_MANY_CONNECTIONS);
                        continue;
                    };
                    // Replies are already batched; Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    let delivery = Arc::clone(&delivery);
                    let config = Arc::clone(&config);
                    let stop = stop_rx.clone();
                    sessions.spawn(async move {
                        run_session(stream, peer, &*delivery, &config, stop).await;
                        drop((permit, slot));
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
fn reject(stream: TcpStream, line: &[u8]) {
    let _ = stream.try_write(line);
}

/// Live sessions per client address. IPv6 clients usually hold a whole /64,
/// so one counts as one address (as IPv4-mapped addresses count as IPv4).
#[derive(Clone)]
struct PerIp {
    max: usize,
    live: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A claimed per-address slot; released on drop.
struct IpSlot {
    key: IpAddr,
    live: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self {
            max,
            live: Arc::default(),
        }
    }

    fn claim(&self, ip: IpAddr) -> Option<IpSlot> {
        let key = client_key(ip);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let n = live.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            key,
            live: Arc::clone(&self.live),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = live.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.key);
            }
        }
    }
}

fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_released() {
        let per_ip = PerIp::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (s1, s2) = (per_ip.claim(a).unwrap(), per_ip.claim(a).unwrap());
        assert!(per_ip.claim(a).is_none());
        assert!(per_ip.claim("192.0.2.2".parse().unwrap()).is_some());
        drop(s1);
        let s3 = per_ip.claim(a).expect("a released slot is free again");
        drop((s2, s3));
        assert!(per_ip.live.lock().unwrap().is_empty());
        // One /64 is one client; a mapped IPv4 address is that IPv4 address.
        let v6 = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(v6("2001:db8::1"), v6("2001:db8::ffff:1"));
        assert_ne!(v6("2001:db8::1"), v6("2001:db8:0:1::1"));
        assert_eq!(v6("::ffff:192.0.2.1"), a);
    }
}
