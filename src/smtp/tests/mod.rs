//! Session tests over `tokio::io::duplex`: a scripted client on one end,
//! `run_session` with a recording [`Delivery`] on the other.

mod abuse;
mod commands;
mod limits;
mod tls;
mod transaction;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream, ReadHalf,
    WriteHalf,
};
use tokio::sync::watch;

use super::{run_session, DeliverError, Delivery, Envelope, RcptVerdict, SmtpConfig};

#[derive(Clone, Copy)]
enum Fail {
    Temporary,
    NoRoom,
    Permanent,
}

/// Recipients starting with "unknown" are Unknown, "tempfail" TempFail; the rest Accept.
#[derive(Default)]
struct TestDelivery {
    delivered: Mutex<Vec<(Envelope, Vec<u8>)>>,
    fail: Mutex<Option<Fail>>,
    /// `has_room` answers the opposite.
    full: AtomicBool,
}

impl TestDelivery {
    fn failing(fail: Fail) -> Self {
        let delivery = Self::default();
        *delivery.fail.lock().unwrap() = Some(fail);
        delivery
    }

    fn messages(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.delivered.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.messages().into_iter().map(|(_, body)| body).collect()
    }

    fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }
}

impl Delivery for TestDelivery {
    type Body = Vec<u8>;

    fn new_body(&self) -> Vec<u8> {
        Vec::new()
    }

    async fn has_room(&self) -> bool {
        !self.full.load(Ordering::SeqCst)
    }

    async fn check_recipient(&self, rcpt: &str) -> RcptVerdict {
        if rcpt.starts_with("unknown") {
            RcptVerdict::Unknown
        } else if rcpt.starts_with("tempfail") {
            RcptVerdict::TempFail("directory unavailable".into())
        } else {
            RcptVerdict::Accept
        }
    }

    async fn deliver(&self, envelope: Envelope, raw: Vec<u8>) -> Result<(), DeliverError> {
        let fail = *self.fail.lock().unwrap();
        match fail {
            Some(Fail::Temporary) => Err(DeliverError::Temporary("disk full".into())),
            Some(Fail::NoRoom) => Err(DeliverError::NoRoom("quarantine full".into())),
            Some(Fail::Permanent) => Err(DeliverError::Permanent("not an archive".into())),
            None => {
                self.delivered.lock().unwrap().push((envelope, raw));
                Ok(())
            }
        }
    }
}

fn peer() -> SocketAddr {
    "192.0.2.7:40000".parse().unwrap()
}

fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: "mx.test".into(),
        // A broken test fails in seconds instead of hanging for the 300 s default.
        idle_timeout: std::time::Duration::from_secs(10),
        ..SmtpConfig::default()
    }
}

struct Client<T = DuplexStream> {
    reader: BufReader<ReadHalf<T>>,
    writer: WriteHalf<T>,
}

impl<T: AsyncRead + AsyncWrite> Client<T> {
    fn new(stream: T) -> Self {
        let (reader, writer) = tokio::io::split(stream);
        Client {
            reader: BufReader::new(reader),
            writer,
        }
    }

    async fn send(&mut self, data: impl AsRef<[u8]>) {
        self.writer.write_all(data.as_ref()).await.unwrap();
    }

    /// One complete (possibly multi-line) reply; "" at EOF.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = Vec::new();
            if self.reader.read_until(b'\n', &mut line).await.unwrap() == 0 {
                return reply;
            }
            let line = String::from_utf8(line).expect("replies are UTF-8");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let last = line.as_bytes().get(3) == Some(&b' ');
            reply.push_str(&line);
            if last {
                return reply;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Reads the greeting and says EHLO.
    async fn ehlo(&mut self) -> String {
        let greeting = self.reply().await;
        assert_eq!(greeting, "220 mx.test ESMTP dossier\r\n");
        let reply = self.cmd("EHLO client.test").await;
        assert!(reply.starts_with("250-mx.test"), "{reply}");
        reply
    }

    /// MAIL + RCPT for the given recipients, all expected to be accepted.
    async fn envelope(&mut self, from: &str, rcpts: &[&str]) {
        assert_code(&self.cmd(&format!("MAIL FROM:<{from}>")).await, "250 2.1.0");
        for rcpt in rcpts {
            assert_code(&self.cmd(&format!("RCPT TO:<{rcpt}>")).await, "250 2.1.5");
        }
    }

    async fn expect_eof(&mut self) {
        let rest = self.reply().await;
        assert_eq!(rest, "", "expected the server to close");
    }
}

#[track_caller]
fn assert_code(reply: &str, prefix: &str) {
    assert!(
        reply.starts_with(prefix),
        "expected {prefix:?}, got {reply:?}"
    );
}

/// A client and the session future; drive both with `tokio::join!`.
fn start<'a>(
    delivery: &'a TestDelivery,
    config: &'a SmtpConfig,
) -> (Client, impl Future<Output = ()> + 'a) {
    let (tx, rx) = watch::channel(false);
    // Dropping the sender means "never shut down" to the session.
    drop(tx);
    start_with_shutdown(delivery, config, rx)
}

fn start_with_shutdown<'a>(
    delivery: &'a TestDelivery,
    config: &'a SmtpConfig,
    shutdown: watch::Receiver<bool>,
) -> (Client, impl Future<Output = ()> + 'a) {
    let (client, server) = tokio::io::duplex(256 * 1024);
    (
        Client::new(client),
        run_session(server, peer(), delivery, config, shutdown),
    )
}
