//! Sender authentication results as stored beside a message and shown on its
//! entries: RFC 8601 result words, whether the From domain was aligned, and
//! the details an admin needs to judge a quarantined mail.

use serde::{Deserialize, Serialize};

/// An RFC 8601 result word (SPF, DKIM and DMARC share this vocabulary;
/// `softfail` and `neutral` occur for SPF and DKIM only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthWord {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl AuthWord {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthWord::Pass => "pass",
            AuthWord::Fail => "fail",
            AuthWord::SoftFail => "softfail",
            AuthWord::Neutral => "neutral",
            AuthWord::None => "none",
            AuthWord::TempError => "temperror",
            AuthWord::PermError => "permerror",
        }
    }

    /// Parses a result word as written in an Authentication-Results header
    /// (case-insensitive; RFC 7601's `hardfail` is SPF `fail`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "pass" => AuthWord::Pass,
            "fail" | "hardfail" => AuthWord::Fail,
            "softfail" => AuthWord::SoftFail,
            "neutral" | "policy" => AuthWord::Neutral,
            "none" => AuthWord::None,
            "temperror" => AuthWord::TempError,
            "permerror" => AuthWord::PermError,
            _ => return None,
        })
    }
}

impl std::fmt::Display for AuthWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What sender authentication found for one message. Computed once, on the
/// first processing, and kept: a later DNS change never changes a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResults {
    pub spf: AuthWord,
    pub dkim: AuthWord,
    pub dmarc: AuthWord,
    /// An SPF or DKIM pass for a domain aligned with the From domain (by the
    /// domain's DMARC record when it has one, else relaxed: the same domain
    /// or a parent or child of it).
    pub aligned: bool,
    /// The domain of the From address the team check uses.
    pub from_domain: Option<String>,
    /// `none`, `quarantine` or `reject` when the From domain publishes DMARC.
    pub dmarc_policy: Option<String>,
    /// E.g. "SPF fail for 127.0.0.2 (team.example)".
    pub spf_detail: String,
    /// E.g. "no valid DKIM signature" or "DKIM pass for team.example".
    pub dkim_detail: String,
    /// `smtp` (checked by dossier on receipt) or `authentication-results`
    /// (taken from the mailbox server's header, IMAP).
    pub via: String,
}

impl AuthResults {
    /// Something failed outright: a DMARC, SPF or DKIM `fail`.
    pub fn looks_spoofed(&self) -> bool {
        [self.dmarc, self.spf, self.dkim].contains(&AuthWord::Fail)
    }
}
