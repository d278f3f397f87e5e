//! Table test: every `.eml` under tests/fixtures/forward/ is unwrapped and
//! every field of every entry compared with `<name>.expected.json`.
//!
//! `UPDATE_FORWARD_FIXTURES=1 cargo test --test forward_fixtures` rewrites the
//! expected files from the current output — review the diff before keeping it.

use std::path::{Path, PathBuf};

use dossier::mail::forward::{extract, Attachment, Direction, Extracted, Mailbox, Team};
use mail_parser::MessageParser;
use serde_json::{json, Map, Value};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forward")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
}

fn with_team<R>(f: impl FnOnce(&Team<'_>) -> R) -> R {
    let addresses = vec!["anna.berg.sales@gmail.com".to_string()];
    let domains = vec!["acme.example".to_string()];
    f(&Team {
        addresses: &addresses,
        domains: &domains,
    })
}

fn mailbox(m: &Mailbox) -> Value {
    json!({ "name": m.name, "address": m.address })
}

fn mailboxes(list: &[Mailbox]) -> Value {
    list.iter().map(mailbox).collect()
}

/// FNV-1a, so attachment bytes are compared exactly without storing them.
fn fnv1a(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn attachment(a: &Attachment) -> Value {
    json!({
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.bytes.len(),
        "fnv1a64": fnv1a(&a.bytes),
    })
}

fn to_json(e: &Extracted) -> Value {
    json!({
        "from": e.from.as_ref().map(mailbox),
        "to": mailboxes(&e.to),
        "cc": mailboxes(&e.cc),
        "date": e.date.map(|d| d.to_rfc3339()),
        "date_raw": e.date_raw,
        "date_is_fallback": e.date_is_fallback,
        "subject": e.subject,
        "body_text": e.body_text,
        "message_id": e.message_id,
        "forwarded_by": e.forwarded_by.as_ref().map(mailbox),
        "forwarded_at": e.forwarded_at.map(|d| d.to_rfc3339()),
        "forward_note": e.forward_note,
        "forward_chain": mailboxes(&e.forward_chain),
        "is_forward": e.is_forward,
        "direction": match e.direction {
            Direction::Incoming => "Incoming",
            Direction::Outgoing => "Outgoing",
        },
        "attachments": e.attachments.iter().map(attachment).collect::<Vec<_>>(),
    })
}

fn run(path: &Path) -> Value {
    let raw = std::fs::read(path).expect("read fixture");
    let msg = MessageParser::default()
        .parse(&raw)
        .expect("fixture parses");
    with_team(|team| extract(&msg, team).iter().map(to_json).collect())
}

#[test]
fn fixtures_match_expected_fields() {
    let update = std::env::var_os("UPDATE_FORWARD_FIXTURES").is_some();
    let (mut total, mut correct) = (0usize, 0usize);
    let mut failures = Vec::new();
    let files = fixtures();
    assert!(!files.is_empty(), "no fixtures found");
    for path in &files {
        let got = run(path);
        let expected_path = path.with_extension("expected.json");
        if update {
            let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
            std::fs::write(&expected_path, text).expect("write expected");
            continue;
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("missing {}", expected_path.display())),
        )
        .expect("expected json");
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        let (got, want) = (
            got.as_array().cloned().unwrap_or_default(),
            want.as_array().cloned().unwrap_or_default(),
        );
        if got.len() != want.len() {
            failures.push(format!(
                "{name}: {} entries, expected {}",
                got.len(),
                want.len()
            ));
        }
        for (i, want_entry) in want.iter().enumerate() {
            let empty = Map::new();
            let want_fields = want_entry.as_object().unwrap_or(&empty);
            let got_fields = got.get(i).and_then(Value::as_object).unwrap_or(&empty);
            for (field, want_value) in want_fields {
                total += 1;
                match got_fields.get(field) {
                    Some(v) if v == want_value => correct += 1,
                    other => failures.push(format!(
                        "{name}[{i}].{field}:\n   got  {}\n   want {want_value}",
                        other.unwrap_or(&Value::Null)
                    )),
                }
            }
        }
    }
    if update {
        return;
    }
    println!(
        "forward fixtures: {} files, {correct}/{total} fields correct ({:.1}%)",
        files.len(),
        100.0 * correct as f64 / total.max(1) as f64
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Never panic: truncated fixtures and flipped bytes.
#[test]
fn truncated_and_corrupted_fixtures_do_not_panic() {
    with_team(|team| {
        for path in fixtures() {
            let raw = std::fs::read(&path).expect("read fixture");
            let step = (raw.len() / 97).max(1);
            let mut cuts: Vec<usize> = (0..raw.len()).step_by(step).collect();
            cuts.extend(raw.len().saturating_sub(64)..raw.len());
            for cut in cuts {
                if let Some(msg) = MessageParser::default().parse(&raw[..cut]) {
                    let _ = extract(&msg, team);
                }
            }
            let mut seed = raw.len() as u64;
            for _ in 0..40 {
                let mut bytes = raw.clone();
                for _ in 0..8 {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let pos = (seed >> 33) as usize % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(pos) {
                        *b = (seed >> 13) as u8;
                    }
                }
                if let Some(msg) = MessageParser::default().parse(&bytes) {
                    let _ = extract(&msg, team);
                }
            }
        }
    });
}
