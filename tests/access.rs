//! Who sees what: private cards are visible to their owner, the users they are
//! shared with and admins; everyone else gets 404s, and search (totals and
//! facets included) behaves as if the card did not exist.

mod common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn private_cards_are_hidden_everywhere() {
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let bob_id = app
        .get_as("/api/me", &bob)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // Ann creates a private card and an open one.
    let post = |token: &str, path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let secret: Value = post(
        &ann,
        "/api/cards",
        json!({"title": "Secret deal", "visibility": "private"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let open: Value = post(&ann, "/api/cards", json!({"title": "Open deal"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(secret["visibility"], "private");
    assert_eq!(open["visibility"], "everyone");
    let att = b"From: Sam <sam@team.example>\r\nSubject: hush\r\nMessage-ID: <hush@x>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhushword\r\n--b\r\n\
Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=s.pdf\r\n\r\nx\r\n--b--\r\n";
    assert!(app
        .send(&[secret["archive_address"].as_str().unwrap()], att)
        .await
        .starts_with("250"));
    assert!(app
        .send(
            &[open["archive_address"].as_str().unwrap()],
            &common::forwarded_mail("o@x", "Open", "hushword open")
        )
        .await
        .starts_with("250"));
    let entries = app.wait_history(secret["id"].as_i64().unwrap(), 1).await;
    app.wait_search("hushword", 2).await; // the admin sees both
    let entry = &entries["entries"][0];
    let doc = entry["attachments"][0]["id"].as_i64().unwrap();

    // Bob sees nothing of it: not in lists, not by id, not in search or facets.
    let sid = secret["id"].as_i64().unwrap();
    let patch = |token: &str, body: Value| {
        app.client
            .patch(app.url(&format!("/api/cards/{sid}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    for path in [
        format!("/api/cards/{sid}"),
        format!("/api/cards/{sid}/history"),
        format!("/api/cards/{sid}/export"),
        format!("/api/entries/{}", entry["id"]),
        format!("/api/entries/{}/raw", entry["id"]),
        format!("/api/documents/{doc}"),
    ] {
        assert_eq!(
            app.get_as(&path, &bob).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let cards: Value = app.get_as("/api/cards", &bob).await.json().await.unwrap();
    assert_eq!(cards["total"], 1);
    let found: Value = app
        .get_as("/api/search?q=hushword&facets=true", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1);
    assert_eq!(found["facets"]["card"].as_array().unwrap().len(), 1);
    let scoped: Value = app
        .get_as(&format!("/api/search?q=hushword&card_id={sid}"), &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scoped["total"], 0);
    // Bob may not change or share it either (he cannot even see it).
    let r = post(
        &bob,
        &format!("/api/cards/{sid}/shares"),
        json!({"user_id": bob_id}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Ann shares it with Bob: now he sees it.
    let r = post(
        &ann,
        &format!("/api/cards/{sid}/shares"),
        json!({"user_id": bob_id}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["shared_with"],
        json!([bob_id])
    );
    assert_eq!(
        app.get_as(&format!("/api/documents/{doc}"), &bob)
            .await
            .status(),
        StatusCode::OK
    );
    let found: Value = app
        .get_as("/api/search?q=hushword", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 2);
    // But only the owner (or an admin) may change who sees it.
    let r = patch(&bob, json!({"visibility": "everyone"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .delete(app.url(&format!("/api/cards/{sid}/shares/{bob_id}")))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_as(&format!("/api/cards/{sid}"), &bob)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Making it public opens it to everyone; bad values are 422.
    let r = patch(&ann, json!({"visibility": "public"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = patch(&ann, json!({"visibility": "everyone"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_as(&format!("/api/cards/{sid}"), &bob)
            .await
            .status(),
        StatusCode::OK
    );
    app.shutdown().await;
}
