//! Forward unwrapping end to end: over SMTP in, over HTTP out; and the
//! quarantine for senders outside the team.

mod common;

use common::{spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/forward/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn outlook_forwards_over_smtp_keep_the_clients_message() {
    // The fixtures' salespeople write from acme.example.
    let app = spawn_app_with(&[("archive.team_domains", "[\"acme.example\"]")]).await;
    // ...and one forwards from a private address: as a user, she is team too.
    app.add_user("anna.berg.sales@gmail.com", false).await;
    let card = app.create_card("Outlook").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forward");
    // Every fixture goes through the real listener; each one that is a forward
    // must come out with the original's sender, not the forwarder.
    let mut sent = 0;
    let mut ids = std::collections::BTreeSet::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names.iter().filter(|n| n.ends_with(".eml")) {
        let expected: Value =
            serde_json::from_slice(&fixture(&name.replace(".eml", ".expected.json"))).unwrap();
        if expected[0]["forwarded_by"].is_null() || !name.starts_with("outlook") {
            continue;
        }
        let reply = app
            .send(&[card["archive_address"].as_str().unwrap()], &fixture(name))
            .await;
        assert!(reply.starts_with("250"), "{name}: {reply}");
        sent += 1;
        ids.insert(expected[0]["message_id"].as_str().unwrap().to_owned());
    }
    assert!(sent >= 20, "only {sent} outlook forwards found");
    // Fixtures sharing a Message-ID are one entry: dedup per card.
    let history = app
        .wait_history(card["id"].as_i64().unwrap(), ids.len() as u64)
        .await;
    for e in history["entries"].as_array().unwrap() {
        assert!(e["forwarded_by"]["address"].is_string(), "{e}");
        assert_ne!(
            e["from"], e["forwarded_by"],
            "sender must be the client: {e}"
        );
        assert!(
            !e["body_text"].as_str().unwrap().trim().is_empty(),
            "empty body: {e}"
        );
        assert!(
            !e["subject"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .starts_with("fw"),
            "{e}"
        );
    }
    // The forwarder is searchable as its own field.
    let by = history["entries"][0]["forwarded_by"]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let hits = app
        .get_json(&format!(
            "/api/search?q=forwarded_by:{}",
            common::urlencode(&format!("\"{by}\""))
        ))
        .await;
    assert!(hits["total"].as_u64().unwrap() >= 1, "{hits}");
    app.shutdown().await;
}

#[tokio::test]
async fn mail_from_outside_the_team_is_quarantined_then_released_or_deleted() {
    let app = spawn_app().await;
    let card = app.create_card("Q").await;
    let addr = card["archive_address"].as_str().unwrap().to_owned();
    let stranger = |id: &str| {
        format!("From: Mallory <m@elsewhere.example>\r\nSubject: hello {id}\r\nMessage-ID: <{id}@x>\r\n\r\nquarantineword {id}\r\n").into_bytes()
    };
    assert!(
        app.send(&[&addr], &stranger("q1")).await.starts_with("250"),
        "accepted, never dropped"
    );
    assert!(app.send(&[&addr], &stranger("q2")).await.starts_with("250"));

    // Not on the card, not searchable; listed for admins only.
    let list = app.wait_total("/api/admin/quarantine", 2).await;
    let item = &list["messages"][1];
    assert_eq!(item["from"], "Mallory <m@elsewhere.example>");
    assert_eq!(item["card_ids"][0], card["id"]);
    assert!(item["reason"]
        .as_str()
        .unwrap()
        .contains("not a team member"));
    assert_eq!(
        app.get_json(&format!("/api/cards/{}/history", card["id"]))
            .await["total"],
        0
    );
    let member = app.add_user("member@team.example", false).await;
    assert_eq!(
        app.get_as("/api/admin/quarantine", &member).await.status(),
        StatusCode::FORBIDDEN
    );

    // Release one: it lands on its card.
    let q1 = item["id"].as_i64().unwrap();
    let r = app
        .post_json(&format!("/api/admin/quarantine/{q1}/release"), &Value::Null)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let released: Value = r.json().await.unwrap();
    assert_eq!(
        released["entries"][0]["from"]["address"],
        "m@elsewhere.example"
    );
    app.wait_search("quarantineword", 1).await;
    // Delete the other: gone for good, raw bytes included.
    let q2 = list["messages"][0]["id"].as_i64().unwrap();
    let path = format!("/api/admin/quarantine/{q2}");
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_json("/api/admin/quarantine").await["total"], 0);
    let spool_has_q2 = walk(&app.data_dir().join("spool"))
        .iter()
        .any(|f| std::fs::read(f).unwrap().windows(2).any(|w| w == b"q2"));
    assert!(!spool_has_q2, "deleted message's bytes must be gone");
    app.shutdown().await;
}

#[tokio::test]
async fn a_team_members_own_mail_is_outgoing_and_anyone_mode_accepts_strangers() {
    let app = spawn_app_with(&[("archive.accept_from", "\"anyone\"")]).await;
    let card = app.create_card("Anyone").await;
    let addr = card["archive_address"].as_str().unwrap().to_owned();
    let own = b"From: Sam <sam@team.example>\r\nTo: Jane <jane@client.example>\r\nSubject: Our offer\r\nMessage-ID: <own@x>\r\n\r\nHere is our offer.\r\n";
    assert!(app.send(&[&addr], own).await.starts_with("250"));
    let stranger = b"From: Jane <jane@client.example>\r\nSubject: Direct\r\nMessage-ID: <direct@x>\r\n\r\nWritten to the archive directly.\r\n";
    assert!(app.send(&[&addr], stranger).await.starts_with("250"));
    let h = app.wait_history(card["id"].as_i64().unwrap(), 2).await;
    let by_subject = |s: &str| {
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == s)
            .unwrap()
            .clone()
    };
    assert_eq!(by_subject("Our offer")["direction"], "outgoing");
    assert_eq!(by_subject("Our offer")["forwarded_by"], Value::Null);
    assert_eq!(by_subject("Direct")["direction"], "incoming");
    app.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn a_spoofed_archive_domain_sender_is_not_team_and_big_uploads_get_json_413() {
    let app = spawn_app_with(&[("smtp.max_message_bytes", "4000")]).await;
    let card = app.create_card("Spoof").await;
    // The bootstrap admin is admin@archive.localhost; that address is never team.
    let spoof = b"From: admin@archive.localhost\r\nSubject: trust me\r\nMessage-ID: <spoof@x>\r\n\r\nspoofword\r\n";
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], spoof)
        .await
        .starts_with("250"));
    app.wait_total("/api/admin/quarantine", 1).await;

    let r = app
        .upload_raw(&card["id"], "message/rfc822", vec![b'x'; 10_000])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    app.shutdown().await;
}
