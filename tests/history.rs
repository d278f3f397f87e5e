//! The card history beyond email: manual entries of every kind, edits kept as
//! revisions, card status and field changes, filters with totals and a
//! cursor, the central view, and what other systems log.

mod common;

use base64::Engine;
use common::{spawn_app, spawn_app_with, urlencode};
use reqwest::Method;
use serde_json::{json, Value};

fn ids(listing: &Value) -> Vec<i64> {
    listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn manual_entries_of_every_kind_land_on_the_history() {
    let app = spawn_app().await;
    let t = app.token.clone();
    let card = app.create_card("Warehouse deal").await;
    let cid = card["id"].as_i64().unwrap();
    let path = format!("/api/cards/{cid}/entries");
    let admin = app.user_id(&t).await;

    let posts = [
        json!({"kind": "note", "title": "Site visit", "text": "They want zeppelin racks and a ședința next week.", "occurred_at": "2026-11-01T09:00:00Z"}),
        json!({"kind": "call", "title": "Call with Jane", "direction": "incoming", "duration_minutes": 12, "occurred_at": "2026-11-02T14:00:00Z"}),
        json!({"kind": "sms", "text": "Running late", "direction": "outgoing", "occurred_at": "2026-11-03"}),
        json!({"kind": "whatsapp", "text": "Photo of the hall", "occurred_at": "2026-11-04T08:00:00+02:00"}),
        json!({"kind": "meeting", "title": "Kick-off", "duration_minutes": 90, "occurred_at": "2026-11-05T10:00:00Z"}),
    ];
    let mut made = Vec::new();
    for p in &posts {
        let e = app
            .call_ok(Method::POST, &path, &t, Some(p.clone()), 201)
            .await;
        assert_eq!(e["kind"], p["kind"]);
        assert_eq!(e["author"]["kind"], "user");
        assert_eq!(e["author"]["user"]["id"], admin);
        assert_eq!(e["can"]["edit"], true, "{e}");
        assert!(e["created_at"].is_string());
        made.push(e);
    }
    assert_eq!(made[1]["details"]["duration_minutes"], 12);
    assert_eq!(made[1]["direction"], "incoming");
    assert_eq!(made[1]["occurred_at"], "2026-11-02T14:00:00Z");
    assert_eq!(made[2]["occurred_at"], "2026-11-03T00:00:00Z");
    assert_eq!(made[3]["occurred_at"], "2026-11-04T06:00:00Z");

    // Bad input: a defined 4xx naming the problem, never a 500.
    for (body, status, needle) in [
        (json!({"kind": "task", "title": "x"}), 422, "tasks"),
        (json!({"kind": "status_change", "title": "x"}), 422, "kind"),
        (json!({"kind": "fax", "title": "x"}), 422, "kind"),
        (json!({"kind": "note"}), 422, "title or a text"),
        (
            json!({"kind": "note", "text": "x", "direction": "incoming"}),
            422,
            "direction",
        ),
        (
            json!({"kind": "call", "text": "x", "direction": "sideways"}),
            422,
            "direction",
        ),
        (
            json!({"kind": "note", "text": "x", "occurred_at": "yesterday"}),
            422,
            "occurred_at",
        ),
        (
            json!({"kind": "note", "text": "x", "occurred_at": "3026-01-01"}),
            422,
            "occurred_at",
        ),
        (
            json!({"kind": "note", "text": "x", "duration_minutes": 5}),
            422,
            "duration_minutes",
        ),
        (
            json!({"kind": "note", "text": "x", "colour": "red"}),
            422,
            "colour",
        ),
        (
            json!({"kind": "note", "title": "a\u{0007}b"}),
            422,
            "control",
        ),
        (
            json!({"kind": "note", "title": "x".repeat(501)}),
            422,
            "title",
        ),
        (
            json!({"kind": "note", "text": "x", "contact_ids": [999]}),
            422,
            "contact",
        ),
        (
            json!({"kind": "note", "text": "x", "communication_type": "nope"}),
            422,
            "communication type",
        ),
        (
            json!({"kind": "note", "text": "x", "responsible_id": 999}),
            422,
            "responsible_id",
        ),
        (
            json!({"kind": "note", "text": "x", "reference": {"url": "javascript:alert(1)"}}),
            422,
            "reference.url",
        ),
    ] {
        let r = app.call(Method::POST, &path, &t, Some(body.clone())).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    let r = app
        .client
        .post(app.url(&path))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let other = app.create_card("Other").await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/cards/{}/entries", 999_999),
            &t,
            Some(posts[0].clone()),
        )
        .await;
    assert_eq!(r.status(), 404);

    // Newest first, totals per kind for the filter bar.
    let h = app.get_json(&format!("/api/cards/{cid}/history")).await;
    assert_eq!(h["total"], 5);
    let order: Vec<i64> = made
        .iter()
        .rev()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids(&h), order);
    assert_eq!(
        h["totals"]["by_kind"],
        json!({"call": 1, "meeting": 1, "note": 1, "sms": 1, "whatsapp": 1})
    );

    // Several kinds; the per-kind totals ignore the kind filter.
    let h = app
        .get_json(&format!("/api/cards/{cid}/history?kind=call,sms"))
        .await;
    assert_eq!(h["total"], 2);
    assert_eq!(h["totals"]["by_kind"]["note"], 1);
    for (query, n) in [
        ("author=me", 5),
        ("author=ingest", 0),
        (&format!("author={admin}"), 5),
        ("after=2026-11-03&before=2026-11-05", 2),
        ("has_documents=false", 5),
        ("has_documents=true", 0),
        ("q=sedinta", 1),
        ("q=zeppelin%20racks", 1),
        ("q=zeppelin&kind=call", 0),
    ] {
        let h = app
            .get_json(&format!("/api/cards/{cid}/history?{query}"))
            .await;
        assert_eq!(h["total"], n, "{query}");
    }
    let other_id = other["id"].as_i64().unwrap();
    let h = app
        .get_json(&format!("/api/cards/{other_id}/history?q=zeppelin"))
        .await;
    assert_eq!(h["total"], 0, "text filters stay on the card");
    for query in [
        "kind=fax",
        "log=blue",
        "after=soon",
        "author=someone",
        "cursor=nonsense",
        "limit=0",
        "bogus=1",
        "type=nope",
    ] {
        let r = app.get(&format!("/api/cards/{cid}/history?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
    }

    // A stable cursor: pages of two walk every entry once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let page = app.get_json(&format!("/api/cards/{cid}/history?{q}")).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        // An entry added meanwhile at the top does not shift the pages.
        if seen.len() == 2 {
            app.call_ok(
                Method::POST,
                &path,
                &t,
                Some(json!({"kind": "note", "text": "late"})),
                201,
            )
            .await;
        }
    }
    assert_eq!(seen, order);

    // Manual entries are searchable at once.
    let s = app.get_json("/api/search?q=zeppelin%20kind:note").await;
    assert_eq!(s["total"], 1);
    assert_eq!(s["hits"][0]["kind"], "note");
    app.shutdown().await;
}

#[tokio::test]
async fn authors_edit_within_the_window_and_every_edit_is_a_revision() {
    let app = spawn_app_with(&[("history.edit_window_minutes", "60")]).await;
    let ann = app.add_user("ann@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let bob_id = app.user_id(&bob).await;
    let card = app.create_card("Edits").await;
    let cid = card["id"].as_i64().unwrap();
    let note = app
        .call_ok(
            Method::POST,
            &format!("/api/cards/{cid}/entries"),
            &ann,
            Some(json!({"kind": "note", "title": "Visit", "text": "quokka pallets"})),
            201,
        )
        .await;
    let path = format!("/api/entries/{}", note["id"]);

    // Ann edits her own note; the revision keeps what it was.
    let e = app
        .call_ok(
            Method::PATCH,
            &path,
            &ann,
            Some(json!({"text": "wombat pallets", "occurred_at": "2026-10-01"})),
            200,
        )
        .await;
    assert_eq!(e["body_text"], "wombat pallets");
    let full = app.get_json(&path).await;
    let revs = full["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0]["change"], "edit");
    assert_eq!(revs[0]["before"]["text"], "quokka pallets");
    assert_eq!(revs[0]["after"]["text"], "wombat pallets");
    assert_eq!(revs[0]["revised_by"]["email"], "ann@team.example");
    assert_eq!(app.wait_search("quokka", 0).await["total"], 0);
    assert_eq!(app.wait_search("wombat", 1).await["total"], 1);

    // Bob may not edit Ann's content (edit_others_entry: admins), but may do
    // the workflow: take it over and mark it handled.
    let as_bob: Value = app.get_as(&path, &bob).await.json().await.unwrap();
    assert_eq!(as_bob["can"]["edit"], false);
    let r = app
        .call(
            Method::PATCH,
            &path,
            &bob,
            Some(json!({"title": "Hijacked"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let e = app
        .call_ok(
            Method::PATCH,
            &path,
            &bob,
            Some(json!({"responsible_id": bob_id, "handled": true})),
            200,
        )
        .await;
    assert_eq!(e["responsible"]["id"], bob_id);
    assert_eq!(e["handled"], true);
    assert_eq!(e["handled_by"]["id"], bob_id);
    // The admin may (admins); then the admin sets nobody, and may not.
    app.call_ok(
        Method::PATCH,
        &path,
        &app.token,
        Some(json!({"title": "Visit (fixed)"})),
        200,
    )
    .await;
    let mut p = app.get_json("/api/admin/policies").await;
    p["edit_others_entry"] = json!({"who": "nobody", "within_days": null});
    app.call_ok(
        Method::PUT,
        "/api/admin/policies",
        &app.token,
        Some(p.clone()),
        200,
    )
    .await;
    let r = app
        .call(
            Method::PATCH,
            &path,
            &app.token,
            Some(json!({"title": "again"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    // "everyone": Bob too.
    p["edit_others_entry"] = json!({"who": "everyone", "within_days": null});
    app.call_ok(Method::PUT, "/api/admin/policies", &app.token, Some(p), 200)
        .await;
    app.call_ok(
        Method::PATCH,
        &path,
        &bob,
        Some(json!({"title": "Bob was here"})),
        200,
    )
    .await;
    let full = app.get_json(&path).await;
    let changes: Vec<&str> = full["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["edit", "update", "edit", "edit"]);

    // Mail is kept as received: no content edits, but it can be classified.
    let raw = common::forwarded_mail("edit@x", "Quote", "mail body");
    assert!(app
        .send(&[card["archive_address"].as_str().unwrap()], &raw)
        .await
        .starts_with("250"));
    let h = app.wait_history(cid, 2).await;
    let mail = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "email")
        .unwrap()
        .clone();
    assert_eq!(mail["can"]["edit"], false);
    let mpath = format!("/api/entries/{}", mail["id"]);
    let r = app
        .call(
            Method::PATCH,
            &mpath,
            &app.token,
            Some(json!({"text": "rewritten"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    app.call_ok(
        Method::PATCH,
        &mpath,
        &app.token,
        Some(json!({"handled": true})),
        200,
    )
    .await;
    let r = app
        .call(
            Method::PATCH,
            &mpath,
            &app.token,
            Some(json!({"due_at": "2026-12-24"})),
        )
        .await;
    assert_eq!(r.status(), 422, "due dates are for tasks");
    app.shutdown().await;

    // With a zero edit window the author cannot edit either.
    let app = spawn_app_with(&[("history.edit_window_minutes", "0")]).await;
    let ann = app.add_user("ann@team.example", false).await;
    let card = app.create_card("Frozen").await;
    let note = app
        .call_ok(
            Method::POST,
            &format!("/api/cards/{}/entries", card["id"]),
            &ann,
            Some(json!({"kind": "note", "text": "final"})),
            201,
        )
        .await;
    assert_eq!(note["can"]["edit"], false);
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/entries/{}", note["id"]),
            &ann,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    app.shutdown().await;
}

#[tokio::test]
async fn card_status_and_field_changes_leave_entries_with_old_and_new() {
    let app = spawn_app().await;
    let member = app.add_user("ann@team.example", false).await;
    let card = app.create_card("Fields").await;
    let cid = card["id"].as_i64().unwrap();
    let path = format!("/api/cards/{cid}");
    let c = app
        .call_ok(
            Method::PATCH,
            &path,
            &member,
            Some(json!({"status": "won"})),
            200,
        )
        .await;
    assert_eq!(c["status"], "won");
    let c = app
        .call_ok(
            Method::PATCH,
            &path,
            &member,
            Some(json!({"campaign": "fair-2027", "fields": {"value": 12000, "region": "North"}})),
            200,
        )
        .await;
    assert_eq!(c["campaign"], "fair-2027");
    assert_eq!(c["fields"]["value"], 12000);
    // The same values again change nothing; a bad status changes nothing.
    app.call_ok(
        Method::PATCH,
        &path,
        &member,
        Some(json!({"status": "won"})),
        200,
    )
    .await;
    for body in [
        json!({"status": "maybe"}),
        json!({"fields": {"nested": {"a": 1}}}),
        json!({"fields": {"status": "x"}}),
        json!({"title": ""}),
    ] {
        let r = app
            .call(Method::PATCH, &path, &member, Some(body.clone()))
            .await;
        assert_eq!(r.status(), 422, "{body}");
    }
    // Only the owner or an admin changes who sees it.
    let r = app
        .call(
            Method::PATCH,
            &path,
            &member,
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(r.status(), 403);

    let h = app.get_json(&format!("{path}/history")).await;
    assert_eq!(h["total"], 4);
    let status = &app
        .get_json(&format!("{path}/history?kind=status_change"))
        .await["entries"][0];
    assert_eq!(
        status["details"],
        json!({"field": "status", "old": "open", "new": "won"})
    );
    assert_eq!(status["author"]["user"]["email"], "ann@team.example");
    let fields = app
        .get_json(&format!("{path}/history?kind=field_change"))
        .await;
    let mut changed: Vec<(String, Value, Value)> = fields["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["details"]["field"].as_str().unwrap().to_owned(),
                e["details"]["old"].clone(),
                e["details"]["new"].clone(),
            )
        })
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changed,
        [
            ("campaign".into(), Value::Null, json!("fair-2027")),
            ("region".into(), Value::Null, json!("North")),
            ("value".into(), Value::Null, json!(12000)),
        ]
    );
    // Removing a field is a change too.
    app.call_ok(
        Method::PATCH,
        &path,
        &member,
        Some(json!({"fields": {"region": null}})),
        200,
    )
    .await;
    let last = &app
        .get_json(&format!("{path}/history?kind=field_change&limit=1"))
        .await["entries"][0];
    assert_eq!(
        last["details"],
        json!({"field": "region", "old": "North", "new": null})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_central_view_spans_visible_cards_with_handled_totals() {
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let ann_id = app.user_id(&ann).await;
    let fair = app
        .created(
            &ann,
            "/api/cards",
            json!({"title": "Fair lead", "campaign": "fair-2027", "source": "booth"}),
        )
        .await;
    let web = app
        .created(
            &ann,
            "/api/cards",
            json!({"title": "Web lead", "source": "website"}),
        )
        .await;
    let secret = app
        .created(
            &bob,
            "/api/cards",
            json!({"title": "Bob's secret", "visibility": "private"}),
        )
        .await;
    // Bob's private card gets tasks for Ann, which she cannot see.
    for (card, n, author) in [(&fair, 2, &ann), (&web, 1, &ann), (&secret, 3, &bob)] {
        for i in 0..n {
            app.created(
                author,
                &format!("/api/cards/{}/tasks", card["id"]),
                json!({"title": format!("Follow up {i}"), "responsible_id": ann_id, "due_at": "2026-12-20"}),
            )
            .await;
        }
    }
    let r = app
        .call(
            Method::POST,
            &format!("/api/cards/{}/tasks", secret["id"]),
            &ann,
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(r.status(), 404);
    let note = app
        .created(
            &ann,
            &format!("/api/cards/{}/entries", fair["id"]),
            json!({"kind": "note", "text": "met at booth", "responsible_id": ann_id}),
        )
        .await;
    app.call_ok(
        Method::PATCH,
        &format!("/api/entries/{}", note["id"]),
        &ann,
        Some(json!({"handled": true})),
        200,
    )
    .await;

    let v: Value = app
        .get_as("/api/entries?responsible=me", &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 4, "{v}");
    assert_eq!(v["totals"]["handled"], 1);
    assert_eq!(v["totals"]["open"], 3);
    assert_eq!(v["totals"]["by_kind"], json!({"note": 1, "task": 3}));
    for (query, n) in [
        ("kind=task&handled=false", 3),
        ("campaign=fair-2027", 3),
        ("source=website", 1),
        (&format!("card_id={}", web["id"]), 1),
        ("responsible=none", 0),
    ] {
        let v: Value = app
            .get_as(&format!("/api/entries?{query}"), &ann)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["total"], n, "{query}: {v}");
    }
    let r = app
        .get_as(&format!("/api/entries?card_id={}", secret["id"]), &ann)
        .await;
    assert_eq!(r.status(), 404);
    // The admin sees Bob's card too.
    let v = app.get_json("/api/entries?kind=task").await;
    assert_eq!(v["total"], 6);

    // Bulk: every open task of the fair campaign goes to Bob.
    let bob_id = app.user_id(&bob).await;
    let r = app
        .call_ok(
            Method::POST,
            "/api/tasks/assign",
            &ann,
            Some(json!({"responsible_id": bob_id, "filter": {"campaign": "fair-2027", "handled": false}})),
            200,
        )
        .await;
    assert_eq!(r, json!({"matched": 2, "updated": 2}));
    let v: Value = app
        .get_as(&format!("/api/entries?responsible={bob_id}"), &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 2);
    let t = &v["entries"][0];
    let full = app.get_json(&format!("/api/entries/{}", t["id"])).await;
    assert_eq!(full["revisions"][0]["change"], "assign");
    assert_eq!(full["revisions"][0]["before"]["responsible_id"], ann_id);
    // Ann's bulk change never reaches Bob's private card.
    let r = app
        .call_ok(
            Method::POST,
            "/api/tasks/assign",
            &ann,
            Some(json!({"responsible_id": null, "filter": {}})),
            200,
        )
        .await;
    assert_eq!(r["matched"], 3);
    let v = app
        .get_json(&format!(
            "/api/entries?card_id={}&responsible={ann_id}",
            secret["id"]
        ))
        .await;
    assert_eq!(v["total"], 3);
    let r = app
        .call(
            Method::POST,
            "/api/tasks/assign",
            &ann,
            Some(json!({"responsible_id": 1, "filter": {"kind": "note"}})),
        )
        .await;
    assert_eq!(r.status(), 422);
    app.shutdown().await;
}

#[tokio::test]
async fn other_systems_log_what_they_sent_with_type_reference_and_exact_original() {
    let app = spawn_app().await;
    let invoicing = app.add_user("invoicing@team.example", false).await;
    let system_id = app.user_id(&invoicing).await;
    let admin = app.token.clone();
    let ty = app
        .call_ok(
            Method::POST,
            "/api/admin/communication-types",
            &admin,
            Some(json!({"name": "Invoice sent", "code": "invoice_sent", "colour": "#aa3300", "log": "financial"})),
            201,
        )
        .await;
    app.call_ok(
        Method::POST,
        "/api/admin/communication-types",
        &admin,
        Some(json!({"name": "Newsletter", "code": "newsletter", "log": "general"})),
        201,
    )
    .await;
    let card = app.create_card("Billing").await;
    let cid = card["id"].as_i64().unwrap();
    let original = b"From: Billing <billing@team.example>\r\nTo: Jane Client <jane@client.example>\r\n\
Subject: Invoice INV-2026-017\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <inv-17@team.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find invoice INV-2026-017 (1.250,00 EUR).\r\n";
    let body = json!({
        "kind": "email",
        "communication_type": "invoice_sent",
        "reference": {"number": "INV-2026-017", "url": "https://erp.example/invoices/17", "system": "erp"},
        "external_id": "erp-invoice-17",
        "original": base64::engine::general_purpose::STANDARD.encode(original),
    });
    let path = format!("/api/cards/{cid}/entries");
    let e = app
        .call_ok(Method::POST, &path, &invoicing, Some(body.clone()), 201)
        .await;
    assert_eq!(e["subject"], "Invoice INV-2026-017");
    assert_eq!(e["from"]["address"], "billing@team.example");
    assert_eq!(e["log"], "financial");
    assert_eq!(e["communication_type"]["id"], ty["id"]);
    assert_eq!(e["reference"]["number"], "INV-2026-017");
    assert_eq!(
        e["author"],
        json!({"kind": "user", "user": {"id": system_id, "name": null, "email": "invoicing@team.example"}})
    );
    // The exact original, byte for byte.
    let raw = app
        .get(&format!("/api/entries/{}/raw", e["id"]))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&raw[..], &original[..]);
    // A retry with the same external id is the same entry.
    let again = app
        .call_ok(Method::POST, &path, &invoicing, Some(body), 200)
        .await;
    assert_eq!(again["id"], e["id"]);

    // A newsletter logged without an original goes to the general log.
    let n = app
        .call_ok(
            Method::POST,
            &path,
            &invoicing,
            Some(json!({"kind": "email", "communication_type": "newsletter", "title": "December news",
                        "text": "Our winter offers", "direction": "outgoing",
                        "from": {"name": "News", "address": "news@team.example"},
                        "to": [{"name": null, "address": "jane@client.example"}]})),
            201,
        )
        .await;
    assert_eq!(n["log"], "general");
    for (query, total) in [
        ("log=financial", 1),
        ("log=general", 1),
        ("type=invoice_sent", 1),
        (&format!("type={},newsletter", ty["id"]), 2),
    ] {
        let h = app
            .get_json(&format!("/api/cards/{cid}/history?{query}"))
            .await;
        assert_eq!(h["total"], total, "{query}");
    }
    let s = app
        .get_json(&format!(
            "/api/search?q={}",
            urlencode("type:invoice_sent invoice")
        ))
        .await;
    assert_eq!(s["total"], 1);

    for (body, needle) in [
        (json!({"kind": "email", "original": "%%%"}), "base64"),
        (json!({"kind": "note", "original": "AAAA"}), "kind email"),
        (json!({"kind": "email", "original": ""}), "empty"),
        (
            json!({"kind": "note", "text": "x", "to": [{"address": "a@b.example"}]}),
            "kind email",
        ),
        (
            json!({"kind": "email", "title": "x", "from": {"address": "not an address"}}),
            "address",
        ),
    ] {
        let r = app
            .call(Method::POST, &path, &invoicing, Some(body.clone()))
            .await;
        assert_eq!(r.status(), 422, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    app.shutdown().await;
}
