//! A client that tries to hold the server: trickled bodies and commands,
//! endless sessions, command floods; and storage running out.

use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::*;

/// Writes `piece` every `every` until the server closes (bounded).
async fn trickle<T: AsyncRead + AsyncWrite>(
    writer: &mut WriteHalf<T>,
    piece: &[u8],
    every: Duration,
) {
    for _ in 0..100_000 {
        if writer.write_all(piece).await.is_err() {
            return;
        }
        sleep(every).await;
    }
}

#[tokio::test(start_paused = true)]
async fn slow_loris_in_data_is_cut_at_the_minimum_rate() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(10),
        min_data_rate: 100,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        let started = Instant::now();
        // A byte every 5 s never trips the 10 s idle timeout, but is far below 100 B/s.
        let Client {
            mut reader,
            mut writer,
        } = c;
        let read = async {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "421 4.4.2 mx.test Error: data transfer too slow\r\n");
            // The 10 s head start plus what 3 bytes earn, not the 100 000 s of trickle.
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{:?}",
                started.elapsed()
            );
        };
        tokio::join!(read, trickle(&mut writer, b"x", Duration::from_secs(5)));
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_command_trickled_byte_by_byte_times_out() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(10),
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        let started = Instant::now();
        let Client {
            mut reader,
            mut writer,
        } = c;
        let read = async {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
            let waited = started.elapsed();
            assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(12));
        };
        // An endless NOOP argument, a byte every 2 s: the line is never complete.
        let write = async {
            writer.write_all(b"NOOP ").await.unwrap();
            trickle(&mut writer, b"a", Duration::from_secs(2)).await;
        };
        tokio::join!(read, write);
    };
    tokio::join!(session, client);
}

#[tokio::test(start_paused = true)]
async fn a_noop_now_and_then_cannot_hold_a_session_past_its_limit() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(300),
        session_timeout: Duration::from_secs(600),
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        let started = Instant::now();
        for _ in 0..2 {
            sleep(Duration::from_secs(299)).await;
            assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
        }
        assert_eq!(
            c.reply().await,
            "421 4.4.2 mx.test Error: session time limit exceeded\r\n"
        );
        assert!(started.elapsed() <= Duration::from_secs(600));
        c.expect_eof().await;
    };
    tokio::join!(session, client);
}

#[tokio::test(start_paused = true)]
async fn data_that_never_ends_is_cut_by_the_session_limit() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(10),
        session_timeout: Duration::from_secs(60),
        max_message_bytes: usize::MAX,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        let started = Instant::now();
        let Client {
            mut reader,
            mut writer,
        } = c;
        let read = async {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(
                line,
                "421 4.4.2 mx.test Error: session time limit exceeded\r\n"
            );
            assert!(started.elapsed() < Duration::from_secs(61));
        };
        // 8 KB/s, well above the minimum rate, and never a final dot.
        let line = format!("{}\r\n", "z".repeat(78)).repeat(100);
        tokio::join!(
            read,
            trickle(&mut writer, line.as_bytes(), Duration::from_secs(1))
        );
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test]
async fn command_count_is_capped() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_commands: 4,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        for _ in 0..3 {
            assert_code(&c.cmd("NOOP").await, "250");
        }
        assert_eq!(c.cmd("NOOP").await, "421 4.7.0 Too many commands\r\n");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn low_storage_is_refused_with_452_before_any_body() {
    let delivery = TestDelivery::default();
    let config = config();
    let (mut c, session) = start(&delivery, &config);
    let delivery_ref = &delivery;
    let client = async move {
        let delivery = delivery_ref;
        c.ehlo().await;
        delivery.set_full(true);
        assert_eq!(
            c.cmd("MAIL FROM:<a@example.org>").await,
            "452 4.3.1 Insufficient system storage, try again later\r\n"
        );
        delivery.set_full(false);
        c.envelope("a@example.org", &["x@archive.test"]).await;
        delivery.set_full(true);
        assert_code(&c.cmd("DATA").await, "452 4.3.1");
        // A refused first chunk is still consumed, not read as commands.
        c.send("BDAT 6 LAST\r\nQUIT\r\n").await;
        assert_code(&c.reply().await, "452 4.3.1");
        delivery.set_full(false);
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("ok\r\n.").await, "250");
    };
    tokio::join!(session, client);
    assert_eq!(delivery.bodies(), [b"ok\r\n".to_vec()]);
}

#[tokio::test]
async fn a_full_quarantine_is_answered_452() {
    let (delivery, config) = (TestDelivery::failing(Fail::NoRoom), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_eq!(
            c.cmd("hi\r\n.").await,
            "452 4.3.1 Insufficient system storage: quarantine full\r\n"
        );
    };
    tokio::join!(session, client);
}

/// Bodies pass through in pieces of 64 KiB: dot-stuffing and the final
/// CRLF.CRLF must survive every split of the input, wherever reads end.
#[tokio::test(start_paused = true)]
async fn large_bodies_arrive_byte_exact_however_they_are_split() {
    let delivery = TestDelivery::default();
    let config = config();
    let mut body = Vec::new();
    for i in 0..6000 {
        // Lines starting with dots, and one line that is only a dot.
        let line = match i % 7 {
            0 => ".leading dot\r\n".to_owned(),
            3 => ".\r\n".to_owned(),
            _ => format!("line {i} {}\r\n", "w".repeat(i % 50)),
        };
        body.extend_from_slice(line.as_bytes());
    }
    let mut wire = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
    }
    wire.extend_from_slice(b".\r\n");
    let (mut c, session) = start(&delivery, &config);
    let (wire_ref, body_ref) = (&wire, &body);
    let client = async move {
        c.ehlo().await;
        // The final ".\\r\\n" and the CRLF before it cut at each possible place.
        for tail in 1..=5 {
            c.envelope("a@example.org", &["x@archive.test"]).await;
            assert_code(&c.cmd("DATA").await, "354");
            let (head, end) = wire_ref.split_at(wire_ref.len() - tail);
            for piece in head.chunks(4093) {
                c.send(piece).await;
                sleep(Duration::from_millis(1)).await;
            }
            c.send(end).await;
            assert_code(&c.reply().await, "250");
        }
        // BDAT chunks go the same way.
        c.envelope("a@example.org", &["x@archive.test"]).await;
        let (first, rest) = body_ref.split_at(body_ref.len() / 2);
        c.send(format!("BDAT {}\r\n", first.len())).await;
        c.send(first).await;
        assert_code(&c.reply().await, "250");
        c.send(format!("BDAT {} LAST\r\n", rest.len())).await;
        c.send(rest).await;
        assert_code(&c.reply().await, "250");
    };
    tokio::join!(session, client);
    let bodies = delivery.bodies();
    assert_eq!(bodies.len(), 6);
    for got in bodies {
        assert!(
            got == body,
            "body differs ({} vs {} bytes)",
            got.len(),
            body.len()
        );
    }
}
