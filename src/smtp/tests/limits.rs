//! Rejections and limits: recipients, sizes, line length, timeouts, errors.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

#[tokio::test]
async fn recipient_verdicts_and_limits() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_recipients: 2,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "250");
        assert_eq!(
            c.cmd("RCPT TO:<unknown@archive.test>").await,
            "550 5.1.1 <unknown@archive.test>: Recipient address rejected: unknown archive address\r\n"
        );
        assert_code(&c.cmd("RCPT TO:<tempfail@archive.test>").await, "451 4.3.0");
        assert_code(&c.cmd("RCPT TO:<x@archive.test>").await, "250 2.1.5");
        // Duplicates collapse (case-insensitively) and do not use up the limit.
        assert_code(&c.cmd("RCPT TO:<X@Archive.Test>").await, "250 2.1.5");
        assert_code(&c.cmd("RCPT TO:<y@archive.test>").await, "250 2.1.5");
        assert_eq!(
            c.cmd("RCPT TO:<z@archive.test>").await,
            "452 4.5.3 Too many recipients\r\n"
        );
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("hi\r\n.").await, "250");
    };
    tokio::join!(session, client);
    assert_eq!(
        delivery.messages()[0].0.rcpt_to,
        ["x@archive.test", "y@archive.test"]
    );
}

#[tokio::test]
async fn size_parameter_over_limit_is_refused() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_message_bytes: 1000,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        assert!(c.ehlo().await.contains("SIZE 1000\r\n"));
        assert_eq!(
            c.cmd("MAIL FROM:<a@example.org> SIZE=1001").await,
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        );
        assert_code(&c.cmd("MAIL FROM:<a@example.org> SIZE=1000").await, "250");
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn data_over_limit_is_drained_and_refused() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_message_bytes: 100,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        let line = format!("{}\r\n", "a".repeat(70));
        for _ in 0..50 {
            c.send(&line).await;
        }
        // Looks like commands, but is body: must be swallowed, not executed.
        c.send("RSET\r\n.\r\n").await;
        assert_code(&c.reply().await, "552 5.3.4");
        // The connection goes on; exactly max_message_bytes is fine.
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        let body = format!("{}\r\n", "b".repeat(98));
        assert_code(&c.cmd(&format!("{body}.")).await, "250 2.0.0");
    };
    tokio::join!(session, client);
    assert_eq!(delivery.bodies().len(), 1);
    assert_eq!(delivery.bodies()[0].len(), 100);
}

#[tokio::test]
async fn bdat_over_limit_drains_pipelined_chunks() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_message_bytes: 10,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        c.send("BDAT 8\r\n12345678BDAT 8\r\nNOOP\r\nabBDAT 4 LAST\r\nQUITNOOP\r\n")
            .await;
        assert_code(&c.reply().await, "250 2.0.0 8 bytes");
        assert_code(&c.reply().await, "552 5.3.4");
        assert_code(&c.reply().await, "503 5.5.1");
        assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test]
async fn overlong_line_is_refused_and_skipped() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_line_bytes: 512,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        // Whole line in one write.
        let long = format!("NOOP {}", "x".repeat(600));
        assert_eq!(c.cmd(&long).await, "500 5.5.2 Line too long\r\n");
        // Line arriving in pieces, the limit is hit before its end is seen.
        c.send(format!("MAIL FROM:<{}", "y".repeat(3000))).await;
        assert_eq!(c.reply().await, "500 5.5.2 Line too long\r\n");
        c.send(format!("{}@example.org>\r\n", "y".repeat(3000)))
            .await;
        assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
        // 512 bytes including CRLF is allowed.
        let max = format!("NOOP {}", "z".repeat(512 - 7));
        assert_code(&c.cmd(&max).await, "250");
    };
    tokio::join!(session, client);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_with_421() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(30),
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        let started = tokio::time::Instant::now();
        assert_eq!(
            c.reply().await,
            "421 4.4.2 mx.test Error: timeout exceeded\r\n"
        );
        assert!(started.elapsed() >= Duration::from_secs(30));
        c.expect_eof().await;
    };
    tokio::join!(session, client);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_applies_inside_data() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        idle_timeout: Duration::from_secs(30),
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        c.send("half a message\r\n").await;
        assert_code(&c.reply().await, "421 4.4.2");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test]
async fn delivery_failures_map_to_451_and_554() {
    for (fail, expected) in [
        (
            Fail::Temporary,
            "451 4.3.0 Temporary failure: disk full\r\n",
        ),
        (
            Fail::Permanent,
            "554 5.6.0 Message rejected: not an archive\r\n",
        ),
    ] {
        let (delivery, config) = (TestDelivery::failing(fail), config());
        let (mut c, session) = start(&delivery, &config);
        let client = async move {
            c.ehlo().await;
            c.envelope("a@example.org", &["x@archive.test"]).await;
            assert_code(&c.cmd("DATA").await, "354");
            assert_eq!(c.cmd("hi\r\n.").await, expected);
            // The transaction is over either way.
            assert_code(&c.cmd("DATA").await, "503");
            c.envelope("a@example.org", &["x@archive.test"]).await;
        };
        tokio::join!(session, client);
    }
}

#[tokio::test]
async fn too_many_errors_disconnects() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_errors: 3,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.send("BOGUS\r\nNOOP\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n").await;
        assert_code(&c.reply().await, "500 5.5.1");
        assert_code(&c.reply().await, "250");
        assert_code(&c.reply().await, "500 5.5.1");
        assert_code(&c.reply().await, "500 5.5.1");
        assert_eq!(c.reply().await, "421 4.7.0 Too many errors\r\n");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn garbage_input_never_panics() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_errors: usize::MAX,
        max_commands: usize::MAX,
        max_line_bytes: 600,
        ..config()
    };
    // Deterministic xorshift noise, biased towards protocol-ish bytes.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut noise = Vec::new();
    let alphabet = b"MAIL FROM:<>RCPT TO@.\r\n\"\\= BDAT DATA SIZE=99999999999999999999 EHLO";
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let byte = if state.is_multiple_of(3) {
            (state >> 24) as u8
        } else {
            alphabet[(state >> 32) as usize % alphabet.len()]
        };
        noise.push(byte);
    }
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        assert_code(&c.reply().await, "220");
        let Client { reader, mut writer } = c;
        // Write and read concurrently: the replies alone could fill the pipe.
        let write = async move {
            writer.write_all(b"EHLO x\r\n").await.unwrap();
            writer.write_all(&noise).await.unwrap();
            writer.write_all(b"\r\nRSET\r\nQUIT\r\n").await.unwrap();
        };
        let read = async move {
            let mut reader = reader;
            let mut sink = Vec::new();
            reader.read_to_end(&mut sink).await.unwrap();
            // The session resynchronised: the trailing commands were executed.
            assert!(sink.ends_with(b"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
        };
        tokio::join!(write, read);
    };
    tokio::join!(session, client);
}
