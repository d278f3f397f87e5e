//! The web UI in a real headless Chromium: the page signs in with a token,
//! loads the cards and shows search results with highlighted snippets.

mod common;

use std::process::Command;

use common::{forwarded_mail, spawn_app};

const CHROMIUM: &str = "/usr/bin/chromium";

fn dump_dom(url: &str) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "Chromium is needed for this test; scripts/test installs it (apt-get install chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Lets the page's fetches finish before the DOM is printed.
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_lists_cards_and_finds_mail() {
    let app = spawn_app().await;
    let card = app.create_card("Browser <b>card</b>").await;
    let raw = forwarded_mail(
        "ui@x",
        "Warehouse racks",
        "We need the zeppelin racks soon.",
    );
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    app.wait_search("zeppelin", 1).await;

    let url = format!("http://{}/#token={}&q=zeppelin", app.http, app.token);
    let http = app.http;
    let dom = tokio::task::spawn_blocking(move || dump_dom(&url))
        .await
        .unwrap();
    assert!(
        dom.contains("1 result for “zeppelin”"),
        "search results rendered: {dom}"
    );
    assert!(dom.contains("Warehouse racks"), "{dom}");
    assert!(
        dom.contains("<mark>zeppelin</mark>"),
        "highlighted snippet: {dom}"
    );
    // The card title is shown as text, never as markup.
    assert!(
        dom.contains("Browser &lt;b&gt;card&lt;/b&gt;"),
        "escaped title: {dom}"
    );
    // Without a token the page shows the API's refusal instead of data.
    let dom = tokio::task::spawn_blocking(move || dump_dom(&format!("http://{http}/#q=zeppelin")))
        .await
        .unwrap();
    assert!(!dom.contains("Warehouse racks"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_view_shows_history_kinds_open_tasks_tombstones_and_only_allowed_buttons() {
    use reqwest::Method;
    use serde_json::json;
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let card = app
        .created(&ann, "/api/cards", json!({"title": "UI deal"}))
        .await;
    let cid = card["id"].as_i64().unwrap();
    app.created(
        &ann,
        &format!("/api/cards/{cid}/entries"),
        json!({"kind": "note", "title": "<i>Visit</i> notes", "text": "met the buyer"}),
    )
    .await;
    app.created(
        &ann,
        &format!("/api/cards/{cid}/entries"),
        json!({"kind": "call", "title": "Call Jane"}),
    )
    .await;
    app.created(
        &ann,
        &format!("/api/cards/{cid}/tasks"),
        json!({"title": "Send offer", "due_at": "2026-12-20"}),
    )
    .await;
    let gone = app
        .created(
            &ann,
            &format!("/api/cards/{cid}/entries"),
            json!({"kind": "note", "text": "to be deleted"}),
        )
        .await;
    app.call_ok(
        Method::DELETE,
        &format!("/api/entries/{}", gone["id"]),
        &app.token,
        Some(json!({"reason": "duplicate"})),
        200,
    )
    .await;

    let dom_for = |token: String| {
        let url = format!("http://{}/#token={token}&card={cid}", app.http);
        tokio::task::spawn_blocking(move || dump_dom(&url))
    };
    let dom = dom_for(ann.clone()).await.unwrap();
    assert!(
        dom.contains("Open tasks (1)") && dom.contains("Send offer"),
        "{dom}"
    );
    assert!(
        dom.contains("note (2)") && dom.contains("call (1)"),
        "filter bar with counts: {dom}"
    );
    assert!(
        dom.contains("&lt;i&gt;Visit&lt;/i&gt; notes"),
        "titles are text: {dom}"
    );
    assert!(
        dom.contains("Entry deleted") && dom.contains("duplicate"),
        "tombstone in place: {dom}"
    );
    assert!(dom.contains("Add to history"), "{dom}");
    // delete_entry is admins-only by default: Ann sees no delete buttons.
    assert!(!dom.contains("class=\"danger delete-entry\""), "{dom}");
    let dom = dom_for(app.token.clone()).await.unwrap();
    assert!(
        dom.contains("class=\"danger delete-entry\""),
        "the admin may delete: {dom}"
    );
    assert!(dom.contains("by ann@team.example"), "authors shown: {dom}");
    app.shutdown().await;
}
