//! Deletion is permanent and remembered: the content leaves the data and index
//! directories (scanned for a marker), the history keeps a tombstone, the audit
//! log says who and when, and the rights policy decides who may.

mod common;

use std::path::Path;

use common::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(p.display().to_string());
                }
            }
        }
    }
    out
}

/// Every term of every field of every segment on disk (deleted documents
/// included), and whether any segment still holds deleted documents.
fn index_terms(dir: &Path) -> (Vec<String>, bool) {
    let index = tantivy::Index::open_in_dir(dir).unwrap();
    let reader = index.reader().unwrap();
    let searcher = reader.searcher();
    let mut terms = Vec::new();
    let mut deletes = false;
    for seg in searcher.segment_readers() {
        deletes |= seg.num_deleted_docs() > 0;
        for (field, entry) in index.schema().fields() {
            if !entry.is_indexed()
                || !matches!(entry.field_type(), tantivy::schema::FieldType::Str(_))
            {
                continue;
            }
            let inverted = seg.inverted_index(field).unwrap();
            let mut stream = inverted.terms().stream().unwrap();
            while stream.advance() {
                terms.push(String::from_utf8_lossy(stream.key()).into_owned());
            }
        }
    }
    (terms, deletes)
}

/// A marker found anywhere: files under data/ and index/, or index terms.
fn traces(app: &TestApp, marker: &str) -> Vec<String> {
    let mut found = files_containing(&app.data_dir(), marker.as_bytes());
    found.extend(files_containing(
        &app.dir.path().join("index"),
        marker.as_bytes(),
    ));
    let (terms, _) = index_terms(&app.dir.path().join("index"));
    found.extend(
        terms
            .into_iter()
            .filter(|t| t.contains(marker))
            .map(|t| format!("index term {t}")),
    );
    found
}

/// A forward from Sam with a plain-text attachment (8bit: the marker is in
/// the raw message literally) and a body.
fn mail_with_attachment(id: &str, body: &str, attachment: &str) -> Vec<u8> {
    format!(
        "From: Sam Sales <sam@team.example>\r\nTo: archive\r\nSubject: Fwd: Price list\r\n\
Date: Tue, 3 Jun 2025 09:00:00 +0000\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
---------- Forwarded message ---------\r\nFrom: Jane Client <jane@client.example>\r\n\
Date: Mon, 2 Jun 2025 at 15:04\r\nSubject: Price list\r\nTo: Sam Sales <sam@team.example>\r\n\r\n{body}\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8; name=prices.txt\r\n\
Content-Disposition: attachment; filename=prices.txt\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
{attachment}\r\n--b1--\r\n"
    )
    .into_bytes()
}

