//! SPF (MAIL FROM, or HELO for a null sender), DKIM and DMARC for a message
//! received over SMTP, as stored `AuthResults`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mail_auth::dkim::DkimError;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcOutput, DmarcResult, MessageAuthenticator,
    Parameters, SpfOutput, SpfResult,
};

use super::dns::{self, TxtCache};
use super::{domain_of, relaxed_aligned, AuthConfig, AuthError};
use crate::domain::{AuthResults, AuthWord};

/// What the SMTP session saw of the client.
pub struct SmtpEnvelope<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// Empty for a null reverse path (bounces): SPF then checks the HELO name.
    pub mail_from: &'a str,
    /// Our own host name (`smtp.hostname`), for SPF's %{r} macro.
    pub host: &'a str,
}

/// One per process: the resolver, its caches and the unreachable flag.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    txt: TxtCache,
    timeout: Duration,
}

impl Authenticator {
    pub fn new(cfg: &AuthConfig) -> Result<Self, AuthError> {
        Ok(Authenticator {
            resolver: dns::resolver(cfg)?,
            txt: TxtCache::new(
                cfg.dns_cache_entries,
                Duration::from_secs(cfg.dns_retry_secs),
            ),
            timeout: Duration::from_millis(cfg.dns_timeout_ms),
        })
    }

    /// Checks a message; `from_address` is the From address the team check
    /// uses, so DMARC judges exactly the identity that decides who is team.
    pub async fn check(
        &self,
        raw: &[u8],
        env: &SmtpEnvelope<'_>,
        from_address: Option<&str>,
    ) -> AuthResults {
        let started = Instant::now();
        let spf = self
            .resolver
            .verify_spf(
                Parameters::new(SpfParameters::verify_mail_from(
                    env.ip,
                    env.helo,
                    env.host,
                    env.mail_from,
                ))
                .with_txt_cache(&self.txt),
            )
            .await;
        let from_domain = from_address.and_then(domain_of);
        let results = match AuthenticatedMessage::parse(raw) {
            Some(mut message) => {
                message.from = from_address.map(str::to_lowercase).into_iter().collect();
                self.check_message(&message, env, &spf, from_domain).await
            }
            None => judged(&spf, env.ip, &[], None, from_domain),
        };
        let words = [results.spf, results.dkim, results.dmarc];
        if words.contains(&AuthWord::TempError) && started.elapsed() >= self.timeout {
            // A query ran into the timeout: spare the next messages the wait.
            tracing::warn!(
                timeout_ms = self.timeout.as_millis() as u64,
                "DNS did not answer; sender authentication reports temperror for a while"
            );
            self.txt.mark_unreachable();
        }
        results
    }

    async fn check_message(
        &self,
        message: &AuthenticatedMessage<'_>,
        env: &SmtpEnvelope<'_>,
        spf: &SpfOutput,
        from_domain: Option<String>,
    ) -> AuthResults {
        let dkim = self
            .resolver
            .verify_dkim(Parameters::new(message).with_txt_cache(&self.txt))
            .await;
        let mail_from_domain = domain_of(env.mail_from).unwrap_or_else(|| env.helo.to_owned());
        let dmarc = match from_domain {
            Some(_) => Some(
                self.resolver
                    .verify_dmarc(
                        Parameters::new(DmarcParameters {
                            message,
                            dkim_output: &dkim,
                            dkim2_output: None,
                            rfc5321_mail_from_domain: &mail_from_domain,
                            spf_output: spf,
                        })
                        .with_txt_cache(&self.txt),
                    )
                    .await,
            ),
            None => None,
        };
        judged(spf, env.ip, &dkim, dmarc.as_ref(), from_domain)
    }
}

