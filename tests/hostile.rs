//! Hostile input cannot take the gateway down: attachment bombs fail in the
//! extraction child with the limit named, oversized structures are stored and
//! shown within bounds, costly searches are refused, and ordinary mail keeps
//! flowing through all of it.

mod common;

use common::hostile::*;
use common::{spawn_app_with, urlencode, TestApp};
use serde_json::Value;
use std::time::Duration;

/// Peak resident memory of this process (the test binary runs the gateway).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// The card's first email entry once none of its documents is pending.
async fn settled_entry(app: &TestApp, card: &Value) -> Value {
    let path = format!("/api/cards/{}/history", card["id"]);
    let h = app
        .wait_for(&path, "attachments with their text done", |h| {
            h["entries"].as_array().is_some_and(|es| {
                !es.is_empty()
                    && es.iter().all(|e| {
                        e["attachments"]
                            .as_array()
                            .is_some_and(|d| d.iter().all(|d| d["text_status"] != "pending"))
                    })
            })
        })
        .await;
    h["entries"][0].clone()
}

fn status_of(entry: &Value, filename: &str) -> String {
    entry["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == filename)
        .unwrap_or_else(|| panic!("no {filename} in {entry}"))["text_status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn attachment_bombs_fail_in_the_child_with_the_limit_named() {
    let app = spawn_app_with(&[
        ("extract.memory_bytes", "268435456"),
        ("extract.timeout_secs", "5"),
        ("extract.max_unzipped_bytes", "8388608"),
    ])
    .await;
    let card = app.create_card("Bombs").await;
    let addr = card["archive_address"].as_str().unwrap().to_owned();
    let before = peak_rss_bytes();
    let flate = pdf_flate_bomb(1 << 30);
    assert!(flate.len() < 64 * 1024, "{} bytes", flate.len());
    let raw = mail_with_attachments(
        "Bombs away",
        "see attached",
        &[
            ("flate-bomb.pdf", "application/pdf", flate),
            ("form.pdf", "application/pdf", pdf_self_drawing_form()),
            (
                "zip-bomb.docx",
                "application/octet-stream",
                docx_zip_bomb(64 << 20),
            ),
            (
                "offer.pdf",
                "application/pdf",
                pdf_with("Pallet racking quotation"),
            ),
        ],
    );
    assert!(app.send(&[&addr], raw.as_bytes()).await.starts_with("250"));
    let entry = settled_entry(&app, &card).await;
    assert_eq!(status_of(&entry, "flate-bomb.pdf"), "failed: memory limit");
    assert!(
        status_of(&entry, "form.pdf").starts_with("failed: stack limit"),
        "{}",
        status_of(&entry, "form.pdf")
    );
    assert!(
        status_of(&entry, "zip-bomb.docx").starts_with("failed: zip limit"),
        "{}",
        status_of(&entry, "zip-bomb.docx")
    );
    assert_eq!(status_of(&entry, "offer.pdf"), "ok");
    // Everything is still findable: by name, and by the text that was read.
    app.wait_search("racking", 1).await;
    app.wait_search("filename:flate-bomb", 1).await;
    // The bombs inflated in the child, never in the gateway.
    let grown = peak_rss_bytes().saturating_sub(before);
    assert!(grown < 200 << 20, "the gateway grew by {grown} bytes");
    app.shutdown().await;
}

#[tokio::test]
async fn a_slow_file_is_killed_at_its_time_limit() {
    let app = spawn_app_with(&[("extract.timeout_secs", "1")]).await;
    let card = app.create_card("Slow").await;
    // Hundreds of thousands of text operators: more than a second of work
    // for the PDF parser, a few KB on the wire.
    let ops = "BT /F1 12 Tf 72 712 Td (slow) Tj ET\n".repeat(400_000);
    let pdf_slow = pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        {
            let z = zlib(ops.as_bytes());
            let mut o = format!("<< /Filter /FlateDecode /Length {} >>\nstream\n", z.len()).into_bytes();
            o.extend_from_slice(&z);
            o.extend_from_slice(b"\nendstream");
            o
        },
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]);
    let raw = mail_with_attachments(
        "Slow",
        "slow file",
        &[("slow.pdf", "application/pdf", pdf_slow)],
    );
    let addr = card["archive_address"].as_str().unwrap();
    assert!(app.send(&[addr], raw.as_bytes()).await.starts_with("250"));
    let entry = settled_entry(&app, &card).await;
    assert_eq!(status_of(&entry, "slow.pdf"), "failed: time limit");
    app.shutdown().await;
}

