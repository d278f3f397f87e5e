//! `serve` over real TCP on 127.0.0.1: connection cap, graceful shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dossier::smtp::{serve, DeliverError, Delivery, Envelope, RcptVerdict, SmtpConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

/// Reports when `deliver` starts and holds it until the test adds a permit to `gate`.
struct GatedDelivery {
    started: mpsc::UnboundedSender<()>,
    gate: Semaphore,
    delivered: Mutex<Vec<Vec<u8>>>,
}

impl Delivery for GatedDelivery {
    type Body = Vec<u8>;

    fn new_body(&self) -> Vec<u8> {
        Vec::new()
    }

    async fn check_recipient(&self, _rcpt: &str) -> RcptVerdict {
        RcptVerdict::Accept
    }

    async fn deliver(&self, _envelope: Envelope, raw: Vec<u8>) -> Result<(), DeliverError> {
        let _ = self.started.send(());
        self.gate.acquire().await.expect("gate open").forget();
        self.delivered.lock().unwrap().push(raw);
        Ok(())
    }
}

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let (reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Self {
            reader: BufReader::new(reader),
            writer,
        }
    }

    /// One complete reply, "" at EOF; panics if the server goes silent.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let read = timeout(STEP, self.reader.read_line(&mut line));
            if read.await.expect("reply in time").unwrap() == 0 {
                return reply;
            }
            reply.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return reply;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }
}

fn setup(
    grace: Duration,
) -> (
    Arc<GatedDelivery>,
    mpsc::UnboundedReceiver<()>,
    Arc<SmtpConfig>,
) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let delivery = Arc::new(GatedDelivery {
        started,
        gate: Semaphore::new(0),
        delivered: Mutex::new(Vec::new()),
    });
    let config = Arc::new(SmtpConfig {
        hostname: "mx.test".into(),
        max_connections: 1,
        shutdown_grace: grace,
        ..SmtpConfig::default()
    });
    (delivery, started_rx, config)
}

#[tokio::test]
async fn connection_cap_and_graceful_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (delivery, mut started, config) = setup(Duration::from_secs(10));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&delivery), config, async {
        let _ = stopped.await;
    }));

    // The cap is 1: a second client is turned away while the first is connected.
    let mut first = Client::connect(addr).await;
    assert_eq!(first.reply().await, "220 mx.test ESMTP dossier\r\n");
    let mut second = Client::connect(addr).await;
    assert_eq!(
        second.reply().await,
        "421 4.3.2 Too many connections, try again later\r\n"
    );
    assert_eq!(
        second.reply().await,
        "",
        "rejected connection must be closed"
    );
    // Once the first leaves, its slot is free again (the release races the client's EOF).
    assert!(first.cmd("QUIT").await.starts_with("221"));
    assert_eq!(first.reply().await, "");
    let mut client = loop {
        let mut client = Client::connect(addr).await;
        if client.reply().await.starts_with("220 ") {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Shutdown arrives while a message is being delivered: the delivery
    // completes and is acknowledged, then the session gets 421 and closes.
    assert!(client.cmd("EHLO c.test").await.starts_with("250-mx.test"));
    assert!(client
        .cmd("MAIL FROM:<a@example.org>")
        .await
        .starts_with("250"));
    assert!(client
        .cmd("RCPT TO:<list@archive.test>")
        .await
        .starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    client
        .writer
        .write_all(b"Subject: t\r\n\r\nbody\r\n.\r\n")
        .await
        .unwrap();
    timeout(STEP, started.recv()).await.unwrap().unwrap();
    stop.send(()).unwrap();
    delivery.gate.add_permits(1);
    let queued = client.reply().await;
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    assert_eq!(client.reply().await, "421 4.3.2 Service shutting down\r\n");
    assert_eq!(client.reply().await, "");

    timeout(STEP, server).await.unwrap().unwrap().unwrap();
    assert_eq!(
        *delivery.delivered.lock().unwrap(),
        [b"Subject: t\r\n\r\nbody\r\n".to_vec()]
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener must be closed"
    );
}

#[tokio::test]
async fn grace_period_bounds_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (delivery, _started, config) = setup(Duration::from_millis(200));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, delivery, config, async {
        let _ = stopped.await;
    }));

    // A client that stalls halfway through DATA keeps its session alive...
    let mut client = Client::connect(addr).await;
    assert!(client.reply().await.starts_with("220"));
    assert!(client.cmd("EHLO c.test").await.starts_with("250"));
    assert!(client
        .cmd("MAIL FROM:<a@example.org>")
        .await
        .starts_with("250"));
    assert!(client
        .cmd("RCPT TO:<list@archive.test>")
        .await
        .starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.writer.write_all(b"half a body\r\n").await.unwrap();

    // ...but only for the grace period, far below the 300 s idle timeout.
    stop.send(()).unwrap();
    let started = std::time::Instant::now();
    timeout(STEP, server).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(client.reply().await, "", "aborted session is closed");
}
