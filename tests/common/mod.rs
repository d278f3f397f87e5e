//! One way to start the app for end-to-end tests: fresh temp dirs, port 0,
//! real sockets. Also a minimal SMTP client and polling helpers.
#![allow(dead_code)]

pub mod dns;
pub mod dovecot;
pub mod hostile;
pub mod imap_sink;
pub mod process;
pub mod smtp_client;
pub mod token_server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dossier::app::{self, Running};
use dossier::config::Config;
use serde_json::Value;

pub use smtp_client::SmtpClient;

pub struct TestApp {
    pub http: SocketAddr,
    pub smtp: SocketAddr,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    running: Option<Running>,
}

/// `auth.dns_servers` for tests that need no DNS: the discard port, unserved.
pub const OFFLINE_DNS: &str = "[\"127.0.0.1:9\"]";

pub fn test_config(dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let data = format!("{:?}", dir.join("data").display().to_string());
    let index = format!("{:?}", dir.join("index").display().to_string());
    // The app runs inside the test binary: extraction runs the real dossier.
    let extractor = format!("{:?}", env!("CARGO_BIN_EXE_dossier"));
    let mut pairs: Vec<(&str, &str)> = vec![
        ("extract.program", &extractor),
        ("http.listen", "\"127.0.0.1:0\""),
        ("smtp.listen", "\"127.0.0.1:0\""),
        ("storage.data_dir", &data),
        ("index.dir", &index),
        ("index.writer_memory_bytes", "20000000"),
        // The salespeople of the tests write from team.example.
        ("archive.team_domains", "[\"team.example\"]"),
        // Sender authentication stays on (the default policy) but DNS is a
        // loopback port nobody serves: nothing leaves the machine, and mail
        // is judged by the team rule as when a server is offline.
        ("auth.dns_servers", OFFLINE_DNS),
        ("auth.dns_timeout_ms", "200"),
    ];
    pairs.extend_from_slice(extra);
    Config::with_overrides(&pairs).expect("test config")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), extra);
    let running = app::start(config).await.expect("app starts");
    let token_path = running
        .admin_token_path
        .clone()
        .expect("first start creates an admin");
    let token = std::fs::read_to_string(token_path)
        .unwrap()
        .trim()
        .to_owned();
    TestApp {
        http: running.http_addr,
        smtp: running.smtp_addr,
        token,
        dir,
        client: reqwest::Client::new(),
        running: Some(running),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(path, &self.token).await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a raw body to a card's upload route.
    pub async fn upload_raw(
        &self,
        card_id: &Value,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/cards/{card_id}/messages")))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_card(&self, title: &str) -> Value {
        let r = self
            .post_json("/api/cards", &serde_json::json!({ "title": title }))
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    pub async fn smtp(&self) -> SmtpClient {
        SmtpClient::connect(self.smtp).await
    }

    /// Sends one message in its own session; returns the final reply to DATA.
    pub async fn send(&self, rcpts: &[&str], raw: &[u8]) -> String {
        let mut c = self.smtp().await;
        c.ehlo().await;
        let reply = c.send_mail("sales@team.example", rcpts, raw).await;
        c.quit().await;
        reply
    }

    /// Polls until the search returns `n` hits; returns the response.
    /// (A deadline, not a speed assertion: it only bounds a hung test.)
    pub async fn wait_search(&self, query: &str, n: u64) -> Value {
        self.wait_total(&format!("/api/search?q={}", urlencode(query)), n)
            .await
    }

    pub async fn wait_history(&self, card_id: i64, n: u64) -> Value {
        self.wait_total(&format!("/api/cards/{card_id}/history"), n)
            .await
    }

    /// Polls a listing until its `total` is `n`; returns the response.
    /// (A deadline, not a speed assertion: it only bounds a hung test.)
    pub async fn wait_total(&self, path: &str, n: u64) -> Value {
        self.wait_for(path, &format!("a total of {n}"), |v| v["total"] == n)
            .await
    }

    /// Polls `path` until `done` holds for its JSON (at most 30 s: a bound
    /// for a hung test, not a speed assertion); returns it.
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.get_json(path).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} never showed {what}; last: {last}");
    }

    /// Stops the gateway, keeping its directories (see `start_again`).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Starts the gateway again on the same directories (new ports).
    pub async fn start_again(&mut self) {
        self.start_again_with(&[]).await;
    }

    /// `start_again` with other settings.
    pub async fn start_again_with(&mut self, extra: &[(&str, &str)]) {
        let running = app::start(test_config(self.dir.path(), extra))
            .await
            .expect("app starts again");
        self.http = running.http_addr;
        self.smtp = running.smtp_addr;
        self.running = Some(running);
    }

    pub async fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A plain forwarded mail as a salesperson's client would send it.
pub fn forwarded_mail(message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sam Sales <sam@team.example>\r\nTo: archive\r\nSubject: Fwd: {subject}\r\n\
Date: Tue, 3 Jun 2025 09:00:00 +0000\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n---------- Forwarded message ---------\r\n\
From: Jane Client <jane@client.example>\r\nDate: Mon, 2 Jun 2025 at 15:04\r\nSubject: {subject}\r\n\
To: Sam Sales <sam@team.example>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

impl TestApp {
    /// Any method, any token, an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// `call`, asserting the status; the JSON answer (Null when empty).
    pub async fn call_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let label = format!("{method} {path}");
        let r = self.call(method, path, token, body).await;
        let got = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{label}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// POSTs JSON as `token`, asserting 201; the created item.
    pub async fn created(&self, token: &str, path: &str, body: Value) -> Value {
        self.call_ok(reqwest::Method::POST, path, token, Some(body), 201)
            .await
    }

    /// Sets one rule of the rights policy (as the admin).
    pub async fn set_rule(&self, action: &str, rule: Value) {
        let mut p = self.get_json("/api/admin/policies").await;
        p[action] = rule;
        self.call_ok(
            reqwest::Method::PUT,
            "/api/admin/policies",
            &self.token,
            Some(p),
            200,
        )
        .await;
    }

    /// Moves a row's `created_at` back in time (`entries` or `documents`), to
    /// test `within_days` without waiting.
    pub async fn age(&self, table: &str, id: &Value, days: i64) {
        assert!(matches!(table, "entries" | "documents"));
        let store = dossier::store::Store::open(&self.data_dir().join("dossier.sqlite3"))
            .await
            .unwrap();
        let then = (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        sqlx::query(&format!("UPDATE {table} SET created_at = ? WHERE id = ?"))
            .bind(then)
            .bind(id.as_i64().unwrap())
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
    }

    /// The id of the user behind a token.
    pub async fn user_id(&self, token: &str) -> i64 {
        self.get_as("/api/me", token)
            .await
            .json::<Value>()
            .await
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Creates another user directly in the store; returns its token.
    pub async fn add_user(&self, email: &str, admin: bool) -> String {
        let store = dossier::store::Store::open(&self.data_dir().join("dossier.sqlite3"))
            .await
            .unwrap();
        let token = dossier::domain::ApiToken::generate();
        store
            .create_user(email, None, admin, &token.hash())
            .await
            .unwrap();
        store.close().await;
        token.expose().to_owned()
    }
}
