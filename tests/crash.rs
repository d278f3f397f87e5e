//! Durability: a server killed with SIGKILL while clients are sending loses
//! nothing it acknowledged with 250.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{dossier, run_ok, ServerProcess};
use common::smtp_client::SmtpClient;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let card: Value = serde_json::from_slice(
        &run_ok(dossier(dir.path()).args(["card", "create", "Crash"])).stdout,
    )
    .unwrap();
    let token = String::from_utf8(
        run_ok(dossier(dir.path()).args(["user", "add", "c@team.example"])).stdout,
    )
    .unwrap();
    let token = token.lines().last().unwrap().to_owned();
    let rcpt = card["archive_address"].as_str().unwrap().to_owned();

    let mut server = ServerProcess::start(dir.path()).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut senders = Vec::new();
    for conn in 0..4 {
        let (acked, rcpt, smtp) = (acked.clone(), rcpt.clone(), server.smtp);
        senders.push(tokio::spawn(async move {
            let mut c = SmtpClient::connect(smtp).await;
            c.ehlo().await;
            for i in 0.. {
                let id = format!("crash-{conn}-{i}");
                let raw =
                    common::forwarded_mail(&format!("{id}@x"), &id, &format!("crashbody {id}"));
                let reply = c.send_mail("s@team.example", &[&rcpt], &raw).await;
                if !reply.starts_with("250") {
                    return; // the server died mid-transaction: not acknowledged
                }
                acked.lock().unwrap().insert(format!("{id}@x"));
            }
        }));
    }
    // Kill it once a good number were acknowledged, while the senders keep going.
    for _ in 0..600 {
        if acked.lock().unwrap().len() >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.sigkill();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 60,
        "only {} acknowledged before the kill",
        acked.len()
    );

    let server = ServerProcess::start(dir.path()).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, token, http) = (client.clone(), token.clone(), server.http);
        async move {
            client
                .get(format!("http://{http}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Everything acknowledged reaches the history and the index after restart.
    let mut stored = BTreeSet::new();
    let mut searchable = 0;
    for _ in 0..400 {
        stored.clear();
        let mut offset = 0;
        loop {
            let page = get(format!(
                "/api/cards/{}/history?limit=200&offset={offset}",
                card["id"]
            ))
            .await;
            let entries = page["entries"].as_array().unwrap().clone();
            for e in &entries {
                stored.insert(e["message_id"].as_str().unwrap().to_owned());
            }
            offset += 200;
            if entries.len() < 200 {
                break;
            }
        }
        searchable = get("/api/search?q=crashbody&limit=1".into()).await["total"]
            .as_u64()
            .unwrap();
        if acked.is_subset(&stored) && searchable as usize == stored.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(
        searchable as usize,
        stored.len(),
        "every stored entry is searchable"
    );
}
