//! `serve` over real TCP on loopback: connection caps (overall and per client
//! address), abusive clients, graceful shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dossier::smtp::{serve, DeliverError, Delivery, Envelope, RcptVerdict, SmtpConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
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
        Self::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    /// Connects from another loopback address (the whole 127/8 is local).
    async fn connect_from(source: &str, addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(source.parse().unwrap(), 0))
            .unwrap();
        Self::from_stream(socket.connect(addr).await.unwrap())
    }

    fn from_stream(stream: TcpStream) -> Self {
        let (reader, writer) = stream.into_split();
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

#[tokio::test]
async fn a_flood_from_one_address_leaves_room_for_another() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (delivery, mut started, _) = setup(Duration::from_secs(1));
    delivery.gate.add_permits(1);
    // Room for four sessions overall, three of them for any one address.
    let config = Arc::new(SmtpConfig {
        hostname: "mx.test".into(),
        max_connections: 4,
        max_connections_per_ip: 3,
        ..SmtpConfig::default()
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&delivery), config, async {
        let _ = stopped.await;
    }));

    // 127.0.0.1 opens 200 connections and holds them.
    let mut flood = Vec::new();
    let (mut served, mut refused) = (0, 0);
    for _ in 0..200 {
        let mut c = Client::connect(addr).await;
        let greeting = c.reply().await;
        if greeting.starts_with("220 ") {
            served += 1;
        } else {
            assert_eq!(
                greeting,
                "421 4.7.0 Too many connections from your address, try again later\r\n"
            );
            assert_eq!(c.reply().await, "", "refused connection is closed");
            refused += 1;
        }
        flood.push(c);
    }
    assert_eq!((served, refused), (3, 197));

    // 127.0.0.2 is still served, and its mail is delivered.
    let mut other = Client::connect_from("127.0.0.2", addr).await;
    assert_eq!(other.reply().await, "220 mx.test ESMTP dossier\r\n");
    assert!(other.cmd("EHLO other.test").await.starts_with("250"));
    assert!(other
        .cmd("MAIL FROM:<b@example.org>")
        .await
        .starts_with("250"));
    assert!(other
        .cmd("RCPT TO:<x@archive.test>")
        .await
        .starts_with("250"));
    assert!(other.cmd("DATA").await.starts_with("354"));
    let reply = other.cmd("Subject: from .2\r\n\r\nhello\r\n.").await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    timeout(STEP, started.recv()).await.unwrap().unwrap();
    assert_eq!(
        delivery.delivered.lock().unwrap()[0],
        b"Subject: from .2\r\n\r\nhello\r\n"
    );
    // The overall cap still holds: a second client from elsewhere is turned away.
    let mut third = Client::connect_from("127.0.0.3", addr).await;
    assert_eq!(
        third.reply().await,
        "421 4.3.2 Too many connections, try again later\r\n"
    );
    drop(flood);
    stop.send(()).unwrap();
    timeout(STEP, server).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_slow_loris_is_cut_off_and_its_slot_freed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (delivery, _started, _) = setup(Duration::from_secs(1));
    let config = Arc::new(SmtpConfig {
        hostname: "mx.test".into(),
        max_connections_per_ip: 1,
        idle_timeout: Duration::from_secs(1),
        min_data_rate: 1000,
        ..SmtpConfig::default()
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&delivery), config, async {
        let _ = stopped.await;
    }));

    let mut loris = Client::connect(addr).await;
    assert!(loris.reply().await.starts_with("220"));
    assert!(loris.cmd("EHLO slow.test").await.starts_with("250"));
    assert!(loris
        .cmd("MAIL FROM:<a@example.org>")
        .await
        .starts_with("250"));
    assert!(loris
        .cmd("RCPT TO:<x@archive.test>")
        .await
        .starts_with("250"));
    assert!(loris.cmd("DATA").await.starts_with("354"));
    // A byte every 200 ms: never idle for a second, but 5 B/s against a 1000 B/s floor.
    let started = std::time::Instant::now();
    let Client {
        mut reader,
        mut writer,
    } = loris;
    let trickle = tokio::spawn(async move {
        for _ in 0..300 {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut line = String::new();
    timeout(STEP, reader.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "421 4.4.2 mx.test Error: data transfer too slow\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    trickle.abort();

    // Its one slot for 127.0.0.1 is free again (the release races the close).
    let mut next = loop {
        let mut c = Client::connect(addr).await;
        if c.reply().await.starts_with("220 ") {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(next.cmd("QUIT").await.starts_with("221"));
    assert!(delivery.delivered.lock().unwrap().is_empty());
    stop.send(()).unwrap();
    timeout(STEP, server).await.unwrap().unwrap().unwrap();
}
