//! The worker's sender-authentication step: once per message, on its first
//! processing, results are computed (SMTP: SPF/DKIM/DMARC over DNS; IMAP: the
//! mailbox server's Authentication-Results) and stored beside the message.
//! Every later processing (crash recovery, release) reuses the stored ones,
//! so a verdict never changes because DNS did.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::blobs::ContentStore;
use crate::config::Config;
use crate::domain::{AuthResults, AuthWord};
use crate::mail::auth::{self, Authenticator, SenderAuth, SmtpEnvelope};
use crate::store::{AuthInput, QueuedMessage, Store, StoreError};

/// Messages authenticated at once: DNS waits overlap, the resolver's
/// in-flight limit (32 per connection) is not reached.
const CONCURRENCY: usize = 16;

#[derive(Clone)]
pub struct SenderCheck {
    pub policy: SenderAuth,
    /// None when off, or when no resolver could be built (then: temperror).
    authenticator: Option<Arc<Authenticator>>,
    /// (IMAP account name, its authserv_id)
    authserv_ids: Arc<Vec<(String, Option<String>)>>,
    hostname: String,
}

impl SenderCheck {
    pub fn new(config: &Config) -> Self {
        let policy = config.archive.sender_auth;
        let authenticator = match policy {
            SenderAuth::Off => None,
            _ => match Authenticator::new(&config.auth) {
                Ok(a) => Some(Arc::new(a)),
                Err(e) => {
                    tracing::error!(error = %e, "no DNS resolver: SMTP mail is judged with temperror");
                    None
                }
            },
        };
        SenderCheck {
            policy,
            authenticator,
            authserv_ids: Arc::new(
                config
                    .imap
                    .accounts
                    .iter()
                    .map(|a| (a.name.clone(), a.authserv_id.clone()))
                    .collect(),
            ),
            hostname: config.smtp.hostname.clone(),
        }
    }

    /// No checks at all (`archive.sender_auth = "off"`).
    pub fn off() -> Self {
        SenderCheck {
            policy: SenderAuth::Off,
            authenticator: None,
            authserv_ids: Arc::default(),
            hostname: String::new(),
        }
    }

    /// The results of the batch's messages that the sender rules apply to
    /// (not released, not put there by a user), computed and stored if new.
    pub async fn results(
        &self,
        store: &Store,
        spool: &ContentStore,
        queued: &[QueuedMessage],
    ) -> Result<HashMap<i64, AuthResults>, StoreError> {
        let ids: Vec<i64> = queued
            .iter()
            .filter(|m| !m.released)
            .map(|m| m.id)
            .collect();
        if self.policy == SenderAuth::Off || ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut out = HashMap::new();
        let mut todo = Vec::new();
        for input in store.auth_inputs(&ids).await? {
            match input.stored.clone() {
                Some(r) => {
                    out.insert(input.id, r);
                }
                None if matches!(input.source.as_str(), "smtp" | "imap") => todo.push(input),
                None => {}
            }
        }
        let computed: Vec<(i64, AuthResults)> = futures_util::stream::iter(todo)
            .map(|input| self.compute(spool, input))
            .buffer_unordered(CONCURRENCY)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        store.save_message_auth(&computed).await?;
        out.extend(computed);
        Ok(out)
    }

    async fn compute(&self, spool: &ContentStore, input: AuthInput) -> Option<(i64, AuthResults)> {
        let spool = spool.clone();
        let sha = input.sha256.clone();
        // Unreadable bytes: the worker's own read fails and reports it.
        let raw = tokio::task::spawn_blocking(move || spool.get(&sha))
            .await
            .ok()?
            .ok()?;
        let from = crate::mail::sender_address(&raw);
        let results = if input.source == "imap" {
            let id = self.authserv_id(&input.peer);
            auth::from_results_headers(&raw, id, from.as_deref())
        } else {
            self.smtp(&raw, &input, from.as_deref()).await
        };
        Some((input.id, results))
    }

    async fn smtp(&self, raw: &[u8], input: &AuthInput, from: Option<&str>) -> AuthResults {
        let ip = input
            .peer
            .parse::<SocketAddr>()
            .map(|a| a.ip().to_canonical());
        match (&self.authenticator, ip) {
            (Some(a), Ok(ip)) => {
                let env = SmtpEnvelope {
                    ip,
                    helo: &input.helo,
                    mail_from: &input.mail_from,
                    host: &self.hostname,
                };
                a.check(raw, &env, from).await
            }
            (None, _) => unchecked(from, "no DNS resolver could be set up"),
            (_, Err(_)) => unchecked(from, "no client address recorded"),
        }
    }

    /// The authserv_id of the IMAP account a message came from (its peer is
    /// `imap:<account>/<folder>`).
    fn authserv_id(&self, peer: &str) -> Option<&str> {
        let rest = peer.strip_prefix("imap:")?;
        self.authserv_ids
            .iter()
            .filter(|(name, _)| {
                rest.strip_prefix(name.as_str())
                    .is_some_and(|f| f.starts_with('/'))
            })
            .max_by_key(|(name, _)| name.len())
            .and_then(|(_, id)| id.as_deref())
    }
}

fn unchecked(from: Option<&str>, why: &str) -> AuthResults {
    AuthResults {
        spf: AuthWord::TempError,
        dkim: AuthWord::TempError,
        dmarc: AuthWord::TempError,
        aligned: false,
        from_domain: from.and_then(auth::domain_of),
        dmarc_policy: None,
        spf_detail: format!("SPF not checked: {why}"),
        dkim_detail: format!("DKIM not checked: {why}"),
        via: "smtp".into(),
    }
}
