//! Happy paths: DATA, BDAT, pipelining, body exactness, several messages.

use tokio::io::AsyncReadExt;

use super::*;

#[tokio::test]
async fn full_transaction() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        let ehlo = c.ehlo().await;
        for ext in [
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "SIZE 26214400",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
        ] {
            assert!(
                ehlo.contains(&format!("250-{ext}\r\n"))
                    || ehlo.contains(&format!("250 {ext}\r\n"))
            );
        }
        assert!(
            !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
            "{ehlo}"
        );
        c.envelope(
            "sender@example.org",
            &["list@archive.test", "other@archive.test"],
        )
        .await;
        assert_eq!(
            c.cmd("DATA").await,
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        );
        c.send("Subject: hi\r\n\r\nbody\r\n.\r\n").await;
        assert_code(&c.reply().await, "250 2.0.0 Ok: queued as ");
        assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
        c.expect_eof().await;
    };
    tokio::join!(session, client);

    let messages = delivery.messages();
    assert_eq!(messages.len(), 1);
    let (envelope, body) = &messages[0];
    assert_eq!(envelope.helo, "client.test");
    assert_eq!(envelope.mail_from, "sender@example.org");
    assert_eq!(
        envelope.rcpt_to,
        ["list@archive.test", "other@archive.test"]
    );
    assert_eq!(envelope.peer, peer());
    assert_eq!(body, b"Subject: hi\r\n\r\nbody\r\n");
}

#[tokio::test]
async fn pipelined_replies_are_flushed_as_one_group() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<x@archive.test>\r\nRCPT TO:<y@archive.test>\r\nDATA\r\n")
            .await;
        // Nothing is written until all four commands are handled, so a single
        // read returns the whole group.
        let mut buf = vec![0; 4096];
        let n = c.reader.read(&mut buf).await.unwrap();
        let group = String::from_utf8_lossy(&buf[..n]).into_owned();
        let codes: Vec<&str> = group.lines().map(|l| &l[..3]).collect();
        assert_eq!(codes, ["250", "250", "250", "354"], "{group}");
        c.send("x\r\n.\r\nQUIT\r\n").await;
        assert_code(&c.reply().await, "250 2.0.0");
        assert_code(&c.reply().await, "221");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
    assert_eq!(delivery.messages()[0].0.rcpt_to.len(), 2);
}

#[tokio::test]
async fn whole_bdat_session_in_one_write() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.send("EHLO c.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@archive.test>\r\nBDAT 7 LAST\r\nhi\r\n.\r\nQUIT\r\n")
            .await;
        assert_code(&c.reply().await, "220 ");
        assert_code(&c.reply().await, "250-mx.test");
        assert_code(&c.reply().await, "250 2.1.0");
        assert_code(&c.reply().await, "250 2.1.5");
        assert_code(&c.reply().await, "250 2.0.0 Ok: queued as");
        assert_code(&c.reply().await, "221");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
    // BDAT data is taken verbatim: no dot handling.
    assert_eq!(delivery.bodies(), [b"hi\r\n.\r\n".to_vec()]);
}

#[tokio::test]
async fn dot_unstuffing_keeps_everything_else_exact() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let wire: &[u8] = b"..first line starts with a dot\r\n\
        ...three dots\r\n\
        ..\r\n\
        .x\r\n\
        8-bit \xe9\xff\x00 NUL and latin-1\r\n\
        bare\nLF and bare\rCR\n.not a terminator\r\n\
        trailing spaces  \r\n\
        \r\n.\r\n";
    let expected: &[u8] = b".first line starts with a dot\r\n\
        ..three dots\r\n\
        .\r\n\
        x\r\n\
        8-bit \xe9\xff\x00 NUL and latin-1\r\n\
        bare\nLF and bare\rCR\n.not a terminator\r\n\
        trailing spaces  \r\n\
        \r\n";
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        // Split mid-way so the receiver state has to carry across reads.
        let (head, tail) = wire.split_at(37);
        c.send(head).await;
        tokio::task::yield_now().await;
        c.send(tail).await;
        assert_code(&c.reply().await, "250 2.0.0");
        // An empty message is a lone dot.
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd(".").await, "250 2.0.0");
    };
    tokio::join!(session, client);
    assert_eq!(delivery.bodies(), [expected.to_vec(), Vec::new()]);
}

#[tokio::test]
async fn several_messages_per_connection() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        let mut ids = Vec::new();
        for i in 0..3 {
            c.envelope(&format!("s{i}@example.org"), &["x@archive.test"])
                .await;
            assert_code(&c.cmd("DATA").await, "354");
            let reply = c.cmd(&format!("message {i}\r\n.")).await;
            assert_code(&reply, "250 2.0.0 Ok: queued as ");
            ids.push(reply);
        }
        ids.dedup();
        assert_eq!(ids.len(), 3, "queue ids must differ");
        assert_code(&c.cmd("QUIT").await, "221");
    };
    tokio::join!(session, client);
    let messages = delivery.messages();
    assert_eq!(messages.len(), 3);
    for (i, (envelope, body)) in messages.iter().enumerate() {
        assert_eq!(envelope.mail_from, format!("s{i}@example.org"));
        assert_eq!(body, format!("message {i}\r\n").as_bytes());
    }
}

#[tokio::test]
async fn bdat_chunks_and_no_mixing_with_data() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        c.send("BDAT 6\r\nhello ").await;
        assert_eq!(c.reply().await, "250 2.0.0 6 bytes received\r\n");
        assert_code(&c.cmd("DATA").await, "503 5.5.1");
        c.send("BDAT 7 LAST\r\nworld\r\n").await;
        assert_code(&c.reply().await, "250 2.0.0 Ok: queued as");
        // BDAT 0 LAST ends a message whose last chunk was sent without LAST.
        c.envelope("a@example.org", &["x@archive.test"]).await;
        c.send("BDAT 3\r\nabcBDAT 0 LAST\r\n").await;
        assert_code(&c.reply().await, "250 2.0.0 3 bytes");
        assert_code(&c.reply().await, "250 2.0.0 Ok: queued as");
    };
    tokio::join!(session, client);
    assert_eq!(
        delivery.bodies(),
        [b"hello world\r\n".to_vec(), b"abc".to_vec()]
    );
}

#[tokio::test]
async fn rset_clears_the_transaction() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");
        assert_code(&c.cmd("DATA").await, "503 5.5.1");
        assert_code(&c.cmd("RCPT TO:<x@archive.test>").await, "503 5.5.1");
        // A new MAIL is allowed right away.
        c.envelope("b@example.org", &["y@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("z\r\n.").await, "250");
    };
    tokio::join!(session, client);
    let messages = delivery.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.mail_from, "b@example.org");
    assert_eq!(messages[0].0.rcpt_to, ["y@archive.test"]);
}

#[tokio::test]
async fn helo_and_null_sender() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        assert_code(&c.reply().await, "220");
        assert_eq!(c.cmd("HELO old.test").await, "250 mx.test\r\n");
        assert_code(&c.cmd("MAIL FROM:<>").await, "250 2.1.0");
        assert_code(&c.cmd("RCPT TO:<Postmaster>").await, "250 2.1.5");
        assert_code(&c.cmd("DATA").await, "354");
        assert_code(&c.cmd("bounce\r\n.").await, "250");
    };
    tokio::join!(session, client);
    let (envelope, _) = &delivery.messages()[0];
    assert_eq!(envelope.helo, "old.test");
    assert_eq!(envelope.mail_from, "");
    assert_eq!(envelope.rcpt_to, ["postmaster"]);
}
