//! Query latency over an existing index: a mix of query types, each run many
//! times with varying terms, with snippets, reporting p50/p99 per type.
//!
//!   cargo run --release --example query_bench -- INDEX_DIR [RUNS]

use std::time::Instant;

use dossier::search::{SearchIndex, SearchRequest, Searcher, Sort};
#[path = "vocab.rs"]
mod vocab;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vocab::{Zipf, VOCABULARY, WORDS};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(2).map_or(200, |r| r.parse().unwrap());
    let index = SearchIndex::open(std::path::Path::new(&args[1])).unwrap();
    let searcher = Searcher::new(index);
    let mut rng = StdRng::seed_from_u64(1);
    let zipf = Zipf::new(VOCABULARY);
    let sales = |r: &mut StdRng| WORDS[r.random_range(0..WORDS.len())].to_owned();
    // Two or three adjacent words of text drawn like the archive's bodies:
    // what someone remembers from a mail, stop words included.
    let from_text = |r: &mut StdRng, n: usize| {
        let line = zipf.words(r, 12);
        let w: Vec<&str> = line.split(' ').collect();
        let at = r.random_range(0..=w.len() - n);
        format!("\"{}\"", w[at..at + n].join(" "))
    };
    type Make<'a> = Box<dyn Fn(&mut StdRng) -> SearchRequest + 'a>;
    let kinds: Vec<(&str, Make)> = vec![
        ("single word", Box::new(|r| req(sales(r)))),
        (
            "rare word",
            Box::new(|r| req(zipf.rank(r.random_range(150..VOCABULARY)).to_owned())),
        ),
        ("phrase", Box::new(|r| req(from_text(r, 2)))),
        ("phrase, 3 words", Box::new(|r| req(from_text(r, 3)))),
        ("phrase, 4 words", Box::new(|r| req(from_text(r, 4)))),
        (
            "sales phrase",
            Box::new(|r| req(format!("\"{} {}\"", sales(r), sales(r)))),
        ),
        (
            "from: domain",
            Box::new(|r| {
                req(format!(
                    "from:client{}.{}",
                    r.random_range(0..2000),
                    ["com", "de", "nl", "ro", "fr"][r.random_range(0..5)]
                ))
            }),
        ),
        (
            "date range",
            Box::new(|r| {
                let y = r.random_range(2020..2025);
                req(format!("{} after:{y}-03-01 before:{y}-05-01", sales(r)))
            }),
        ),
        (
            "card filter",
            Box::new(|r| SearchRequest {
                card_id: Some(r.random_range(1..10_000)),
                ..req(sales(r))
            }),
        ),
        (
            "word + facets",
            Box::new(|r| SearchRequest {
                facets: true,
                ..req(sales(r))
            }),
        ),
        (
            "sort by date",
            Box::new(|r| SearchRequest {
                sort: Sort::Date,
                ..req(sales(r))
            }),
        ),
    ];
    println!(
        "{:<16} {:>8} {:>8} {:>10}",
        "query", "p50 ms", "p99 ms", "avg hits"
    );
    // QUERY_BENCH_SLOWEST=N also prints each type's N slowest queries.
    let slowest: usize = std::env::var("QUERY_BENCH_SLOWEST").map_or(0, |n| n.parse().unwrap());
    for (name, make) in kinds {
        let mut times = Vec::with_capacity(runs);
        let mut seen = Vec::new();
        let mut hits = 0usize;
        for _ in 0..runs {
            let q = make(&mut rng);
            let t = Instant::now();
            let res = searcher.search(&q).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            hits += res.total;
            if slowest > 0 {
                seen.push((ms, q.q, res.total));
            }
        }
        seen.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        for (ms, q, total) in seen.iter().take(slowest) {
            eprintln!("  {name}: {ms:.1} ms, {total} hits: {q}");
        }
        println!(
            "{:<16} {:>8.1} {:>8.1} {:>10}",
            name,
            pct(&mut times, 0.5),
            pct(&mut times, 0.99),
            hits / runs
        );
    }
}

fn req(q: String) -> SearchRequest {
    SearchRequest {
        q,
        card_id: None,
        limit: 20,
        offset: 0,
        sort: Sort::Relevance,
        facets: false,
        hidden_cards: vec![],
        types: vec![],
        ..SearchRequest::default()
    }
}
