//! OAuth2 sign-in of the IMAP poller against a real Dovecot whose `oauth2` passdb asks a token
//! server the test runs on loopback (tests/common/token_server.rs), which also issues the
//! tokens: Microsoft 365's client-credentials grant, Google's JWT-bearer grant (assertion
//! verified), a refresh token; expiry mid-run, revocation, a token endpoint that is down.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::dovecot::{test_message, Dovecot, DovecotOptions, USER};
use common::imap_sink::{eventually, has_subject, status_of, MemSink};
use common::token_server::{self as ts, TokenServer};
use dossier::imap::oauth::{Grant, OAuth2Settings};
use dossier::imap::{poll_once, run_account, AccountStatus, AuthMethod, ImapAccount, Security};
use tokio::sync::watch;

fn dovecot_for(tokens: &TokenServer, mechanisms: Option<&str>) -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        oauth2_introspection_url: Some(tokens.introspection_url()),
        oauth2_mechanisms: mechanisms.map(str::to_string),
        ..Default::default()
    })
}

fn oauth_account(server: &Dovecot, settings: OAuth2Settings) -> ImapAccount {
    let mut a = ImapAccount::new(
        "oauth",
        "127.0.0.1",
        server.port(),
        Security::Plain,
        USER,
        "",
    );
    a.password = None;
    a.auth = AuthMethod::OAuth2;
    a.oauth2 = Some(settings);
    a
}

/// Microsoft 365's shape: an app registration's id and secret (in a 0600 file).
fn client_credentials(dir: &Path, tokens: &TokenServer, secret: &str) -> OAuth2Settings {
    let file = dir.join("client-secret");
    ts::write_private(&file, format!("{secret}\n").as_bytes());
    OAuth2Settings {
        token_url: Some(tokens.token_url()),
        client_id: Some(ts::CLIENT_ID.into()),
        client_secret_file: Some(file),
        ..Default::default()
    }
}

/// Google's shape: a service account key file; the subject defaults to the username.
fn service_account(dir: &Path, tokens: &TokenServer) -> OAuth2Settings {
    let (key_file, public) = ts::service_account(dir, &tokens.token_url());
    tokens.trust_service_account(public);
    OAuth2Settings {
        service_account_file: Some(key_file),
        ..Default::default()
    }
}

struct Running {
    status: Arc<Mutex<AccountStatus>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(account: ImapAccount, sink: &Arc<MemSink>) -> Running {
    let status = Arc::new(Mutex::new(AccountStatus::for_account(&account)));
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(run_account(account, sink.clone(), status.clone(), rx));
    Running { status, stop, task }
}

impl Running {
    fn status(&self) -> AccountStatus {
        status_of(&self.status)
    }

