//! Runs the extraction child (`child.rs`) under hard limits: address space
//! (`RLIMIT_AS`), CPU time, a wall-clock kill, a cap on what it may print, no
//! core dumps, no files written, and death with the gateway. At most
//! `max_concurrent` children run at once.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::child::FAILED;
use super::{Extraction, Kind};

/// What a child may use; from the `[extract]` configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// Files larger than this are not read (`failed: size limit`).
    pub max_input_bytes: u64,
    /// What one zip entry, and all of a file's entries together, may inflate to.
    pub max_unzipped_bytes: u64,
}

/// Where the child reads the file from.
pub enum Input {
    Bytes(Vec<u8>),
    /// An open file (a stored blob): handed over as the child's stdin.
    File(std::fs::File),
}

#[derive(Clone)]
pub struct Sandbox {
    program: PathBuf,
    limits: Limits,
    permits: Arc<Semaphore>,
}

/// Longest stderr read from a child: one reason line.
const MAX_REASON_BYTES: u64 = 2048;

impl Sandbox {
    /// The sandbox `[extract]` describes.
    pub fn from_config(c: &crate::config::ExtractConfig) -> Self {
        let program = if c.program.as_os_str().is_empty() {
            // The running image itself, even if its file was replaced since.
            PathBuf::from("/proc/self/exe")
        } else {
            c.program.clone()
        };
        let limits = Limits {
            memory_bytes: c.memory_bytes,
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            max_input_bytes: c.max_file_bytes,
            max_unzipped_bytes: c.max_unzipped_bytes,
        };
        Sandbox::new(program, limits, c.max_concurrent)
    }

    /// `program` is the dossier binary to run as `program extract …`.
    pub fn new(program: PathBuf, limits: Limits, max_concurrent: usize) -> Self {
        Sandbox {
            program,
            limits,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The text of one attachment, at most `max_text_bytes` of it. Never
    /// fails: every problem becomes `Extraction::Failed` with its reason.
    pub async fn extract(
        &self,
        content_type: &str,
        filename: Option<&str>,
        input: Input,
        max_text_bytes: usize,
    ) -> Extraction {
        let Some(kind) = Kind::of(content_type, filename) else {
            return Extraction::Unsupported;
        };
        if max_text_bytes == 0 {
            return Extraction::Failed("text limit (the message's text budget is used up)".into());
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return Extraction::Failed("extraction is shutting down".into());
        };
        match self.run(kind, input, max_text_bytes).await {
            Ok(e) => e,
            Err(e) => Extraction::Failed(format!("could not run the extractor: {e}")),
        }
    }

    fn command(&self, kind: Kind, max_text_bytes: usize) -> Command {
        let l = &self.limits;
        let mut cmd = Command::new(&self.program);
        cmd.arg("extract")
            .args(["--kind", kind.as_str()])
            .args(["--max-input-bytes", &l.max_input_bytes.to_string()])
            .args(["--max-text-bytes", &max_text_bytes.to_string()])
            .args(["--max-unzipped-bytes", &l.max_unzipped_bytes.to_string()])
            .env_clear()
            // One malloc arena: each extra one reserves 64 MiB of address space.
            .env("MALLOC_ARENA_MAX", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let (memory, cpu) = (l.memory_bytes, l.timeout.as_secs().max(1));
        // SAFETY: only async-signal-safe calls (setrlimit, prctl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                limit(libc::RLIMIT_AS, memory, memory)?;
                // SIGXCPU at the soft limit, SIGKILL a second later.
                limit(libc::RLIMIT_CPU, cpu, cpu + 1)?;
                limit(libc::RLIMIT_CORE, 0, 0)?;
                limit(libc::RLIMIT_FSIZE, 0, 0)?;
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    async fn run(
        &self,
        kind: Kind,
        input: Input,
        max_text_bytes: usize,
    ) -> std::io::Result<Extraction> {
        let mut cmd = self.command(kind, max_text_bytes);
        let bytes = match input {
            Input::File(file) => {
                cmd.stdin(file);
                None
            }
            Input::Bytes(b) => {
                cmd.stdin(Stdio::piped());
                Some(b)
            }
        };
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = child
            .stdout
            .take()
            .expect("piped")
            .take(max_text_bytes as u64 + 1);
        let mut stderr = child.stderr.take().expect("piped").take(MAX_REASON_BYTES);
        let feed = async move {
            if let (Some(mut pipe), Some(bytes)) = (stdin, bytes) {
                // The child may stop reading early (a size limit): not an error here.
                let _ = pipe.write_all(&bytes).await;
            }
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let work = async {
            let (_, o, e) = tokio::join!(
                feed,
                stdout.read_to_end(&mut out),
                stderr.read_to_end(&mut err)
            );
            o?;
            e?;
            child.wait().await
        };
        let status = match tokio::time::timeout(self.limits.timeout, work).await {
            Ok(status) => status?,
            Err(_) => {
                // Nothing of it survives its deadline.
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Ok(Extraction::Failed("time limit".into()));
            }
        };
        Ok(classify(status, out, &err, max_text_bytes))
    }
}

fn limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let l = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a plain syscall on a stack value.
    if unsafe { libc::setrlimit(resource, &l) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Turns how the child ended into the document's status.
fn classify(
    status: std::process::ExitStatus,
    out: Vec<u8>,
    err: &[u8],
    max_text_bytes: usize,
) -> Extraction {
    let reason = String::from_utf8_lossy(err);
    let reason = reason.trim();
    match (status.code(), status.signal()) {
        (Some(0), _) => {
            let mut text = String::from_utf8_lossy(&out).into_owned();
            super::truncate_bytes(&mut text, max_text_bytes);
            Extraction::Text(text)
        }
        (Some(FAILED), _) if !reason.is_empty() => Extraction::Failed(reason.to_owned()),
        // Rust's allocation failure handler prints this before it aborts.
        (_, Some(libc::SIGABRT)) if reason.contains("memory allocation of") => {
            Extraction::Failed("memory limit".into())
        }
        // A parser that recursed without end (a PDF form that draws itself).
        (_, Some(libc::SIGABRT | libc::SIGSEGV)) if reason.contains("overflowed its stack") => {
            Extraction::Failed("stack limit (the file nests without end)".into())
        }
        (_, Some(libc::SIGXCPU | libc::SIGKILL)) => Extraction::Failed("time limit".into()),
        (_, Some(sig)) => Extraction::Failed(format!("the extractor crashed (signal {sig})")),
        (Some(code), _) => Extraction::Failed(format!("the extractor failed (exit code {code})")),
        (None, None) => Extraction::Failed("the extractor failed".into()),
    }
}
