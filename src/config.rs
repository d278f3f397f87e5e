//! Layered configuration: built-in `config/default.toml` < `--config FILE` <
//! environment `DOSSIER_<SECTION>__<KEY>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// The documented defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub smtp: SmtpSection,
    pub storage: StorageConfig,
    pub index: IndexConfig,
    pub archive: ArchiveConfig,
    pub cards: CardsConfig,
    pub history: HistoryConfig,
    pub imap: ImapSection,
    pub ingest: IngestConfig,
    pub extract: ExtractConfig,
    pub search: SearchConfig,
    pub auth: AuthConfig,
    pub quarantine: QuarantineConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// Total raw size the quarantine may hold; past it, SMTP mail that would
    /// land there gets 452 4.3.1.
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsConfig {
    pub default_visibility: Visibility,
    /// The statuses a card can have; the first is a new card's.
    pub statuses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Minutes an author may edit their own manual entry (0: never).
    pub edit_window_minutes: u64,
    /// Largest document upload.
    pub max_document_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Everyone,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Private => "private",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSection {
    pub accounts: Vec<crate::imap::ImapAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub listen: SocketAddr,
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_line_bytes: usize,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub session_timeout_secs: u64,
    pub min_data_bytes_per_sec: u64,
    pub max_commands_per_session: usize,
    pub spool_threshold_bytes: usize,
    pub max_errors: usize,
    pub shutdown_grace_secs: u64,
    /// PEM certificate chain for STARTTLS; with `tls_key`. Neither set: a
    /// self-signed pair is generated in `<data_dir>/tls`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    pub require_tls: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Below this much free space on the data disk, new mail and uploads are refused.
    pub min_free_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    pub dir: PathBuf,
    pub writer_memory_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    pub domain: String,
    pub team_domains: Vec<String>,
    pub accept_from: AcceptFrom,
    /// SPF/DKIM/DMARC policy: `off`, `dmarc` or `aligned`.
    pub sender_auth: SenderAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptFrom {
    Team,
    Anyone,
}

/// `archive.sender_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderAuth {
    /// No checks; the team rule alone decides.
    Off,
    /// Mail failing the DMARC policy its From domain publishes is quarantined.
    #[default]
    Dmarc,
    /// Also: a team sender counts as team only with an aligned SPF or DKIM pass.
    Aligned,
}

/// The `[auth]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Resolvers as `ip:port`; empty: the system's (/etc/resolv.conf).
    pub dns_servers: Vec<SocketAddr>,
    /// How long one DNS query may take.
    pub dns_timeout_ms: u64,
    /// Answers kept (parsed TXT records and the resolver's response cache).
    pub dns_cache_entries: usize,
    /// After a query timed out, DNS counts as unreachable for this long: mail
    /// is judged with `temperror` at once instead of waiting per message.
    pub dns_retry_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub batch_size: u32,
    pub batch_max_bytes: u64,
    pub poll_interval_secs: u64,
    pub max_attempts: u32,
    pub max_mime_parts: usize,
    pub max_mime_depth: usize,
    pub max_header_bytes: usize,
}

