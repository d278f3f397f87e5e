//! The listener under pressure, end to end: large bodies go to disk, an
//! endless DATA is cut and leaves nothing, a full quarantine and a nearly
//! full disk refuse new mail (452 4.3.1, uploads 507) and harm nothing accepted.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{spawn_app_with, SmtpClient};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PIB: &str = "1125899906842624";

fn addr(card: &Value) -> String {
    card["archive_address"].as_str().unwrap().to_owned()
}

/// Regular files under `dir` (recursively).
fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { files(&p) } else { 1 })
        .sum()
}

fn mail(from: &str, subject: &str, size: usize) -> Vec<u8> {
    let head = format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\n");
    let mut raw = head.into_bytes();
    while raw.len() < size {
        raw.extend_from_slice(format!("{subject} line {}\r\n", raw.len()).as_bytes());
    }
    raw
}

#[tokio::test]
async fn a_large_message_is_spooled_to_disk_and_stored_byte_exact() {
    let app = spawn_app_with(&[("smtp.spool_threshold_bytes", "65536")]).await;
    let card = app.create_card("Big").await;
    let raw = mail("Sam <sam@team.example>", "bigmessage", 3 * 1024 * 1024);
    let reply = app.send(&[&addr(&card)], &raw).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let history = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    let entry = &history["entries"][0]["id"];
    let back = app.get(&format!("/api/entries/{entry}/raw")).await;
    assert_eq!(back.bytes().await.unwrap().as_ref(), &raw[..]);
    // The temp file became the spool file: nothing left in the staging area.
    assert_eq!(files(&app.data_dir().join("spool/tmp")), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn data_that_never_ends_is_cut_and_leaves_nothing_behind() {
    let app = spawn_app_with(&[
        ("smtp.session_timeout_secs", "2"),
        ("smtp.spool_threshold_bytes", "1024"),
    ])
    .await;
    let card = app.create_card("Endless").await;
    let stream = TcpStream::connect(app.smtp).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    let rcpt = format!("RCPT TO:<{}>\r\n", addr(&card));
    for cmd in [
        "EHLO c.test\r\n",
        "MAIL FROM:<s@team.example>\r\n",
        &rcpt,
        "DATA\r\n",
    ] {
        writer.write_all(cmd.as_bytes()).await.unwrap();
    }
    // Greeting, EHLO (multi-line), MAIL, RCPT, DATA.
    while !line.starts_with("354") {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
    }
    let started = std::time::Instant::now();
    let feed = tokio::spawn(async move {
        let chunk = format!("{}\r\n", "e".repeat(1022));
        for _ in 0..10_000 {
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    line.clear();
    let read = reader.read_line(&mut line);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("cut within the session limit")
        .unwrap();
    assert!(
        line.starts_with("421 4.4.2") && line.contains("session time limit exceeded"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    feed.abort();
    // The body had gone to a temp file; it is gone, and nothing was queued.
    assert_eq!(files(&app.data_dir().join("spool")), 0);
    assert_eq!(app.get_json("/api/admin/quarantine").await["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_full_quarantine_refuses_strangers_but_not_the_team() {
    let app = spawn_app_with(&[("quarantine.max_bytes", "3000")]).await;
    let card = app.create_card("Quota").await;
    let to = addr(&card);
    let first = mail("Mallory <m@elsewhere.example>", "stranger1", 1000);
    assert!(app.send(&[&to], &first).await.starts_with("250"));
    app.wait_total("/api/admin/quarantine", 1).await;

    // 1000 held + 2500 would pass the 3000 quota. The envelope sender is a
    // team address (app.send uses sales@team.example): the From decides.
    let second = mail("Mallory <m@elsewhere.example>", "stranger2", 2500);
    let reply = app.send(&[&to], &second).await;
    assert!(reply.starts_with("452 4.3.1"), "{reply}");
    // The team's own mail is never held there, so it still lands.
    let team = mail("Sam <sam@team.example>", "teammail", 2500);
    assert!(app.send(&[&to], &team).await.starts_with("250"));
    // A stranger's mail that still fits is taken.
    let small = mail("Mallory <m@elsewhere.example>", "stranger3", 500);
    assert!(app.send(&[&to], &small).await.starts_with("250"));
    app.wait_total("/api/admin/quarantine", 2).await;
    app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    // The refused one left nothing: three messages in the spool.
    assert_eq!(files(&app.data_dir().join("spool")), 3);
    app.shutdown().await;
}

#[tokio::test]
async fn a_nearly_full_disk_refuses_new_mail_and_uploads_but_keeps_what_was_accepted() {
    let mut app = spawn_app_with(&[]).await;
    let card = app.create_card("Disk").await;
    let raw = mail("Sam <sam@team.example>", "acceptedbefore", 2000);
    assert!(app.send(&[&addr(&card)], &raw).await.starts_with("250"));
    app.stop().await;
    // More free space is demanded than any disk here has.
    app.start_again_with(&[("storage.min_free_bytes", PIB)])
        .await;

    // What was acknowledged is still processed.
    app.wait_search("acceptedbefore", 1).await;
    let mut c = SmtpClient::connect(app.smtp).await;
    assert!(c.greeting.starts_with("220"));
    c.ehlo().await;
    assert_eq!(
        c.cmd("MAIL FROM:<s@team.example>").await,
        "452 4.3.1 Insufficient system storage, try again later\r\n"
    );
    c.quit().await;

    let r = app
        .upload_raw(&card["id"], "message/rfc822", raw.clone())
        .await;
    assert_eq!(r.status(), 507);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_storage");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let r = app
        .client
        .post(app.url(&format!("/api/cards/{}/documents", card["id"])))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    // Reading goes on.
    assert_eq!(app.get_json("/api/admin/quarantine").await["total"], 0);
    app.shutdown().await;
}