#[tokio::test]
async fn too_many_parts_and_too_deep_nesting_are_stored_and_shown_within_bounds() {
    let app = spawn_app_with(&[
        ("ingest.max_mime_parts", "1000"),
        ("ingest.max_mime_depth", "32"),
    ])
    .await;
    let cases = [
        (
            "Many parts",
            many_parts(10_000),
            "more than 1000 MIME parts",
        ),
        ("Deep", deeply_nested(100), "nested deeper than 32 levels"),
        (
            "Russian dolls",
            nested_messages(5_000),
            "more than 1000 MIME parts",
        ),
    ];
    for (title, raw, skipped) in &cases {
        let card = app.create_card(title).await;
        let addr = card["archive_address"].as_str().unwrap();
        assert!(
            app.send(&[addr], raw.as_bytes()).await.starts_with("250"),
            "{title}"
        );
        let h = app.wait_history(card["id"].as_i64().unwrap(), 1).await;
        let entry = &h["entries"][0];
        let notes = entry["skipped"].to_string();
        assert!(notes.contains(skipped), "{title}: {notes}");
        if *title == "Many parts" {
            let n = entry["attachments"].as_array().unwrap().len();
            assert!(n > 900 && n <= 1000, "{n} attachments");
        }
        // The exact bytes are kept, whatever was read of them.
        let raw_path = format!("/api/entries/{}/raw", entry["id"]);
        let got = app.get(&raw_path).await.bytes().await.unwrap();
        assert_eq!(&got[..], raw.as_bytes(), "{title}");
    }
    let card = app.create_card("After").await;
    let addr = card["archive_address"].as_str().unwrap().to_owned();
    // The gateway still takes ordinary mail.
    let ok = common::forwarded_mail("after@x", "After the storm", "The ordinary quokka arrives.");
    assert!(app.send(&[&addr], &ok).await.starts_with("250"));
    app.wait_search("quokka", 1).await;
    app.shutdown().await;
}

#[tokio::test]
async fn costly_searches_are_refused_or_stopped_with_a_json_error() {
    let app = spawn_app_with(&[]).await;
    let card = app.create_card("Search").await;
    let addr = card["archive_address"].as_str().unwrap();
    let raw = common::forwarded_mail("s@x", "Invoices", "invoice invoiced invoicing");
    assert!(app.send(&[addr], &raw).await.starts_with("250"));
    app.wait_search("invoice", 1).await;
    let refused = [
        ("a*", "at least 2 letters"),
        (".*", "at least 2 letters"),
        ("body:[a TO z]", "ranges are not supported"),
        ("subject:IN [a b]", "not supported"),
    ];
    for (q, needle) in refused {
        let r = app.get(&format!("/api/search?q={}", urlencode(q))).await;
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{q}: {body}"
        );
    }
    let deep = format!("{}invoice{}", "(".repeat(33), ")".repeat(33));
    let r = app
        .get(&format!("/api/search?q={}", urlencode(&deep)))
        .await;
    assert_eq!(r.status(), 400);
    // A deep nesting far beyond would overflow a recursive parser's stack.
    let deeper = format!("{}x{}", "(".repeat(500), ")".repeat(500));
    let r = app
        .get(&format!("/api/search?q={}", urlencode(&deeper)))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.get_json("/api/search?q=invoic*").await["total"], 1);
    app.shutdown().await;

    // A search over its time budget is stopped and answered 503 + Retry-After.
    let app = spawn_app_with(&[("search.timeout_ms", "0")]).await;
    let card = app.create_card("Budget").await;
    let raw = common::forwarded_mail("b@x", "Budget", "anything at all");
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    app.wait_history(card["id"].as_i64().unwrap(), 1).await;
    let r = app.get("/api/search?q=anything").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    app.shutdown().await;
}

