//! Hostile files, built in the tests: compression bombs, a PDF form that
//! draws itself, messages with too many parts or too deep a structure.

use std::io::Write;

/// `n` zero bytes, zlib-compressed (as PDF's FlateDecode wants), without
/// ever holding them in memory.
pub fn zlib_zeros(n: usize) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        z.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    z.finish().unwrap()
}

pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// A PDF of the given objects (numbered from 1; object 1 is the catalog)
/// with a correct cross-reference table.
pub fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
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

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut o = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    o.extend_from_slice(data);
    o.extend_from_slice(b"\nendstream");
    o
}

fn page_objects(resources: &str, contents: Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> {resources} >> >>").into_bytes(),
        contents,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]
}

/// A one-page PDF showing `words`.
pub fn pdf_with(words: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 712 Td ({words}) Tj ET");
    pdf(&page_objects("", stream("", content.as_bytes())))
}

/// A PDF whose page content inflates through two chained FlateDecode filters
/// to `inflated` bytes: a few KB on the wire.
pub fn pdf_flate_bomb(inflated: usize) -> Vec<u8> {
    let twice = zlib(&zlib_zeros(inflated));
    pdf(&page_objects(
        "",
        stream("/Filter [/FlateDecode /FlateDecode]", &twice),
    ))
}

/// A PDF whose page draws a form XObject that draws itself, without end.
pub fn pdf_self_drawing_form() -> Vec<u8> {
    let mut objects = page_objects("/XObject << /Fm1 6 0 R >>", stream("", b"/Fm1 Do"));
    objects.push(stream(
        "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /Fm1 6 0 R >> >>",
        b"/Fm1 Do",
    ));
    pdf(&objects)
}

/// A .docx whose document.xml inflates to about `inflated` bytes.
pub fn docx_zip_bomb(inflated: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("word/document.xml", options).unwrap();
    w.write_all(b"<w:document><w:body>").unwrap();
    let run = "<w:p><w:r><w:t>bomb</w:t></w:r></w:p>".repeat(1 << 14);
    let mut written = 0;
    while written < inflated {
        w.write_all(run.as_bytes()).unwrap();
        written += run.len();
    }
    w.write_all(b"</w:body></w:document>").unwrap();
    w.finish().unwrap().into_inner()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    // 76-character lines, as mail has them.
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A team member's mail to a card with these attachments (name, type, bytes).
pub fn mail_with_attachments(subject: &str, body: &str, files: &[(&str, &str, Vec<u8>)]) -> String {
    let mut m = format!(
        "From: Sam Sales <sam@team.example>\r\nTo: Jane <jane@client.example>\r\nSubject: {subject}\r\n\
Message-ID: <{}@team.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n",
        subject.replace(' ', "-")
    );
    for (name, ct, bytes) in files {
        m.push_str(&format!(
            "--b\r\nContent-Type: {ct}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    m.push_str("--b--\r\n");
    m
}

/// A mail with `n` small attachments.
pub fn many_parts(n: usize) -> String {
    let mut m = String::from(
        "From: sam@team.example\r\nSubject: Many parts\r\nMessage-ID: <many@team.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n\
--p\r\nContent-Type: text/plain\r\n\r\nthousands of parts\r\n",
    );
    for i in 0..n {
        m.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"f{i}.txt\"\r\n\r\npart{i}\r\n"
        ));
    }
    m.push_str("--p--\r\n");
    m
}

/// A mail whose only attachment sits `levels` multiparts deep.
pub fn deeply_nested(levels: usize) -> String {
    let mut m = String::from(
        "From: sam@team.example\r\nSubject: Deep\r\nMessage-ID: <deep@team.example>\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..levels {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"d{i}\"\r\n\r\n--d{i}\r\n"
        ));
    }
    m.push_str("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"deep.txt\"\r\n\r\nat the bottom\r\n");
    for i in (0..levels).rev() {
        m.push_str(&format!("--d{i}--\r\n"));
    }
    m
}

/// A mail that carries a message that carries a message… `levels` deep.
pub fn nested_messages(levels: usize) -> String {
    let mut m = String::from(
        "From: sam@team.example\r\nSubject: Russian dolls\r\nMessage-ID: <dolls@team.example>\r\n",
    );
    for _ in 0..levels {
        m.push_str(
            "Content-Type: message/rfc822\r\n\r\nFrom: doll@client.example\r\nSubject: inner\r\n",
        );
    }
    m.push_str("\r\nthe smallest doll\r\n");
    m
}
