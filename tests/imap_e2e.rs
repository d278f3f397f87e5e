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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_listed_as_failed_and_fetched_after_the_limit_is_raised() {
    let dovecot = Dovecot::start();
    let account = |max: u64| {
        format!(
            "[{{name = \"shared\", host = \"127.0.0.1\", port = {}, security = \"plain\", username = \"{USER}\", \
             password = \"{PASSWORD}\", poll_interval_secs = 1, max_message_bytes = {max}}}]",
            dovecot.port()
        )
    };
    let mut app = spawn_app_with(&[("imap.accounts", &account(4000))]).await;
    let card = app.create_card("Big").await;
    let address = card["archive_address"].as_str().unwrap().to_string();
    let big = |id: &str, subject: &str| {
        let body = format!("bigword {}", "x".repeat(6000));
        mail(
            &format!("Delivered-To: {address}\r\nSubject: {subject}\r\n"),
            id,
            &body,
        )
    };
    dovecot.append("INBOX", &big("big1", "Big offer")).await;
    dovecot.append("INBOX", &big("big2", "Big two")).await;
    dovecot
        .append(
            "INBOX",
            &mail(
                &format!("Delivered-To: {address}\r\nSubject: Small\r\n"),
                "small1",
                "smallword",
            ),
        )
        .await;
    app.wait_search("smallword", 1).await;

    // Both big ones are in the failed list, described without their bytes.
    let failed = wait_skipped(&app, 2).await;
    assert_eq!(failed["total"], 0, "no message row: {failed}");
    let items = failed["imap_skipped"].as_array().unwrap();
    let first = items.iter().find(|i| i["uid"] == 1).expect("UID 1 listed");
    assert_eq!(first["account"], "shared");
    assert_eq!(first["folder"], "INBOX");
    assert_eq!(first["subject"], "Big offer");
    assert_eq!(first["from"], "Sam Sales <sam@team.example>");
    assert_eq!(first["message_id"], "big1@imap.test");
    assert_eq!(first["max_message_bytes"], 4000);
    assert!(first["size"].as_u64().unwrap() > 6000);
    assert_eq!(first["state"], "skipped");
    assert_eq!(first["can_retry"], false);
    assert!(
        first["retry"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes 4000"),
        "{first}"
    );
    let status = app.get_json("/api/admin/imap").await;
    let acct = &status["accounts"][0];
    assert_eq!(acct["skipped_oversize"], 2, "{status}");
    assert_eq!(acct["last_skipped"]["uid"], 2, "{status}");
    assert_eq!(acct["last_skipped"]["subject"], "Big two");
    assert!(acct["last_error"].as_str().unwrap().contains("UID 2"));

    // Retry needs a higher limit first.
    let retry = format!("/api/admin/failed/imap/{}/retry", first["id"]);
    let r = app.post_json(&retry, &Value::Null).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The second one is handled by hand: dismissed.
    let second = items.iter().find(|i| i["uid"] == 2).unwrap();
    let path = format!("/api/admin/failed/imap/{}", second["id"]);
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&path).await.status(), StatusCode::NOT_FOUND);
    let unflagged = dovecot.messages("INBOX").await;
    assert!(!unflagged[0].has_flag("$Archived"), "left on the server");

    app.stop().await;
    app.start_again_with(&[("imap.accounts", &account(100_000))])
        .await;
    let r = app.post_json(&retry, &Value::Null).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    app.wait_search("bigword", 1).await;
    wait_skipped(&app, 0).await;
    let mut taken = false;
    for _ in 0..100 {
        taken = dovecot.messages("INBOX").await[0].has_flag("$Archived");
        if taken {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(taken, "after-action applied once stored");
    let status = app.get_json("/api/admin/imap").await;
    assert_eq!(status["accounts"][0]["skipped_oversize"], 0, "{status}");
    assert_eq!(status["accounts"][0]["max_message_bytes"], 100_000);
    app.shutdown().await;
}

async fn wait_skipped(app: &common::TestApp, n: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        last = app.get_json("/api/admin/failed").await;
        if last["imap_skipped_total"] == n {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("imap_skipped_total never reached {n}: {last}");
}
