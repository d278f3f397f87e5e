//! User stories over real SMTP and HTTP: forward a mail, find it, and every
//! refusal the listener must give.

mod common;

use common::{forwarded_mail, spawn_app, spawn_app_with, SmtpClient};
use serde_json::Value;

fn addr(card: &Value) -> String {
    card["archive_address"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forwarded_mail_lands_on_the_card_and_is_searchable() {
    let app = spawn_app().await;
    let card = app.create_card("ACME renewal").await;
    let raw = forwarded_mail(
        "fwd-1@team.example",
        "Quote for the ședința",
        "Please find the price list.\r\n.A line with a leading dot",
    );
    let reply = app.send(&[&addr(&card)], &raw).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    let id = card["id"].as_i64().unwrap();
    let history = app.wait_history(id, 1).await;
    let entry = &history["entries"][0];
    assert_eq!(entry["kind"], "email");
    assert_eq!(entry["card_id"], id);
    assert_eq!(entry["message_id"], "fwd-1@team.example");
    assert!(entry["body_text"]
        .as_str()
        .unwrap()
        .contains(".A line with a leading dot"));

    // Accent-insensitive full-text search, restricted to the card.
    let found = app.wait_search("sedinta", 1).await;
    assert_eq!(found["hits"][0]["entry_id"], entry["id"]);
    assert!(found["hits"][0]["snippet"].is_string());
    let scoped = app
        .get_json(&format!("/api/search?q=price&card_id={id}"))
        .await;
    assert_eq!(scoped["total"], 1);
    let other = app
        .get_json(&format!("/api/search?q=price&card_id={}", id + 1000))
        .await;
    assert_eq!(other["total"], 0);

    // The entry and its exact raw bytes.
    // The client's message, unwrapped from the salesperson's forward.
    let e = app.get_json(&format!("/api/entries/{}", entry["id"])).await;
    assert_eq!(e["subject"], "Quote for the ședința");
    assert_eq!(e["from"]["address"], "jane@client.example");
    assert_eq!(e["from"]["name"], "Jane Client");
    assert_eq!(e["to"][0]["address"], "sam@team.example");
    assert_eq!(e["forwarded_by"]["address"], "sam@team.example");
    assert!(e["forwarded_at"]
        .as_str()
        .unwrap()
        .starts_with("2025-06-03T09:00:00"));
    assert!(
        e["date"]
            .as_str()
            .unwrap()
            .starts_with("2025-06-02T15:04:00"),
        "{e}"
    );
    assert_eq!(e["date_raw"], "Mon, 2 Jun 2025 at 15:04");
    assert_eq!(e["direction"], "incoming");
    assert_eq!(e["forward_note"], serde_json::Value::Null);
    assert!(!e["body_text"]
        .as_str()
        .unwrap()
        .contains("Forwarded message"));
    let raw_back = app.get(&format!("/api/entries/{}/raw", entry["id"])).await;
    assert_eq!(raw_back.headers()["content-type"], "message/rfc822");
    assert_eq!(raw_back.bytes().await.unwrap().as_ref(), &raw[..]);
    app.shutdown().await;
}

#[tokio::test]
async fn plus_form_and_case_insensitive_addresses_route() {
    let app = spawn_app().await;
    let card = app.create_card("Plus").await;
    let a = addr(&card);
    let (code, domain) = a.split_once('@').unwrap();
    let plus = format!("quote+{}@{}", code.to_uppercase(), domain.to_uppercase());
    let reply = app
        .send(&[&plus], &forwarded_mail("p@x", "Plus form", "body"))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    app.shutdown().await;
}

#[tokio::test]
async fn one_message_for_two_cards_is_stored_once_and_lands_on_both() {
    let app = spawn_app().await;
    let a = app.create_card("A").await;
    let b = app.create_card("B").await;
    let raw = forwarded_mail("two@x", "Shared", "for both cards");
    let reply = app.send(&[&addr(&a), &addr(&b)], &raw).await;
    assert!(reply.starts_with("250"), "{reply}");
    app.wait_history(a["id"].as_i64().unwrap(), 1).await;
    app.wait_history(b["id"].as_i64().unwrap(), 1).await;
    app.wait_search("shared", 2).await;
    // One spool file for the one message.
    let spooled = walk_files(&app.data_dir().join("spool"));
    assert_eq!(spooled, 1, "raw bytes stored once");
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_mail_forwarded_twice_is_one_entry() {
    let app = spawn_app().await;
    let card = app.create_card("Dedup").await;
    let raw = forwarded_mail("same@x", "Twice", "hello");
    for _ in 0..2 {
        assert!(app.send(&[&addr(&card)], &raw).await.starts_with("250"));
    }
    // Without a Message-ID the raw hash is the key.
    let no_id = b"From: a@team.example\r\nSubject: no id\r\n\r\nsame bytes\r\n".to_vec();
    for _ in 0..2 {
        assert!(app.send(&[&addr(&card)], &no_id).await.starts_with("250"));
    }
    let id = card["id"].as_i64().unwrap();
    app.wait_search("bytes", 1).await;
    app.wait_search("twice", 1).await;
    let h = app.wait_history(id, 2).await;
    assert_eq!(h["total"], 2);
    app.shutdown().await;
}

#[tokio::test]
async fn several_messages_in_one_pipelined_connection() {
    let app = spawn_app().await;
    let card = app.create_card("Pipeline").await;
    let a = addr(&card);
    let mut c = SmtpClient::connect(app.smtp).await;
    assert!(c.ehlo().await.contains("PIPELINING"));
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.extend_from_slice(
            format!("MAIL FROM:<s@team.example>\r\nRCPT TO:<{a}>\r\nDATA\r\n").as_bytes(),
        );
        batch.extend_from_slice(&common::smtp_client::dot_stuff(&forwarded_mail(
            &format!("pipe-{i}@x"),
            &format!("pipelined {i}"),
            "x",
        )));
    }
    c.raw(&batch).await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(c.reply().await[..3].to_owned());
    }
    let expected: Vec<&str> = ["250", "250", "354", "250"].repeat(3);
    assert_eq!(codes, expected);
    c.quit().await;
    app.wait_history(card["id"].as_i64().unwrap(), 3).await;
    app.shutdown().await;
}

#[tokio::test]
async fn attachments_become_documents() {
    let app = spawn_app().await;
    let card = app.create_card("Docs").await;
    let raw = b"From: Sam <sam@team.example>\r\nSubject: Signed offer\r\nMessage-ID: <att@x>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"offer 2025.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQgdGVzdA==\r\n--b--\r\n";
    assert!(app.send(&[&addr(&card)], raw).await.starts_with("250"));
    let h = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    let att = &h["entries"][0]["attachments"][0];
    assert_eq!(att["filename"], "offer 2025.pdf");
    assert_eq!(att["content_type"], "application/pdf");
    assert_eq!(att["size"], 13);
    assert_eq!(att["sha256"].as_str().unwrap().len(), 64);
    let doc = app.get(&format!("/api/documents/{}", att["id"])).await;
    assert_eq!(doc.status(), 200);
    assert_eq!(doc.headers()["content-type"], "application/pdf");
    assert!(doc.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(doc.bytes().await.unwrap().as_ref(), b"%PDF-1.4 test");
    // Attachment names are searchable.
    app.wait_search("offer", 1).await;
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_and_regenerated_addresses_are_refused_with_550() {
    let app = spawn_app().await;
    let card = app.create_card("Regen").await;
    let old = addr(&card);
    let mut c = SmtpClient::connect(app.smtp).await;
    c.ehlo().await;
    assert!(c.cmd("MAIL FROM:<s@team.example>").await.starts_with("250"));
    let r = c.cmd("RCPT TO:<0000000000000000@archive.localhost>").await;
    assert!(r.starts_with("550 5.1.1"), "{r}");
    let r = c.cmd("RCPT TO:<someone@elsewhere.example>").await;
    assert!(r.starts_with("550 5.1.1"), "{r}");
    c.quit().await;

    let r = app
        .post_json(
            &format!("/api/cards/{}/archive-address", card["id"]),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), 200);
    let new: Value = r.json().await.unwrap();
    assert_ne!(addr(&new), old);
    let r = app.send(&[&old], b"Subject: x\r\n\r\nx\r\n").await;
    assert!(
        r.starts_with("550 5.1.1"),
        "old address must be refused: {r}"
    );
    let r = app
        .send(
            &[&addr(&new)],
            b"From: s@team.example\r\nSubject: x\r\n\r\nx\r\n",
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    app.shutdown().await;
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let app = spawn_app_with(&[("smtp.max_recipients", "2")]).await;
    let cards = [
        app.create_card("1").await,
        app.create_card("2").await,
        app.create_card("3").await,
    ];
    let mut c = SmtpClient::connect(app.smtp).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<s@team.example>").await;
    assert!(c
        .cmd(&format!("RCPT TO:<{}>", addr(&cards[0])))
        .await
        .starts_with("250"));
    assert!(c
        .cmd(&format!("RCPT TO:<{}>", addr(&cards[1])))
        .await
        .starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{}>", addr(&cards[2]))).await;
    assert!(r.starts_with("452 4.5.3"), "{r}");
    app.shutdown().await;
}

#[tokio::test]
async fn oversized_messages_get_552_and_leave_nothing_stored() {
    let app = spawn_app_with(&[("smtp.max_message_bytes", "2000")]).await;
    let card = app.create_card("Big").await;
    let a = addr(&card);
    let mut c = SmtpClient::connect(app.smtp).await;
    assert!(c.ehlo().await.contains("SIZE 2000"));
    let r = c.cmd("MAIL FROM:<s@team.example> SIZE=5000").await;
    assert!(r.starts_with("552 5.3.4"), "announced size: {r}");
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(5000));
    let r = c.send_mail("s@team.example", &[&a], big.as_bytes()).await;
    assert!(r.starts_with("552 5.3.4"), "actual size: {r}");
    // The session is still usable and nothing was stored.
    let r = c
        .send_mail(
            "s@team.example",
            &[&a],
            b"From: s@team.example\r\nSubject: small\r\n\r\nok\r\n",
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    c.quit().await;
    app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    assert_eq!(walk_files(&app.data_dir().join("spool")), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn protocol_refusals_have_defined_replies() {
    let app = spawn_app_with(&[
        ("smtp.max_line_bytes", "600"),
        ("smtp.max_connections", "1"),
    ])
    .await;
    let mut c = SmtpClient::connect(app.smtp).await;
    assert!(c.greeting.starts_with("220"));
    // The connection cap: a second client is told to come back later.
    let second = SmtpClient::connect(app.smtp).await;
    assert!(second.greeting.starts_with("421"), "{}", second.greeting);
    assert!(c.cmd("VRFY someone").await.starts_with("252"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<x@y>").await.starts_with("503"),
        "RCPT before MAIL"
    );
    assert!(c
        .cmd(&format!("NOOP {}", "a".repeat(1000)))
        .await
        .starts_with("500 5.5.2"));
    assert!(c.cmd("FROB").await.starts_with("500"));
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    app.shutdown().await;
}

fn walk_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += walk_files(&p);
        } else {
            n += 1;
        }
    }
    n
}
