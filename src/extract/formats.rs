//! The parsers, run only inside the extraction child (`child.rs`): they may
//! allocate without bound on hostile input (a PDF stream that inflates to
//! gigabytes), which the child's limits turn into a clean failure.

use std::io::{BufReader, Cursor, Read};

use super::Kind;

/// Why a parser gave up; shown as `failed: …` on the document.
pub type Failure = String;

/// The text of `bytes`; `max_unzipped` bounds what one zip entry, and all
/// entries together, may inflate to.
pub fn run(kind: Kind, bytes: &[u8], max_unzipped: u64) -> Result<String, Failure> {
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
            let head = msg.subject().unwrap_or_default();
            Ok(format!("{head}\n{}", msg.body_text(0).unwrap_or_default()))
        }
        Kind::Docx => zipped_xml(bytes, max_unzipped, |n| n == "word/document.xml"),
        Kind::Xlsx => zipped_xml(bytes, max_unzipped, |n| {
            n == "xl/sharedStrings.xml" || n.starts_with("xl/worksheets/sheet")
        }),
        Kind::Pptx => zipped_xml(bytes, max_unzipped, |n| {
            n.starts_with("ppt/slides/slide") && n.ends_with(".xml")
        }),
        Kind::Odf => zipped_xml(bytes, max_unzipped, |n| n == "content.xml"),
    }
}

/// The text nodes of the XML files in a zip that `wanted` selects, streamed
/// (never a whole entry in memory) and stopped at `max_unzipped` inflated bytes.
fn zipped_xml(
    bytes: &[u8],
    max_unzipped: u64,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, Failure> {
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
    let mut budget = max_unzipped;
    for name in names {
        let file = zip.by_name(&name).map_err(|e| format!("zip: {e}"))?;
        // One byte more than the budget tells an entry that goes over it.
        let mut counted = Counted {
            inner: file.take(budget + 1),
            read: 0,
        };
        let parsed = xml_text(BufReader::new(&mut counted), &mut out);
        if counted.read > budget {
            return Err(format!(
                "zip limit ({name} inflates beyond {max_unzipped} bytes)"
            ));
        }
        parsed?;
        budget -= counted.read;
    }
    Ok(out)
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Appends the text nodes of one XML stream to `out`.
fn xml_text(input: impl std::io::BufRead, out: &mut String) -> Result<(), Failure> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(input);
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
    use super::super::Extraction;
    use super::*;
    use std::io::Write;

    fn extract(content_type: &str, filename: Option<&str>, bytes: &[u8]) -> Extraction {
        match Kind::of(content_type, filename) {
            None => Extraction::Unsupported,
            Some(kind) => match run(kind, bytes, 64 << 20) {
                Ok(text) => Extraction::Text(text),
                Err(why) => Extraction::Failed(why),
            },
        }
    }

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

    #[test]
    fn a_zip_entry_that_inflates_past_the_budget_stops_there() {
        let bomb = format!(
            "<w:document>{}</w:document>",
            "<w:t>aaaa</w:t>".repeat(300_000)
        );
        let docx = zip_of(&[("word/document.xml", &bomb)]);
        assert!(docx.len() < bomb.len() / 50, "compresses well");
        match run(Kind::Docx, &docx, 1 << 20) {
            Err(why) => assert!(why.starts_with("zip limit (word/document.xml"), "{why}"),
            Ok(t) => panic!("read {} bytes of text", t.len()),
        }
        // The budget is for all entries together.
        let part = "<si><t>bbbb</t></si>".repeat(20_000);
        let xlsx = zip_of(&[
            ("xl/sharedStrings.xml", &part),
            ("xl/worksheets/sheet1.xml", &part),
        ]);
        assert!(run(Kind::Xlsx, &xlsx, part.len() as u64 + 10).is_err());
        assert!(run(Kind::Xlsx, &xlsx, 2 * part.len() as u64).is_ok());
    }
}
