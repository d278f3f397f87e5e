//! STARTTLS end to end: the certificate generated at first start, with curl
//! and Python's smtplib as clients; `smtp.require_tls`; a configured pair
//! from a test CA, verified by a tokio-rustls client.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::{spawn_app_with, SmtpClient};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

fn addr(card: &Value) -> String {
    card["archive_address"].as_str().unwrap().to_owned()
}

fn mail(subject: &str) -> String {
    format!(
        "From: Sam <sam@team.example>\r\nTo: archive\r\nSubject: {subject}\r\n\
Message-ID: <{subject}@team.example>\r\n\r\nSent over STARTTLS: {subject}\r\n"
    )
}

/// curl as an SMTP client; `tls` adds `--ssl-reqd -k` (TLS required, any
/// certificate). Child processes run async: the server shares this runtime.
async fn curl(smtp: std::net::SocketAddr, rcpt: &str, file: &std::path::Path, tls: bool) -> bool {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.arg("-sS")
        .arg(format!("smtp://{smtp}"))
        .args(["--mail-from", "sam@team.example", "--mail-rcpt", rcpt])
        .arg("--upload-file")
        .arg(file);
    if tls {
        cmd.args(["--ssl-reqd", "-k"]);
    }
    let out = cmd.output().await.expect("curl (Debian package curl)");
    out.status.success()
}

/// Python's smtplib; prints what happened, one word.
async fn smtplib(smtp: std::net::SocketAddr, rcpt: &str, body: &str, starttls: bool) -> String {
    let script = r#"
import smtplib, sys
host, port, rcpt, body, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("python.test")
assert s.has_extn("starttls"), "STARTTLS not offered"
if tls:
    s.starttls()
    s.ehlo("python.test")
    assert not s.has_extn("starttls"), "STARTTLS offered again under TLS"
try:
    s.sendmail("sam@team.example", [rcpt], body.encode())
    print("sent")
except smtplib.SMTPSenderRefused as e:
    print("refused", e.smtp_code, e.smtp_error.decode())
s.quit()
"#;
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            script,
            &smtp.ip().to_string(),
            &smtp.port().to_string(),
        ])
        .args([rcpt, body, if starttls { "1" } else { "0" }])
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn starttls_with_curl_and_smtplib_on_the_generated_certificate() {
    let mut app = spawn_app_with(&[]).await;
    let tls_dir = app.data_dir().join("tls");
    let key_mode = std::fs::metadata(tls_dir.join("smtp-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "the generated key is private");
    let cert = std::fs::read(tls_dir.join("smtp-cert.pem")).unwrap();

    let card = app.create_card("TLS").await;
    let file = app.dir.path().join("curl.eml");
    std::fs::write(&file, mail("curlmail")).unwrap();
    assert!(
        curl(app.smtp, &addr(&card), &file, true).await,
        "curl --ssl-reqd"
    );
    assert_eq!(
        smtplib(app.smtp, &addr(&card), &mail("pythonmail"), true).await,
        "sent"
    );
    app.wait_history(card["id"].as_i64().unwrap(), 2).await;
    app.wait_search("curlmail", 1).await;
    app.wait_search("pythonmail", 1).await;

    // The pair is kept: the next start offers the same certificate.
    app.stop().await;
    app.start_again().await;
    assert_eq!(std::fs::read(tls_dir.join("smtp-cert.pem")).unwrap(), cert);
    assert!(curl(app.smtp, &addr(&card), &file, true).await);
    app.shutdown().await;
}

#[tokio::test]
async fn require_tls_turns_clear_text_mail_away() {
    let app = spawn_app_with(&[("smtp.require_tls", "true")]).await;
    let card = app.create_card("Only TLS").await;
    let to = addr(&card);
    let file = app.dir.path().join("m.eml");
    std::fs::write(&file, mail("cleartext")).unwrap();
    assert!(
        !curl(app.smtp, &to, &file, false).await,
        "clear text must fail"
    );
    let refused = smtplib(app.smtp, &to, &mail("cleartext"), false).await;
    assert_eq!(
        refused,
        "refused 530 5.7.0 Must issue a STARTTLS command first"
    );
    let mut c = SmtpClient::connect(app.smtp).await;
    c.ehlo().await;
    let r = c.cmd("MAIL FROM:<sam@team.example>").await;
    assert!(r.starts_with("530 5.7.0"), "{r}");
    c.quit().await;

    let tls_file = app.dir.path().join("tls.eml");
    std::fs::write(&tls_file, mail("curloverstarttls")).unwrap();
    assert!(curl(app.smtp, &to, &tls_file, true).await);
    assert_eq!(smtplib(app.smtp, &to, &mail("overtls"), true).await, "sent");
    // Exactly the two sent over TLS (the clear-text ones have their own Message-IDs).
    app.wait_history(card["id"].as_i64().unwrap(), 2).await;
    app.wait_search("curloverstarttls", 1).await;
    assert_eq!(app.get_json("/api/search?q=cleartext").await["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_configured_certificate_is_verified_by_a_rust_client() {
    let pki = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["mx.dossier.test".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let (cert_path, key_path) = (pki.path().join("cert.pem"), pki.path().join("key.pem"));
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
    let quoted = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    let (cert_value, key_value) = (quoted(&cert_path), quoted(&key_path));
    let app = spawn_app_with(&[("smtp.tls_cert", &cert_value), ("smtp.tls_key", &key_value)]).await;
    assert!(!app.data_dir().join("tls").exists(), "nothing generated");
    let card = app.create_card("Verified").await;

    // Clear-text part of the session.
    let stream = TcpStream::connect(app.smtp).await.unwrap();
    let mut plain = BufReader::new(stream);
    let mut line = String::new();
    plain.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 "));
    plain
        .get_mut()
        .write_all(b"EHLO rust.test\r\n")
        .await
        .unwrap();
    let mut offered = false;
    loop {
        line.clear();
        plain.read_line(&mut line).await.unwrap();
        offered |= line.contains("STARTTLS");
        if line.as_bytes()[3] == b' ' {
            break;
        }
    }
    assert!(offered);
    plain.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    line.clear();
    plain.read_line(&mut line).await.unwrap();
    assert_eq!(line, "220 2.0.0 Ready to start TLS\r\n");

    // Verified against the test CA, for the certificate's name.
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("mx.dossier.test").unwrap();
    let tls = connector.connect(name, plain.into_inner()).await.unwrap();
    let mut tls = BufReader::new(tls);
    let body = mail("rustclient");
    let rcpt = format!("RCPT TO:<{}>\r\n", addr(&card));
    let script = format!(
        "EHLO rust.test\r\nMAIL FROM:<sam@team.example>\r\n{rcpt}DATA\r\n{body}.\r\nQUIT\r\n"
    );
    tls.get_mut().write_all(script.as_bytes()).await.unwrap();
    let mut replies = String::new();
    while tls.read_line(&mut replies).await.unwrap() > 0 {}
    assert!(replies.contains("\r\n354 "), "{replies}");
    assert!(
        replies.contains("\r\n250 2.0.0 Ok: queued as "),
        "{replies}"
    );
    assert!(replies.ends_with("221 2.0.0 Bye\r\n"), "{replies}");
    app.wait_search("rustclient", 1).await;
    app.shutdown().await;
}