/// Attachment text, extracted in a child process under these limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    pub memory_bytes: u64,
    pub timeout_secs: u64,
    pub max_concurrent: usize,
    pub max_text_bytes_per_message: usize,
    pub max_file_bytes: u64,
    pub max_unzipped_bytes: u64,
    /// The binary run as `PROGRAM extract`; empty: this very binary.
    pub program: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    pub timeout_ms: u64,
    pub max_prefix_terms: usize,
    pub max_depth: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (if any), then `DOSSIER_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            fig = fig.merge(Toml::file(path));
        }
        // Only SECTION__KEY variables are settings; DOSSIER_IMAP_<NAME>_CLIENT_SECRET and the
        // like are secrets the IMAP poller reads itself.
        fig = fig.merge(
            Env::prefixed("DOSSIER_")
                .split("__")
                .filter(|k| k.as_str().contains('.')),
        );
        Self::from_figment(fig)
    }

    /// Defaults with overrides given as (dotted key, TOML value) pairs; used by tests
    /// so they never depend on the process environment.
    pub fn with_overrides(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        for (key, value) in pairs {
            let (section, field) = key
                .split_once('.')
                .ok_or_else(|| ConfigError::Invalid(format!("bad key {key}")))?;
            fig = fig.merge(Toml::string(&format!("[{section}]\n{field} = {value}\n")));
        }
        Self::from_figment(fig)
    }

    fn from_figment(fig: Figment) -> Result<Self, ConfigError> {
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for d in &mut cfg.archive.team_domains {
            *d = d.trim().to_ascii_lowercase();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let domain = &self.archive.domain;
        if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid(format!(
                "archive.domain {domain:?} is not a domain name"
            )));
        }
        if let Some(d) = self
            .archive
            .team_domains
            .iter()
            .find(|d| d.is_empty() || d.contains('@') || d.contains(char::is_whitespace))
        {
            return Err(ConfigError::Invalid(format!(
                "archive.team_domains entry {d:?} is not a domain name"
            )));
        }
        let mut names = std::collections::HashSet::new();
        for a in &self.imap.accounts {
            a.validate()
                .map_err(|e| ConfigError::Invalid(format!("imap account {:?}: {e}", a.name)))?;
            if !names.insert(a.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "imap account name {:?} is used twice",
                    a.name
                )));
            }
        }
        if self.smtp.max_line_bytes < 512 {
            return Err(ConfigError::Invalid(
                "smtp.max_line_bytes must be at least 512 (RFC 5321)".into(),
            ));
        }
        let smtp = &self.smtp;
        if smtp.max_recipients == 0
            || smtp.max_connections == 0
            || smtp.max_connections_per_ip == 0
            || smtp.max_commands_per_session == 0
            || smtp.session_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "smtp.max_recipients, max_connections, max_connections_per_ip, \
                 max_commands_per_session and session_timeout_secs must be positive"
                    .into(),
            ));
        }
        if smtp.tls_cert.is_some() != smtp.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "smtp.tls_cert and smtp.tls_key must be set together (or neither, for a \
                 generated self-signed certificate)"
                    .into(),
            ));
        }
        let statuses = &self.cards.statuses;
        if statuses.is_empty()
            || statuses.iter().any(|s| {
                s.is_empty() || s.len() > 64 || s.contains(|c: char| c.is_whitespace() || c == ',')
            })
        {
            return Err(ConfigError::Invalid(
                "cards.statuses must list at least one status, each without spaces or commas"
                    .into(),
            ));
        }
        // Ten years; beyond that the window is "forever" for any purpose.
        if self.history.edit_window_minutes > 10 * 366 * 24 * 60 {
            return Err(ConfigError::Invalid(
                "history.edit_window_minutes must be at most ten years".into(),
            ));
        }
        if self.history.max_document_bytes == 0 {
            return Err(ConfigError::Invalid(
                "history.max_document_bytes must be positive".into(),
            ));
        }
        if !(1..=60_000).contains(&self.auth.dns_timeout_ms) || self.auth.dns_cache_entries == 0 {
            return Err(ConfigError::Invalid(
                "auth.dns_timeout_ms must be 1..=60000 and auth.dns_cache_entries positive".into(),
            ));
        }
        if self.ingest.batch_size == 0 {
            return Err(ConfigError::Invalid(
                "ingest.batch_size must be positive".into(),
            ));
        }
        Ok(())
    }

    pub fn db_path(&self) -> PathBuf {
        self.storage.data_dir.join("dossier.sqlite3")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.storage.data_dir.join("spool")
    }
    pub fn blob_dir(&self) -> PathBuf {
        self.storage.data_dir.join("blobs")
    }
    pub fn admin_token_path(&self) -> PathBuf {
        self.storage.data_dir.join("admin-token")
    }
    /// Where the self-signed STARTTLS pair is generated.
    pub fn tls_dir(&self) -> PathBuf {
        self.storage.data_dir.join("tls")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_the_documented_values() {
        let c = Config::with_overrides(&[]).unwrap();
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.smtp.listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.storage.data_dir, PathBuf::from("data"));
        assert_eq!(c.index.dir, PathBuf::from("index"));
        assert_eq!(c.archive.domain, "archive.localhost");
        assert_eq!(c.smtp.max_connections_per_ip, 20);
        assert_eq!(c.smtp.session_timeout_secs, 600);
        assert!(c.smtp.tls_cert.is_none() && !c.smtp.require_tls);
    }

    #[test]
    fn overrides_apply_and_bad_values_are_rejected() {
        let c = Config::with_overrides(&[("smtp.listen", "\"127.0.0.1:2600\"")]).unwrap();
        assert_eq!(c.smtp.listen.to_string(), "127.0.0.1:2600");
        assert!(Config::with_overrides(&[("smtp.listen", "\"nope\"")]).is_err());
        assert!(Config::with_overrides(&[("archive.domain", "\"a@b\"")]).is_err());
        assert!(Config::with_overrides(&[("smtp.bogus", "1")]).is_err());
        assert!(Config::with_overrides(&[("smtp.tls_cert", "\"/x.pem\"")]).is_err());
        assert!(Config::with_overrides(&[("smtp.max_connections_per_ip", "0")]).is_err());
    }

    #[test]
    fn environment_settings_apply_and_secret_variables_are_left_alone() {
        std::env::set_var("DOSSIER_SMTP__MAX_RECIPIENTS", "7");
        std::env::set_var("DOSSIER_IMAP_CFGTEST_CLIENT_SECRET", "not a setting");
        let c = Config::load(None);
        std::env::remove_var("DOSSIER_SMTP__MAX_RECIPIENTS");
        std::env::remove_var("DOSSIER_IMAP_CFGTEST_CLIENT_SECRET");
        assert_eq!(c.unwrap().smtp.max_recipients, 7);
    }
}
