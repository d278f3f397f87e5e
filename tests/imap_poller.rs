//! The IMAP poller against a real Dovecot (see tests/common/dovecot.rs).

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::dovecot::{test_message, Dovecot, DovecotOptions, PASSWORD, USER};
use common::imap_sink::{eventually, has_subject, status_of, MemSink};
use dossier::imap::{
    poll_once, run_account, AccountStatus, AfterAction, Cursor, ImapAccount, ImapError,
    RetryOutcome, Security,
};
use tokio::sync::{watch, Semaphore};

fn account(server: &Dovecot) -> ImapAccount {
    ImapAccount::new(
        "test",
        "127.0.0.1",
        server.port(),
        Security::Plain,
        USER,
        PASSWORD,
    )
}

#[tokio::test]
async fn flag_mode_takes_new_mail_once_and_marks_it() {
    let server = Dovecot::start();
    for s in ["one", "two", "three"] {
        server.append("INBOX", &test_message(s)).await;
    }
    let sink = MemSink::default();
    let acct = account(&server);

    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 3);
    let raws = sink.raws();
    for (raw, s) in raws.iter().zip(["one", "two", "three"]) {
        assert!(has_subject(raw, s), "UID order");
    }
    let left = server.messages("INBOX").await;
    assert_eq!(left.len(), 3, "flag mode keeps messages");
    assert!(
        left.iter()
            .all(|m| m.has_flag("\\Seen") && m.has_flag("$Archived")),
        "{left:?}"
    );
    assert_eq!(left[0].raw, raws[0], "raw bytes handed over unchanged");
    let cursor = sink.cursor("INBOX").unwrap();
    assert_eq!(cursor.last_uid, 3);
    assert_eq!(cursor.uid_validity, server.uid_validity("INBOX").await);

    assert_eq!(
        poll_once(&acct, &sink).await.unwrap(),
        0,
        "second poll takes nothing"
    );
    server.append("INBOX", &test_message("four")).await;
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert!(has_subject(&sink.raws()[3], "four"));
}

#[tokio::test]
async fn fetching_does_not_mark_seen_before_accept() {
    // BODY.PEEK: a refused message must stay unread for the humans sharing the mailbox.
    let server = Dovecot::start();
    server.append("INBOX", &test_message("peek")).await;
    let sink = MemSink::default();
    sink.allow(Some(0));
    assert!(matches!(
        poll_once(&account(&server), &sink).await,
        Err(ImapError::Sink(_))
    ));
    let left = server.messages("INBOX").await;
    assert!(left[0].flags.is_empty(), "{:?}", left[0].flags);
}

#[tokio::test]
async fn several_folders_are_polled() {
    let mut server = Dovecot::start();
    server.append("INBOX", &test_message("inbox")).await;
    server.append("Clients", &test_message("clients")).await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.folders = vec!["INBOX".into(), "Clients".into()];
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    let folders: Vec<String> = sink
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.1.clone())
        .collect();
    assert_eq!(folders, ["INBOX", "Clients"]);
    assert!(sink.cursor("Clients").is_some());

    // A renumbered folder is rescanned on its own.
    server.reset_uidvalidity("Clients");
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert_eq!(sink.accepted.lock().unwrap()[2].1, "Clients");
}

#[tokio::test]
async fn move_mode_moves_to_the_folder() {
    let server = Dovecot::start();
    server.append("INBOX", &test_message("m1")).await;
    server.append("INBOX", &test_message("m2")).await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.after = AfterAction::Move;
    acct.move_to = Some("Archived".into()); // does not exist yet: created on demand

    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    assert!(server.messages("INBOX").await.is_empty());
    let moved = server.messages("Archived").await;
    assert_eq!(moved.len(), 2);
    assert!(has_subject(&moved[0].raw, "m1") && has_subject(&moved[1].raw, "m2"));
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 0);
}

#[tokio::test]
async fn move_mode_without_move_capability_copies_and_expunges() {
    let caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS NAMESPACE";
    let server = Dovecot::start_with(DovecotOptions {
        imap_capability: Some(caps.into()),
        ..Default::default()
    });
    assert!(!server.capabilities().await.contains(&"MOVE".to_string()));
    server.append("INBOX", &test_message("c1")).await;
    server.create_folder("Done").await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.after = AfterAction::Move;
    acct.move_to = Some("Done".into());

    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert!(server.messages("INBOX").await.is_empty());
    let moved = server.messages("Done").await;
    assert_eq!(moved.len(), 1);
    assert!(
        !moved[0].has_flag("\\Deleted"),
        "the copy must not carry \\Deleted"
    );
}

