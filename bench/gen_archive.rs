//! Writes a realistic synthetic archive straight into a dossier store: N email
//! entries over C cards (names, company domains, 5 years of dates, subjects and
//! bodies drawn from a Zipf-distributed 20,000-word vocabulary, every fifth with
//! a PDF attachment and its extracted text). Build the index afterwards with
//! `dossier reindex`.
//!
//!   cargo run --release --example gen_archive -- DATA_DIR MESSAGES CARDS

use dossier::domain::{ArchiveCode, Mailbox};
use dossier::store::{EmailMeta, NewDocument, NewEmailEntry, NewMessage, Store};
#[path = "vocab.rs"]
#[allow(dead_code)] // shared with query_bench, which uses all of it
mod vocab;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vocab::{Zipf, VOCABULARY, WORDS};

const FIRST: &[&str] = &[
    "Jane", "Piet", "Ion", "Marta", "Lars", "Ana", "Hans", "Eva", "João", "Zofia", "Ahmet", "Ivan",
    "Chloé", "Mateo", "Sven",
];
const LAST: &[&str] = &[
    "Doe", "de Vries", "Popescu", "Nowak", "Jensen", "Souza", "Müller", "Horváth", "Yılmaz",
    "Petrov", "Dubois", "García",
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, n, cards): (&str, usize, usize) =
        (&args[1], args[2].parse().unwrap(), args[3].parse().unwrap());
    std::fs::create_dir_all(dir).unwrap();
    let store = Store::open(&std::path::Path::new(dir).join("dossier.sqlite3"))
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let zipf = Zipf::new(VOCABULARY);
    let mut card_ids = Vec::with_capacity(cards);
    for i in 0..cards {
        let c = store
            .create_card(
                &format!("Deal {i}"),
                None,
                ArchiveCode::generate().as_str(),
                "everyone",
            )
            .await
            .unwrap();
        card_ids.push(c.id);
    }
    // Every entry points at one placeholder queue row (already done).
    let ids = store
        .enqueue(&[NewMessage {
            sha256: "0".repeat(64),
            size: 0,
            source: "import",
            mail_from: String::new(),
            helo: String::new(),
            peer: "bench".into(),
            cards: vec![],
            trusted: true,
            quarantine: None,
            annotations: None,
        }])
        .await
        .unwrap();
    store.set_message_state(&ids, "done").await.unwrap();
    let domains: Vec<String> = (0..2000)
        .map(|i| format!("client{i}.{}", ["com", "de", "nl", "ro", "fr"][i % 5]))
        .collect();
    let start = 1_577_836_800i64; // 2020-01-01
    let started = std::time::Instant::now();
    for chunk in 0..n.div_ceil(2000) {
        let mut batch = Vec::with_capacity(2000);
        for i in chunk * 2000..((chunk + 1) * 2000).min(n) {
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            let domain = &domains[rng.random_range(0..domains.len())];
            let when = start + rng.random_range(0..5 * 365 * 86_400);
            let body = (0..rng.random_range(4..20))
                .map(|_| zipf.words(&mut rng, 12))
                .collect::<Vec<_>>()
                .join(".\n");
            // A quote or an invoice as a PDF: its extracted text is what
            // the worker indexes, 20-60 lines, longer than most bodies.
            let documents = if i % 5 == 0 {
                let text = (0..rng.random_range(20..60))
                    .map(|_| zipf.words(&mut rng, 12))
                    .collect::<Vec<_>>()
                    .join(".\n");
                vec![NewDocument {
                    filename: Some(format!("{}-{i}.pdf", WORDS[i % WORDS.len()])),
                    content_type: "application/pdf".into(),
                    size: 30_000 + text.len() as i64,
                    sha256: format!("{i:064x}"),
                    text: Some(text),
                    text_status: Some("ok".into()),
                }]
            } else {
                vec![]
            };
            batch.push(NewEmailEntry {
                card_id: card_ids[rng.random_range(0..card_ids.len())],
                message_row: ids[0],
                dedup_key: format!("gen:{i}"),
                subject: zipf.words(&mut rng, 5),
                from: Some(Mailbox {
                    name: Some(format!("{first} {last}")),
                    address: Some(format!("{}.{}@{domain}", first.to_lowercase(), i % 97)),
                }),
                to: vec![Mailbox {
                    name: Some("Sam Sales".into()),
                    address: Some("sam@team.example".into()),
                }],
                cc: vec![],
                date: chrono::DateTime::from_timestamp(when, 0).map(|d| d.to_rfc3339()),
                occurred_at: when,
                body_text: body,
                message_id: Some(format!("gen-{i}@bench.example")),
                direction: Some("incoming".into()),
                meta: EmailMeta::default(),
                documents,
                author_id: None,
                author_kind: "ingest",
                comm_type_id: None,
                reference: None,
            });
        }
        store.store_email_entries(&batch, &[]).await.unwrap();
        if chunk % 50 == 0 {
            eprint!("\rgenerated {} entries", (chunk + 1) * 2000);
        }
    }
    eprintln!(
        "\rgenerated {n} entries over {cards} cards in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}
