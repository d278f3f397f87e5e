//! Admin-managed communication types (with ingest rules) and labels: in use
//! means cannot be deleted; deactivated means kept on old items, not offered
//! for new ones; renaming keeps the links.

mod common;

use common::{forwarded_mail, spawn_app};
use reqwest::Method;
use serde_json::{json, Value};

const TYPES: &str = "/api/admin/communication-types";

#[tokio::test]
async fn admins_manage_types_and_a_type_in_use_stays() {
    let app = spawn_app().await;
    let admin = app.token.clone();
    let ann = app.add_user("ann@team.example", false).await;
    // Admins only.
    assert_eq!(app.get_as(TYPES, &ann).await.status(), 403);
    let r = app
        .call(
            Method::POST,
            TYPES,
            &ann,
            Some(json!({"name": "X", "code": "x"})),
        )
        .await;
    assert_eq!(r.status(), 403);

    let quote = app
        .created(
            &admin,
            TYPES,
            json!({"name": "Quote sent", "code": "quote", "colour": "#2E7D32", "log": "general"}),
        )
        .await;
    assert_eq!(quote["colour"], "#2e7d32");
    assert_eq!(quote["active"], true);
    assert_eq!(quote["entries"], 0);
    for (body, status) in [
        (json!({"name": "Quote again", "code": "QUOTE"}), 409),
        (json!({"name": "quote sent", "code": "other"}), 409),
        (
            json!({"name": "Bad colour", "code": "c1", "colour": "red"}),
            422,
        ),
        (
            json!({"name": "Bad log", "code": "c2", "log": "secret"}),
            422,
        ),
        (json!({"name": "Bad code", "code": "has space"}), 422),
        (json!({"code": "noname"}), 422),
        (
            json!({"name": "Rules", "code": "c3", "sender_domains": ["not a domain"]}),
            422,
        ),
        (json!({"name": "Extra", "code": "c4", "priority": 1}), 422),
    ] {
        let r = app
            .call(Method::POST, TYPES, &admin, Some(body.clone()))
            .await;
        assert_eq!(r.status().as_u16(), status, "{body}");
    }

    // A type in use: the delete names how many entries use it.
    let card = app.create_card("Typed").await;
    let entries = format!("/api/cards/{}/entries", card["id"]);
    let note = app
        .created(
            &ann,
            &entries,
            json!({"kind": "call", "text": "quote discussed", "communication_type": "quote"}),
        )
        .await;
    assert_eq!(note["communication_type"]["name"], "Quote sent");
    app.created(
        &ann,
        &entries,
        json!({"kind": "note", "text": "second", "communication_type": quote["id"]}),
    )
    .await;
    let path = format!("{TYPES}/{}", quote["id"]);
    let r = app.call(Method::DELETE, &path, &admin, None).await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "in_use");
    assert_eq!(err["error"]["in_use"], 2);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 entries"));

    // Renaming keeps the link; deactivating keeps it on old entries only.
    let t = app
        .call_ok(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"name": "Offer sent", "active": false})),
            200,
        )
        .await;
    assert_eq!(
        (t["name"].clone(), t["code"].clone(), t["active"].clone()),
        (json!("Offer sent"), json!("quote"), json!(false))
    );
    let e = app.get_json(&format!("/api/entries/{}", note["id"])).await;
    assert_eq!(e["communication_type"]["name"], "Offer sent");
    assert_eq!(e["communication_type"]["active"], false);
    let offered: Value = app
        .get_as("/api/communication-types", &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(offered["types"], json!([]));
    let all: Value = app
        .get_as("/api/communication-types?all=true", &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["types"].as_array().unwrap().len(), 1);
    let r = app
        .call(
            Method::POST,
            &entries,
            &ann,
            Some(json!({"kind": "note", "text": "x", "communication_type": "quote"})),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("inactive"));
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/entries/{}", note["id"]),
            &ann,
            Some(json!({"communication_type": "quote"})),
        )
        .await;
    assert_eq!(
        r.status(),
        422,
        "an edit cannot pick an inactive type either"
    );
    // The history still filters by it.
    let h = app
        .get_json(&format!("/api/cards/{}/history?type=quote", card["id"]))
        .await;
    assert_eq!(h["total"], 2);

    // A type nobody uses can go; every change is audited.
    let spare = app
        .created(&admin, TYPES, json!({"name": "Spare", "code": "spare"}))
        .await;
    app.call_ok(
        Method::DELETE,
        &format!("{TYPES}/{}", spare["id"]),
        &admin,
        None,
        204,
    )
    .await;
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("{TYPES}/{}", spare["id"]),
            &admin,
            None
        )
        .await
        .status(),
        404
    );
    for (action, n) in [("type_create", 2), ("type_update", 1), ("type_delete", 1)] {
        let a = app
            .get_json(&format!("/api/admin/audit?action={action}"))
            .await;
        assert_eq!(a["total"], n, "{action}");
    }
    let upd = app.get_json("/api/admin/audit?action=type_update").await;
    assert_eq!(upd["events"][0]["details"]["before"]["name"], "Quote sent");
    assert_eq!(upd["events"][0]["details"]["after"]["name"], "Offer sent");
    app.shutdown().await;
}

