use std::time::Duration;

/// RFC 5321 §4.5.3.1.4: a command line may be 512 octets including CRLF, so
/// a smaller limit would reject conforming clients.
pub(super) const MIN_LINE_BYTES: usize = 512;

/// Limits and identity of the SMTP listener.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Used in the greeting, EHLO/HELO replies and 421 texts. Trusted input.
    pub hostname: String,
    /// Announced in EHLO `SIZE` and enforced on the received bytes (after
    /// dot-unstuffing for DATA, sum of chunks for BDAT).
    pub max_message_bytes: usize,
    /// Distinct accepted recipients per transaction.
    pub max_recipients: usize,
    /// Command line limit including CRLF; values below 512 are raised to 512.
    pub max_line_bytes: usize,
    /// Applies to every read (command or message data) and every reply flush.
    pub idle_timeout: Duration,
    /// Concurrent sessions in [`serve`](super::serve); extra connections get 421.
    pub max_connections: usize,
    /// Bad commands (5xx protocol errors, unknown recipients) before `421 4.7.0`.
    pub max_errors: usize,
    /// How long [`serve`](super::serve) waits for in-flight sessions after
    /// shutdown before aborting them.
    pub shutdown_grace: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_bytes: 4096,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
            max_errors: 10,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl SmtpConfig {
    pub(super) fn line_limit(&self) -> usize {
        self.max_line_bytes.max(MIN_LINE_BYTES)
    }
}
