//! Facet counts over every match: by kind, card, sender domain, year and
//! communication type (its id).

use serde_json::{json, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::AggregationCollector;
use tantivy::query::Query;

use super::SearchError;

/// Buckets per facet; the most frequent values come first.
const SIZE: u32 = 20;

pub fn collect(searcher: &tantivy::Searcher, query: &dyn Query) -> Result<Value, SearchError> {
    let terms = |field: &str| json!({"terms": {"field": field, "size": SIZE}});
    let req: Aggregations = serde_json::from_value(json!({
        "kind": terms("kind"),
        "card": terms("card_id"),
        "sender_domain": terms("from_domain"),
        "year": terms("year"),
        "type": terms("comm_type"),
    }))
    .map_err(|e| SearchError::BadQuery(format!("facets: {e}")))?;
    let collector = AggregationCollector::from_aggs(req, Default::default());
    let result = searcher.search(query, &collector)?;
    let raw = serde_json::to_value(result).map_err(|e| SearchError::BadQuery(e.to_string()))?;
    // {"kind": {"buckets": [{"key", "doc_count"}]}} → {"kind": [{"value", "count"}]}
    let mut out = serde_json::Map::new();
    for name in ["kind", "card", "sender_domain", "year", "type"] {
        let buckets = raw[name]["buckets"].as_array().cloned().unwrap_or_default();
        let list: Vec<Value> = buckets
            .into_iter()
            // Type 0 is "no type".
            .filter(|b| !(name == "type" && b["key"].as_f64() == Some(0.0)))
            .map(|b| json!({"value": b["key"], "count": b["doc_count"]}))
            .collect();
        out.insert(name.to_owned(), Value::Array(list));
    }
    Ok(Value::Object(out))
}
