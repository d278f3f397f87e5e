//! HTML → text on top of mail-parser's converter.
//!
//! `mail_parser::decoders::html::html_to_text` strips tags and decodes
//! entities well, but only `<br>` and `</p>` break lines: `<div>`, `<tr>`,
//! `<hr>`, `<li>` vanish, so Gmail/Apple/OWA bodies and Thunderbird's header
//! table collapse onto one line and header blocks can't be found. We mark
//! block boundaries with a private-use character before handing the HTML to
//! mail-parser and turn the marks into at most one line break afterwards.

/// Soft line break: becomes `\n` only if the current line has content.
const SOFT: char = '\u{E000}';

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "tbody",
    "thead",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "address",
];

pub(crate) fn to_text(html: &str) -> String {
    let marked = mark_blocks(html);
    let raw = mail_parser::decoders::html::html_to_text(&marked);
    tidy(&raw)
}

fn mark_blocks(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt].replace(SOFT, ""));
        rest = &rest[lt..];
        let after = &rest[1..];
        let closing = after.starts_with('/');
        let name_start = &after[usize::from(closing)..];
        let name_len = name_start
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-'))
            .unwrap_or(name_start.len());
        let name = name_start[..name_len].to_ascii_lowercase();
        if BLOCK_TAGS.contains(&name.as_str()) {
            out.push(SOFT);
        } else if name == "td" || name == "th" {
            // Table cells sit side by side: keep label and value apart.
            out.push(' ');
        }
        if closing && name == "p" {
            // mail-parser turns `</p>` into a hard break; ours is soft.
            out.push_str("</x-p");
            rest = &name_start[name_len..];
        } else {
            out.push('<');
            rest = after;
        }
    }
    out.push_str(&rest.replace(SOFT, ""));
    out
}

fn tidy(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending = false;
    let mut line_has_content = false;
    for ch in raw.chars() {
        match ch {
            SOFT => pending = true,
            '\r' | '\u{feff}' | '\u{200b}' => {}
            '\n' => {
                // `<div>text<div><br></div>`: the block break ends the text
                // line, then <br> adds the empty line.
                if pending && line_has_content {
                    trim_line_end(&mut out);
                    out.push('\n');
                }
                trim_line_end(&mut out);
                out.push('\n');
                pending = false;
                line_has_content = false;
            }
            c if c.is_whitespace() && c != '\u{a0}' => {
                if !pending && line_has_content {
                    out.push(' ');
                }
            }
            c => {
                if pending && line_has_content {
                    trim_line_end(&mut out);
                    out.push('\n');
                }
                pending = false;
                // A lone &nbsp; is how Outlook writes an empty paragraph.
                out.push(if c == '\u{a0}' { ' ' } else { c });
                line_has_content = true;
            }
        }
    }
    collapse_blank_lines(&out)
}

fn trim_line_end(out: &mut String) {
    let kept = out.trim_end_matches([' ', '\t']).len();
    out.truncate(kept);
}

/// Trims every line and keeps at most one blank line in a row.
fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blanks = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            blanks += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blanks > 0 { "\n\n" } else { "\n" });
        }
        blanks = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn divs_and_rows_break_lines() {
        assert_eq!(to_text("<div>a</div><div>b</div>"), "a\nb");
        assert_eq!(
            to_text("<table><tr><th>Subject: </th><td>Hi</td></tr><tr><th>From:</th><td>x</td></tr></table>"),
            "Subject: Hi\nFrom: x"
        );
        assert_eq!(to_text("a<hr>b"), "a\nb");
        assert_eq!(
            to_text("<div>a</div><div><br></div><div>b<br></div><div>c</div>"),
            "a\n\nb\nc"
        );
    }

    #[test]
    fn outlook_paragraphs_keep_empty_lines() {
        let html = "<p class=MsoNormal>Hi<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                    <p class=MsoNormal><b>From:</b> A &lt;a@x.example&gt;<br><b>Sent:</b> now</p>";
        assert_eq!(to_text(html), "Hi\n\nFrom: A <a@x.example>\nSent: now");
    }

    #[test]
    fn style_head_and_comments_are_dropped() {
        let html =
            "<html><head><style>p{color:red}</style></head><body><!-- c --><p>x</p></body></html>";
        assert_eq!(to_text(html), "x");
    }

    #[test]
    fn odd_input_does_not_panic() {
        for s in [
            "<",
            "</",
            "<p",
            "</p",
            "<\u{E000}>",
            "é<dív>ü</",
            "&#xFFFFFFFF;",
            "<br",
        ] {
            let _ = to_text(s);
        }
    }
}