#[tokio::test]
async fn ingest_sets_a_type_by_plus_tag_sender_domain_or_subject_keyword() {
    let app = common::spawn_app_with(&[("archive.accept_from", "\"anyone\"")]).await;
    let admin = app.token.clone();
    let complaint = app
        .created(
            &admin,
            TYPES,
            json!({"name": "Complaint", "code": "complaint", "subject_keywords": ["broken"]}),
        )
        .await;
    let invoice = app
        .created(
            &admin,
            TYPES,
            json!({"name": "Invoice", "code": "invoice", "log": "financial", "sender_domains": ["billing.client.example"]}),
        )
        .await;
    let card = app.create_card("Rules").await;
    let address = card["archive_address"].as_str().unwrap().to_owned();
    let cid = card["id"].as_i64().unwrap();

    // <tag>+<code>@domain: the tag names the type.
    let tagged = format!("complaint+{address}");
    assert!(app
        .send(&[&tagged], &forwarded_mail("t1@x", "Hello", "plain"))
        .await
        .starts_with("250"));
    // A mail from the billing domain.
    let billing = b"From: Billing <bills@billing.client.example>\r\nTo: sam@team.example\r\nSubject: Your invoice\r\n\
Message-ID: <t2@x>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\nInvoice attached.\r\n";
    assert!(app.send(&[&address], billing).await.starts_with("250"));
    // A subject keyword, as a whole word.
    assert!(app
        .send(
            &[&address],
            &forwarded_mail("t3@x", "The pump is broken", "help")
        )
        .await
        .starts_with("250"));
    assert!(app
        .send(
            &[&address],
            &forwarded_mail("t4@x", "Unbroken record", "fine")
        )
        .await
        .starts_with("250"));
    let h = app.wait_history(cid, 4).await;
    let type_of = |subject: &str| -> Value {
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == subject)
            .unwrap()["communication_type"]["id"]
            .clone()
    };
    assert_eq!(type_of("Hello"), complaint["id"]);
    assert_eq!(type_of("Your invoice"), invoice["id"]);
    assert_eq!(type_of("The pump is broken"), complaint["id"]);
    assert_eq!(type_of("Unbroken record"), Value::Null);
    let fin = app
        .get_json(&format!("/api/cards/{cid}/history?log=financial"))
        .await;
    assert_eq!(fin["total"], 1);
    // type: in search, and facets by type.
    app.wait_search("type:complaint", 2).await;
    let s = app
        .get_json("/api/search?q=type:complaint&facets=true")
        .await;
    assert_eq!(s["facets"]["type"][0]["value"], complaint["id"]);
    assert_eq!(s["facets"]["type"][0]["count"], 2);
    app.shutdown().await;
}

