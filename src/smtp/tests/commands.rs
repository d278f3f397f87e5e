//! Single commands: informational ones, sequencing and syntax errors.

use super::*;

#[tokio::test]
async fn informational_and_unoffered_commands() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        c.ehlo().await;
        assert_code(&c.cmd("VRFY someone").await, "252 2.5.0");
        assert_code(&c.cmd("HELP").await, "214 2.0.0");
        assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
        assert_code(&c.cmd("noop with args").await, "250 2.0.0");
        assert_code(&c.cmd("EXPN list").await, "502 5.5.1");
        assert_code(&c.cmd("STARTTLS").await, "502 5.5.1");
        assert_code(&c.cmd("AUTH PLAIN AGJvYgBib2I=").await, "502 5.5.1");
        assert_code(&c.cmd("XYZZY").await, "500 5.5.1");
        assert_code(&c.cmd("").await, "500 5.5.1");
        assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn bad_sequences_get_503() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        assert_code(&c.reply().await, "220");
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "503 5.5.1");
        assert_code(&c.cmd("EHLO c.test").await, "250");
        assert_code(&c.cmd("RCPT TO:<x@archive.test>").await, "503 5.5.1");
        assert_code(&c.cmd("DATA").await, "503 5.5.1");
        // The refused chunk is still consumed, not read as a command.
        c.send("BDAT 3 LAST\r\nabc").await;
        assert_code(&c.reply().await, "503 5.5.1");
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "250");
        assert_code(&c.cmd("MAIL FROM:<a@example.org>").await, "503 5.5.1");
        assert_code(&c.cmd("DATA").await, "503 5.5.1");
        assert_code(&c.cmd("NOOP").await, "250");
    };
    tokio::join!(session, client);
    assert!(delivery.messages().is_empty());
}

#[tokio::test]
async fn syntax_errors_get_501_or_555() {
    let delivery = TestDelivery::default();
    let config = SmtpConfig {
        max_errors: 100,
        ..config()
    };
    let (mut c, session) = start(&delivery, &config);
    let client = async move {
        assert_code(&c.reply().await, "220");
        assert_code(&c.cmd("EHLO").await, "501 5.5.2");
        assert_code(&c.cmd("HELO").await, "501 5.5.2");
        assert_code(&c.cmd("EHLO c.test").await, "250");
        assert_code(&c.cmd("MAIL FROM a@example.org").await, "501 5.5.2");
        assert_code(&c.cmd("MAIL FROM:<not an address>").await, "501");
        assert_code(
            &c.cmd("MAIL FROM:<a@example.org> SIZE=abc").await,
            "501 5.5.4",
        );
        assert_code(
            &c.cmd("MAIL FROM:<a@example.org> FOO=BAR").await,
            "555 5.5.4",
        );
        assert_code(
            &c.cmd("MAIL FROM:<a@example.org> RET=FULL").await,
            "555 5.5.4",
        );
        assert_code(
            &c.cmd("MAIL FROM:<a@example.org> REQUIRETLS").await,
            "555 5.5.4",
        );
        assert_code(
            &c.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME").await,
            "555 5.5.4",
        );
        let ok = "MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8 SIZE=100";
        assert_code(&c.cmd(ok).await, "250 2.1.0");
        assert_code(
            &c.cmd("RCPT TO:<x@archive.test> NOTIFY=NEVER").await,
            "555 5.5.4",
        );
        assert_code(&c.cmd("RCPT TO:<@@@>").await, "501");
        assert_code(&c.cmd("RCPT TO:<ü@archive.test>").await, "250 2.1.5");
        assert_code(&c.cmd("BDAT x").await, "501 5.5.2");
        assert_code(&c.cmd("VRFY").await, "501 5.5.2");
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn shutdown_answers_421_when_idle_and_to_next_command() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (tx, rx) = watch::channel(false);
    let (mut c, session) = start_with_shutdown(&delivery, &config, rx);
    let client = async move {
        c.ehlo().await;
        tx.send_replace(true);
        assert_eq!(c.reply().await, "421 4.3.2 Service shutting down\r\n");
        c.expect_eof().await;
    };
    tokio::join!(session, client);

    // Already shut down when the connection starts: no greeting, just 421.
    let (tx, rx) = watch::channel(true);
    let (mut c, session) = start_with_shutdown(&delivery, &config, rx);
    let client = async move {
        assert_code(&c.reply().await, "421 4.3.2");
        c.expect_eof().await;
        drop(tx);
    };
    tokio::join!(session, client);
}

#[tokio::test]
async fn shutdown_lets_a_started_message_finish() {
    let (delivery, config) = (TestDelivery::default(), config());
    let (tx, rx) = watch::channel(false);
    let (mut c, session) = start_with_shutdown(&delivery, &config, rx);
    let client = async move {
        c.ehlo().await;
        c.envelope("a@example.org", &["x@archive.test"]).await;
        assert_code(&c.cmd("DATA").await, "354");
        c.send("part one\r\n").await;
        tx.send_replace(true);
        c.send("part two\r\n.\r\nNOOP\r\n").await;
        assert_code(&c.reply().await, "250 2.0.0 Ok: queued as");
        assert_code(&c.reply().await, "421 4.3.2");
        c.expect_eof().await;
    };
    tokio::join!(session, client);
    assert_eq!(delivery.bodies(), [b"part one\r\npart two\r\n".to_vec()]);
}
