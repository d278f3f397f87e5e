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
