//! The resolver mail-auth queries: configured servers (or the system's), one
//! short attempt per query, and a TXT cache that also remembers that DNS is
//! unreachable, so a dead resolver costs one timeout per `dns_retry_secs`,
//! not one per message.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::{DnsError, MessageAuthenticator, ResolverCache, Txt};

use super::{AuthConfig, AuthError};

/// What a lookup answers while DNS counts as unreachable.
pub(super) const UNREACHABLE: &str = "DNS unreachable (a recent query timed out)";

pub(super) fn resolver(cfg: &AuthConfig) -> Result<MessageAuthenticator, AuthError> {
    let (config, mut opts) = if cfg.dns_servers.is_empty() {
        read_system_conf().map_err(|e| AuthError::SystemConf(e.to_string()))?
    } else {
        let servers = cfg
            .dns_servers
            .iter()
            .map(|a| {
                let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                udp.port = a.port();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        (
            ResolverConfig::from_parts(None, vec![], servers),
            ResolverOpts::default(),
        )
    };
    opts.timeout = Duration::from_millis(cfg.dns_timeout_ms.max(1));
    // One try per query: the breaker below, not retries, copes with outages.
    opts.attempts = 0;
    opts.try_tcp_on_error = false;
    opts.cache_size = cfg.dns_cache_entries as u64;
    opts.use_hosts_file = ResolveHosts::Never;
    MessageAuthenticator::new(config, opts).map_err(|e| AuthError::Resolver(e.to_string()))
}

/// Parsed TXT records (SPF, DKIM keys, DMARC) until their TTL ends, bounded
/// in count; plus the "DNS is down" flag every lookup consults first.
pub(super) struct TxtCache {
    entries: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
    capacity: usize,
    down_until: Mutex<Option<Instant>>,
    retry: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only a cache: a panic elsewhere leaves its data usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TxtCache {
    pub(super) fn new(capacity: usize, retry: Duration) -> Self {
        TxtCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            down_until: Mutex::new(None),
            retry,
        }
    }

    /// A query timed out: answer `temperror` without asking for a while.
    pub(super) fn mark_unreachable(&self) {
        *lock(&self.down_until) = Some(Instant::now() + self.retry);
    }

    pub(super) fn unreachable(&self) -> bool {
        lock(&self.down_until).is_some_and(|t| Instant::now() < t)
    }
}

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some((txt, until)) = lock(&self.entries).get(name) {
            if Instant::now() < *until {
                return Some(txt.clone());
            }
        }
        // Records cached before an outage keep working; the rest fail fast.
        self.unreachable().then(|| {
            Txt::Error(mail_auth::Error::Dns(DnsError::Resolver(
                UNREACHABLE.into(),
            )))
        })
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        lock(&self.entries).remove(name).map(|(t, _)| t)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        let mut entries = lock(&self.entries);
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                // Full of live entries: start over rather than track recency.
                entries.clear();
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_expires_bounds_and_fails_fast_while_dns_is_down() {
        let cache = TxtCache::new(2, Duration::from_secs(60));
        let later = Instant::now() + Duration::from_secs(60);
        let err = || Txt::Error(mail_auth::Error::ParseError);
        cache.insert("a.".into(), err(), later);
        cache.insert("old.".into(), err(), Instant::now());
        assert!(cache.get("a.").is_some());
        assert!(cache.get("old.").is_none(), "expired");
        cache.insert("b.".into(), err(), later);
        assert!(cache.get("b.").is_some());
        assert!(cache.get("c.").is_none(), "not cached, DNS up: ask");
        cache.mark_unreachable();
        assert!(cache.unreachable());
        assert!(cache.get("b.").is_some());
        match cache.get("c.") {
            Some(Txt::Error(mail_auth::Error::Dns(DnsError::Resolver(m)))) => {
                assert_eq!(m, UNREACHABLE)
            }
            _ => panic!("expected the unreachable error"),
        }
    }
}
