use std::time::Duration;

/// What went wrong in one poll. Messages never contain the password, a secret or a token.
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
    /// No OAuth2 access token could be had; the message says what to check.
    #[error("{0}")]
    Token(#[from] super::oauth::TokenError),
}

impl ImapError {
    /// Whether retrying soon is pointless (bad credentials or config), for the caller's backoff.
    pub fn is_permanent(&self) -> bool {
        match self {
            ImapError::Auth { .. } | ImapError::Config(_) => true,
            ImapError::Token(e) => e.is_permanent(),
            _ => false,
        }
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

/// The server's words from async-imap's NO/BAD text (`code: Some(X), info: Some("...")`),
/// as `[X] ...`; other text is returned as it is.
pub(crate) fn server_words(reason: &str) -> String {
    let Some((code, info)) = reason
        .strip_prefix("code: ")
        .and_then(|r| r.split_once(", info: "))
    else {
        return reason.to_string();
    };
    let info = info
        .strip_prefix("Some(\"")
        .and_then(|i| i.strip_suffix("\")"))
        .map(|i| i.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_default();
    match code.strip_prefix("Some(").and_then(|c| c.strip_suffix(')')) {
        Some(c) => format!("[{c}] {info}").trim_end().to_string(),
        None => info,
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

#[cfg(test)]
mod tests {
    #[test]
    fn server_words_are_unwrapped() {
        use super::server_words;
        assert_eq!(
            server_words(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            server_words(r#"code: Some(Alert), info: Some("say \"hi\"")"#),
            "[Alert] say \"hi\""
        );
        assert_eq!(server_words("plain words"), "plain words");
    }
}
