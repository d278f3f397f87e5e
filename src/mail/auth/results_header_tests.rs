use super::*;

const FORGED_BELOW: &str = "Received: from mx.example.org by imap.example.org with LMTP\r\n\
Authentication-Results: other.example; spf=pass smtp.mailfrom=sam@team.example\r\n\
Authentication-Results: MX.example.org 1;\r\n\
\tspf=fail (sender IP is 203.0.113.9; not permitted) smtp.mailfrom=sam@team.example;\r\n\
\tdkim=none;\r\n\tdmarc = fail (p=reject dis=none) header.from=team.example policy.dmarc=reject\r\n\
Received: from evil.example by mx.example.org with ESMTP\r\n\
Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=sam@team.example;\r\n\tdkim=pass header.d=team.example; dmarc=pass\r\n\
From: Sam <sam@team.example>\r\nSubject: hi\r\n\r\nbody\r\n";

#[test]
fn only_the_top_group_from_our_server_counts() {
    let r = from_results_headers(
        FORGED_BELOW.as_bytes(),
        Some("mx.example.org"),
        Some("sam@team.example"),
    );
    assert_eq!(
        (r.spf, r.dkim, r.dmarc, r.aligned),
        (AuthWord::Fail, AuthWord::None, AuthWord::Fail, false)
    );
    assert_eq!(r.dmarc_policy.as_deref(), Some("reject"));
    assert_eq!(r.from_domain.as_deref(), Some("team.example"));
    assert!(r.spf_detail.contains("team.example"), "{}", r.spf_detail);
    assert_eq!(r.via, "authentication-results");
}

#[test]
fn a_header_the_sender_wrote_is_never_trusted() {
    // No header from our server above: the forged one below a Received counts
    // only if it is the top-most group, which it is not when ours is absent
    // and the authserv-id differs.
    let raw = "Received: from evil.example by mx.example.org\r\n\
Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=sam@team.example\r\n\
From: sam@team.example\r\n\r\nx\r\n";
    let r = from_results_headers(
        raw.as_bytes(),
        Some("imap.other.org"),
        Some("sam@team.example"),
    );
    assert_eq!(
        (r.spf, r.dkim, r.dmarc, r.aligned),
        (AuthWord::None, AuthWord::None, AuthWord::None, false)
    );
    assert!(r
        .spf_detail
        .contains("no Authentication-Results header from imap.other.org"));
    let r = from_results_headers(raw.as_bytes(), None, Some("sam@team.example"));
    assert_eq!(r.spf, AuthWord::None);
    assert!(r.spf_detail.contains("no authserv_id"));
}

#[test]
fn aligned_dkim_or_spf_pass_and_several_headers_of_one_hop() {
    let raw = "Authentication-Results: mx.example.org; dkim=fail header.d=team.example;\r\n\tdkim=pass header.i=@mail.team.example header.s=sel\r\n\
X-Other: between\r\n\
Authentication-Results: mx.example.org; spf=softfail smtp.mailfrom=bounce@esp.example\r\n\
Received: from x by mx.example.org\r\n\
From: \"Sam\" <sam@team.example>\r\n\r\nx\r\n";
    let r = from_results_headers(
        raw.as_bytes(),
        Some("mx.example.org"),
        Some("sam@team.example"),
    );
    assert_eq!(
        (r.spf, r.dkim, r.dmarc),
        (AuthWord::SoftFail, AuthWord::Pass, AuthWord::None)
    );
    assert!(r.aligned, "DKIM pass for a subdomain of the From domain");
    assert_eq!(r.dkim_detail, "DKIM pass for mail.team.example");
    let spf_only =
        "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=esp.example\r\n\r\n";
    let r = from_results_headers(
        spf_only.as_bytes(),
        Some("mx.example.org"),
        Some("sam@team.example"),
    );
    assert!(!r.aligned, "SPF pass for an unrelated domain");
}

#[test]
fn parser_handles_comments_quotes_versions_and_none() {
    let (serv, rs) = parse("\"mx.example.org\" 1 (comment; with semicolon); spf/2 = pass (good) smtp.mailfrom=\"a;b@x.example\"; auth=pass smtp.auth=sam; foo=bar").unwrap();
    assert_eq!(serv, "mx.example.org");
    assert_eq!(rs.len(), 2, "unknown result word skipped: {rs:?}");
    assert_eq!(rs[0].method, "spf");
    assert_eq!(rs[0].result, AuthWord::Pass);
    assert_eq!(rs[0].prop("smtp.mailfrom"), Some("a;b@x.example"));
    let (serv, rs) = parse("mx.example.org; none").unwrap();
    assert_eq!((serv.as_str(), rs.len()), ("mx.example.org", 0));
    assert!(parse("").is_none());
}
