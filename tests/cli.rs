//! The command line and the process: config layering, first start, signals, reindex.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::process::{api_get, dossier, run_ok, ServerProcess};
use common::smtp_client::SmtpClient;
use serde_json::Value;

#[tokio::test]
async fn first_start_writes_a_private_admin_token_and_env_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path()).await;
    // DOSSIER_SMTP__LISTEN and DOSSIER_HTTP__LISTEN took effect: both answer.
    let c = SmtpClient::connect(server.smtp).await;
    assert!(c.greeting.starts_with("220"));
    let token_path = dir.path().join("data/admin-token");
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_owned();
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/me", server.http))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Graceful stop on SIGTERM; the log names the token file, never the token.
    server.sigterm();
    assert!(server.wait().success());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("admin-token"));
    assert!(!log.contains(&token));
}

#[tokio::test]
async fn user_add_prints_a_working_token_and_card_create_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(dossier(dir.path()).args([
        "user",
        "add",
        "ann@team.example",
        "--name",
        "Ann",
        "--admin",
    ]));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("dsr_"));
    let dup = dossier(dir.path())
        .args(["user", "add", "ann@team.example"])
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad = dossier(dir.path())
        .args(["user", "add", "not an email"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let out = run_ok(dossier(dir.path()).args(["card", "create", "Trade fair lead"]));
    let card: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card["title"], "Trade fair lead");
    assert!(card["archive_address"]
        .as_str()
        .unwrap()
        .ends_with("@archive.localhost"));

    let server = ServerProcess::start(dir.path()).await;
    // Users exist already, so no bootstrap admin is created.
    assert!(!dir.path().join("data/admin-token").exists());
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/cards/{}", server.http, card["id"]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_config_file_is_layered_under_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[archive]\ndomain = \"files.example\"\n").unwrap();
    let out = run_ok(
        dossier(dir.path())
            .arg("--config")
            .arg(&file)
            .args(["card", "create", "X"]),
    );
    let card: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(card["archive_address"]
        .as_str()
        .unwrap()
        .ends_with("@files.example"));
    let out = run_ok(
        dossier(dir.path())
            .arg("--config")
            .arg(&file)
            .env("DOSSIER_ARCHIVE__DOMAIN", "env.example")
            .args(["card", "create", "Y"]),
    );
    let card: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(card["archive_address"]
        .as_str()
        .unwrap()
        .ends_with("@env.example"));
    let missing = dossier(dir.path())
        .args(["--config", "/nonexistent.toml", "card", "create", "Z"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let bad = dossier(dir.path())
        .env("DOSSIER_SMTP__LISTEN", "nonsense")
        .args(["card", "create", "Z"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid configuration"));
}

#[tokio::test]
async fn reindex_rebuilds_search_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let card: Value =
        serde_json::from_slice(&run_ok(dossier(dir.path()).args(["card", "create", "R"])).stdout)
            .unwrap();
    let token = run_ok(dossier(dir.path()).args(["user", "add", "r@team.example"])).stdout;
    let token = String::from_utf8(token)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut server = ServerProcess::start(dir.path()).await;
    let mut c = SmtpClient::connect(server.smtp).await;
    c.ehlo().await;
    let raw = common::forwarded_mail("reindex@x", "Zeppelin quote", "about the zeppelin");
    assert!(c
        .send_mail(
            "s@team.example",
            &[card["archive_address"].as_str().unwrap()],
            &raw
        )
        .await
        .starts_with("250"));
    c.quit().await;
    let search = |http| {
        let token = token.clone();
        async move {
            api_get(http, &token, "/api/search?q=zeppelin").await["total"]
                .as_u64()
                .unwrap()
        }
    };
    let mut n = 0;
    for _ in 0..200 {
        n = search(server.http).await;
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 1);
    // reindex refuses to run next to a live server (the index is locked).
    let locked = dossier(dir.path()).arg("reindex").output().unwrap();
    assert!(!locked.status.success());
    assert!(String::from_utf8_lossy(&locked.stderr).contains("locked"));
    server.sigterm();
    server.wait();

    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let out = run_ok(dossier(dir.path()).arg("reindex"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reindexed 1 entries"));
    let server = ServerProcess::start(dir.path()).await;
    assert_eq!(search(server.http).await, 1);
}
