//! Checks on what clients write: bounded, well-formed text, times, references,
//! communication types. Each failure is a 422 naming the field.

use serde::Deserialize;
use serde_json::Value;

use super::{AppState, Error};
use crate::store::CommType;

pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_SHORT_CHARS: usize = 200;
pub const MAX_URL_CHARS: usize = 2_000;
pub const MAX_LIST: usize = 100;

fn bad(m: String) -> Error {
    Error::Unprocessable(m)
}

/// Trimmed; at most `max` characters; no control characters except line
/// breaks and tabs when `multiline`.
pub fn text(field: &str, v: &str, max: usize, multiline: bool) -> Result<String, Error> {
    let t = if multiline { v.trim_end() } else { v.trim() };
    if t.chars().count() > max {
        return Err(bad(format!("{field} must be at most {max} characters")));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(bad(format!("{field} must not contain control characters")));
    }
    Ok(t.replace("\r\n", "\n"))
}

/// Like `text`, and not empty.
pub fn required(field: &str, v: &str, max: usize) -> Result<String, Error> {
    let t = text(field, v, max, false)?;
    if t.is_empty() {
        return Err(bad(format!("{field} must not be empty")));
    }
    Ok(t)
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339, between 1900 and 2200.
pub fn time(field: &str, v: &str) -> Result<i64, Error> {
    let secs = super::history::parse_time(field, v).map_err(|e| bad(e.to_string()))?;
    // -2208988800 = 1900-01-01, 7258118400 = 2200-01-01
    if !(-2_208_988_800..7_258_118_400).contains(&secs) {
        return Err(bad(format!("{field} must be between 1900 and 2200")));
    }
    Ok(secs)
}

pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A communication type given by id or by code.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IdOrCode {
    Id(i64),
    Code(String),
}

impl IdOrCode {
    pub fn matches(&self, id: i64, code: &str) -> bool {
        match self {
            IdOrCode::Id(i) => *i == id,
            IdOrCode::Code(c) => c.eq_ignore_ascii_case(code) || c.trim() == id.to_string(),
        }
    }
}

/// An active type for a new or edited entry; an inactive one is kept on old
/// entries but not offered for new ones.
pub async fn active_type(st: &AppState, key: &IdOrCode) -> Result<CommType, Error> {
    let t = st
        .store
        .comm_types()
        .await?
        .into_iter()
        .find(|t| key.matches(t.id, &t.code))
        .ok_or_else(|| bad("communication_type is not a communication type".into()))?;
    if !t.active {
        return Err(bad(format!(
            "communication type {:?} is inactive: it stays on old entries but takes no new ones",
            t.name
        )));
    }
    Ok(t)
}

/// Another system's reference: `{"number", "url", "system"}`, all optional.
pub fn reference(v: &Value) -> Result<Value, Error> {
    let Value::Object(map) = v else {
        return Err(bad(
            "reference must be an object {\"number\", \"url\", \"system\"}".into(),
        ));
    };
    for (k, val) in map {
        let Value::String(s) = val else {
            return Err(bad(format!("reference.{k} must be a string")));
        };
        match k.as_str() {
            "number" | "system" => {
                text(&format!("reference.{k}"), s, MAX_SHORT_CHARS, false)?;
            }
            "url" => {
                text("reference.url", s, MAX_URL_CHARS, false)?;
                if !(s.starts_with("https://") || s.starts_with("http://")) {
                    return Err(bad("reference.url must be an http(s) URL".into()));
                }
            }
            other => {
                return Err(bad(format!(
                    "reference.{other} is not known (number, url, system)"
                )))
            }
        }
    }
    Ok(v.clone())
}

/// A user who exists (for `responsible_id`).
pub async fn user(st: &AppState, field: &str, id: i64) -> Result<i64, Error> {
    st.store
        .user(id)
        .await
        .map(|u| u.id)
        .map_err(|_| bad(format!("{field}: no user {id}")))
}

pub fn direction(v: &str) -> Result<String, Error> {
    match v {
        "incoming" | "outgoing" => Ok(v.to_owned()),
        other => Err(bad(format!(
            "direction must be incoming or outgoing, not {other:?}"
        ))),
    }
}

pub fn list_len<T>(field: &str, v: &[T]) -> Result<(), Error> {
    if v.len() > MAX_LIST {
        return Err(bad(format!("{field} has more than {MAX_LIST} items")));
    }
    Ok(())
}
