//! A time budget for one search. Tantivy has no cancellation of its own, so
//! the whole query is wrapped in one that checks the budget while documents
//! are matched: once the deadline passes (`search.timeout_ms`) or the request
//! is gone (the client left, the request timeout fired), matching stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// Documents matched between two looks at the clock.
const CHECK_EVERY: u32 = 1024;

#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    /// Set when the request that asked is gone.
    cancelled: Arc<AtomicBool>,
    /// Set when matching was stopped: the result is incomplete.
    tripped: Arc<AtomicBool>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(Duration::from_secs(3600))
    }
}

impl Budget {
    pub fn new(time: Duration) -> Self {
        Budget {
            deadline: Instant::now() + time,
            cancelled: Arc::default(),
            tripped: Arc::default(),
        }
    }

    /// A guard that cancels the search when dropped: hold it in the request's
    /// future, so a request that ends (timeout, client gone) stops its search.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.cancelled.clone())
    }

    /// Whether the time is up or the request gone; trips the budget if so.
    pub fn spent(&self) -> bool {
        let spent = self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline;
        if spent {
            self.tripped.store(true, Ordering::Relaxed);
        }
        spent
    }

    /// Whether matching was stopped by the budget.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `query`, stopping when the budget is spent.
    pub fn wrap(&self, query: Box<dyn Query>) -> Box<dyn Query> {
        Box::new(Budgeted {
            inner: query,
            budget: self.clone(),
        })
    }
}

pub struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Budgeted {
    inner: Box<dyn Query>,
    budget: Budget,
}

impl Clone for Budgeted {
    fn clone(&self) -> Self {
        Budgeted {
            inner: self.inner.box_clone(),
            budget: self.budget.clone(),
        }
    }
}

impl Query for Budgeted {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(BudgetedWeight {
            inner: self.inner.weight(enable_scoring)?,
            budget: self.budget.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.inner.query_terms(visitor)
    }
}

struct BudgetedWeight {
    inner: Box<dyn Weight>,
    budget: Budget,
}

impl Weight for BudgetedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.budget.spent() {
            return Ok(Box::new(tantivy::query::EmptyScorer));
        }
        Ok(Box::new(BudgetedScorer {
            inner: self.inner.scorer(reader, boost)?,
            budget: self.budget.clone(),
            steps: 0,
            stopped: false,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct BudgetedScorer {
    inner: Box<dyn Scorer>,
    budget: Budget,
    steps: u32,
    stopped: bool,
}

impl BudgetedScorer {
    fn over(&mut self) -> bool {
        self.steps = self.steps.wrapping_add(1);
        if self.steps.is_multiple_of(CHECK_EVERY) && self.budget.spent() {
            self.stopped = true;
        }
        self.stopped
    }
}

impl DocSet for BudgetedScorer {
    fn advance(&mut self) -> DocId {
        if self.over() {
            return TERMINATED;
        }
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.over() {
            return TERMINATED;
        }
        self.inner.seek(target)
    }

    fn doc(&self) -> DocId {
        if self.stopped {
            TERMINATED
        } else {
            self.inner.doc()
        }
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for BudgetedScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