#[tokio::test]
async fn a_prefix_that_stands_for_too_many_words_asks_for_more_letters() {
    let app = spawn_app_with(&[("search.max_prefix_terms", "5")]).await;
    let card = app.create_card("Prefixes").await;
    let words: Vec<String> = (0..10).map(|i| format!("zebra{i}x")).collect();
    let raw = common::forwarded_mail("p@x", "Herd", &words.join(" "));
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    app.wait_search("zebra0x", 1).await;
    let r = app.get("/api/search?q=zebr*").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 5 words"),
        "{body}"
    );
    assert_eq!(app.get_json("/api/search?q=zebra1*").await["total"], 1);
    app.shutdown().await;
}

/// A message whose parsing needs more memory than the process may have: it
/// aborts the gateway. The attempt was counted before the work began, so each
/// start knows; after `ingest.max_attempts` it is parked as failed and the
/// mail queued behind it flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_aborts_the_process_is_parked_after_max_attempts() {
    use common::process::{api_get, dossier, run_ok, ServerProcess};
    let dir = tempfile::tempdir().unwrap();
    let card: Value = serde_json::from_slice(
        &run_ok(dossier(dir.path()).args(["card", "create", "Poison"])).stdout,
    )
    .unwrap();
    let rcpt = card["archive_address"].as_str().unwrap().to_owned();
    let env = [
        ("DOSSIER_INGEST__MAX_ATTEMPTS", "2"),
        // Raised so the message reaches the parser whole.
        ("DOSSIER_SMTP__MAX_MESSAGE_BYTES", "52428800"),
        ("DOSSIER_INGEST__MAX_HEADER_BYTES", "52428800"),
        ("DOSSIER_ARCHIVE__ACCEPT_FROM", "anyone"),
    ];
    let limit = Some(700 << 20);
    // Five million header lines: about a gigabyte once parsed.
    let mut poison = b"From: a@client.example\r\nSubject: poison\r\n".to_vec();
    poison.extend_from_slice(&b"X-A: b\r\n".repeat(5_000_000));
    poison.extend_from_slice(b"\r\nbody\r\n");
    let ordinary = common::forwarded_mail("wombat@x", "Ordinary", "The ordinary wombat.");

    let mut server = ServerProcess::start_with(dir.path(), &env, limit).await;
    let mut c = common::SmtpClient::connect(server.smtp).await;
    c.ehlo().await;
    assert!(c
        .send_mail("a@client.example", &[&rcpt], &poison)
        .await
        .starts_with("250"));
    // Queued behind it, while the worker chews on the poison.
    let behind = c.send_mail("s@team.example", &[&rcpt], &ordinary).await;
    let status = server
        .exited(Duration::from_secs(60))
        .await
        .expect("the poison aborts the gateway");
    assert!(!status.success());
    // The next start takes the poison again (a second interrupted attempt)…
    let mut server = ServerProcess::start_with(dir.path(), &env, limit).await;
    assert!(
        server.exited(Duration::from_secs(60)).await.is_some(),
        "second attempt"
    );
    // …and the one after parks it: the gateway stays up and the queue flows.
    let server = ServerProcess::start_with(dir.path(), &env, limit).await;
    let token = std::fs::read_to_string(dir.path().join("data/admin-token")).unwrap();
    let token = token.trim();
    let mut c = common::SmtpClient::connect(server.smtp).await;
    c.ehlo().await;
    let after = common::forwarded_mail("quokka@x", "After", "The ordinary quokka.");
    assert!(c
        .send_mail("s@team.example", &[&rcpt], &after)
        .await
        .starts_with("250"));
    let mut want = vec!["quokka"];
    if behind.starts_with("250") {
        want.push("wombat");
    }
    for word in want {
        for i in 0..=200 {
            let found = api_get(server.http, token, &format!("/api/search?q={word}")).await;
            if found["total"] == 1 {
                break;
            }
            assert!(i < 200, "{word} never became searchable");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let failed = api_get(server.http, token, "/api/admin/failed").await;
    let text = failed.to_string();
    assert!(text.contains("interrupted 2 times"), "{text}");
}
