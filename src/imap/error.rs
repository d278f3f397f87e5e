use std::time::Duration;

/// What went wrong in one poll. Messages never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("configuration: {0}")]
    Config(String),
    /// TCP connect or greeting failed (server down, DNS, refused).
    #[error("connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    /// The server rejected the credentials (LOGIN answered NO).
    #[error("authentication failed for {user}: {reason}")]
    Auth { user: String, reason: String },
    /// The server answered NO/BAD or something unparseable to a command.
    #[error("IMAP {context}: {reason}")]
    Protocol { context: String, reason: String },
    /// The connection broke mid-session.
    #[error("I/O during {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {}s during {context}", .after.as_secs())]
    Timeout { context: String, after: Duration },
    /// The sink refused a message; nothing was done to it on the server.
    #[error("sink refused message: {0}")]
    Sink(String),
}

impl ImapError {
    /// Whether retrying soon is pointless (bad credentials or config), for the caller's backoff.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ImapError::Auth { .. } | ImapError::Config(_))
    }

    pub(crate) fn from_imap(context: &str, e: async_imap::error::Error) -> ImapError {
        use async_imap::error::Error as E;
        let context = context.to_string();
        match e {
            E::Io(source) => ImapError::Io { context, source },
            E::ConnectionLost => ImapError::Io {
                context,
                source: std::io::ErrorKind::UnexpectedEof.into(),
            },
            other => ImapError::Protocol {
                context,
                reason: other.to_string(),
            },
        }
    }
}

/// Wraps one IMAP step with a deadline and maps its error, so a silent peer cannot hang a poll.
pub(crate) async fn step<T, F>(context: &str, after: Duration, fut: F) -> Result<T, ImapError>
where
    F: std::future::Future<Output = Result<T, async_imap::error::Error>>,
{
    match tokio::time::timeout(after, fut).await {
        Ok(r) => r.map_err(|e| ImapError::from_imap(context, e)),
        Err(_) => Err(ImapError::Timeout {
            context: context.to_string(),
            after,
        }),
    }
}
