//! Text of attachments, for search. The parsers (`formats`) run only in a
//! child process (`dossier extract`, see `child`) under hard limits set by
//! `sandbox`: a PDF or zip bomb can exhaust the child, never the gateway.

mod child;
mod formats;
mod sandbox;

pub use child::{run_child, ChildArgs};
pub use sandbox::{Input, Limits, Sandbox};

/// The status of a document whose text is still to be extracted.
pub const PENDING: &str = "pending";

#[derive(Debug, Clone, PartialEq)]
pub enum Extraction {
    Text(String),
    /// A format we do not read (images, archives…): nothing to report.
    Unsupported,
    Failed(String),
}

impl Extraction {
    /// `ok`, `unsupported` or `failed: reason`, as shown on the document.
    pub fn status(&self) -> String {
        match self {
            Extraction::Text(_) => "ok".into(),
            Extraction::Unsupported => "unsupported".into(),
            Extraction::Failed(why) => format!("failed: {why}"),
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Extraction::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The formats we read text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Html,
    Pdf,
    Docx,
    Xlsx,
    Pptx,
    Odf,
    Eml,
}

const KINDS: [(Kind, &str); 8] = [
    (Kind::Plain, "plain"),
    (Kind::Html, "html"),
    (Kind::Pdf, "pdf"),
    (Kind::Docx, "docx"),
    (Kind::Xlsx, "xlsx"),
    (Kind::Pptx, "pptx"),
    (Kind::Odf, "odf"),
    (Kind::Eml, "eml"),
];

impl Kind {
    /// The format of an attachment by its type and name; `None`: not read.
    pub fn of(content_type: &str, filename: Option<&str>) -> Option<Kind> {
        let ext = filename
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let ct = content_type.to_ascii_lowercase();
        Some(match (ct.as_str(), ext.as_str()) {
            (_, "pdf") | ("application/pdf", _) => Kind::Pdf,
            (_, "docx") => Kind::Docx,
            (_, "xlsx") => Kind::Xlsx,
            (_, "pptx") => Kind::Pptx,
            (_, "odt" | "ods" | "odp") => Kind::Odf,
            (_, "eml") | ("message/rfc822", _) => Kind::Eml,
            (_, "html" | "htm") | ("text/html", _) => Kind::Html,
            (_, "txt" | "csv" | "tsv" | "md" | "json" | "xml") => Kind::Plain,
            (ct, _) if ct.starts_with("text/") => Kind::Plain,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, s)| *s)
            .expect("every kind is listed")
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    /// The status a new document starts with: `pending` when its text will be
    /// extracted, `unsupported` when there is nothing to read.
    pub fn initial_status(content_type: &str, filename: Option<&str>) -> &'static str {
        match Kind::of(content_type, filename) {
            Some(_) => PENDING,
            None => "unsupported",
        }
    }
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
pub fn truncate_bytes(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_type_and_name_round_trip() {
        assert_eq!(
            Kind::of("application/octet-stream", Some("A.DOCX")),
            Some(Kind::Docx)
        );
        assert_eq!(Kind::of("message/rfc822", None), Some(Kind::Eml));
        assert_eq!(Kind::of("text/x-vcard", None), Some(Kind::Plain));
        assert_eq!(Kind::of("image/png", Some("x.png")), None);
        for (k, name) in KINDS {
            assert_eq!(Kind::parse(name), Some(k));
            assert_eq!(k.as_str(), name);
        }
        let mut s = "naïve".to_owned();
        truncate_bytes(&mut s, 3);
        assert_eq!(s, "na");
    }
}
