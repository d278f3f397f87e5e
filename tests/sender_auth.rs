//! Senders are who they say they are: SPF, DKIM and DMARC on mail received
//! over real SMTP, against a real DNS server on loopback that serves records
//! and keys made here; the IMAP side trusts only its own server's
//! Authentication-Results.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use common::dns::{DnsServer, Zone};
use common::{spawn_app_with, SmtpClient, TestApp};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::Value;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A signing key made for this test run, and the zone publishing it.
struct Keys {
    pkcs8: Vec<u8>,
}

impl Keys {
    fn new() -> Self {
        Keys {
            pkcs8: Ed25519Key::generate_pkcs8().expect("ed25519 key"),
        }
    }

    fn key(&self) -> Ed25519Key {
        Ed25519Key::from_pkcs8_der(&self.pkcs8).unwrap()
    }

    /// team.example: SPF lists 127.0.0.1 only, DKIM key under `sel`, DMARC p=reject.
    fn team_zone(&self) -> Zone {
        let public = base64::engine::general_purpose::STANDARD.encode(self.key().public_key());
        Zone::default()
            .txt("team.example", "v=spf1 ip4:127.0.0.1 -all")
            .txt(
                "sel._domainkey.team.example",
                &format!("v=DKIM1; k=ed25519; p={public}"),
            )
            .txt("_dmarc.team.example", "v=DMARC1; p=reject")
    }

    fn sign(&self, raw: &[u8]) -> Vec<u8> {
        let sig = DkimSigner::from_key(self.key())
            .domain("team.example")
            .selector("sel")
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(raw)
            .expect("sign");
        [sig.to_header().into_bytes(), raw.to_vec()].concat()
    }
}

fn mail(id: &str, word: &str) -> Vec<u8> {
    format!(
        "From: Sam Sales <sam@team.example>\r\nTo: archive\r\nSubject: Offer {id}\r\n\
Date: Tue, 3 Jun 2025 09:00:00 +0000\r\nMessage-ID: <{id}@team.example>\r\n\r\n{word} the offer\r\n"
    )
    .into_bytes()
}