#[tokio::test]
async fn delete_mode_removes() {
    let server = Dovecot::start();
    server.append("INBOX", &test_message("d1")).await;
    server.append("INBOX", &test_message("d2")).await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.after = AfterAction::Delete;
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    assert!(server.messages("INBOX").await.is_empty());
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn restart_with_saved_cursor_takes_only_new_mail() {
    let mut server = Dovecot::start();
    server.append("INBOX", &test_message("old")).await;
    let sink = MemSink::default();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut acct = account(&server);
    acct.password = None;
    acct.password_file = Some(pw);

    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    server.restart();
    server.append("INBOX", &test_message("new")).await;
    // A fresh sink with only the saved cursor stands for a restarted dossier.
    let restarted = MemSink::default();
    *restarted.cursors.lock().unwrap() = sink.cursors.lock().unwrap().clone();
    assert_eq!(poll_once(&acct, &restarted).await.unwrap(), 1);
    assert!(has_subject(&restarted.raws()[0], "new"));
}

#[tokio::test]
async fn uidvalidity_change_rescans_folder() {
    let mut server = Dovecot::start();
    server.append("INBOX", &test_message("r1")).await;
    server.append("INBOX", &test_message("r2")).await;
    let sink = MemSink::default();
    let acct = account(&server);
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    let before = sink.cursor("INBOX").unwrap();

    server.reset_uidvalidity("INBOX");
    let now = server.uid_validity("INBOX").await;
    assert_ne!(now, before.uid_validity, "harness must change UIDVALIDITY");
    assert_eq!(
        poll_once(&acct, &sink).await.unwrap(),
        2,
        "everything again"
    );
    assert_eq!(
        sink.cursor("INBOX").unwrap(),
        Cursor {
            uid_validity: now,
            last_uid: 2
        }
    );
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 0);
}

#[tokio::test]
async fn sink_failure_leaves_messages_for_next_poll() {
    let server = Dovecot::start();
    for s in ["f1", "f2", "f3"] {
        server.append("INBOX", &test_message(s)).await;
    }
    let sink = MemSink::default();
    let acct = account(&server);
    sink.allow(Some(1));
    let err = poll_once(&acct, &sink).await.unwrap_err();
    assert!(matches!(err, ImapError::Sink(_)), "{err}");
    let left = server.messages("INBOX").await;
    assert!(
        left[0].has_flag("\\Seen"),
        "accepted before the failure: flagged"
    );
    assert!(left[1..]
        .iter()
        .all(|m| !m.has_flag("\\Seen") && !m.has_flag("$Archived")));
    assert_eq!(sink.cursor("INBOX").unwrap().last_uid, 1);

    sink.allow(None);
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 2);
    let subjects: Vec<bool> = sink
        .raws()
        .iter()
        .zip(["f1", "f2", "f3"])
        .map(|(r, s)| has_subject(r, s))
        .collect();
    assert_eq!(subjects, [true, true, true]);
    assert!(server
        .messages("INBOX")
        .await
        .iter()
        .all(|m| m.has_flag("\\Seen")));
}

#[tokio::test]
async fn sink_failure_in_move_mode_leaves_message_in_place() {
    let server = Dovecot::start();
    server.append("INBOX", &test_message("stay")).await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.after = AfterAction::Move;
    acct.move_to = Some("Archived".into());
    sink.allow(Some(0));
    assert!(poll_once(&acct, &sink).await.is_err());
    assert_eq!(server.messages("INBOX").await.len(), 1);
    assert!(server.messages("Archived").await.is_empty());
    sink.allow(None);
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert!(server.messages("INBOX").await.is_empty());
}

