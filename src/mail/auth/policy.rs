//! `archive.sender_auth` and `archive.accept_from` together: whether a
//! message goes to the quarantine, and the reason an admin reads there.

use super::SenderAuth;
use crate::domain::{AuthResults, AuthWord};

/// The quarantine reason for a message, or None when it may be archived.
/// `team_only`: `archive.accept_from = "team"`; `is_team`: the From address
/// belongs to the team; `auth`: the message's stored results, if any.
pub fn judge(
    policy: SenderAuth,
    team_only: bool,
    sender: Option<&str>,
    is_team: bool,
    auth: Option<&AuthResults>,
) -> Option<String> {
    let who = sender.unwrap_or("an unknown sender");
    if policy != SenderAuth::Off {
        // A failed DMARC check means a published policy was failed: the From
        // domain is not who sent this, whatever the team check would say.
        if let Some(a) = auth.filter(|a| a.dmarc == AuthWord::Fail) {
            return Some(format!(
                "DMARC fail for {} (p={}): {}, {}",
                a.from_domain.as_deref().unwrap_or("?"),
                a.dmarc_policy.as_deref().unwrap_or("?"),
                a.spf_detail,
                a.dkim_detail
            ));
        }
    }
    if policy == SenderAuth::Aligned && is_team && !auth.is_some_and(|a| a.aligned) {
        let why = auth.map_or("no authentication results".to_owned(), |a| {
            format!("{}, {}", a.spf_detail, a.dkim_detail)
        });
        return Some(format!(
            "team sender {who} has no aligned SPF or DKIM pass: {why} (archive.sender_auth = \"aligned\")"
        ));
    }
    if team_only && !is_team {
        return Some(format!(
            "sender {who} is not a team member (archive.accept_from = \"team\")"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(spf: AuthWord, dmarc: AuthWord, aligned: bool) -> AuthResults {
        AuthResults {
            spf,
            dkim: AuthWord::None,
            dmarc,
            aligned,
            from_domain: Some("team.example".into()),
            dmarc_policy: (dmarc != AuthWord::None).then(|| "reject".into()),
            spf_detail: format!("SPF {spf} for 127.0.0.2 (team.example)"),
            dkim_detail: "no DKIM signature".into(),
            via: "smtp".into(),
        }
    }

    #[test]
    fn each_policy_against_each_outcome() {
        use AuthWord::*;
        use SenderAuth::*;
        let sam = Some("sam@team.example");
        let spoofed = results(Fail, Fail, false);
        let offline = results(TempError, TempError, false);
        let good = results(Pass, Pass, true);
        let no_records = results(None, None, false);
        // dmarc: a DMARC fail is held even for a team sender and with anyone.
        let r = judge(Dmarc, false, sam, true, Some(&spoofed)).unwrap();
        assert_eq!(r, "DMARC fail for team.example (p=reject): SPF fail for 127.0.0.2 (team.example), no DKIM signature");
        // No records or no DNS: the team rule as before.
        assert_eq!(judge(Dmarc, true, sam, true, Some(&offline)), Option::None);
        assert_eq!(
            judge(Dmarc, true, sam, true, Some(&no_records)),
            Option::None
        );
        assert!(
            judge(Dmarc, true, Some("x@client.example"), false, Some(&offline))
                .unwrap()
                .contains("not a team member")
        );
        // off: results are not consulted.
        assert_eq!(judge(Off, true, sam, true, Some(&spoofed)), Option::None);
        // aligned: team needs an aligned pass; strangers follow accept_from.
        assert_eq!(judge(Aligned, true, sam, true, Some(&good)), Option::None);
        let r = judge(Aligned, true, sam, true, Some(&offline)).unwrap();
        assert!(
            r.contains("no aligned SPF or DKIM pass") && r.contains("temperror"),
            "{r}"
        );
        assert!(judge(Aligned, true, sam, true, Option::None).is_some());
        assert_eq!(
            judge(
                Aligned,
                false,
                Some("x@client.example"),
                false,
                Some(&no_records)
            ),
            Option::None
        );
    }
}