/// Turns mail-auth's outputs into the stored words and details.
fn judged(
    spf: &SpfOutput,
    ip: IpAddr,
    dkim: &[DkimOutput<'_>],
    dmarc: Option<&DmarcOutput>,
    from_domain: Option<String>,
) -> AuthResults {
    let spf_word = spf_word(spf.result());
    let record = dmarc.and_then(|d| d.dmarc_record());
    let aligned = match (dmarc, record) {
        (Some(d), Some(_)) => {
            *d.spf_result() == DmarcResult::Pass || *d.dkim_result() == DmarcResult::Pass
        }
        // No DMARC record: relaxed alignment by domain name.
        _ => from_domain.as_deref().is_some_and(|from| {
            (spf_word == AuthWord::Pass && relaxed_aligned(spf.domain(), from))
                || dkim.iter().any(|o| {
                    *o.result() == DkimResult::Pass
                        && o.signature().is_some_and(|s| relaxed_aligned(&s.d, from))
                })
        }),
    };
    AuthResults {
        spf: spf_word,
        dkim: dkim_word(dkim),
        dmarc: dmarc.map_or(AuthWord::None, |d| dmarc_word(&d.result())),
        aligned,
        dmarc_policy: record
            .and(dmarc)
            .map(|d| policy_word(d.policy()).to_owned()),
        from_domain,
        spf_detail: format!("SPF {spf_word} for {ip} ({})", spf.domain()),
        dkim_detail: dkim_detail(dkim),
        via: "smtp".into(),
    }
}

fn spf_word(r: SpfResult) -> AuthWord {
    match r {
        SpfResult::Pass => AuthWord::Pass,
        SpfResult::Fail => AuthWord::Fail,
        SpfResult::SoftFail => AuthWord::SoftFail,
        SpfResult::Neutral => AuthWord::Neutral,
        SpfResult::TempError => AuthWord::TempError,
        SpfResult::PermError => AuthWord::PermError,
        SpfResult::None => AuthWord::None,
    }
}

fn dkim_result_word(r: &DkimResult) -> AuthWord {
    match r {
        DkimResult::Pass => AuthWord::Pass,
        // mail-auth (like OpenDKIM) says neutral for a body that no longer
        // matches its signature; it was verified and failed (RFC 6376 §6.1.3).
        DkimResult::Neutral(mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch)) => {
            AuthWord::Fail
        }
        DkimResult::Neutral(_) => AuthWord::Neutral,
        DkimResult::Fail(_) => AuthWord::Fail,
        DkimResult::PermError(_) => AuthWord::PermError,
        DkimResult::TempError(_) => AuthWord::TempError,
        DkimResult::None => AuthWord::None,
    }
}

/// One word for all signatures: any pass wins; else the most telling failure.
pub(super) fn combine(words: impl IntoIterator<Item = AuthWord>) -> AuthWord {
    let rank = |w: &AuthWord| match w {
        AuthWord::Pass => 0,
        AuthWord::Fail => 1,
        AuthWord::TempError => 2,
        AuthWord::PermError => 3,
        AuthWord::SoftFail => 4,
        AuthWord::Neutral => 5,
        AuthWord::None => 6,
    };
    words.into_iter().min_by_key(rank).unwrap_or(AuthWord::None)
}

fn dkim_word(dkim: &[DkimOutput<'_>]) -> AuthWord {
    combine(dkim.iter().map(|o| dkim_result_word(o.result())))
}

fn dkim_detail(dkim: &[DkimOutput<'_>]) -> String {
    let d = |o: &DkimOutput<'_>| o.signature().map_or("?".to_owned(), |s| s.d.clone());
    let passed: Vec<String> = dkim
        .iter()
        .filter(|o| *o.result() == DkimResult::Pass)
        .map(d)
        .collect();
    if !passed.is_empty() {
        return format!("DKIM pass for {}", passed.join(", "));
    }
    if dkim.is_empty() {
        return "no DKIM signature".into();
    }
    let failed: Vec<String> = dkim
        .iter()
        .map(|o| {
            let why = match o.result() {
                DkimResult::Neutral(e)
                | DkimResult::Fail(e)
                | DkimResult::PermError(e)
                | DkimResult::TempError(e) => format!(": {e}"),
                _ => String::new(),
            };
            format!("{} for {}{why}", dkim_result_word(o.result()), d(o))
        })
        .collect();
    format!("no valid DKIM signature ({})", failed.join("; "))
}

fn dmarc_word(r: &DmarcResult) -> AuthWord {
    match r {
        DmarcResult::Pass => AuthWord::Pass,
        DmarcResult::Fail(_) => AuthWord::Fail,
        DmarcResult::TempError(_) => AuthWord::TempError,
        DmarcResult::PermError(_) => AuthWord::PermError,
        DmarcResult::None => AuthWord::None,
    }
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_for_several_signatures() {
        use AuthWord::*;
        assert_eq!(combine([Fail, Pass]), Pass);
        assert_eq!(combine([Neutral, Fail, TempError]), Fail);
        assert_eq!(combine([PermError, TempError]), TempError);
        assert_eq!(combine([]), None);
    }
}
