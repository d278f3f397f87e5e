use super::*;

#[test]
fn gmail_block_with_note() {
    let text = "Hi, see below\n\n---------- Forwarded message ---------\nFrom: John <john@c.example>\nDate: Mon, Jun 2, 2025 at 3:04 PM\nSubject: Offer\nTo: Anna <anna@a.example>\n\n\nBody 1\n\nBody 2\n";
    let s = find_first(text).unwrap();
    assert_eq!(s.note, "Hi, see below");
    assert!(s.explicit);
    assert_eq!(s.lines_above, 1);
    assert_eq!(s.block.from.as_deref(), Some("John <john@c.example>"));
    assert_eq!(s.block.date.as_deref(), Some("Mon, Jun 2, 2025 at 3:04 PM"));
    assert_eq!(s.block.subject.as_deref(), Some("Offer"));
    assert_eq!(s.block.to.as_deref(), Some("Anna <anna@a.example>"));
    assert_eq!(s.body, "Body 1\n\nBody 2");
}

#[test]
fn outlook_block_without_note_and_wrapped_recipients() {
    let text = "________________________________\nVon: Müller, Hans <h@k.example>\nGesendet: Dienstag, 3. Juni 2025 14:05\nAn: Anna <anna@a.example>; Bob <bob@a.example>;\n Carl <carl@a.example>\nCc: Doe, Jane\nBetreff: Angebot\n\nText";
    let s = find_first(text).unwrap();
    assert_eq!(s.note, "");
    assert!(!s.explicit);
    assert_eq!(s.block.lang, "de");
    assert_eq!(
        s.block.to.as_deref(),
        Some("Anna <anna@a.example>; Bob <bob@a.example>; Carl <carl@a.example>")
    );
    assert_eq!(s.block.cc.as_deref(), Some("Doe, Jane"));
    assert_eq!(s.body, "Text");
}

#[test]
fn zoho_end_marker_is_skipped() {
    let text = "============ Forwarded message ============\nFrom : A <a@x.example>\nTo : <b@y.example>\nDate : Mon, 02 Jun 2025 15:04:05 +0200\nSubject : Offer\n============ Forwarded message ============\n\nBody";
    assert_eq!(find_first(text).unwrap().body, "Body");
}

#[test]
fn ios_quoted_forward() {
    let text = "FYI\n\nSent from my iPhone\n\nBegin forwarded message:\n\n> From: A <a@x.example>\n> Date: June 2, 2025 at 3:04:05 PM GMT+2\n> To: b@y.example\n> Subject: Offer\n> \n> \u{feff}Body\n> > older\n";
    let s = find_first(text).unwrap();
    assert_eq!(s.note, "FYI\n\nSent from my iPhone");
    assert_eq!(s.body, "Body\n> older");
}

#[test]
fn quoted_or_incomplete_blocks_are_ignored() {
    assert_eq!(
        find_first("> From: A <a@x>\n> Sent: today\n> To: b@y\n> Subject: x\n"),
        None
    );
    assert_eq!(find_first("From: A <a@x>\nTo: b@y\n\nSubject: x"), None);
    assert_eq!(find_first("Date: today\nTo: b@y\nSubject: x"), None);
    assert_eq!(find_first(""), None);
}