async fn send_to(app: &TestApp, cards: &[&Value], raw: &[u8]) {
    let rcpts: Vec<&str> = cards
        .iter()
        .map(|c| c["archive_address"].as_str().unwrap())
        .collect();
    assert!(app.send(&rcpts, raw).await.starts_with("250"));
    for c in cards {
        let id = c["id"].as_i64().unwrap();
        for _ in 0..200 {
            let h = app.get_json(&format!("/api/cards/{id}/history")).await;
            if h["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "email")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

async fn only_entry(app: &TestApp, card: &Value) -> Value {
    let h = app
        .get_json(&format!("/api/cards/{}/history", card["id"]))
        .await;
    assert_eq!(h["total"], 1, "{h}");
    h["entries"][0].clone()
}

#[tokio::test]
async fn a_deleted_attachment_leaves_nothing_on_disk_and_a_tombstone_in_the_history() {
    let app = spawn_app().await;
    let card = app.create_card("Prices").await;
    // Large enough for SQLite's overflow pages, which a plain delete frees
    // without overwriting (secure_delete does overwrite them).
    let list: String = (0..400)
        .map(|i| format!("zebracorn4711 rack {i}: 1.250 EUR\r\n"))
        .collect();
    let raw = mail_with_attachment("del-doc@x", "See the attached list, okapi stays.", &list);
    send_to(&app, &[&card], &raw).await;
    let entry = only_entry(&app, &card).await;
    let doc = &entry["attachments"][0];
    assert_eq!(doc["filename"], "prices.txt");
    assert_eq!(doc["can"]["delete"], true);
    assert_eq!(app.wait_search("zebracorn4711", 1).await["total"], 1);
    // The scan sees the marker before: in the spool, the blob store and SQLite.
    let before = traces(&app, "zebracorn4711");
    assert!(before.iter().any(|f| f.contains("spool")), "{before:?}");
    assert!(before.iter().any(|f| f.contains("blobs")), "{before:?}");
    assert!(
        before.iter().any(|f| f.contains("index term")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|f| f.contains("dossier.sqlite3")),
        "{before:?}"
    );

    let path = format!("/api/documents/{}", doc["id"]);
    let t = app
        .call_ok(
            Method::DELETE,
            &path,
            &app.token,
            Some(json!({"reason": "sent by mistake"})),
            200,
        )
        .await;
    assert_eq!(t["filename"], "prices.txt");
    assert_eq!(t["size"], doc["size"]);
    assert_eq!(t["sha256"], doc["sha256"]);
    assert_eq!(t["deleted"]["reason"], "sent by mistake");
    assert_eq!(t["deleted"]["deleted_by"]["name"], "Administrator");
    assert_eq!(t["can"]["delete"], false);

    // Gone from search before the call returned: no waiting here.
    assert_eq!(
        app.get_json("/api/search?q=zebracorn4711").await["total"],
        0
    );
    // Nothing of it in the data or index directory, or among the index terms.
    assert_eq!(traces(&app, "zebracorn4711"), Vec::<String>::new());
    let (_, deletes) = index_terms(&app.dir.path().join("index"));
    assert!(!deletes, "no segment keeps deleted documents");
    // The raw message has a placeholder where the attachment was; the rest stays.
    let raw_now = app
        .get(&format!("/api/entries/{}/raw", entry["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        raw_now.contains("This attachment was deleted permanently"),
        "{raw_now}"
    );
    assert!(raw_now.contains("File: prices.txt") && raw_now.contains("Reason: sent by mistake"));
    assert!(raw_now.contains("okapi stays") && raw_now.contains("Message-ID: <del-doc@x>"));
    // The entry is still there, body and all; search finds it by its body.
    assert_eq!(app.get_json("/api/search?q=okapi").await["total"], 1);

    // The history shows the tombstone in place; it cannot be deleted or fetched.
    let e = only_entry(&app, &card).await;
    assert_eq!(e["attachments"][0]["deleted"]["reason"], "sent by mistake");
    assert_eq!(app.get(&path).await.status(), 410);
    assert_eq!(
        app.call(Method::DELETE, &path, &app.token, None)
            .await
            .status(),
        409
    );
    // The audit log: who, when, what (name, size, digest), not the content.
    let audit = app
        .get_json("/api/admin/audit?action=delete_document")
        .await;
    assert_eq!(audit["total"], 1);
    let ev = &audit["events"][0];
    assert_eq!(ev["target_id"], doc["id"]);
    assert_eq!(ev["details"]["filename"], "prices.txt");
    assert_eq!(ev["details"]["sha256"], doc["sha256"]);
    assert_eq!(ev["details"]["raw_message_rewritten"], true);
    assert!(ev["at"].is_string() && ev["actor_id"].is_i64());
    app.shutdown().await;
}

#[tokio::test]
async fn a_deleted_entry_takes_its_mail_documents_and_index_with_it() {
    let app = spawn_app().await;
    let card = app.create_card("Erase").await;
    let keep = common::forwarded_mail("keep@x", "Stays", "The capybara order stays.");
    send_to(&app, &[&card], &keep).await;
    let raw = mail_with_attachment(
        "del-entry@x",
        "quagga8821 body secret",
        "narwhal5512 file secret",
    );
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    let h = app.wait_history(card["id"].as_i64().unwrap(), 2).await;
    let entry = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body_text"].as_str().unwrap().contains("quagga8821"))
        .unwrap()
        .clone();
    app.wait_search("narwhal5512", 1).await;
    assert!(!traces(&app, "quagga8821").is_empty());

    let path = format!("/api/entries/{}", entry["id"]);
    let t = app
        .call_ok(
            Method::DELETE,
            &format!("{path}?reason=GDPR%20request"),
            &app.token,
            None,
            200,
        )
        .await;
    assert_eq!(t["kind"], "email");
    assert_eq!(t["deleted"]["reason"], "GDPR request");
    assert_eq!(t["subject"], "");
    assert_eq!(t["body_text"], "");
    assert_eq!(t["from"], Value::Null);
    assert_eq!(t["attachments"][0]["filename"], "prices.txt");
    assert!(t["attachments"][0]["deleted"].is_object());
    for marker in ["quagga8821", "narwhal5512"] {
        assert_eq!(
            app.get_json(&format!("/api/search?q={marker}")).await["total"],
            0
        );
        assert_eq!(traces(&app, marker), Vec::<String>::new(), "{marker}");
    }
    // In place in the history, as a tombstone; never deleted itself.
    let h = app
        .get_json(&format!("/api/cards/{}/history", card["id"]))
        .await;
    assert_eq!(h["total"], 2);
    assert!(h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == entry["id"] && e["deleted"].is_object()));
    assert_eq!(
        app.get_json(&format!("/api/cards/{}/history?deleted=false", card["id"]))
            .await["total"],
        1
    );
    assert_eq!(
        app.call(Method::DELETE, &path, &app.token, None)
            .await
            .status(),
        409
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &path,
            &app.token,
            Some(json!({"handled": true}))
        )
        .await
        .status(),
        409
    );
    assert_eq!(app.get(&format!("{path}/raw")).await.status(), 410);
    // The other mail is untouched: searchable, raw intact, exported.
    assert_eq!(app.get_json("/api/search?q=capybara").await["total"], 1);
    let mbox = app
        .get(&format!("/api/cards/{}/export", card["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(mbox.contains("capybara") && !mbox.contains("quagga8821"));
    let audit = app.get_json("/api/admin/audit?action=delete_entry").await;
    assert_eq!(
        audit["events"][0]["details"]["documents"][0]["filename"],
        "prices.txt"
    );
    assert_eq!(audit["events"][0]["details"]["raw_messages_erased"], 1);
    // The same mail delivered again (a re-forward, an IMAP re-sync) stays
    // deleted: accepted, linked to the tombstone, its bytes erased again.
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    let later = common::forwarded_mail("later@x", "Later", "The okapi order follows.");
    send_to(&app, &[&card], &later).await;
    app.wait_search("okapi", 1).await;
    for _ in 0..200 {
        if traces(&app, "quagga8821").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    for marker in ["quagga8821", "narwhal5512"] {
        assert_eq!(traces(&app, marker), Vec::<String>::new(), "{marker}");
        assert_eq!(
            app.get_json(&format!("/api/search?q={marker}")).await["total"],
            0
        );
    }
    let h = app
        .get_json(&format!("/api/cards/{}/history", card["id"]))
        .await;
    assert_eq!(h["total"], 3, "{h}");
    app.shutdown().await;
}

#[tokio::test]
async fn bytes_another_live_entry_shares_stay_until_it_goes_too() {
    let app = spawn_app().await;
    let a = app.create_card("A").await;
    let b = app.create_card("B").await;
    // One message for two cards: two entries, one raw message, one blob.
    let raw = mail_with_attachment("shared@x", "for both", "ibex3131 shared file");
    send_to(&app, &[&a, &b], &raw).await;
    let (ea, eb) = (only_entry(&app, &a).await, only_entry(&app, &b).await);
    let (da, db) = (&ea["attachments"][0], &eb["attachments"][0]);
    assert_eq!(da["sha256"], db["sha256"]);

    app.call_ok(
        Method::DELETE,
        &format!("/api/documents/{}", da["id"]),
        &app.token,
        None,
        200,
    )
    .await;
    // B still has its file and its raw message with it.
    let file = app.get(&format!("/api/documents/{}", db["id"])).await;
    assert_eq!(file.status(), 200);
    assert!(file.text().await.unwrap().contains("ibex3131"));
    let raw_b = app
        .get(&format!("/api/entries/{}/raw", eb["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(raw_b.contains("ibex3131"));
    // Attachment text is indexed once the sandboxed extractor has read it.
    app.wait_search("ibex3131", 1).await;
    let audit = app
        .get_json("/api/admin/audit?action=delete_document")
        .await;
    assert_eq!(
        audit["events"][0]["details"]["raw_message_rewritten"],
        false
    );

    // Once B's copy goes as well, nothing is left.
    app.call_ok(
        Method::DELETE,
        &format!("/api/documents/{}", db["id"]),
        &app.token,
        None,
        200,
    )
    .await;
    assert_eq!(traces(&app, "ibex3131"), Vec::<String>::new());
    let raw_a = app
        .get(&format!("/api/entries/{}/raw", ea["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(raw_a.contains("deleted permanently") && raw_a.contains("for both"));
    app.shutdown().await;
}

async fn upload(
    app: &TestApp,
    token: &str,
    card: &Value,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("title", "Uploaded");
    app.client
        .post(app.url(&format!("/api/cards/{}/documents", card["id"])))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn documents_upload_to_a_card_with_limits_and_are_searchable() {
    let app = common::spawn_app_with(&[("history.max_document_bytes", "1000")]).await;
    let card = app.create_card("Docs").await;
    let r = upload(
        &app,
        &app.token,
        &card,
        "../../etc/offer.txt",
        b"the gazelle offer".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["kind"], "document");
    assert_eq!(e["subject"], "Uploaded");
    let d = &e["attachments"][0];
    assert_eq!(d["filename"], "offer.txt", "no directories");
    assert_eq!(d["text_status"], "ok");
    assert_eq!(d["uploaded_by"]["name"], "Administrator");
    assert_eq!(app.get_json("/api/search?q=gazelle").await["total"], 1);
    let got = app.get(&format!("/api/documents/{}", d["id"])).await;
    assert_eq!(got.text().await.unwrap(), "the gazelle offer");

    assert_eq!(
        upload(&app, &app.token, &card, "big.txt", vec![b'x'; 1001])
            .await
            .status(),
        413
    );
    assert_eq!(
        upload(&app, &app.token, &card, "empty.txt", vec![])
            .await
            .status(),
        422
    );
    let no_file = reqwest::multipart::Form::new().text("title", "x");
    let r = app
        .client
        .post(app.url(&format!("/api/cards/{}/documents", card["id"])))
        .bearer_auth(&app.token)
        .multipart(no_file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .call(
            Method::POST,
            &format!("/api/cards/{}/documents", card["id"]),
            &app.token,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status(), 415);
    let r = upload(&app, "dsr_nope", &card, "a.txt", b"x".to_vec()).await;
    assert_eq!(r.status(), 401);
    app.shutdown().await;
}

/// Who each rule lets delete: [author, card owner, someone else, admin].
const MATRIX: [(&str, [bool; 4]); 5] = [
    ("nobody", [false, false, false, false]),
    ("admins", [false, false, false, true]),
    ("author", [true, false, false, true]),
    ("card_owner", [false, true, false, true]),
    ("everyone", [true, true, true, true]),
];

#[tokio::test]
async fn the_rights_policy_decides_who_deletes_and_the_server_enforces_it() {
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let olga = app.add_user("olga@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let card = app
        .created(&olga, "/api/cards", json!({"title": "Olga's card"}))
        .await;
    let actors = [&ann, &olga, &bob, &app.token];

    for (rule, expect) in MATRIX {
        app.set_rule("delete_entry", json!({"who": rule, "within_days": null}))
            .await;
        app.set_rule("delete_document", json!({"who": rule, "within_days": null}))
            .await;
        for (actor, allowed) in actors.iter().zip(expect) {
            // A note by Ann, and a document Ann uploaded, both on Olga's card.
            let note = app
                .created(
                    &ann,
                    &format!("/api/cards/{}/entries", card["id"]),
                    json!({"kind": "note", "text": "x"}),
                )
                .await;
            let path = format!("/api/entries/{}", note["id"]);
            let seen: Value = app.get_as(&path, actor).await.json().await.unwrap();
            assert_eq!(seen["can"]["delete"], allowed, "{rule}: entry can.delete");
            let r = app.call(Method::DELETE, &path, actor, None).await;
            assert_eq!(
                r.status().as_u16(),
                if allowed { 200 } else { 403 },
                "{rule}: delete entry"
            );

            let up: Value = upload(&app, &ann, &card, "f.txt", b"file".to_vec())
                .await
                .json()
                .await
                .unwrap();
            let doc = &up["attachments"][0];
            let seen: Value = app
                .get_as(&format!("/api/entries/{}", up["id"]), actor)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(
                seen["attachments"][0]["can"]["delete"], allowed,
                "{rule}: document can.delete"
            );
            let r = app
                .call(
                    Method::DELETE,
                    &format!("/api/documents/{}", doc["id"]),
                    actor,
                    None,
                )
                .await;
            assert_eq!(
                r.status().as_u16(),
                if allowed { 200 } else { 403 },
                "{rule}: delete document"
            );
            if !allowed {
                let body: Value = r.json().await.unwrap();
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("delete_document"),
                    "{body}"
                );
            }
        }
    }

    // Only within N days of creation, for admins too.
    app.set_rule("delete_entry", json!({"who": "everyone", "within_days": 7}))
        .await;
    app.set_rule(
        "delete_document",
        json!({"who": "everyone", "within_days": 7}),
    )
    .await;
    let note = app
        .created(
            &ann,
            &format!("/api/cards/{}/entries", card["id"]),
            json!({"kind": "note", "text": "old"}),
        )
        .await;
    app.age("entries", &note["id"], 8).await;
    let up: Value = upload(&app, &ann, &card, "old.txt", b"old".to_vec())
        .await
        .json()
        .await
        .unwrap();
    app.age("documents", &up["attachments"][0]["id"], 8).await;
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/entries/{}", note["id"]),
            &app.token,
            None
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/documents/{}", up["attachments"][0]["id"]),
            &app.token,
            None
        )
        .await
        .status(),
        403
    );

    // A mail attachment's author is the team member who forwarded it.
    let sam = app.add_user("sam@team.example", false).await;
    app.set_rule(
        "delete_document",
        json!({"who": "author", "within_days": null}),
    )
    .await;
    let raw = mail_with_attachment("sam@x", "from sam", "file from sam");
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    let mail = loop {
        let h = app
            .get_json(&format!("/api/cards/{}/history?kind=email", card["id"]))
            .await;
        if h["total"] == 1 {
            break h["entries"][0].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(mail["author"]["user"]["email"], "sam@team.example");
    let doc = format!("/api/documents/{}", mail["attachments"][0]["id"]);
    assert_eq!(
        app.call(Method::DELETE, &doc, &bob, None).await.status(),
        403
    );
    assert_eq!(
        app.call(Method::DELETE, &doc, &sam, None).await.status(),
        200
    );
    // A caller who cannot see the card gets a 404, not a hint.
    let private = app
        .created(
            &olga,
            "/api/cards",
            json!({"title": "Hidden", "visibility": "private"}),
        )
        .await;
    let hidden = app
        .created(
            &olga,
            &format!("/api/cards/{}/entries", private["id"]),
            json!({"kind": "note", "text": "x"}),
        )
        .await;
    app.set_rule(
        "delete_entry",
        json!({"who": "everyone", "within_days": null}),
    )
    .await;
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/entries/{}", hidden["id"]),
            &bob,
            None
        )
        .await
        .status(),
        404
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_deletion_a_crash_interrupted_is_finished_at_start_up() {
    let mut app = spawn_app().await;
    let card = app.create_card("Crash").await;
    let raw = mail_with_attachment("crash@x", "body stays", "wolverine7070 file");
    send_to(&app, &[&card], &raw).await;
    app.wait_search("wolverine7070", 1).await;
    let entry = only_entry(&app, &card).await;
    let doc = entry["attachments"][0].clone();
    app.stop().await;
    // What a crash right after the deletion's commit leaves: the rewritten raw
    // message and the tombstone with the work still to do, but the old files
    // and the index untouched.
    let store = dossier::store::Store::open(&app.data_dir().join("dossier.sqlite3"))
        .await
        .unwrap();
    let spool = dossier::blobs::ContentStore::open(&app.data_dir().join("spool")).unwrap();
    let old_sha = store
        .entry_raw_sha(entry["id"].as_i64().unwrap())
        .await
        .unwrap();
    let doc_sha = doc["sha256"].as_str().unwrap();
    let placeholder = dossier::mail::redact::Placeholder {
        filename: Some("prices.txt"),
        size: doc["size"].as_i64().unwrap(),
        sha256: doc_sha,
        deleted_at: "2026-12-02T00:00:00Z",
        deleted_by: "Administrator",
        reason: None,
    };
    let new = dossier::mail::redact::redact(&spool.get(&old_sha).unwrap(), doc_sha, &placeholder)
        .unwrap();
    let rewrite = dossier::store::RawRewrite {
        old_sha,
        new_size: new.len() as i64,
        new_sha: spool.put_durable(&new).unwrap(),
    };
    let row = store.document(doc["id"].as_i64().unwrap()).await.unwrap();
    store
        .tombstone_document(&row, 1, Some("crash test"), Some(&rewrite))
        .await
        .unwrap();
    assert!(!store.pending_erasures().await.unwrap().is_empty());
    store.close().await;
    assert!(!files_containing(&app.data_dir().join("blobs"), b"wolverine7070").is_empty());

    app.start_again().await;
    for _ in 0..200 {
        if traces(&app, "wolverine7070").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(traces(&app, "wolverine7070"), Vec::<String>::new());
    assert_eq!(
        app.get_json("/api/search?q=wolverine7070").await["total"],
        0
    );
    assert_eq!(app.get_json("/api/search?q=stays").await["total"], 1);
    app.shutdown().await;
}
