//! Multipart fixtures are asserted through their text part; this checks that
//! their HTML part alone (what an HTML-only forward gives us) yields the same
//! header block and the same body words.

use super::{block, mime};

/// Words only: paragraph spacing differs, and HTML renders a quote as a
/// `<blockquote>` where the text part writes `> `.
fn squash(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| *w != ">")
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn html_part_yields_the_same_block_as_the_text_part() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forward");
    let mut compared = 0;
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).expect("read");
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parse");
        let has_both = msg
            .text_body
            .iter()
            .any(|id| msg.html_body.iter().all(|h| h != id));
        let (Some(plain), Some(html)) = (
            block::find_first(&mime::plain_text(&msg)),
            block::find_first(&mime::html_text(&msg)),
        ) else {
            continue;
        };
        if !has_both {
            continue;
        }
        let name = path.display();
        let b = (&plain.block, &html.block);
        for (field, p, h) in [
            ("from", &b.0.from, &b.1.from),
            ("to", &b.0.to, &b.1.to),
            ("cc", &b.0.cc, &b.1.cc),
            ("date", &b.0.date, &b.1.date),
            ("subject", &b.0.subject, &b.1.subject),
        ] {
            let (p, h) = (p.as_deref().map(squash), h.as_deref().map(squash));
            assert_eq!(p, h, "{name}: {field}");
        }
        assert_eq!(squash(&plain.body), squash(&html.body), "{name}: body");
        assert_eq!(squash(&plain.note), squash(&html.note), "{name}: note");
        compared += 1;
    }
    println!("html parity: {compared} multipart fixtures compared");
    assert!(
        compared >= 20,
        "only {compared} multipart fixtures compared"
    );
}