    async fn finish(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn client_credentials_grant_signs_in_with_oauthbearer_and_collects() {
    let tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    server.append("INBOX", &test_message("m365 one")).await;
    server.append("INBOX", &test_message("m365 two")).await;
    let dir = tempfile::tempdir().unwrap();
    let acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    acct.validate().unwrap();

    let sink = MemSink::default();
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    assert!(has_subject(&sink.raws()[1], "m365 two"));
    assert_eq!(tokens.issued(), ["client_credentials"]);
    // Dovecot offers both mechanisms: the standard one is used.
    let log = server.log();
    assert!(log.contains("method=OAUTHBEARER"), "{log}");
    assert!(server
        .messages("INBOX")
        .await
        .iter()
        .all(|m| m.has_flag("$Archived")));
}

#[tokio::test]
async fn jwt_bearer_grant_signs_in_with_xoauth2_and_collects() {
    let tokens = TokenServer::start(USER).await;
    // Exchange Online announces XOAUTH2 only.
    let server = dovecot_for(&tokens, Some("xoauth2"));
    server.append("INBOX", &test_message("google one")).await;
    let dir = tempfile::tempdir().unwrap();
    let acct = oauth_account(&server, service_account(dir.path(), &tokens));
    acct.validate().unwrap();

    let sink = MemSink::default();
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert_eq!(tokens.issued(), ["jwt_bearer"]);
    assert!(server.log().contains("method=XOAUTH2"), "{}", server.log());

    // An assertion for another mailbox is refused by the token endpoint, with advice.
    let mut other = acct.clone();
    other.oauth2.as_mut().unwrap().subject = Some("someone-else@example.org".into());
    let err = poll_once(&other, &sink).await.unwrap_err().to_string();
    assert!(
        err.starts_with("token endpoint answered 400 (invalid_grant:")
            && err.contains("domain-wide delegation"),
        "{err}"
    );
    assert_eq!(tokens.refused(), ["invalid_grant"]);
}

#[tokio::test]
async fn refresh_token_grant_signs_in() {
    let tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    server.append("INBOX", &test_message("refresh one")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refresh-token");
    ts::write_private(&file, ts::REFRESH_TOKEN.as_bytes());
    let acct = oauth_account(
        &server,
        OAuth2Settings {
            token_url: Some(tokens.token_url()),
            client_id: Some(ts::REFRESH_CLIENT_ID.into()),
            refresh_token_file: Some(file),
            ..Default::default()
        },
    );
    assert_eq!(acct.oauth2.as_ref().unwrap().grant(), Grant::RefreshToken);
    let sink = MemSink::default();
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert_eq!(tokens.issued(), ["refresh_token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_mid_run_are_renewed_without_losing_or_doubling_mail() {
    let tokens = TokenServer::start(USER).await;
    tokens.set_expires_in(3);
    let server = dovecot_for(&tokens, None);
    let dir = tempfile::tempdir().unwrap();
    let mut acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    acct.poll_interval_secs = 1;
    let sink = Arc::new(MemSink::default());
    let run = start(acct, &sink);

    // Mail keeps arriving across several token lifetimes.
    let subjects: Vec<String> = (0..12).map(|i| format!("steady {i}")).collect();
    for s in &subjects {
        server.append("INBOX", &test_message(s)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    eventually(30, "every message", || sink.count() == subjects.len()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let raws = sink.raws();
    assert_eq!(raws.len(), subjects.len(), "nothing taken twice");
    for s in &subjects {
        assert_eq!(raws.iter().filter(|r| has_subject(r, s)).count(), 1, "{s}");
    }
    let issued = tokens.issued().len();
    assert!(issued >= 3, "tokens were renewed ({issued} issued)");
    let st = run.status();
    assert_eq!(
        st.last_error, None,
        "renewal before expiry causes no failure"
    );
    assert!(st.token_refreshed_at.is_some() && st.token_expires_at.is_some());
    assert_eq!(st.messages_taken, subjects.len() as u64);
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_once_and_revoked_access_backs_off_until_restored() {
    let tokens = TokenServer::start(USER).await;
    let mut server = dovecot_for(&tokens, None);
    let dir = tempfile::tempdir().unwrap();
    let mut acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    acct.poll_interval_secs = 1;
    acct.auth_failure_backoff_secs = 3;
    let sink = Arc::new(MemSink::default());
    let run = start(acct, &sink);
    server.append("INBOX", &test_message("before")).await;
    eventually(20, "first message", || sink.count() == 1).await;
    assert_eq!(tokens.issued().len(), 1);

    // The cached token is revoked and the session dropped: one fresh token fixes it.
    tokens.revoke_issued();
    server.restart();
    server
        .append("INBOX", &test_message("after token revoked"))
        .await;
    eventually(30, "second message", || sink.count() == 2).await;
    assert_eq!(tokens.issued().len(), 2, "exactly one refresh");
    // The restart shows as a broken connection, never as refused credentials.
    let err = run.status().last_error.unwrap_or_default();
    assert!(!err.contains("authentication failed"), "{err}");

    // The mailbox's access is withdrawn: every token is refused.
    let revoked_at = tokens.issued_at().len();
    tokens.revoke_mailbox(true);
    server.restart();
    server.append("INBOX", &test_message("while revoked")).await;
    eventually(30, "refusal in status", || {
        run.status()
            .last_error
            .is_some_and(|e| e.contains("refused the OAuth2 access token"))
    })
    .await;
    let err = run.status().last_error.unwrap();
    assert!(
        err.contains("IMAP.AccessAsApp") && err.contains("Add-MailboxPermission"),
        "{err}"
    );
    // Each attempt: the cached token, then one fresh token, then back-off. (Dovecot adds
    // its own growing penalty delay to repeated failures from one address.)
    eventually(60, "a second refused attempt", || {
        refused_since(&tokens, revoked_at) >= 4
    })
    .await;
    // The first two attempts after the revocation: r[0], r[1], then r[2], r[3].
    let since = tokens.issued_at()[revoked_at - 1];
    let r: Vec<_> = tokens
        .introspected()
        .into_iter()
        .filter(|(at, active)| !active && *at > since)
        .map(|(at, _)| at)
        .collect();
    let issued = tokens.issued_at();
    let between = |a, b| issued.iter().filter(|t| **t > a && **t < b).count();
    // In one attempt, exactly one token is fetched between the two refusals...
    assert_eq!(between(r[0], r[1]), 1);
    assert_eq!(between(r[2], r[3]), 1);
    // ...and none between attempts, which are auth_failure_backoff_secs apart at least.
    assert_eq!(between(r[1], r[2]), 0);
    let gap = r[2] - r[1];
    assert!(gap >= Duration::from_millis(2900), "attempts {gap:?} apart");
    assert_eq!(sink.count(), 2, "nothing taken while refused");

    tokens.revoke_mailbox(false);
    eventually(60, "recovery", || sink.count() == 3).await;
    assert!(has_subject(&sink.raws()[2], "while revoked"));
    let st = run.status();
    assert!(st.last_success >= st.last_error.map(|e| e[..20].to_string()));
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_is_down_is_reported_and_recovered_from() {
    let mut tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    server
        .append("INBOX", &test_message("waits for the endpoint"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    acct.poll_interval_secs = 1;
    tokens.stop().await;
    let sink = Arc::new(MemSink::default());
    let run = start(acct, &sink);
    eventually(20, "unreachable in status", || {
        run.status()
            .last_error
            .is_some_and(|e| e.contains("unreachable"))
    })
    .await;
    let err = run.status().last_error.unwrap();
    assert!(
        err.contains(&tokens.token_url()) && err.to_lowercase().contains("connection refused"),
        "{err}"
    );
    assert!(run.status().last_success.is_none());
    assert_eq!(sink.count(), 0);

    tokens.resume().await;
    eventually(30, "collected once the endpoint is back", || {
        sink.count() == 1
    })
    .await;
    assert!(run.status().token_refreshed_at.is_some());
    run.finish().await;
}

#[tokio::test]
async fn a_wrong_client_secret_is_reported_in_words_an_admin_can_act_on() {
    let tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    let dir = tempfile::tempdir().unwrap();
    let acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, "wrong-secret"),
    );
    let err = poll_once(&acct, &MemSink::default()).await.unwrap_err();
    assert!(err.is_permanent());
    let msg = err.to_string();
    assert!(
        msg.starts_with("token endpoint answered 401 (invalid_client: AADSTS7000215")
            && msg.contains("check the client secret"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-secret"));

    // A secret file others can read is refused before anything is sent.
    let file = acct
        .oauth2
        .as_ref()
        .unwrap()
        .client_secret_file
        .clone()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let refused = tokens.refused().len();
    let msg = poll_once(&acct, &MemSink::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("chmod 600"), "{msg}");
    assert_eq!(tokens.refused().len(), refused);
}

#[tokio::test]
async fn a_server_without_oauth_mechanisms_is_named() {
    let tokens = TokenServer::start(USER).await;
    let server = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let acct = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    let msg = poll_once(&acct, &MemSink::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2") && msg.contains("PLAIN"),
        "{msg}"
    );
    assert!(tokens.issued().is_empty(), "no token asked for in vain");
}

#[test]
fn oauth2_settings_are_validated() {
    #[derive(serde::Deserialize)]
    struct File {
        imap: Imap,
    }
    #[derive(serde::Deserialize)]
    struct Imap {
        accounts: Vec<ImapAccount>,
    }
    use figment::providers::{Format, Toml};
    let parse = |toml: &str| -> ImapAccount {
        let f: File = figment::Figment::from(Toml::string(toml))
            .extract()
            .unwrap();
        f.imap.accounts.into_iter().next().unwrap()
    };
    let m365 = parse(
        r#"
        [[imap.accounts]]
        name = "m365"
        host = "outlook.office365.com"
        port = 993
        security = "tls"
        username = "archive@contoso.com"
        auth = "oauth2"
        oauth2.token_url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        oauth2.client_id = "00000000-0000-0000-0000-000000000001"
        oauth2.client_secret_file = "/run/secrets/m365"
        "#,
    );
    m365.validate().unwrap();
    let o = m365.oauth2.as_ref().unwrap();
    assert_eq!(o.grant(), Grant::ClientCredentials);
    assert_eq!(o.scope(), Some("https://outlook.office365.com/.default"));
    assert_eq!(m365.auth_failure_backoff_secs, 30);

    let google = parse(
        r#"
        [[imap.accounts]]
        name = "gws"
        host = "imap.gmail.com"
        port = 993
        security = "tls"
        username = "archive@example.com"
        auth = "oauth2"
        oauth2 = { service_account_file = "/run/secrets/sa.json" }
        "#,
    );
    google.validate().unwrap();
    assert_eq!(google.oauth2.as_ref().unwrap().grant(), Grant::JwtBearer);
    assert_eq!(
        google.oauth2.as_ref().unwrap().scope(),
        Some("https://mail.google.com/")
    );

    let bad = |a: &ImapAccount, what: &str| {
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains(what), "{what}: {e}");
    };
    let mut a = m365.clone();
    a.password = Some("x".into());
    bad(&a, "takes no password");
    let mut a = m365.clone();
    a.oauth2 = None;
    bad(&a, "needs an oauth2 table");
    let mut a = m365.clone();
    a.auth = AuthMethod::Password;
    bad(&a, "need auth = \"oauth2\"");
    let mut a = m365.clone();
    a.oauth2.as_mut().unwrap().client_secret_file = None;
    bad(&a, "DOSSIER_IMAP_M365_CLIENT_SECRET");
    let mut a = m365.clone();
    a.oauth2.as_mut().unwrap().token_url = Some("http://login.example.com/token".into());
    bad(&a, "must be https");
    let mut a = m365.clone();
    a.oauth2.as_mut().unwrap().subject = Some("x@y".into());
    bad(
        &a,
        "oauth2.subject is not used by the client_credentials grant",
    );
    let mut a = google.clone();
    a.oauth2.as_mut().unwrap().client_id = Some("x".into());
    bad(&a, "oauth2.client_id is not used by the jwt_bearer grant");
    let mut a = google.clone();
    a.oauth2.as_mut().unwrap().service_account_file = None;
    a.oauth2.as_mut().unwrap().grant = Some(Grant::JwtBearer);
    bad(&a, "DOSSIER_IMAP_GWS_SERVICE_ACCOUNT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_status_shows_the_auth_method_and_token_refresh() {
    let tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    ts::write_private(&secret, ts::CLIENT_SECRET.as_bytes());
    let accounts = format!(
        "[{{name = \"m365\", host = \"127.0.0.1\", port = {}, security = \"plain\", username = \"{USER}\", \
         auth = \"oauth2\", poll_interval_secs = 1, oauth2 = {{token_url = \"{}\", client_id = \"{}\", \
         client_secret_file = {:?}}}}}]",
        server.port(),
        tokens.token_url(),
        ts::CLIENT_ID,
        secret.display().to_string(),
    );
    let app = common::spawn_app_with(&[("imap.accounts", &accounts)]).await;
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        status = app.get_json("/api/admin/imap").await;
        if status["accounts"][0]["last_success"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = &status["accounts"][0];
    assert_eq!(a["auth"], "oauth2", "{status}");
    assert_eq!(a["grant"], "client_credentials");
    assert!(a["token_refreshed_at"].is_string(), "{status}");
    assert!(a["token_expires_at"].is_string(), "{status}");
    assert!(a["last_error"].is_null(), "{status}");
    let text = status.to_string();
    for t in tokens.issued_tokens() {
        assert!(!text.contains(&t), "token in the status");
    }
    app.shutdown().await;
}

/// Everything logged while signing in with each grant, at every level, holds no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_tokens_never_reach_a_log_line() {
    let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let buf = buf.clone();
        move || LogWriter(buf.clone())
    };
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber in this test binary");

    let tokens = TokenServer::start(USER).await;
    let server = dovecot_for(&tokens, None);
    server.append("INBOX", &test_message("logged")).await;
    let dir = tempfile::tempdir().unwrap();
    let cc = oauth_account(
        &server,
        client_credentials(dir.path(), &tokens, ts::CLIENT_SECRET),
    );
    let sa_settings = service_account(dir.path(), &tokens);
    let key_text =
        std::fs::read_to_string(sa_settings.service_account_file.as_ref().unwrap()).unwrap();
    let sa = oauth_account(&server, sa_settings);
    let sink = MemSink::default();
    assert_eq!(poll_once(&cc, &sink).await.unwrap(), 1);
    server.append("INBOX", &test_message("logged 2")).await;
    assert_eq!(poll_once(&sa, &sink).await.unwrap(), 1);
    let mut wrong = cc.clone();
    wrong.oauth2.as_mut().unwrap().client_secret_file = Some({
        let f = dir.path().join("wrong");
        ts::write_private(&f, b"wrong-secret-value");
        f
    });
    assert!(poll_once(&wrong, &sink).await.is_err());

    let log = String::from_utf8_lossy(&buf.lock().unwrap()).to_string();
    assert!(
        log.contains("obtained an OAuth2 access token"),
        "logging works"
    );
    let key: serde_json::Value = serde_json::from_str(&key_text).unwrap();
    let pem_line = key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mut secrets = vec![
        ts::CLIENT_SECRET.to_string(),
        "wrong-secret-value".to_string(),
        pem_line,
    ];
    secrets.extend(tokens.issued_tokens());
    assert!(tokens.issued_tokens().len() >= 2);
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "secret {s:?} in the log");
    }
    // Nor the SASL initial responses, as sent (base64).
    use base64::Engine;
    for t in tokens.issued_tokens() {
        let port = server.port();
        let response =
            format!("n,a={USER},\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {t}\x01\x01");
        let b64 = base64::engine::general_purpose::STANDARD.encode(response);
        assert!(!log.contains(&b64), "SASL response in the log");
    }
    assert!(!log.contains("eyJ"), "no JWT (assertion) in the log");
}

/// Refused introspections after the first `issued` tokens were handed out.
fn refused_since(tokens: &TokenServer, issued: usize) -> usize {
    let since = tokens.issued_at()[issued - 1];
    tokens
        .introspected()
        .iter()
        .filter(|(at, active)| !active && *at > since)
        .count()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
