//! The extraction child: `dossier extract --kind K …` reads one file on stdin
//! and writes its text to stdout. It runs under the limits the parent set
//! (`sandbox.rs`) and starts no runtime and no threads, so that its address
//! space is the file, the parser and nothing else.

use std::io::{Read, Write};

use super::{formats, truncate_bytes, Kind};

/// Exit code of a parser that failed cleanly; the reason is on stderr. Not 1
/// (a panic that escaped) or 2 (clap's usage errors).
pub const FAILED: i32 = 3;

/// What the parent passes on the command line.
#[derive(Debug, Clone, Copy)]
pub struct ChildArgs {
    pub kind: Kind,
    pub max_input_bytes: u64,
    pub max_text_bytes: usize,
    pub max_unzipped_bytes: u64,
}

/// Runs the child; returns the process exit code.
pub fn run_child(args: ChildArgs) -> i32 {
    // Our own reason line is what the parent shows, not a panic's backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let mut input = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(args.max_input_bytes + 1)
        .read_to_end(&mut input);
    let result = match read {
        Err(e) => Err(format!("reading the file: {e}")),
        Ok(n) if n as u64 > args.max_input_bytes => Err(format!(
            "size limit (larger than {} bytes)",
            args.max_input_bytes
        )),
        Ok(_) => {
            std::panic::catch_unwind(|| formats::run(args.kind, &input, args.max_unzipped_bytes))
                .unwrap_or_else(|_| Err("the parser crashed on this file".into()))
        }
    };
    match result {
        Ok(mut text) => {
            truncate_bytes(&mut text, args.max_text_bytes);
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Ok(()) => 0,
                Err(_) => FAILED,
            }
        }
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "{}", why.replace('\n', " "));
            FAILED
        }
    }
}
