use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::ServerConfig;

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
    /// Time a client may take to send one command (from when the server
    /// waits for it until its line is complete), and each reply flush. Also
    /// the head start of a message body before `min_data_rate` applies.
    pub idle_timeout: Duration,
    /// Total length of a session; then `421 4.4.2`, even mid-transfer.
    pub session_timeout: Duration,
    /// A DATA/BDAT body must arrive at least this fast (bytes per second,
    /// averaged from its start, after an `idle_timeout` head start); 0: no floor.
    pub min_data_rate: u64,
    /// Commands per session (each command line, BDAT included) before `421 4.7.0`.
    pub max_commands: usize,
    /// Concurrent sessions in [`serve`](super::serve); extra connections get 421.
    pub max_connections: usize,
    /// Concurrent sessions from one client address (an IPv6 /64 counts as
    /// one address); extra connections get `421 4.7.0` without using a slot.
    pub max_connections_per_ip: usize,
    /// Bad commands (5xx protocol errors, unknown recipients) before `421 4.7.0`.
    pub max_errors: usize,
    /// How long [`serve`](super::serve) waits for in-flight sessions after
    /// shutdown before aborting them.
    pub shutdown_grace: Duration,
    /// STARTTLS is offered when set.
    pub tls: Option<Arc<ServerConfig>>,
    /// MAIL before STARTTLS gets `530 5.7.0`.
    pub require_tls: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_bytes: 4096,
            idle_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(600),
            min_data_rate: 500,
            max_commands: 1000,
            max_connections: 256,
            max_connections_per_ip: 20,
            max_errors: 10,
            shutdown_grace: Duration::from_secs(30),
            tls: None,
            require_tls: false,
        }
    }
}

impl SmtpConfig {
    pub(super) fn line_limit(&self) -> usize {
        self.max_line_bytes.max(MIN_LINE_BYTES)
    }
}
