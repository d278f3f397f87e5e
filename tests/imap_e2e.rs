//! A shared mailbox on a real Dovecot, polled by the running gateway: mail is
//! routed by its headers (or a [#code] in the subject) onto cards, marked on the
//! server only after it is stored, and what routes nowhere waits in quarantine.

mod common;

use std::time::Duration;

use common::dovecot::{Dovecot, PASSWORD, USER};
use common::spawn_app_with;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn mail(headers: &str, id: &str, body: &str) -> Vec<u8> {
    format!("From: Sam Sales <sam@team.example>\r\n{headers}Message-ID: <{id}@imap.test>\r\nDate: Tue, 3 Jun 2025 09:00:00 +0000\r\n\r\n{body}\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_mailbox_is_collected_onto_cards() {
    let dovecot = Dovecot::start();
    let account = format!(
        "[{{name = \"shared\", host = \"127.0.0.1\", port = {}, security = \"plain\", username = \"{USER}\", \
         password = \"{PASSWORD}\", poll_interval_secs = 1, after = \"flag\"}}]",
        dovecot.port()
    );
    let app = spawn_app_with(&[("imap.accounts", &account)]).await;
    let card = app.create_card("IMAP").await;
    let address = card["archive_address"].as_str().unwrap();
    let code = address.split('@').next().unwrap();

    // BCC'd to the card: Delivered-To carries the archive address (plus form).
    dovecot
        .append("INBOX", &mail(&format!("Delivered-To: quote+{address}\r\nTo: jane@client.example\r\nSubject: Delivered\r\n"), "d1", "imapword delivered"))
        .await;
    // Forwarded to the shared mailbox with the card code in the subject.
    dovecot
        .append(
            "INBOX",
            &mail(
                &format!("To: archive@company.example\r\nSubject: Offer [#{code}]\r\n"),
                "s1",
                "imapword subject code",
            ),
        )
        .await;
    // Routes nowhere: quarantined, not dropped.
    dovecot
        .append(
            "INBOX",
            &mail(
                "To: archive@company.example\r\nSubject: Lost\r\n",
                "n1",
                "imapword lost",
            ),
        )
        .await;

    app.wait_history(card["id"].as_i64().unwrap(), 2).await;
    app.wait_search("imapword", 2).await;

    let quarantine = app.wait_total("/api/admin/quarantine", 1).await;
    let held = &quarantine["messages"][0];
    assert_eq!(held["source"], "imap");
    assert!(held["reason"]
        .as_str()
        .unwrap()
        .contains("no archive address"));
    let path = format!("/api/admin/quarantine/{}/release", held["id"]);
    // Without a card it cannot land anywhere; with one it does.
    assert_eq!(
        app.post_json(&path, &Value::Null).await.status(),
        StatusCode::CONFLICT
    );
    let r = app.post_json(&path, &json!({"card_id": card["id"]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.wait_search("imapword", 3).await;

    // Every message was flagged on the server once stored, and the account's
    // status tells what happened.
    let mut status = Value::Null;
    for _ in 0..200 {
        status = app.get_json("/api/admin/imap").await;
        let flagged = dovecot
            .messages("INBOX")
            .await
            .iter()
            .filter(|m| m.has_flag("\\Seen") && m.has_flag("$Archived"))
            .count();
        if status["accounts"][0]["messages_taken"] == 3 && flagged == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acct = &status["accounts"][0];
    assert_eq!(acct["name"], "shared");
    assert_eq!(acct["messages_taken"], 3, "{status}");
    assert!(acct["last_success"].is_string());
    let flagged = dovecot
        .messages("INBOX")
        .await
        .iter()
        .filter(|m| m.has_flag("$Archived"))
        .count();
    assert_eq!(flagged, 3);
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_imap_account_is_refused_at_start() {
    let bad = "[{name = \"x\", host = \"h\", port = 1, security = \"plain\", username = \"u\"}]";
    let dir = tempfile::tempdir().unwrap();
    let err = dossier::config::Config::with_overrides(&[("imap.accounts", bad)]).unwrap_err();
    assert!(err.to_string().contains("imap account"), "{err}");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_rescan_does_not_quarantine_twice() {
    let mut dovecot = Dovecot::start();
    let account = format!(
        "[{{name = \"shared\", host = \"127.0.0.1\", port = {}, security = \"plain\", username = \"{USER}\", \
         password = \"{PASSWORD}\", poll_interval_secs = 1, after = \"flag\"}}]",
        dovecot.port()
    );
    let app = spawn_app_with(&[("imap.accounts", &account)]).await;
    dovecot
        .append(
            "INBOX",
            &mail(
                "To: archive@company.example\r\nSubject: Nowhere\r\n",
                "r1",
                "rescanword",
            ),
        )
        .await;
    app.wait_total("/api/admin/quarantine", 1).await;
    // The server forgets its UIDs: the poller takes the message again.
    dovecot.reset_uidvalidity("INBOX");
    let mut taken = 0;
    for _ in 0..600 {
        taken = app.get_json("/api/admin/imap").await["accounts"][0]["messages_taken"]
            .as_u64()
            .unwrap();
        if taken >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(taken, 2, "the rescan fetched the message again");
    assert_eq!(
        app.get_json("/api/admin/quarantine").await["total"],
        1,
        "held once"
    );
    app.shutdown().await;
}
