//! Contact persons: who took part in each mail, the direction they give, and
//! one person's correspondence across the cards the caller may see.

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

fn mail(id: &str, from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\
Message-ID: <{id}>\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn contacts_take_part_in_mail_and_have_a_history_across_cards() {
    let app = common::spawn_app_with(&[("archive.accept_from", "\"anyone\"")]).await;
    let ann = app.add_user("ann@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let deal = app
        .created(&ann, "/api/cards", json!({"title": "Deal"}))
        .await;
    let other = app
        .created(&ann, "/api/cards", json!({"title": "Follow-up deal"}))
        .await;
    let hidden = app
        .created(
            &ann,
            "/api/cards",
            json!({"title": "Ann only", "visibility": "private"}),
        )
        .await;

    let contacts = format!("/api/cards/{}/contacts", deal["id"]);
    for (body, status) in [
        (json!({"emails": ["x@y.example"]}), 422),
        (json!({"name": "X", "emails": ["not-an-address"]}), 422),
        (json!({"name": "X", "age": 3}), 422),
    ] {
        assert_eq!(
            app.call(Method::POST, &contacts, &ann, Some(body.clone()))
                .await
                .status()
                .as_u16(),
            status,
            "{body}"
        );
    }
    let jane = app
        .created(
            &ann,
            &contacts,
            json!({"name": "Jane Client", "emails": ["Jane@Client.example", "jane.c@client.example"],
                   "phone": "+40 721 000 000", "role": "Buyer"}),
        )
        .await;
    assert_eq!(
        jane["emails"],
        json!(["jane.c@client.example", "jane@client.example"])
    );
    assert_eq!(jane["role"], "Buyer");
    let listed: Value = app.get_as(&contacts, &bob).await.json().await.unwrap();
    assert_eq!(listed["total"], 1);

    // Jane writes (incoming); Ann's own mail to her, BCC'd, is outgoing;
    // a mail on another card from Jane's second address; one on a private card.
    for (card, raw) in [
        (
            &deal,
            mail(
                "c1@x",
                "Jane Client <jane@client.example>",
                "ann@team.example",
                "Need a quote",
            ),
        ),
        (
            &deal,
            mail(
                "c2@x",
                "Ann <ann@team.example>",
                "Jane <JANE@client.example>",
                "Here is the quote",
            ),
        ),
        (
            &deal,
            mail(
                "c3@x",
                "Someone <someone@else.example>",
                "ann@team.example",
                "Unrelated",
            ),
        ),
        (
            &other,
            mail(
                "c4@x",
                "Jane <jane.c@client.example>",
                "ann@team.example",
                "Another project",
            ),
        ),
        (
            &hidden,
            mail(
                "c5@x",
                "Jane <jane@client.example>",
                "ann@team.example",
                "Private matter",
            ),
        ),
    ] {
        assert!(app
            .send(&[card["archive_address"].as_str().unwrap()], &raw)
            .await
            .starts_with("250"));
    }
    let h = app.wait_history(deal["id"].as_i64().unwrap(), 3).await;
    app.wait_history(other["id"].as_i64().unwrap(), 1).await;
    app.wait_history(hidden["id"].as_i64().unwrap(), 1).await;
    let by_subject = |s: &str| {
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == s)
            .unwrap()
            .clone()
    };
    let incoming = by_subject("Need a quote");
    assert_eq!(
        incoming["contacts"],
        json!([{"id": jane["id"], "name": "Jane Client"}])
    );
    assert_eq!(incoming["direction"], "incoming");
    let outgoing = by_subject("Here is the quote");
    assert_eq!(outgoing["contacts"][0]["id"], jane["id"]);
    assert_eq!(outgoing["direction"], "outgoing");
    assert_eq!(by_subject("Unrelated")["contacts"], json!([]));

    // A call with Jane, linked by hand.
    let call = app
        .created(
            &ann,
            &format!("/api/cards/{}/entries", deal["id"]),
            json!({"kind": "call", "text": "talked about delivery", "contact_ids": [jane["id"]]}),
        )
        .await;
    assert_eq!(call["contacts"][0]["name"], "Jane Client");
    // Mail another system logged (no original) counts by its addresses too.
    let logged = app
        .created(
            &ann,
            &format!("/api/cards/{}/entries", deal["id"]),
            json!({"kind": "email", "title": "Newsletter", "from": {"address": "news@team.example"},
                   "to": [{"address": "jane@client.example"}]}),
        )
        .await;
    assert_eq!(logged["contacts"][0]["id"], jane["id"]);
    assert_eq!(logged["direction"], "outgoing");

    // Her history across cards: Ann sees all six; Bob not the private one.
    let path = format!("/api/contacts/{}/history", jane["id"]);
    let mine: Value = app.get_as(&path, &ann).await.json().await.unwrap();
    assert_eq!(mine["total"], 6, "{mine}");
    let subjects: Vec<&str> = mine["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"Another project") && subjects.contains(&"Private matter"));
    let bobs: Value = app.get_as(&path, &bob).await.json().await.unwrap();
    assert_eq!(bobs["total"], 5);
    let page: Value = app
        .get_as(&format!("{path}?limit=2"), &ann)
        .await
        .json()
        .await
        .unwrap();
    let next = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_as(&format!("{path}?limit=10&cursor={next}"), &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["entries"].as_array().unwrap().len(), 4);

    // Edit, then remove the contact: the correspondence stays.
    let c = app
        .call_ok(
            Method::PATCH,
            &format!("/api/contacts/{}", jane["id"]),
            &ann,
            Some(json!({"role": "Head of purchasing"})),
            200,
        )
        .await;
    assert_eq!(c["role"], "Head of purchasing");
    assert_eq!(c["emails"].as_array().unwrap().len(), 2);
    app.call_ok(
        Method::DELETE,
        &format!("/api/contacts/{}", jane["id"]),
        &ann,
        None,
        204,
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/contacts/{}", jane["id"]))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_json(&format!("/api/cards/{}/history", deal["id"]))
            .await["total"],
        5
    );
    app.shutdown().await;
}

#[tokio::test]
async fn contacts_of_cards_one_cannot_see_are_not_found() {
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let private = app
        .created(
            &ann,
            "/api/cards",
            json!({"title": "Mine", "visibility": "private"}),
        )
        .await;
    let c = app
        .created(
            &ann,
            &format!("/api/cards/{}/contacts", private["id"]),
            json!({"name": "Secret"}),
        )
        .await;
    for path in [
        format!("/api/contacts/{}", c["id"]),
        format!("/api/contacts/{}/history", c["id"]),
    ] {
        assert_eq!(app.get_as(&path, &bob).await.status(), 404, "{path}");
    }
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/contacts/{}", c["id"]),
            &bob,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status(), 404);
    let all: Value = app
        .get_as("/api/contacts", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 0);
    app.shutdown().await;
}
