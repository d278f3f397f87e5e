//! The two SASL mechanisms that carry an OAuth2 bearer token to an IMAP server.

use oauth2::AccessToken;

/// OAUTHBEARER (RFC 7628) is the standard one and preferred; XOAUTH2 is Google's and
/// Microsoft's older form, the only one Exchange Online announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    OAuthBearer,
    XOAuth2,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// The preferred mechanism among the `AUTH=` names the server announced.
    pub fn pick<'a>(announced: impl IntoIterator<Item = &'a str>) -> Option<Mechanism> {
        let mut best = None;
        for m in announced {
            if m.eq_ignore_ascii_case("OAUTHBEARER") {
                return Some(Mechanism::OAuthBearer);
            }
            if m.eq_ignore_ascii_case("XOAUTH2") {
                best = Some(Mechanism::XOAuth2);
            }
        }
        best
    }
}

/// Answers the server's challenges for one AUTHENTICATE. The first (empty) challenge gets the
/// initial response; a later one is the server's JSON error (RFC 7628 §3.2.2), kept for the
/// error message and answered as the mechanism requires so the server can send its NO.
pub(crate) struct BearerAuth<'a> {
    pub mechanism: Mechanism,
    pub user: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub token: &'a AccessToken,
    rounds: u32,
    /// The server's error challenge, if it sent one.
    pub server_error: Option<String>,
}

impl<'a> BearerAuth<'a> {
    pub fn new(
        mechanism: Mechanism,
        user: &'a str,
        host: &'a str,
        port: u16,
        token: &'a AccessToken,
    ) -> Self {
        BearerAuth {
            mechanism,
            user,
            host,
            port,
            token,
            rounds: 0,
            server_error: None,
        }
    }

    fn initial_response(&self) -> Vec<u8> {
        let token = self.token.secret();
        match self.mechanism {
            // gs2-header "n,a=<authzid>," then key=value pairs separated by ^A (RFC 7628 §3.1).
            Mechanism::OAuthBearer => format!(
                "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
                gs2_escape(self.user),
                self.host,
                self.port
            ),
            Mechanism::XOAuth2 => format!("user={}\x01auth=Bearer {token}\x01\x01", self.user),
        }
        .into_bytes()
    }
}

impl async_imap::Authenticator for &mut BearerAuth<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.rounds += 1;
        if self.rounds == 1 && challenge.is_empty() {
            return self.initial_response();
        }
        if self.server_error.is_none() {
            let text = String::from_utf8_lossy(challenge);
            self.server_error = Some(super::error::clip(&text));
        }
        match self.mechanism {
            // RFC 7628 §3.2.3: the client answers an error with a single ^A.
            Mechanism::OAuthBearer => vec![1],
            // Google's XOAUTH2 documentation: an empty response.
            Mechanism::XOAuth2 => Vec::new(),
        }
    }
}

/// RFC 5801 §4: "," and "=" in the authzid are written "=2C" and "=3D".
fn gs2_escape(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;

    #[test]
    fn oauthbearer_is_preferred_and_xoauth2_taken_alone() {
        assert_eq!(
            Mechanism::pick(["PLAIN", "XOAUTH2", "OAUTHBEARER"]),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(
            Mechanism::pick(["PLAIN", "xoauth2"]),
            Some(Mechanism::XOAuth2)
        );
        assert_eq!(Mechanism::pick(["PLAIN", "LOGIN"]), None);
    }

    #[test]
    fn initial_responses_follow_the_specs() {
        let token = AccessToken::new("tok".into());
        let mut a = BearerAuth::new(Mechanism::OAuthBearer, "a,b=c@x", "imap.x", 993, &token);
        assert_eq!(
            (&mut a).process(b""),
            b"n,a=a=2Cb=3Dc@x,\x01host=imap.x\x01port=993\x01auth=Bearer tok\x01\x01".to_vec()
        );
        let err = br#"{"status":"invalid_token","schemes":"bearer"}"#;
        assert_eq!((&mut a).process(err), vec![1]);
        assert!(a.server_error.unwrap().contains("invalid_token"));

        let mut x = BearerAuth::new(Mechanism::XOAuth2, "u@x", "h", 1, &token);
        assert_eq!(
            (&mut x).process(b""),
            b"user=u@x\x01auth=Bearer tok\x01\x01".to_vec()
        );
        assert!((&mut x).process(b"{}").is_empty());
    }
}