async fn app_with(dns: &DnsServer, policy: &str, extra: &[(&str, &str)]) -> (TestApp, Value) {
    let servers = dns.config_value();
    let policy = format!("\"{policy}\"");
    let mut pairs = vec![
        ("auth.dns_servers", servers.as_str()),
        ("auth.dns_timeout_ms", "300"),
        ("archive.sender_auth", policy.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let app = spawn_app_with(&pairs).await;
    let card = app.create_card("Auth").await;
    (app, card)
}

/// Sends from `local` with MAIL FROM sam@team.example; asserts the 250.
async fn send_from(app: &TestApp, local: IpAddr, card: &Value, raw: &[u8]) {
    let mut c = SmtpClient::connect_from(app.smtp, local).await;
    c.cmd("EHLO mail.team.example").await;
    let rcpt = card["archive_address"].as_str().unwrap();
    let reply = c.send_mail("sam@team.example", &[rcpt], raw).await;
    assert!(reply.starts_with("250"), "{reply}");
    c.quit().await;
}

fn auth_words(auth: &Value) -> (String, String, String, bool) {
    let w = |k: &str| auth[k].as_str().unwrap_or("?").to_owned();
    (
        w("spf"),
        w("dkim"),
        w("dmarc"),
        auth["aligned"].as_bool().unwrap(),
    )
}

fn words(spf: &str, dkim: &str, dmarc: &str, aligned: bool) -> (String, String, String, bool) {
    (spf.into(), dkim.into(), dmarc.into(), aligned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_team_mail_lands_and_the_same_from_elsewhere_is_quarantined() {
    let keys = Keys::new();
    let dns = DnsServer::start(keys.team_zone()).await;
    let (app, card) = app_with(&dns, "dmarc", &[]).await;
    let card_id = card["id"].as_i64().unwrap();

    let signed = keys.sign(&mail("good", "authword"));
    send_from(&app, LOCAL, &card, &signed).await;
    let history = app.wait_history(card_id, 1).await;
    let entry = &history["entries"][0];
    assert_eq!(
        auth_words(&entry["auth"]),
        words("pass", "pass", "pass", true),
        "{}",
        entry["auth"]
    );
    assert_eq!(entry["auth"]["dmarc_policy"], "reject");
    // The results live beside the message: /raw is the bytes as sent.
    let raw = app.get(&format!("/api/entries/{}/raw", entry["id"])).await;
    assert_eq!(raw.bytes().await.unwrap().as_ref(), &signed[..]);

    // The same From, unsigned, from a host the SPF record does not list.
    send_from(&app, OTHER, &card, &mail("spoof", "spoofword")).await;
    let q = app.wait_total("/api/admin/quarantine", 1).await;
    let held = &q["messages"][0];
    let reason = held["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "DMARC fail for team.example (p=reject): SPF fail for 127.0.0.2 (team.example), no DKIM signature"
    );
    assert_eq!(
        auth_words(&held["auth"]),
        words("fail", "none", "fail", false)
    );
    assert_eq!(
        app.get_json(&format!("/api/cards/{card_id}/history")).await["total"],
        1
    );

    // An admin may still release it; the audit log says who, and what it was.
    let r = app
        .post_json(
            &format!("/api/admin/quarantine/{}/release", held["id"]),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), 200);
    let released: Value = r.json().await.unwrap();
    assert_eq!(
        auth_words(&released["entries"][0]["auth"]),
        words("fail", "none", "fail", false)
    );
    let audit = app
        .get_json("/api/admin/audit?action=quarantine_release")
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
    let event = &audit["events"][0];
    assert_eq!(event["target_id"], held["id"]);
    assert!(event["actor_id"].is_i64());
    assert_eq!(event["card_id"], card_id);
    assert_eq!(event["details"]["spoofed_looking"], true);
    assert_eq!(event["details"]["auth"]["dmarc"], "fail");
    app.wait_history(card_id, 2).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_signature_fails_dkim() {
    let keys = Keys::new();
    let dns = DnsServer::start(keys.team_zone()).await;
    let (app, card) = app_with(&dns, "dmarc", &[]).await;
    let card_id = card["id"].as_i64().unwrap();
    let tamper = |raw: Vec<u8>| {
        String::from_utf8(raw)
            .unwrap()
            .replace("the offer", "the altered offer")
            .into_bytes()
    };

    // From the listed host SPF still passes and aligns: DMARC passes, DKIM fails.
    send_from(
        &app,
        LOCAL,
        &card,
        &tamper(keys.sign(&mail("b1", "brokenword"))),
    )
    .await;
    let history = app.wait_history(card_id, 1).await;
    let auth = &history["entries"][0]["auth"];
    assert_eq!(
        auth_words(auth),
        words("pass", "fail", "pass", true),
        "{auth}"
    );
    assert!(auth["dkim_detail"]
        .as_str()
        .unwrap()
        .starts_with("no valid DKIM signature (fail for team.example"));

    // From elsewhere nothing holds: quarantined, and the reason says why.
    send_from(
        &app,
        OTHER,
        &card,
        &tamper(keys.sign(&mail("b2", "brokenword"))),
    )
    .await;
    let q = app.wait_total("/api/admin/quarantine", 1).await;
    let held = &q["messages"][0];
    assert_eq!(
        auth_words(&held["auth"]),
        words("fail", "fail", "fail", false)
    );
    let reason = held["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("DMARC fail for team.example (p=reject): SPF fail for 127.0.0.2"),
        "{reason}"
    );
    assert!(
        reason.contains("no valid DKIM signature (fail for team.example: "),
        "{reason}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_never_answers_costs_one_timeout_not_one_per_message() {
    let dns = DnsServer::silent().await;
    let (app, card) = app_with(&dns, "dmarc", &[("auth.dns_retry_secs", "600")]).await;
    let card_id = card["id"].as_i64().unwrap();

    send_from(&app, LOCAL, &card, &mail("t0", "timeoutword")).await;
    let history = app.wait_history(card_id, 1).await;
    let auth = &history["entries"][0]["auth"];
    // No verdict without DNS: temperror, and the team rule decides (it lands).
    assert_eq!(auth["spf"], "temperror", "{auth}");
    assert_eq!(auth["dmarc"], "temperror", "{auth}");
    assert_eq!(auth["aligned"], false);
    let asked = dns.query_count();
    assert!(asked >= 1, "the resolver was asked");

    // Later mail is judged at once: the resolver is not asked again while it
    // counts as unreachable (dns_retry_secs).
    for i in 1..4 {
        send_from(&app, LOCAL, &card, &mail(&format!("t{i}"), "timeoutword")).await;
    }
    let history = app.wait_history(card_id, 4).await;
    for e in history["entries"].as_array().unwrap() {
        assert_eq!(e["auth"]["spf"], "temperror");
    }
    assert_eq!(dns.query_count(), asked, "no query while DNS is down");

    // A stranger is still held by the team rule, not let through.
    let mut c = SmtpClient::connect_from(app.smtp, LOCAL).await;
    c.ehlo().await;
    let stranger = "From: Eve <eve@elsewhere.example>\r\nSubject: hi\r\n\r\nx\r\n";
    let reply = c
        .send_mail(
            "eve@elsewhere.example",
            &[card["archive_address"].as_str().unwrap()],
            stranger.as_bytes(),
        )
        .await;
    assert!(reply.starts_with("250"));
    let q = app.wait_total("/api/admin/quarantine", 1).await;
    assert!(q["messages"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a team member"));
    assert_eq!(q["messages"][0]["auth"]["dmarc"], "temperror");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_records_is_none_and_aligned_needs_an_aligned_pass() {
    let keys = Keys::new();
    // A domain with no records at all: none everywhere, the team rule decides.
    let empty = DnsServer::start(Zone::default()).await;
    let (app, card) = app_with(&empty, "dmarc", &[]).await;
    send_from(&app, LOCAL, &card, &mail("n1", "noneword")).await;
    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    assert_eq!(
        auth_words(&history["entries"][0]["auth"]),
        words("none", "none", "none", false)
    );
    app.shutdown().await;

    // "aligned": team mail needs an aligned pass. Unsigned from an unlisted
    // host is held even without a DMARC record; signed mail lands.
    let zone = keys.team_zone();
    let no_dmarc = Zone::default().txt("team.example", "v=spf1 ip4:127.0.0.1 -all");
    let dns = DnsServer::start(no_dmarc).await;
    let (app, card) = app_with(&dns, "aligned", &[]).await;
    send_from(&app, OTHER, &card, &mail("a1", "alignword")).await;
    let q = app.wait_total("/api/admin/quarantine", 1).await;
    let reason = q["messages"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "team sender sam@team.example has no aligned SPF or DKIM pass: SPF fail for 127.0.0.2"
        ),
        "{reason}"
    );
    send_from(&app, LOCAL, &card, &mail("a2", "alignword")).await;
    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    assert_eq!(
        auth_words(&history["entries"][0]["auth"]),
        words("pass", "none", "none", true)
    );
    app.shutdown().await;

    let dns = DnsServer::start(zone).await;
    let (app, card) = app_with(&dns, "aligned", &[]).await;
    send_from(&app, OTHER, &card, &keys.sign(&mail("a3", "alignword"))).await;
    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    // DKIM alone aligns: lands although SPF fails.
    assert_eq!(
        auth_words(&history["entries"][0]["auth"]),
        words("fail", "pass", "pass", true)
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_auth_off_asks_no_dns_and_stores_nothing() {
    let dns = DnsServer::start(Keys::new().team_zone()).await;
    let (app, card) = app_with(&dns, "off", &[]).await;
    send_from(&app, OTHER, &card, &mail("o1", "offword")).await;
    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    assert_eq!(history["entries"][0]["auth"], Value::Null);
    assert_eq!(dns.query_count(), 0);
    // Uploads are the user's own word: never checked either.
    let r = app
        .upload_raw(&card["id"], "message/rfc822", mail("u1", "offword"))
        .await;
    assert!(r.status().is_success());
    app.shutdown().await;
}

/// IMAP mail: only the mailbox server's own Authentication-Results count
/// (`authserv_id`), and only the top-most ones; a header the sender wrote
/// further down is never trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_mail_is_judged_by_its_own_servers_results_only() {
    use common::dovecot::{Dovecot, PASSWORD, USER};
    let dovecot = Dovecot::start();
    let account = format!(
        "[{{name = \"shared\", host = \"127.0.0.1\", port = {}, security = \"plain\", username = \"{USER}\", \
         password = \"{PASSWORD}\", poll_interval_secs = 1, authserv_id = \"mx.team.example\"}}]",
        dovecot.port()
    );
    let app = spawn_app_with(&[
        ("imap.accounts", &account),
        ("archive.sender_auth", "\"aligned\""),
    ])
    .await;
    let card = app.create_card("IMAP auth").await;
    let address = card["archive_address"].as_str().unwrap();
    let message = |id: &str, trace: &str| {
        format!(
            "{trace}From: Sam Sales <sam@team.example>\r\nDelivered-To: {address}\r\n\
Subject: IMAP {id}\r\nMessage-ID: <{id}@team.example>\r\nDate: Tue, 3 Jun 2025 09:00:00 +0000\r\n\r\nimapauthword\r\n"
        )
        .into_bytes()
    };
    // Our MX's verdict on top: aligned DKIM pass.
    let good = "Received: from mx.team.example by imap.team.example with LMTP\r\n\
Authentication-Results: mx.team.example; spf=fail smtp.mailfrom=sam@team.example;\r\n\
\tdkim=pass header.d=team.example header.s=sel; dmarc=pass header.from=team.example\r\n\
Received: from mail.team.example by mx.team.example with ESMTPS\r\n";
    dovecot.append("INBOX", &message("i1", good)).await;
    // Our MX found nothing good; the "pass" below its Received is the sender's.
    let forged = "Authentication-Results: mx.team.example; spf=softfail smtp.mailfrom=sam@team.example; dkim=none\r\n\
Received: from evil.example by mx.team.example with ESMTP\r\n\
Authentication-Results: mx.team.example; spf=pass smtp.mailfrom=sam@team.example; dkim=pass header.d=team.example; dmarc=pass\r\n";
    dovecot.append("INBOX", &message("i2", forged)).await;

    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    let auth = &history["entries"][0]["auth"];
    assert_eq!(
        auth_words(auth),
        words("fail", "pass", "pass", true),
        "{auth}"
    );
    assert_eq!(auth["via"], "authentication-results");
    let q = app.wait_total("/api/admin/quarantine", 1).await;
    let held = &q["messages"][0];
    assert_eq!(
        auth_words(&held["auth"]),
        words("softfail", "none", "none", false)
    );
    assert!(held["reason"]
        .as_str()
        .unwrap()
        .contains("no aligned SPF or DKIM pass"));
    app.shutdown().await;
}
