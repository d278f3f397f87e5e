//! mbox in the mboxrd flavour: `From ` separator lines, and body lines matching
//! `>*From ` get one more `>` on write and one less on read, so a message
//! round-trips byte for byte (one that lacks a final newline gains one).

use std::io::{self, BufRead, Write};

/// Writes one message. `from` is the envelope sender (`MAILER-DAEMON` if empty),
/// `date` an asctime-style date for the separator line.
pub fn write_message(out: &mut impl Write, from: &str, date: &str, raw: &[u8]) -> io::Result<()> {
    let from = if from.trim().is_empty() || from.contains(char::is_whitespace) {
        "MAILER-DAEMON"
    } else {
        from
    };
    writeln!(out, "From {from} {date}")?;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if is_from_line(line.trim_ascii_start_matches_gt()) {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    if !raw.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    // The blank line that separates messages.
    out.write_all(b"\n")
}

trait TrimGt {
    fn trim_ascii_start_matches_gt(&self) -> &[u8];
}

impl TrimGt for [u8] {
    fn trim_ascii_start_matches_gt(&self) -> &[u8] {
        let n = self.iter().take_while(|&&b| b == b'>').count();
        &self[n..]
    }
}

fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// Reads messages from an mbox stream one at a time.
pub struct Reader<R> {
    input: R,
    pending_separator: bool,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader {
            input,
            pending_separator: false,
            done: false,
        }
    }

    /// The next message, or None at the end.
    pub fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut msg = Vec::new();
        let mut line = Vec::new();
        if !self.pending_separator {
            // Skip to the first separator.
            loop {
                line.clear();
                if self.input.read_until(b'\n', &mut line)? == 0 {
                    self.done = true;
                    return Ok(None);
                }
                if is_from_line(&line) {
                    break;
                }
            }
        }
        self.pending_separator = false;
        loop {
            line.clear();
            if self.input.read_until(b'\n', &mut line)? == 0 {
                self.done = true;
                break;
            }
            if is_from_line(&line) {
                self.pending_separator = true;
                break;
            }
            let body = line.trim_ascii_start_matches_gt();
            if body.len() < line.len() && is_from_line(body) {
                msg.extend_from_slice(&line[1..]);
            } else {
                msg.extend_from_slice(&line);
            }
        }
        // Drop the separating blank line written after each message.
        if msg.ends_with(b"\r\n\n") || msg.ends_with(b"\n\n") {
            msg.pop();
        }
        Ok(Some(msg))
    }
}

/// True when the bytes look like the start of an mbox file.
pub fn looks_like_mbox(head: &[u8]) -> bool {
    head.starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_byte_for_byte() {
        let msgs: Vec<&[u8]> = vec![
            b"Subject: a\r\n\r\nFrom the start\r\n>From quoted\r\nend\r\n",
            b"Subject: b\n\nno trailing newline",
            b"Subject: c\n\n\n\nblank lines\n\n",
        ];
        let mut out = Vec::new();
        for m in &msgs {
            write_message(&mut out, "a@b.example", "Mon Jun  2 15:04:05 2025", m).unwrap();
        }
        let mut r = Reader::new(&out[..]);
        let mut back = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            back.push(m);
        }
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], msgs[0]);
        // A message without a final newline gains one (mbox needs line ends).
        assert_eq!(back[1], b"Subject: b\n\nno trailing newline\n");
        assert_eq!(back[2], msgs[2]);
    }
}
