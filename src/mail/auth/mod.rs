//! Sender authentication: SPF, DKIM and DMARC for mail received over SMTP
//! (Stalwart's `mail-auth` over a hickory resolver), the mailbox server's own
//! `Authentication-Results` for mail collected over IMAP, and the policy that
//! turns results into a quarantine reason.

mod dns;
mod policy;
mod results_header;
mod verify;

pub use crate::config::{AuthConfig, SenderAuth};
pub use policy::judge;
pub use results_header::from_results_headers;
pub use verify::{Authenticator, SmtpEnvelope};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConf(String),
    #[error("cannot build the DNS resolver: {0}")]
    Resolver(String),
}

/// Relaxed alignment without a DMARC record to name the organizational
/// domain: the same domain, or one a parent of the other.
pub(crate) fn relaxed_aligned(a: &str, b: &str) -> bool {
    let (a, b) = (
        a.trim_end_matches('.').to_ascii_lowercase(),
        b.trim_end_matches('.').to_ascii_lowercase(),
    );
    !a.is_empty()
        && !b.is_empty()
        && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
}

/// The domain part of an address (lowercased), if it has one.
pub(crate) fn domain_of(address: &str) -> Option<String> {
    let (_, d) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_alignment_is_same_domain_or_parent() {
        assert!(relaxed_aligned("team.example", "TEAM.example."));
        assert!(relaxed_aligned("mail.team.example", "team.example"));
        assert!(relaxed_aligned("team.example", "eu.team.example"));
        assert!(!relaxed_aligned("evilteam.example", "team.example"));
        assert!(!relaxed_aligned("other.example", "team.example"));
        assert!(!relaxed_aligned("", "team.example"));
        assert_eq!(
            domain_of("<Sam@Team.Example>").as_deref(),
            Some("team.example")
        );
        assert_eq!(domain_of("nobody"), None);
    }
}
