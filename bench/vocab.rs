//! The sales vocabulary shared by the archive generator and the query benchmark.

pub const WORDS: &[&str] = &[
    "offer",
    "quotation",
    "delivery",
    "invoice",
    "warehouse",
    "racks",
    "price",
    "discount",
    "order",
    "contract",
    "meeting",
    "schedule",
    "shipment",
    "pallets",
    "terms",
    "payment",
    "steel",
    "aluminium",
    "windows",
    "doors",
    "installation",
    "warranty",
    "maintenance",
    "forecast",
    "budget",
    "approval",
    "signature",
    "deadline",
    "sample",
    "specification",
];

/// Frequent English words: the head of a Zipf distribution, where real mail
/// spends most of its tokens.
const COMMON: &[&str] = &[
    "the", "to", "and", "of", "a", "in", "for", "is", "on", "that", "we", "you", "with", "this",
    "be", "it", "as", "are", "at", "please", "our", "will", "have", "from", "by", "your", "or",
    "can", "not", "if", "all", "an", "would", "us", "they", "which", "was", "but", "do", "has",
    "new", "been", "more", "there", "so", "me", "any", "also", "one", "regards", "thanks", "best",
    "may", "next", "week", "time", "about", "should", "could", "need", "send", "find", "attached",
    "see", "let", "know", "when", "what", "up", "out", "get", "like", "just", "other", "some",
    "their", "than", "them", "then", "these", "now", "only", "two", "first", "last", "after",
    "before", "into", "over", "under", "per", "each", "made", "make", "year", "month", "day",
    "today", "tomorrow", "monday", "friday", "site", "team", "customer", "client", "project",
    "plan", "hall", "building", "units", "pieces", "cost", "total", "net", "gross", "eur", "vat",
];

/// A mail-like vocabulary with Zipf-distributed word frequencies: common
/// words, then the sales words, then a long tail of rarer terms (product
/// codes, names, technical words), `size` words in all. Rank r is drawn with
/// probability ∝ 1 / r^1.07, close to what English text shows.
pub struct Zipf {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(size: usize) -> Self {
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        words.extend(WORDS.iter().map(|w| w.to_string()));
        // The tail: pronounceable, distinct, deterministic.
        const ON: &[&str] = &[
            "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
        ];
        const NU: &[&str] = &["a", "e", "i", "o", "u", "ar", "en", "ol"];
        let mut i = 0usize;
        while words.len() < size {
            let mut w = String::new();
            let mut n = i;
            for _ in 0..3 {
                w.push_str(ON[n % ON.len()]);
                n /= ON.len();
                w.push_str(NU[n % NU.len()]);
                n /= NU.len();
            }
            w.push_str(&(i / 12544).to_string());
            words.push(w);
            i += 1;
        }
        words.truncate(size);
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|r| {
                total += 1.0 / (r as f64).powf(1.07);
                total
            })
            .collect();
        Zipf { words, cumulative }
    }

    pub fn word(&self, rng: &mut impl rand::Rng) -> &str {
        let x = rng.random::<f64>() * self.cumulative.last().copied().unwrap_or(1.0);
        let i = self.cumulative.partition_point(|c| *c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    pub fn words(&self, rng: &mut impl rand::Rng, n: usize) -> String {
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }

    /// The word of this rank (0 = the most frequent).
    pub fn rank(&self, r: usize) -> &str {
        &self.words[r.min(self.words.len() - 1)]
    }
}

/// Words in the realistic vocabularies of the benchmarks.
pub const VOCABULARY: usize = 20_000;
