//! Upload, import (eml, mbox, Maildir) and export through the one ingest path.

mod common;

use common::process::{api_get, dossier, run_ok, ServerProcess};
use common::{forwarded_mail, spawn_app};
use dossier::mail::mbox;
use reqwest::StatusCode;
use serde_json::Value;

fn mbox_of(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        mbox::write_message(&mut out, "s@team.example", "Mon Jun  2 15:04:05 2025", m).unwrap();
    }
    out
}

#[tokio::test]
async fn upload_creates_the_entry_once() {
    let app = spawn_app().await;
    let card = app.create_card("Upload").await;
    let raw = forwarded_mail("up@x", "Uploaded quote", "uploaded body text");
    let post = |ct: &'static str, body: Vec<u8>| app.upload_raw(&card["id"], ct, body);
    let r = post("message/rfc822", raw.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let entry: Value = r.json().await.unwrap();
    assert_eq!(entry["message_id"], "up@x");
    assert_eq!(entry["card_id"], card["id"]);
    let again = post("message/rfc822", raw.clone()).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a duplicate is not created twice"
    );
    assert_eq!(again.json::<Value>().await.unwrap()["id"], entry["id"]);
    assert_eq!(
        post("text/plain", raw.clone()).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        post("message/rfc822", vec![]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app
        .upload_raw(&Value::from(9999), "message/rfc822", raw)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.wait_search("uploaded", 1).await;
    app.shutdown().await;
}

#[tokio::test]
async fn import_mbox_maildir_and_eml_without_duplicates_then_export() {
    let dir = tempfile::tempdir().unwrap();
    let card: Value = serde_json::from_slice(
        &run_ok(dossier(dir.path()).args(["card", "create", "Import"])).stdout,
    )
    .unwrap();
    let id = card["id"].to_string();
    let msgs: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            forwarded_mail(
                &format!("imp-{i}@x"),
                &format!("Imported {i}"),
                &format!("From the archive {i}\r\nimportword"),
            )
        })
        .collect();
    let mbox_path = dir.path().join("old.mbox");
    std::fs::write(&mbox_path, mbox_of(&msgs)).unwrap();
    let out = run_ok(
        dossier(dir.path())
            .args(["import", "--quiet", "--card", &id])
            .arg(&mbox_path),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("imported 3, duplicates 0, failed 0"),
        "{text}"
    );
    // Interrupted or not, a re-run adds nothing.
    let out = run_ok(
        dossier(dir.path())
            .args(["import", "--quiet", "--card", &id])
            .arg(&mbox_path),
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("imported 0, duplicates 3, failed 0"));

    // A Maildir routed by the archive address in its headers, plus a bad file.
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let routed = format!(
        "Delivered-To: {}\r\nFrom: x@client.example\r\nMessage-ID: <routed@x>\r\nSubject: routed\r\n\r\nimportword routed\r\n",
        card["archive_address"].as_str().unwrap()
    );
    std::fs::write(maildir.join("new/1.eml"), routed).unwrap();
    std::fs::write(
        maildir.join("cur/2.eml"),
        "Subject: nowhere\r\nMessage-ID: <nowhere@x>\r\n\r\nno card\r\n",
    )
    .unwrap();
    let eml = dir.path().join("one.eml");
    std::fs::write(
        &eml,
        forwarded_mail("single@x", "Single", "importword single"),
    )
    .unwrap();
    let out = run_ok(
        dossier(dir.path())
            .args(["import", "--quiet", "--route"])
            .arg(&maildir)
            .arg(&eml),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // one.eml has no archive address in its headers: it fails with a reason.
    assert!(
        text.contains("imported 1, duplicates 0, failed 2"),
        "{text}"
    );
    assert!(text.contains("no archive address"), "{text}");
    let out = run_ok(
        dossier(dir.path())
            .args(["import", "--quiet", "--card", &id])
            .arg(&eml),
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("imported 1,"));

    // Export: the original bytes come back, in a file only its owner may
    // read, even one that existed world-readable.
    let export = dir.path().join("out.mbox");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&export, b"old").unwrap();
        std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = run_ok(
        dossier(dir.path())
            .args(["export", "--card", &id, "--out"])
            .arg(&export),
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("exported 5 messages"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "export mode {mode:o}");
    }
    let bytes = std::fs::read(&export).unwrap();
    let mut r = mbox::Reader::new(&bytes[..]);
    let mut back = Vec::new();
    while let Some(m) = r.next_message().unwrap() {
        back.push(m);
    }
    // Chronological order; these three share a date, so compare as a set.
    let mut mbox_part: Vec<_> = back.iter().filter(|m| msgs.contains(m)).cloned().collect();
    mbox_part.sort();
    let mut want = msgs.clone();
    want.sort();
    assert_eq!(mbox_part, want, "original bytes come back");

    // The server sees all of it, and exports the same over HTTP.
    let token = String::from_utf8(
        run_ok(dossier(dir.path()).args(["user", "add", "i@team.example"])).stdout,
    )
    .unwrap();
    let token = token.lines().last().unwrap().to_owned();
    let server = ServerProcess::start(dir.path()).await;
    let client = reqwest::Client::new();
    let v = api_get(server.http, &token, "/api/search?q=importword").await;
    assert_eq!(v["total"], 5);
    let http_export = client
        .get(format!("http://{}/api/cards/{id}/export", server.http))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(http_export.headers()["content-type"], "application/mbox");
    assert_eq!(http_export.bytes().await.unwrap().as_ref(), &bytes[..]);
}

#[tokio::test]
async fn import_next_to_a_running_server_is_processed_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let card: Value = serde_json::from_slice(
        &run_ok(dossier(dir.path()).args(["card", "create", "Live"])).stdout,
    )
    .unwrap();
    let _server = ServerProcess::start(dir.path()).await;
    let eml = dir.path().join("live.eml");
    std::fs::write(&eml, forwarded_mail("live@x", "Live", "live import")).unwrap();
    let out = run_ok(
        dossier(dir.path())
            .args(["import", "--quiet", "--card", &card["id"].to_string()])
            .arg(&eml),
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("imported 1, duplicates 0, failed 0"));
}
