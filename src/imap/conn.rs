//! Connecting: TCP, optional TLS (implicit or STARTTLS), greeting, then sign-in (signin.rs).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_imap::imap_proto::{Response, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};

use super::error::step;
use super::{ImapAccount, ImapError, Security};

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Per command (or per streamed response item); generous because big bodies take a while.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The transport under the IMAP session: one type so the session type does not depend on config.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Plain(_) => "Transport::Plain",
            Transport::Tls(_) => "Transport::Tls",
        })
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub(crate) type Session = async_imap::Session<Transport>;
pub(crate) type Client = async_imap::Client<Transport>;

/// The server extensions the poller cares about.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caps {
    pub idle: bool,
    pub mv: bool,
    pub uidplus: bool,
}

/// A logged-in session.
pub(crate) struct Conn {
    pub session: Session,
    pub caps: Caps,
    /// When the OAuth2 token this session signed in with expires.
    pub token_expires: Option<Instant>,
}

impl Conn {
    /// Polite LOGOUT; failures are irrelevant because the connection is dropped anyway.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }
}

/// A greeted client, not signed in yet (see `signin::connect`).
pub(crate) async fn open(account: &ImapAccount) -> Result<Client, ImapError> {
    let addr = format!("{}:{}", account.host, account.port);
    let connect_err = |reason: String| ImapError::Connect {
        addr: addr.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((account.host.as_str(), account.port)),
    )
    .await
    .map_err(|_| connect_err("timed out".into()))?
    .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);

    let client = match account.security {
        Security::Plain => {
            let mut client = Client::new(Transport::Plain(tcp));
            read_greeting(&mut client, &addr).await?;
            client
        }
        Security::Tls => {
            let tls = tls_handshake(&account.host, tcp).await?;
            let mut client = Client::new(Transport::Tls(Box::new(tls)));
            read_greeting(&mut client, &addr).await?;
            client
        }
        Security::Starttls => {
            let mut client = Client::new(Transport::Plain(tcp));
            read_greeting(&mut client, &addr).await?;
            step(
                "STARTTLS",
                COMMAND_TIMEOUT,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            // Anything the server sent after its OK is discarded with the old buffer (RFC 2595).
            let Transport::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS starts from a plain transport")
            };
            let tls = tls_handshake(&account.host, tcp).await?;
            Client::new(Transport::Tls(Box::new(tls)))
        }
    };
    Ok(client)
}

async fn read_greeting(client: &mut Client, addr: &str) -> Result<(), ImapError> {
    let err = |reason: String| ImapError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let greeting = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
        .await
        .map_err(|_| err("no greeting".into()))?
        .map_err(|e| err(format!("reading greeting: {e}")))?
        .ok_or_else(|| err("closed before greeting".into()))?;
    if let Response::Data {
        status: Status::Bye,
        outcome,
        ..
    } = greeting.parsed()
    {
        return Err(err(format!("server said BYE: {:?}", outcome.information)));
    }
    Ok(())
}

async fn tls_handshake(host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::Tls(format!("invalid server name {host:?}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Tls("handshake timed out".into()))?
        .map_err(|e| ImapError::Tls(format!("handshake with {host}: {e}")))
}

/// Built once: loading the system store reads many files. Honors SSL_CERT_FILE / SSL_CERT_DIR.
fn tls_config() -> Result<Arc<ClientConfig>, ImapError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no system root certificates (install ca-certificates): {:?}",
                    found.errors.first().map(|e| e.to_string())
                ));
            }
            // Explicit provider: no reliance on a process-wide default being installed.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(ImapError::Tls)
}

#[cfg(test)]
mod tests {
    #[test]
    fn async_imap_command_traces_are_compiled_out() {
        // async-imap logs every command it sends, LOGIN and its password included, at trace
        // level; the `log` features in Cargo.toml remove that level at compile time.
        assert!(log::STATIC_MAX_LEVEL <= log::LevelFilter::Debug);
    }
}
