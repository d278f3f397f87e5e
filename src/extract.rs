//! Text of attachments, for search. Runs in the worker with a size limit, a
//! time limit and panic isolation; a file that fails is still stored and
//! findable by name, and the failure is recorded on the document.

use std::io::{Cursor, Read};
use std::time::Duration;

/// Larger files are not read for text.
pub const MAX_INPUT_BYTES: usize = 25 * 1024 * 1024;
/// Text kept per document (the index does not need whole books).
pub const MAX_TEXT_CHARS: usize = 1_000_000;
/// Uncompressed bytes read out of an Office/ODF zip (a zip bomb stops here).
const MAX_UNZIPPED: u64 = 64 * 1024 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(10);

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
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Html,
    Pdf,
    Docx,
    Xlsx,
    Pptx,
    Odf,
    Eml,
}

fn kind(content_type: &str, filename: Option<&str>) -> Option<Kind> {
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

/// Extracts text from an attachment; never panics, never takes longer than
/// the time limit (a parser that hangs is abandoned on its own thread).
pub fn extract(content_type: &str, filename: Option<&str>, bytes: &[u8]) -> Extraction {
    let Some(kind) = kind(content_type, filename) else {
        return Extraction::Unsupported;
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return Extraction::Failed(format!("larger than {MAX_INPUT_BYTES} bytes"));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = bytes.to_vec();
    let spawned = std::thread::Builder::new()
        .name("extract".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(|| run(kind, &owned))
                .unwrap_or_else(|_| Err("the parser crashed on this file".into()));
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Extraction::Failed(format!("no thread: {e}"));
    }
    match rx.recv_timeout(TIME_LIMIT) {
        Ok(Ok(text)) => {
            let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
            Extraction::Text(text)
        }
        Ok(Err(why)) => Extraction::Failed(why),
        Err(_) => Extraction::Failed(format!("took longer than {}s", TIME_LIMIT.as_secs())),
    }
}

fn run(kind: Kind, bytes: &[u8]) -> Result<String, String> {
    match kind {
        Kind::Plain => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Kind::Html => Ok(mail_parser::decoders::html::html_to_text(
            &String::from_utf8_lossy(bytes),
        )),
        Kind::Pdf => pdf_extract::extract_text_from_mem(bytes).map_err(|e| format!("pdf: {e}")),
        Kind::Eml => {
            let msg = mail_parser::MessageParser::default()
                .parse(bytes)
                .ok_or("not a message")?;
            let head = [msg.subject().unwrap_or_default()].join(" ");
            Ok(format!("{head}\n{}", msg.body_text(0).unwrap_or_default()))
        }
        Kind::Docx => zipped_xml(bytes, |n| n == "word/document.xml"),
        Kind::Xlsx => zipped_xml(bytes, |n| {
            n == "xl/sharedStrings.xml" || n.starts_with("xl/worksheets/sheet")
        }),
        Kind::Pptx => zipped_xml(bytes, |n| {
            n.starts_with("ppt/slides/slide") && n.ends_with(".xml")
        }),
        Kind::Odf => zipped_xml(bytes, |n| n == "content.xml"),
    }
}

/// The text nodes of the XML files in a zip that `wanted` selects.
fn zipped_xml(bytes: &[u8], wanted: impl Fn(&str) -> bool) -> Result<String, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("zip: {e}"))?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .filter(|n| wanted(n))
        .map(|n| n.into_owned())
        .collect();
    if names.is_empty() {
        return Err("no document content found in the file".into());
    }
    names.sort();
    let mut out = String::new();
    let mut budget = MAX_UNZIPPED;
    for name in names {
        let file = zip.by_name(&name).map_err(|e| format!("zip: {e}"))?;
        let mut xml = Vec::new();
        file.take(budget)
            .read_to_end(&mut xml)
            .map_err(|e| format!("zip: {e}"))?;
        budget = budget.saturating_sub(xml.len() as u64);
        xml_text(&xml, &mut out)?;
        if budget == 0 || out.len() > MAX_TEXT_CHARS * 4 {
            break;
        }
    }
    Ok(out)
}

fn xml_text(xml: &[u8], out: &mut String) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Text(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => out.push_str(&t),
            // Entity references come as their own events.
            Ok(Event::GeneralRef(r)) => match &*r {
                "amp" => out.push('&'),
                "lt" => out.push('<'),
                "gt" => out.push('>'),
                "quot" => out.push('"'),
                "apos" => out.push('\''),
                _ => {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        out.push(c);
                    }
                }
            },
            // Paragraphs, cells and rows end: keep words apart.
            Ok(Event::End(_)) if !out.ends_with(' ') => out.push(' '),
            Ok(Event::Eof) => return Ok(()),
            Err(e) => return Err(format!("xml: {e}")),
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(content.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn office_formats_html_csv_and_eml() {
        let docx = zip_of(&[("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>Quarterly</w:t></w:r></w:p><w:p><w:r><w:t>forecast</w:t></w:r></w:p></w:body></w:document>")]);
        assert_eq!(
            extract("application/octet-stream", Some("a.docx"), &docx),
            Extraction::Text("Quarterly forecast ".into())
        );
        let xlsx = zip_of(&[("xl/sharedStrings.xml", "<sst><si><t>Pallets</t></si></sst>")]);
        assert!(
            matches!(extract("", Some("b.xlsx"), &xlsx), Extraction::Text(t) if t.contains("Pallets"))
        );
        let odt = zip_of(&[(
            "content.xml",
            "<office:text><text:p>Wintergarten</text:p></office:text>",
        )]);
        assert!(
            matches!(extract("", Some("c.odt"), &odt), Extraction::Text(t) if t.contains("Wintergarten"))
        );
        assert!(
            matches!(extract("text/html", None, b"<p>Hello <b>there</b></p>"), Extraction::Text(t) if t.contains("Hello there"))
        );
        assert!(
            matches!(extract("text/csv", Some("d.csv"), b"sku;qty\nA1;5"), Extraction::Text(t) if t.contains("A1"))
        );
        let eml = b"Subject: Inner\r\n\r\nnested words\r\n";
        assert!(
            matches!(extract("message/rfc822", None, eml), Extraction::Text(t) if t.contains("nested words"))
        );
    }

    /// A one-page PDF with the text `words`, with a correct xref table.
    fn pdf_with(words: &str) -> Vec<u8> {
        let stream = format!("BT /F1 12 Tf 72 712 Td ({words}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
            format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn pdf_text() {
        let pdf = pdf_with("Quotation for racks");
        match extract("application/pdf", Some("q.pdf"), &pdf) {
            Extraction::Text(t) => assert!(t.contains("Quotation for racks"), "{t:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_and_unknown_files() {
        assert!(matches!(
            extract("", Some("bad.docx"), b"not a zip"),
            Extraction::Failed(_)
        ));
        assert!(matches!(
            extract("application/pdf", Some("bad.pdf"), b"%PDF-1.4 garbage"),
            Extraction::Failed(_)
        ));
        assert_eq!(
            extract("image/png", Some("x.png"), b"\x89PNG"),
            Extraction::Unsupported
        );
        let empty_zip = zip_of(&[("other.txt", "x")]);
        assert!(
            matches!(extract("", Some("e.pptx"), &empty_zip), Extraction::Failed(m) if m.contains("no document content"))
        );
    }
}
