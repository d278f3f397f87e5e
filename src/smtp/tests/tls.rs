//! STARTTLS over a duplex stream, with a certificate from a test CA that the
//! client (tokio-rustls) trusts.

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsConnector;

use super::*;

struct TestPki {
    server: Arc<ServerConfig>,
    client: TlsConnector,
}

/// A CA, and a leaf for mx.test that it signed.
fn pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dossier test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["mx.test".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_cert.der().to_vec()))
        .unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TestPki {
        server: Arc::new(server),
        client: TlsConnector::from(Arc::new(client)),
    }
}

fn tls_config(pki: &TestPki, require_tls: bool) -> SmtpConfig {
    SmtpConfig {
        tls: Some(pki.server.clone()),
        require_tls,
        ..config()
    }
}

impl Client {
    /// Handshake after the server's 220, verifying mx.test against the test CA.
    async fn upgrade(self, connector: &TlsConnector) -> Client<TlsStream<DuplexStream>> {
        assert!(self.reader.buffer().is_empty(), "unread clear text");
        let stream = self.reader.into_inner().unsplit(self.writer);
        let name = ServerName::try_from("mx.test").unwrap();
        let tls = connector.connect(name, stream).await.expect("handshake");
        Client::new(tls)
    }
}

#[tokio::test]
async fn starttls_upgrades_and_forgets_the_clear_text_session() {
    let pki = pki();
    let (delivery, config) = (TestDelivery::default(), tls_config(&pki, false));
    let (mut c, session) = start(&delivery, &config);
    let client = async {
        assert!(c.ehlo().await.contains("250-STARTTLS\r\n"));
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "250");
        assert_code(&c.cmd("STARTTLS").await, "503 5.5.1");
        assert_code(&c.cmd("RSET").await, "250");
        assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0 Ready to start TLS\r\n");
        let mut c = c.upgrade(&pki.client).await;
        // RFC 3207 §4.2: the EHLO given in clear text no longer counts.
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "503 5.5.1");
        let ehlo = c.cmd("EHLO client.test").await;
        assert!(
            ehlo.starts_with("250-mx.test") && !ehlo.contains("STARTTLS"),
            "{ehlo}"
        );
        assert_code(&c.cmd("STARTTLS").await, "503 5.5.1");
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("Subject: over TLS\r\n\r\nhi\r\n.").await, "250");
        assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    };
    tokio::join!(session, client);
    let (envelope, body) = delivery.messages().remove(0);
    assert_eq!(body, b"Subject: over TLS\r\n\r\nhi\r\n");
    let tls = envelope.tls.expect("recorded on the envelope");
    assert!(tls.starts_with("TLSv1.3 TLS13_"), "{tls}");
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_discarded() {
    let pki = pki();
    let (delivery, config) = (TestDelivery::default(), tls_config(&pki, false));
    let (mut c, session) = start(&delivery, &config);
    let client = async {
        c.ehlo().await;
        // One segment: the commands after STARTTLS were never protected.
        c.send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x@archive.test>\r\n")
            .await;
        assert_eq!(c.reply().await, "220 2.0.0 Ready to start TLS\r\n");
        let mut c = c.upgrade(&pki.client).await;
        let ehlo = c.cmd("EHLO client.test").await;
        assert!(
            ehlo.starts_with("250-mx.test"),
            "an injected reply leaked: {ehlo}"
        );
        assert_code(&c.cmd("RCPT TO:<x@archive.test>").await, "503 5.5.1");
        assert_code(&c.cmd("DATA").await, "503 5.5.1");
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test]
async fn require_tls_refuses_mail_until_starttls() {
    let pki = pki();
    let (delivery, config) = (TestDelivery::default(), tls_config(&pki, true));
    let (mut c, session) = start(&delivery, &config);
    let client = async {
        c.ehlo().await;
        assert_eq!(
            c.cmd("MAIL FROM:<a@example.org>").await,
            "530 5.7.0 Must issue a STARTTLS command first\r\n"
        );
        assert_code(&c.cmd("STARTTLS").await, "220");
        let mut c = c.upgrade(&pki.client).await;
        c.cmd("EHLO client.test").await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("hi\r\n.").await, "250");
    };
    tokio::join!(session, client);
    assert_eq!(delivery.messages().len(), 1);
}

#[tokio::test]
async fn a_failed_handshake_ends_the_session_quietly() {
    let pki = pki();
    let (delivery, config) = (TestDelivery::default(), tls_config(&pki, false));
    let (mut c, session) = start(&delivery, &config);
    let client = async {
        c.ehlo().await;
        assert_code(&c.cmd("STARTTLS").await, "220");
        c.send("EHLO not a TLS client hello\r\n").await;
        // No SMTP reply after 220 (at most a TLS alert record): the server closes.
        let mut rest = Vec::new();
        c.reader.read_to_end(&mut rest).await.unwrap();
        assert!(rest.first().is_none_or(|b| !b.is_ascii_digit()), "{rest:?}");
    };
    tokio::join!(session, client);
}
