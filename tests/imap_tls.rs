//! TLS and STARTTLS against a real Dovecot with a self-signed certificate. A separate test
//! binary because trusting that certificate means setting SSL_CERT_FILE for the process.

mod common;

use common::dovecot::{test_message, Dovecot, DovecotOptions, PASSWORD, USER};
use common::imap_sink::MemSink;
use dossier::imap::{poll_once, ImapAccount, ImapError, Security};

// One test only: the TLS config (and so SSL_CERT_FILE) is read once per process.
#[tokio::test]
async fn tls_and_starttls_verify_the_server_certificate() {
    let server = Dovecot::start_with(DovecotOptions {
        tls: true,
        ..Default::default()
    });
    std::env::set_var("SSL_CERT_FILE", server.cert_path());
    server.append("INBOX", &test_message("tls1")).await;
    let sink = MemSink::default();

    let tls = ImapAccount::new(
        "t",
        "localhost",
        server.tls_port(),
        Security::Tls,
        USER,
        PASSWORD,
    );
    assert_eq!(poll_once(&tls, &sink).await.unwrap(), 1);

    server.append("INBOX", &test_message("tls2")).await;
    let starttls = ImapAccount::new(
        "t",
        "localhost",
        server.port(),
        Security::Starttls,
        USER,
        PASSWORD,
    );
    assert_eq!(poll_once(&starttls, &sink).await.unwrap(), 1);

    // The certificate names localhost and 127.0.0.1 only: any other name must be refused.
    let mut wrong = tls.clone();
    wrong.host = "127.0.0.2".into();
    let err = poll_once(&wrong, &sink).await.unwrap_err();
    assert!(
        matches!(&err, ImapError::Tls(m) if m.contains("certificate")),
        "{err:?}"
    );
    // Implicit TLS spoken to a plaintext port fails cleanly instead of hanging.
    let mut plain_port = tls.clone();
    plain_port.port = server.port();
    assert!(matches!(
        poll_once(&plain_port, &sink).await,
        Err(ImapError::Tls(_))
    ));
}
