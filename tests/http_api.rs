//! The HTTP API's contract for bad input: a defined JSON error, never a 500.

mod common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn error_code(r: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.expect("error bodies are JSON");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn healthz_needs_no_token_but_the_api_does() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        "/api/cards",
        "/api/search?q=x",
        "/api/entries/1",
        "/api/documents/1",
        "/api/cards/1/history",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            error_code(r, StatusCode::UNAUTHORIZED).await,
            "unauthorized",
            "{path}"
        );
        let r = app.get_as(path, "dsr_not-a-real-token").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = app
        .client
        .get(app.url("/api/cards"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

#[tokio::test]
async fn cards_can_be_created_listed_and_read() {
    let app = spawn_app().await;
    let card = app.create_card("  Big deal  ").await;
    assert_eq!(card["title"], "Big deal");
    assert_eq!(card["status"], "open");
    let address = card["archive_address"].as_str().unwrap();
    let (code, domain) = address.split_once('@').unwrap();
    assert_eq!(domain, "archive.localhost");
    assert_eq!(code.len(), 16);
    assert!(code
        .chars()
        .all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)));
    let list = app.get_json("/api/cards").await;
    assert_eq!(list["total"], 1);
    let one = app.get_json(&format!("/api/cards/{}", card["id"])).await;
    assert_eq!(one["archive_address"], card["archive_address"]);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_json_and_bad_fields_are_4xx() {
    let app = spawn_app().await;
    let send = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/api/cards"))
            .bearer_auth(&app.token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(
            send("{not json", "application/json").await.unwrap(),
            StatusCode::BAD_REQUEST
        )
        .await,
        "bad_request"
    );
    assert_eq!(
        error_code(
            send("{\"title\": 5}", "application/json").await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "unprocessable"
    );
    assert_eq!(
        error_code(
            send("{}", "application/json").await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "unprocessable"
    );
    assert_eq!(
        error_code(
            send("{\"title\": \"   \"}", "application/json")
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "unprocessable"
    );
    assert_eq!(
        error_code(
            send("{\"title\": \"x\"}", "text/plain").await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        )
        .await,
        "unsupported_media_type"
    );
    let long = json!({ "title": "x".repeat(501) });
    assert_eq!(
        error_code(
            app.post_json("/api/cards", &long).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "unprocessable"
    );
    let huge = json!({ "title": "x".repeat(2_000_000) });
    assert_eq!(
        error_code(
            app.post_json("/api/cards", &huge).await,
            StatusCode::PAYLOAD_TOO_LARGE
        )
        .await,
        "payload_too_large"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_ids_limits_and_queries_are_4xx() {
    let app = spawn_app().await;
    let card = app.create_card("x").await;
    let cases: &[(&str, StatusCode)] = &[
        ("/api/cards/abc", StatusCode::BAD_REQUEST),
        (
            "/api/cards/99999999999999999999999",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/cards/424242", StatusCode::NOT_FOUND),
        ("/api/cards/-1/history", StatusCode::NOT_FOUND),
        ("/api/entries/1", StatusCode::NOT_FOUND),
        ("/api/entries/xyz/raw", StatusCode::BAD_REQUEST),
        ("/api/documents/7", StatusCode::NOT_FOUND),
        ("/api/cards?limit=100000", StatusCode::BAD_REQUEST),
        ("/api/cards?limit=0", StatusCode::BAD_REQUEST),
        ("/api/cards?limit=abc", StatusCode::BAD_REQUEST),
        ("/api/cards?offset=-5", StatusCode::BAD_REQUEST),
        (
            "/api/search?q=x&limit=99999999999999999999999999",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/search?q=%22unbalanced", StatusCode::BAD_REQUEST),
        ("/api/search?q=nosuchfield:foo", StatusCode::BAD_REQUEST),
        (
            "/api/search?q=x&card_id=notanumber",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/nope", StatusCode::NOT_FOUND),
    ];
    for (path, status) in cases {
        let r = app.get(path).await;
        assert_eq!(r.status(), *status, "{path}");
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|_| panic!("{path}: JSON error body"));
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let ok = app
        .get(&format!(
            "/api/cards/{}/history?limit=200&offset=0",
            card["id"]
        ))
        .await;
    assert_eq!(ok.status(), 200);
    let r = app
        .client
        .delete(app.url("/api/cards"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.shutdown().await;
}

#[tokio::test]
async fn only_owner_or_admin_may_regenerate_an_address() {
    let app = spawn_app().await;
    let card = app.create_card("Owned by admin").await;
    let member = app.add_user("member@team.example", false).await;
    let path = format!("/api/cards/{}/archive-address", card["id"]);
    let r = app
        .client
        .post(app.url(&path))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, StatusCode::FORBIDDEN).await, "forbidden");
    // The member can read it, though (cards are visible to the team).
    assert_eq!(
        app.get_as(&format!("/api/cards/{}", card["id"]), &member)
            .await
            .status(),
        200
    );
    let me: Value = app.get_as("/api/me", &member).await.json().await.unwrap();
    assert_eq!(me["email"], "member@team.example");
    assert_eq!(me["is_admin"], false);
    app.shutdown().await;
}

#[tokio::test]
async fn the_web_ui_is_served() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(r.text().await.unwrap().contains("<title>dossier</title>"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_parked_visible_and_retryable() {
    let app = spawn_app().await;
    let card = app.create_card("Broken").await;
    // A queue row whose raw bytes are missing can never be processed.
    let store = dossier::store::Store::open(&app.data_dir().join("dossier.sqlite3"))
        .await
        .unwrap();
    store
        .enqueue(&[dossier::store::NewMessage {
            sha256: "0".repeat(64),
            size: 1,
            source: "smtp",
            mail_from: "x@team.example".into(),
            helo: "h".into(),
            peer: "p".into(),
            cards: vec![(card["id"].as_i64().unwrap(), "r".into())],
            trusted: false,
            quarantine: None,
            annotations: None,
        }])
        .await
        .unwrap();
    store.close().await;
    let failed = app.wait_total("/api/admin/failed", 1).await;
    let m = &failed["messages"][0];
    assert_eq!(m["attempts"], 5);
    assert!(m["error"].as_str().unwrap().contains("No such file"), "{m}");
    let r = app
        .post_json(
            &format!("/api/admin/failed/{}/retry", m["id"]),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = app
        .post_json("/api/admin/failed/424242/retry", &Value::Null)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let member = app.add_user("m@team.example", false).await;
    assert_eq!(
        app.get_as("/api/admin/failed", &member).await.status(),
        StatusCode::FORBIDDEN
    );
    app.shutdown().await;
}