#[tokio::test]
async fn labels_mark_cards_and_contacts_and_select_them() {
    let app = spawn_app().await;
    let admin = app.token.clone();
    let ann = app.add_user("ann@team.example", false).await;
    let fair = app
        .created(
            &admin,
            "/api/admin/labels",
            json!({"kind": "action", "name": "Trade fair 2027 lead", "code": "fair-2027"}),
        )
        .await;
    let news = app
        .created(
            &admin,
            "/api/admin/labels",
            json!({"kind": "trait", "name": "Wants the newsletter", "code": "newsletter"}),
        )
        .await;
    for (body, status) in [
        (json!({"kind": "colour", "name": "x"}), 422),
        (json!({"name": "no kind"}), 422),
        (
            json!({"kind": "action", "name": "Dup", "code": "FAIR-2027"}),
            409,
        ),
    ] {
        assert_eq!(
            app.call(
                Method::POST,
                "/api/admin/labels",
                &admin,
                Some(body.clone())
            )
            .await
            .status()
            .as_u16(),
            status,
            "{body}"
        );
    }
    assert_eq!(
        app.call(
            Method::POST,
            "/api/admin/labels",
            &ann,
            Some(json!({"kind": "action", "name": "x"}))
        )
        .await
        .status(),
        403
    );

    let a = app
        .created(&ann, "/api/cards", json!({"title": "Met at the fair"}))
        .await;
    let b = app
        .created(&ann, "/api/cards", json!({"title": "Other"}))
        .await;
    let r = app
        .call_ok(
            Method::POST,
            &format!("/api/cards/{}/labels", a["id"]),
            &ann,
            Some(json!({"label": "fair-2027"})),
            200,
        )
        .await;
    assert_eq!(r["labels"][0]["code"], "fair-2027");
    // A trait belongs on contacts, not on cards.
    let r = app
        .call(
            Method::POST,
            &format!("/api/cards/{}/labels", b["id"]),
            &ann,
            Some(json!({"label": "newsletter"})),
        )
        .await;
    assert_eq!(r.status(), 422);
    let cards: Value = app
        .get_as("/api/cards?label=fair-2027", &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cards["total"], 1);
    assert_eq!(cards["cards"][0]["id"], a["id"]);
    let cards: Value = app
        .get_as(&format!("/api/cards?label={}", fair["id"]), &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cards["total"], 1);
    assert_eq!(
        app.get_as("/api/cards?label=nope", &ann).await.status(),
        400
    );
    assert_eq!(
        app.get_json(&format!("/api/cards/{}", a["id"])).await["labels"][0]["name"],
        "Trade fair 2027 lead"
    );

    let jane = app
        .created(
            &ann,
            &format!("/api/cards/{}/contacts", b["id"]),
            json!({"name": "Jane", "emails": ["jane@client.example"]}),
        )
        .await;
    app.call_ok(
        Method::POST,
        &format!("/api/contacts/{}/labels", jane["id"]),
        &ann,
        Some(json!({"label": news["id"]})),
        200,
    )
    .await;
    let c: Value = app
        .get_as("/api/contacts?label=newsletter", &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["total"], 1);
    assert_eq!(c["contacts"][0]["labels"][0]["code"], "newsletter");

    // In use: no delete; deactivated: no new uses.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/admin/labels/{}", fair["id"]),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["in_use"], 1);
    app.call_ok(
        Method::PATCH,
        &format!("/api/admin/labels/{}", fair["id"]),
        &admin,
        Some(json!({"active": false})),
        200,
    )
    .await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/cards/{}/labels", b["id"]),
            &ann,
            Some(json!({"label": "fair-2027"})),
        )
        .await;
    assert_eq!(r.status(), 422);
    app.call_ok(
        Method::DELETE,
        &format!("/api/cards/{}/labels/{}", a["id"], fair["id"]),
        &ann,
        None,
        200,
    )
    .await;
    app.call_ok(
        Method::DELETE,
        &format!("/api/admin/labels/{}", fair["id"]),
        &admin,
        None,
        204,
    )
    .await;
    let admin_list = app.get_json("/api/admin/labels").await;
    assert_eq!(admin_list["labels"][0]["used"], 1);
    app.shutdown().await;
}
