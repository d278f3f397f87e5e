//! The search language over real HTTP: operators, URL filters, sort, facets,
//! and the 400s for malformed queries.

mod common;

use common::{spawn_app, urlencode, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

fn mail(
    id: &str,
    from: &str,
    date: &str,
    subject: &str,
    body: &str,
    attachment: Option<&str>,
) -> Vec<u8> {
    let head = format!("From: {from}\r\nTo: Sam <sam@team.example>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@search.test>\r\nMIME-Version: 1.0\r\n");
    match attachment {
        None => format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"),
        Some(name) => format!(
            "{head}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
        ),
    }
    .into_bytes()
}

async fn upload(app: &TestApp, card: &Value, raw: Vec<u8>) {
    let r = app.upload_raw(&card["id"], "message/rfc822", raw).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let v = app.get_json(&format!("/api/search?limit=50&{query}")).await;
    let mut subjects: Vec<String> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    subjects
}

fn q(s: &str) -> String {
    format!("q={}", urlencode(s))
}

#[tokio::test]
async fn operators_filters_sort_and_facets() {
    let app = spawn_app().await;
    let a = app.create_card("A").await;
    let b = app.create_card("B").await;
    upload(
        &app,
        &a,
        mail(
            "m1",
            "Jane Doe <jane@sales.acme.com>",
            "Wed, 15 Jan 2025 10:00:00 +0000",
            "Invoice 1",
            "the invoice for racks",
            None,
        ),
    )
    .await;
    upload(
        &app,
        &a,
        mail(
            "m2",
            "Bob <bob@acme.com>",
            "Mon, 10 Mar 2025 10:00:00 +0000",
            "Offer",
            "our exact offer terms",
            Some("offer-2025.pdf"),
        ),
    )
    .await;
    upload(
        &app,
        &b,
        mail(
            "m3",
            "Zoe <zoe@globex.example>",
            "Mon, 2 Jun 2025 10:00:00 +0000",
            "Invitation",
            "meeting invitation about racks",
            None,
        ),
    )
    .await;

    assert_eq!(
        ids(&app, &q("from:acme.com")).await,
        ["Invoice 1", "Offer"],
        "domain and parent domain"
    );
    assert_eq!(
        ids(&app, &q("from:jane")).await,
        ["Invoice 1"],
        "local part / name"
    );
    assert_eq!(
        ids(&app, &q("from:\"Jane Doe\"")).await,
        ["Invoice 1"],
        "display name"
    );
    assert_eq!(
        ids(&app, &q("from:bob@acme.com")).await,
        ["Offer"],
        "whole address"
    );
    assert_eq!(ids(&app, &q("racks -from:acme.com")).await, ["Invitation"]);
    assert_eq!(
        ids(&app, &q("from:globex.example OR from:bob@acme.com")).await,
        ["Invitation", "Offer"]
    );
    assert_eq!(ids(&app, &q("\"exact offer\"")).await, ["Offer"]);
    assert_eq!(
        ids(&app, &q("inv*")).await,
        ["Invitation", "Invoice 1"],
        "prefix"
    );
    assert_eq!(ids(&app, &q("invo*")).await, ["Invoice 1"]);
    assert_eq!(ids(&app, &q("has:attachment")).await, ["Offer"]);
    assert_eq!(
        ids(&app, &q("-has:attachment")).await,
        ["Invitation", "Invoice 1"]
    );
    assert_eq!(ids(&app, &q("filename:offer")).await, ["Offer"]);
    assert_eq!(
        ids(&app, &q("after:2025-03-01")).await,
        ["Invitation", "Offer"]
    );
    assert_eq!(ids(&app, &q("before:2025-03-01")).await, ["Invoice 1"]);
    assert_eq!(
        ids(&app, &q(&format!("racks card:{}", b["id"]))).await,
        ["Invitation"]
    );
    assert_eq!(ids(&app, &q("kind:email subject:offer")).await, ["Offer"]);
    assert_eq!(
        ids(&app, &q("to:sam@team.example racks")).await,
        ["Invitation", "Invoice 1"]
    );

    // URL parameters are the same filters.
    assert_eq!(
        ids(&app, "from=acme.com&has_attachment=true").await,
        ["Offer"]
    );
    assert_eq!(
        ids(&app, "after=2025-02-01&before=2025-04-01").await,
        ["Offer"]
    );
    assert_eq!(
        ids(&app, &format!("kind=email&card_id={}", a["id"])).await,
        ["Invoice 1", "Offer"]
    );

    // Newest first on request; exact totals with paging.
    let v = app
        .get_json(&format!(
            "/api/search?sort=date&limit=2&{}",
            q("racks OR offer")
        ))
        .await;
    assert_eq!(v["total"], 3);
    let order: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["subject"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["Invitation", "Offer"]);

    // Facets count every match, not just the page.
    let v = app.get_json("/api/search?facets=true&limit=1").await;
    let f = &v["facets"];
    assert_eq!(f["kind"][0]["value"], "email");
    assert_eq!(f["kind"][0]["count"], 3);
    let domains: Vec<(String, u64)> = f["sender_domain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["value"].as_str().unwrap().to_owned(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        domains.contains(&("sales.acme.com".into(), 1))
            && domains.contains(&("globex.example".into(), 1)),
        "{f}"
    );
    assert_eq!(f["year"][0]["value"], 2025);
    assert_eq!(f["year"][0]["count"], 3);
    assert_eq!(f["card"].as_array().unwrap().len(), 2);

    // Malformed queries are 400s that name the problem.
    for (query, needle) in [
        (q("after:yesterday"), "after:"),
        (q("has:pdf"), "has:pdf"),
        (
            q("type:complaint"),
            "type:complaint is not a communication type",
        ),
        (q("\"unclosed"), "quote"),
        (q("bogus:1"), "unknown field bogus"),
        ("sort=oldest".to_owned(), "sort"),
        ("frm=acme.com".to_owned(), "frm"),
    ] {
        let r = app.get(&format!("/api/search?{query}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    app.shutdown().await;
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn attachment_text_is_searchable_and_failures_are_visible() {
    let app = spawn_app().await;
    let card = app.create_card("Docs").await;
    let docx = zip_of(&[("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>Wintergarten Angebot</w:t></w:r></w:p></w:body></w:document>")]);
    let part = |name: &str, ct: &str, body: String| {
        format!(
        "--b\r\nContent-Type: {ct}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    )
    };
    let raw = format!(
        "From: Jane <jane@client.example>\r\nSubject: Files\r\nMessage-ID: <files@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nsee the files\r\n{}{}{}--b--\r\n",
        part("offer.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b64(&docx)),
        part("prices.csv", "text/csv", b64(b"sku;qty\nRACK-77;5\n")),
        part("broken.docx", "application/octet-stream", b64(b"this is not a zip")),
    );
    upload(&app, &card, raw.into_bytes()).await;
    assert_eq!(ids(&app, &q("wintergarten")).await, ["Files"], "docx text");
    assert_eq!(ids(&app, &q("rack")).await, ["Files"], "csv text");
    assert_eq!(
        ids(&app, &q("filename:broken")).await,
        ["Files"],
        "found by name"
    );
    let h = app
        .get_json(&format!("/api/cards/{}/history", card["id"]))
        .await;
    let docs = h["entries"][0]["attachments"].as_array().unwrap();
    let status = |name: &str| {
        docs.iter().find(|d| d["filename"] == name).unwrap()["text_status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("offer.docx"), "ok");
    assert_eq!(status("prices.csv"), "ok");
    assert!(
        status("broken.docx").starts_with("failed: "),
        "{}",
        status("broken.docx")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_index_with_an_older_schema_is_rebuilt_from_the_store_at_start_up() {
    let mut app = spawn_app().await;
    let card = app.create_card("Upgrade").await;
    let raw = common::forwarded_mail("upg@x", "Upgrade", "The marmot survives upgrades.");
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    app.wait_search("marmot", 1).await;
    app.stop().await;
    // Replace the index with one of another schema, as an older version wrote.
    let dir = app.dir.path().join("index");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field("old_field", tantivy::schema::TEXT);
    tantivy::Index::create_in_dir(&dir, b.build()).unwrap();
    app.start_again().await;
    assert_eq!(app.wait_search("marmot", 1).await["total"], 1);
    // The mark goes right after the rebuild's last commit.
    let mark_cleared = || async {
        for _ in 0..500 {
            if !dir.join("rebuilding").exists() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    };
    assert!(mark_cleared().await, "a finished rebuild clears its mark");
    app.stop().await;

    // A rebuild killed after clearing the index leaves its mark and an index
    // of the right schema but without the entries: the next start rebuilds.
    let index = dossier::search::SearchIndex::open(&dir).unwrap();
    let (handle, task) = dossier::search::IndexWriterTask::spawn(&index, 20_000_000).unwrap();
    handle.clear().await.unwrap();
    drop(handle);
    task.join();
    std::fs::write(dir.join("rebuilding"), b"").unwrap();
    app.start_again().await;
    assert_eq!(app.wait_search("marmot", 1).await["total"], 1);
    assert!(mark_cleared().await);
    app.shutdown().await;
}

#[tokio::test]
async fn phrases_match_adjacent_words_only_and_are_highlighted() {
    let app = spawn_app().await;
    let card = app.create_card("Phrases").await;
    for (title, text) in [
        ("Racks", "We ordered steel racks for hall three."),
        ("Other", "The racks are steel, not wood."),
        (
            "Steel",
            "racks at the start of the body do not join the title",
        ),
        ("Accents", "Ședința de vânzări e mâine."),
    ] {
        app.created(
            &app.token,
            &format!("/api/cards/{}/entries", card["id"]),
            serde_json::json!({"kind": "note", "title": title, "text": text}),
        )
        .await;
    }
    for (query, n) in [
        ("\"steel racks\"", 1),
        ("steel racks", 3),
        ("\"steel racks for hall\"", 1),
        ("\"racks for steel\"", 0),
        // No pair spans the subject's end and the body's start.
        ("\"steel racks at\"", 0),
        ("racks -\"steel racks\"", 2),
        ("\"sedinta de vanzari\"", 1),
        ("\"steel racks\" OR \"sedinta de\"", 2),
    ] {
        let got = app
            .get_json(&format!("/api/search?q={}", common::urlencode(query)))
            .await;
        assert_eq!(got["total"], n, "{query}");
    }
    let hit = &app.get_json("/api/search?q=%22steel%20racks%22").await["hits"][0];
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>steel</mark> <mark>racks</mark>"),
        "{hit}"
    );
    app.shutdown().await;
}