#[tokio::test]
async fn oversized_message_is_skipped_and_reported() {
    let server = Dovecot::start();
    server.append("INBOX", &test_message("small1")).await;
    let mut big = test_message("big");
    big.extend(std::iter::repeat_n(b'x', 4000));
    server.append("INBOX", &big).await;
    server.append("INBOX", &test_message("small2")).await;
    let sink = Arc::new(MemSink::default());
    let mut acct = account(&server);
    acct.max_message_bytes = 2000;

    let status = Arc::new(Mutex::new(AccountStatus::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_account(acct, sink.clone(), status.clone(), stop_rx));
    eventually(20, "two small messages", || {
        status_of(&status).messages_taken == 2
    })
    .await;
    let st = status_of(&status);
    let err = st.last_error.expect("skip recorded in status");
    assert!(
        err.contains("UID 2") && err.contains("max_message_bytes"),
        "{err}"
    );
    let left = server.messages("INBOX").await;
    assert!(
        !left[1].has_flag("\\Seen"),
        "the skipped one is left for a human"
    );
    assert_eq!(sink.cursor("INBOX").unwrap().last_uid, 3);
    // Recorded (durably, with the sink) before the cursor moved past it, and in the status.
    let recorded = sink.skipped.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    let (skipped, outcome) = &recorded[0];
    assert_eq!((skipped.uid, skipped.folder.as_str()), (2, "INBOX"));
    assert_eq!(skipped.size, big.len() as u64);
    assert_eq!(skipped.max_message_bytes, 2000);
    assert_eq!(skipped.subject.as_deref(), Some("big"));
    assert_eq!(skipped.from.as_deref(), Some("Client <client@example.org>"));
    assert!(skipped.message_id.is_some() && outcome.is_none());
    let st = status_of(&status);
    assert_eq!(st.skipped_oversize, 1);
    assert_eq!(st.last_skipped.as_ref().unwrap().message, *skipped);
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_skipped_message_is_fetched_on_retry_once_the_limit_allows_it() {
    let server = Dovecot::start();
    let mut big = test_message("large");
    big.extend(std::iter::repeat_n(b'y', 5000));
    server.append("INBOX", &big).await;
    server.append("INBOX", &test_message("small")).await;
    let sink = MemSink::default();
    let mut acct = account(&server);
    acct.max_message_bytes = 1000;
    let mut gone = test_message("gone soon");
    gone.extend(std::iter::repeat_n(b'z', 2000));
    server.append("INBOX", &gone).await;
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    assert_eq!(sink.skipped.lock().unwrap().len(), 2);

    // Asked for while still too large: stays skipped, with a note.
    *sink.retry.lock().unwrap() = vec![0];
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 0);
    assert!(matches!(
        &sink.skipped.lock().unwrap()[0].1,
        Some(RetryOutcome::StillTooLarge(n)) if n.contains("max_message_bytes 1000")
    ));

    // The limit raised; the other one deleted on the server meanwhile.
    acct.max_message_bytes = 10_000;
    let mut s = server.login().await;
    s.select("INBOX").await.unwrap();
    use futures_util::StreamExt;
    let _ = s
        .uid_store("3", "+FLAGS (\\Deleted)")
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    let _ = s.expunge().await.unwrap().collect::<Vec<_>>().await;
    let _ = s.logout().await;
    *sink.retry.lock().unwrap() = vec![0, 1];
    assert_eq!(poll_once(&acct, &sink).await.unwrap(), 1);
    let recorded = sink.skipped.lock().unwrap().clone();
    assert_eq!(recorded[0].1, Some(RetryOutcome::Taken));
    assert!(matches!(&recorded[1].1, Some(RetryOutcome::Gone(n)) if n.contains("no longer")));
    assert_eq!(sink.raws().last().unwrap(), &big, "fetched whole");
    let left = server.messages("INBOX").await;
    assert!(
        left[0].has_flag("$Archived"),
        "after-action applied: {left:?}"
    );
    assert_eq!(
        sink.cursor("INBOX").unwrap().last_uid,
        3,
        "cursor unchanged"
    );
}

#[tokio::test]
async fn auth_failure_is_reported() {
    let server = Dovecot::start();
    let mut acct = account(&server);
    acct.password = Some("wrong".into());
    let sink = Arc::new(MemSink::default());
    let err = poll_once(&acct, &*sink).await.unwrap_err();
    assert!(matches!(err, ImapError::Auth { .. }), "{err:?}");
    assert!(
        !format!("{err} {err:?} {acct:?}").contains("wrong"),
        "password leaked"
    );

    let status = Arc::new(Mutex::new(AccountStatus::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_account(acct, sink, status.clone(), stop_rx));
    eventually(20, "last_error", || status_of(&status).last_error.is_some()).await;
    let st = status_of(&status);
    assert_eq!(st.name, "test");
    assert!(st.last_error.unwrap().contains("authentication failed"));
    assert!(st.last_poll.is_some() && st.last_success.is_none());
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_poll_then_run_account_recovers() {
    let mut server = Dovecot::start();
    server.append("INBOX", &test_message("k1")).await;
    let sink = Arc::new(MemSink::default());
    let gate = Arc::new(Semaphore::new(0));
    *sink.gate.lock().unwrap() = Some(gate.clone());
    let mut acct = account(&server);
    acct.poll_interval_secs = 1;

    // The sink holds the message while the server dies; the flag cannot be set afterwards.
    let poll = tokio::spawn({
        let (acct, sink) = (acct.clone(), sink.clone());
        async move { poll_once(&acct, &*sink).await }
    });
    eventually(20, "sink entered", || {
        sink.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    server.kill();
    gate.add_permits(1000);
    let err = tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(err, Err(ImapError::Io { .. } | ImapError::Protocol { .. })),
        "{err:?}"
    );
    assert_eq!(
        sink.cursor("INBOX"),
        None,
        "cursor not advanced without the server action"
    );

    // run_account starts while the server is down, then must recover by itself.
    let status = Arc::new(Mutex::new(AccountStatus::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_account(acct, sink.clone(), status.clone(), stop_rx));
    eventually(20, "connect error", || {
        status_of(&status)
            .last_error
            .is_some_and(|e| e.contains("connect"))
    })
    .await;
    server.restart();
    server.append("INBOX", &test_message("k2")).await;
    eventually(60, "recovery", || {
        sink.raws().iter().any(|r| has_subject(r, "k2"))
    })
    .await;
    let left = server.messages("INBOX").await;
    assert!(left.iter().all(|m| m.has_flag("$Archived")), "{left:?}");
    // k1 reached the sink twice (before the kill and after); the ingest layer dedups.
    assert_eq!(
        sink.raws().iter().filter(|r| has_subject(r, "k1")).count(),
        2
    );
    assert!(status_of(&status).last_success.is_some());
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_takes_new_mail_without_waiting_for_the_interval() {
    let server = Dovecot::start();
    assert!(server.capabilities().await.contains(&"IDLE".to_string()));
    let sink = Arc::new(MemSink::default());
    let mut acct = account(&server);
    acct.poll_interval_secs = 3600;
    let status = Arc::new(Mutex::new(AccountStatus::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_account(acct, sink.clone(), status.clone(), stop_rx));
    eventually(20, "first poll", || {
        status_of(&status).last_success.is_some()
    })
    .await;

    for (i, s) in ["idle1", "idle2"].iter().enumerate() {
        server.append("INBOX", &test_message(s)).await;
        eventually(10, s, || sink.count() == i + 1).await;
    }
    assert_eq!(status_of(&status).messages_taken, 2);
    // Shutdown interrupts IDLE promptly.
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_run_account_polls_on_interval() {
    let caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE NAMESPACE";
    let server = Dovecot::start_with(DovecotOptions {
        imap_capability: Some(caps.into()),
        ..Default::default()
    });
    assert!(!server.capabilities().await.contains(&"IDLE".to_string()));
    let sink = Arc::new(MemSink::default());
    let mut acct = account(&server);
    acct.poll_interval_secs = 1;
    let status = Arc::new(Mutex::new(AccountStatus::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_account(acct, sink.clone(), status.clone(), stop_rx));
    eventually(20, "first poll", || {
        status_of(&status).last_success.is_some()
    })
    .await;
    server.append("INBOX", &test_message("polled")).await;
    eventually(10, "polled message", || sink.count() == 1).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn config_deserializes_with_defaults_and_validates() {
    #[derive(serde::Deserialize)]
    struct File {
        imap: Imap,
    }
    #[derive(serde::Deserialize)]
    struct Imap {
        accounts: Vec<ImapAccount>,
    }
    use figment::providers::{Format, Toml};
    let file: File = figment::Figment::from(Toml::string(
        r#"
        [[imap.accounts]]
        name = "sales"
        host = "imap.example.com"
        port = 993
        security = "tls"
        username = "archive@example.com"
        password_file = "/run/secrets/imap"

        [[imap.accounts]]
        name = "ops"
        host = "127.0.0.1"
        port = 143
        security = "starttls"
        username = "ops"
        password = "hunter2"
        folders = ["INBOX", "Clients"]
        after = "move"
        move_to = "Archived"
        poll_interval_secs = 30
        "#,
    ))
    .extract()
    .unwrap();
    let [a, b] = &file.imap.accounts[..] else {
        panic!()
    };
    assert_eq!(a.security, Security::Tls);
    assert_eq!(a.folders, ["INBOX"]);
    assert_eq!(a.poll_interval_secs, 60);
    assert_eq!(a.after, AfterAction::Flag);
    assert_eq!(a.keyword, "$Archived");
    assert_eq!(a.max_message_bytes, 50 * 1024 * 1024);
    a.validate().unwrap();
    assert_eq!(b.after, AfterAction::Move);
    b.validate().unwrap();
    assert!(
        !format!("{b:?}").contains("hunter2"),
        "Debug must redact the password"
    );

    let mut bad = b.clone();
    bad.move_to = None;
    assert!(bad.validate().is_err());
    let mut bad = b.clone();
    bad.password_file = Some("/x".into());
    assert!(bad.validate().is_err(), "both password sources");
    let mut bad = b.clone();
    bad.keyword = "two words".into();
    assert!(bad.validate().is_err());
}
