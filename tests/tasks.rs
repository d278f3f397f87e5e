//! Tasks: open ones apart from the history, closing puts them in it,
//! reopening follows the reopen_task policy and is audited.

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

async fn close_again(app: &common::TestApp, task: &str) {
    app.call_ok(
        Method::POST,
        &format!("{task}/close"),
        &app.token,
        Some(json!({"outcome": "failed"})),
        200,
    )
    .await;
}

#[tokio::test]
async fn tasks_open_close_into_the_history_and_reopen_by_policy() {
    let app = spawn_app().await;
    let ann = app.add_user("ann@team.example", false).await;
    let olga = app.add_user("olga@team.example", false).await;
    let bob = app.add_user("bob@team.example", false).await;
    let ann_id = app.user_id(&ann).await;
    let card = app
        .created(&olga, "/api/cards", json!({"title": "Olga's deal"}))
        .await;
    let cid = card["id"].as_i64().unwrap();
    let tasks = format!("/api/cards/{cid}/tasks");

    for (body, needle) in [
        (json!({"description": "no title"}), "title"),
        (json!({"title": " "}), "title"),
        (json!({"title": "x", "due_at": "next week"}), "due_at"),
        (
            json!({"title": "x", "responsible_id": 4242}),
            "responsible_id",
        ),
    ] {
        let r = app
            .call(Method::POST, &tasks, &ann, Some(body.clone()))
            .await;
        assert_eq!(r.status(), 422, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e}"
        );
    }
    let task = app
        .created(
            &ann,
            &tasks,
            json!({"title": "Send the quotation", "description": "racks for hall 3",
                   "responsible_id": ann_id, "due_at": "2026-12-15"}),
        )
        .await;
    assert_eq!(task["kind"], "task");
    assert_eq!(task["task"]["status"], "open");
    assert_eq!(task["task"]["due_at"], "2026-12-15T00:00:00Z");
    assert_eq!(task["responsible"]["id"], ann_id);
    assert_eq!(task["can"]["close"], true);
    assert_eq!(task["can"]["reopen"], false);
    let later = app
        .created(
            &ann,
            &tasks,
            json!({"title": "Call back", "due_at": "2026-12-31"}),
        )
        .await;

    // Open tasks are shown apart from the history, soonest due first.
    let open = app.get_json(&tasks).await;
    assert_eq!(open["total"], 2);
    assert_eq!(open["tasks"][0]["id"], task["id"]);
    let detail = app.get_json(&format!("/api/cards/{cid}")).await;
    assert_eq!(detail["open_tasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get_json(&format!("/api/cards/{cid}/history")).await["total"],
        0
    );
    // ...and they are found by search.
    assert_eq!(app.get_json("/api/search?q=quotation").await["total"], 1);

    // Closing puts the task in the history.
    let path = format!("/api/tasks/{}", task["id"]);
    for body in [json!({"outcome": "maybe"}), json!({"comment": "x"})] {
        let r = app
            .call(Method::POST, &format!("{path}/close"), &bob, Some(body))
            .await;
        assert_eq!(r.status(), 422);
    }
    let closed = app
        .call_ok(
            Method::POST,
            &format!("{path}/close"),
            &bob,
            Some(json!({"outcome": "done", "comment": "sent with a kiwi discount"})),
            200,
        )
        .await;
    assert_eq!(closed["task"]["status"], "done");
    assert_eq!(closed["task"]["comment"], "sent with a kiwi discount");
    assert_eq!(closed["task"]["closed_by"]["email"], "bob@team.example");
    assert_eq!(closed["handled"], true);
    let h = app.get_json(&format!("/api/cards/{cid}/history")).await;
    assert_eq!(h["total"], 1);
    assert_eq!(h["entries"][0]["id"], task["id"]);
    assert_eq!(app.get_json(&tasks).await["total"], 1);
    assert_eq!(app.get_json("/api/search?q=kiwi").await["total"], 1);
    let r = app
        .call(
            Method::POST,
            &format!("{path}/close"),
            &bob,
            Some(json!({"outcome": "failed"})),
        )
        .await;
    assert_eq!(r.status(), 409, "closing twice");
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/entries/{}", task["id"]),
            &ann,
            Some(json!({"handled": false})),
        )
        .await;
    assert_eq!(r.status(), 422, "handled is closing, for tasks");

    // Reopen: each rule, who it refuses and who it lets through.
    let reopen = |who: &str| {
        format!(
            "/api/tasks/{}/reopen",
            if who == "later" {
                &later["id"]
            } else {
                &task["id"]
            }
        )
    };
    // admins (the default)
    let r = app.call(Method::POST, &reopen("task"), &ann, None).await;
    assert_eq!(r.status(), 403);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reopen_task"),
        "{err}"
    );
    let as_ann: Value = app
        .get_as(&format!("/api/entries/{}", task["id"]), &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(as_ann["can"]["reopen"], false);
    let t = app
        .call_ok(
            Method::POST,
            &reopen("task"),
            &app.token,
            Some(json!({"reason": "client changed the order"})),
            200,
        )
        .await;
    assert_eq!(t["task"]["status"], "open");
    assert_eq!(t["task"]["comment"], Value::Null);
    assert_eq!(t["handled"], false);
    assert_eq!(
        app.get_json(&format!("/api/cards/{cid}/history")).await["total"],
        0
    );
    let r = app
        .call(Method::POST, &reopen("task"), &app.token, None)
        .await;
    assert_eq!(r.status(), 409, "an open task is not reopened");
    close_again(&app, &path).await;

    // author: Ann (who created it) yes, Bob no, the card owner no.
    app.set_rule("reopen_task", json!({"who": "author", "within_days": null}))
        .await;
    for (token, status) in [(&bob, 403), (&olga, 403), (&ann, 200)] {
        let r = app.call(Method::POST, &reopen("task"), token, None).await;
        assert_eq!(r.status().as_u16(), status);
    }
    close_again(&app, &path).await;
    // card_owner: Olga yes, Ann no.
    app.set_rule(
        "reopen_task",
        json!({"who": "card_owner", "within_days": null}),
    )
    .await;
    assert_eq!(
        app.call(Method::POST, &reopen("task"), &ann, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.call(Method::POST, &reopen("task"), &olga, None)
            .await
            .status(),
        200
    );
    close_again(&app, &path).await;
    // nobody: not even an admin.
    app.set_rule("reopen_task", json!({"who": "nobody", "within_days": null}))
        .await;
    assert_eq!(
        app.call(Method::POST, &reopen("task"), &app.token, None)
            .await
            .status(),
        403
    );
    // everyone, but only within 7 days of the task's creation.
    app.set_rule("reopen_task", json!({"who": "everyone", "within_days": 7}))
        .await;
    app.call_ok(
        Method::POST,
        &format!("/api/tasks/{}/close", later["id"]),
        &bob,
        Some(json!({"outcome": "done"})),
        200,
    )
    .await;
    app.age("entries", &later["id"], 10).await;
    assert_eq!(
        app.call(Method::POST, &reopen("later"), &app.token, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.call(Method::POST, &reopen("task"), &bob, None)
            .await
            .status(),
        200
    );

    // A deleted open task leaves the open tasks and stands in the history.
    let doomed = app.created(&ann, &tasks, json!({"title": "Doomed"})).await;
    let gone = app
        .call_ok(
            Method::DELETE,
            &format!("/api/entries/{}", doomed["id"]),
            &app.token,
            None,
            200,
        )
        .await;
    assert!(gone["deleted"].is_object() && gone["task"].is_null());
    let open = app.get_json(&tasks).await;
    assert!(
        open["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != doomed["id"]),
        "{open}"
    );
    let h = app
        .get_json(&format!("/api/cards/{cid}/history?kind=task"))
        .await;
    assert!(
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == doomed["id"] && e["deleted"].is_object()),
        "{h}"
    );

    // Every reopen and rights change is in the audit log, newest first.
    let audit = app.get_json("/api/admin/audit?action=reopen_task").await;
    assert_eq!(audit["total"], 4);
    let first = audit["events"].as_array().unwrap().last().unwrap();
    assert_eq!(first["details"]["reason"], "client changed the order");
    assert_eq!(first["target_id"], task["id"]);
    assert_eq!(first["card_id"], cid);
    let changes = app.get_json("/api/admin/audit?action=policy_change").await;
    assert_eq!(changes["total"], 4);
    assert_eq!(
        changes["events"][0]["details"]["after"]["reopen_task"]["within_days"],
        7
    );
    // The revisions tell the task's story.
    let full = app.get_json(&format!("/api/entries/{}", task["id"])).await;
    let story: Vec<&str> = full["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        story,
        ["close", "reopen", "close", "reopen", "close", "reopen", "close", "reopen"]
    );
    // Admin only; bad policies are refused.
    assert_eq!(app.get_as("/api/admin/audit", &ann).await.status(), 403);
    assert_eq!(app.get_as("/api/admin/policies", &ann).await.status(), 403);
    let mut p = app.get_json("/api/admin/policies").await;
    p["delete_entry"] = json!({"who": "root"});
    assert_eq!(
        app.call(Method::PUT, "/api/admin/policies", &app.token, Some(p))
            .await
            .status(),
        422
    );
    let mut p = app.get_json("/api/admin/policies").await;
    p["delete_entry"]["within_days"] = json!(0);
    assert_eq!(
        app.call(Method::PUT, "/api/admin/policies", &app.token, Some(p))
            .await
            .status(),
        422
    );
    let r = app
        .call(
            Method::PUT,
            "/api/admin/policies",
            &app.token,
            Some(json!({"delete_entry": {"who": "admins"}})),
        )
        .await;
    assert_eq!(r.status(), 422, "every action must be given");
    app.shutdown().await;
}
