//! `dossier import`: .eml files, mbox files and Maildir folders through the one
//! ingest entry point. Re-running after an interruption creates no duplicates:
//! messages already on the card are skipped before queuing, and the worker's
//! per-card dedup catches the rest.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

use crate::app::Storage;
use crate::blobs::sha256_hex;
use crate::config::Config;
use crate::domain::Source;
use crate::ingest::{Envelope, Ingest};
use crate::mail::{self, mbox};
use crate::search::{IndexError, IndexWriterTask, SearchIndex};

#[derive(Debug, Clone)]
pub enum Target {
    Card(i64),
    Route,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub imported: u64,
    pub duplicates: u64,
    pub failed: Vec<(String, String)>,
}

/// One message read from an input, with a label saying where it came from.
struct Item {
    label: String,
    raw: Vec<u8>,
    consumed: u64,
}

const IN_FLIGHT: usize = 64;

pub async fn run(
    config: &Config,
    target: Target,
    paths: &[PathBuf],
    progress: bool,
) -> anyhow::Result<Summary> {
    let storage = Storage::open(config).await?;
    let store = storage.store.clone();
    if let Target::Card(id) = target {
        store
            .card(id)
            .await
            .map_err(|_| anyhow::anyhow!("card {id} does not exist"))?;
    }
    let total_bytes: u64 = paths.iter().map(|p| input_size(p)).sum();
    let bar = if progress {
        ProgressBar::new(total_bytes)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ETA {eta}")
            .expect("static template"),
    );

    // Read the inputs on a blocking thread; messages arrive in order.
    let (tx, mut rx) = mpsc::channel::<Result<Item, (String, String)>>(256);
    let inputs = paths.to_vec();
    let max = config.smtp.max_message_bytes;
    let reader = tokio::task::spawn_blocking(move || read_inputs(&inputs, max, &tx));

    let wake = Arc::new(Notify::new());
    let ingest = Ingest::start(
        store.clone(),
        storage.spool.clone(),
        config.archive.domain.clone(),
        wake.clone(),
    );

    // Process here unless a running server holds the index; then it does the work.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut local_worker = start_worker(config, &storage, wake.clone(), stop_rx.clone())?;
    if local_worker.is_none() {
        bar.println("a running dossier holds the index: it will process the imported messages");
    }

    let mut summary = Summary::default();
    let mut queued: Vec<(i64, String)> = Vec::new();
    let mut inflight = JoinSet::new();
    let started = std::time::Instant::now();
    let mut seen = 0u64;
    while let Some(item) = rx.recv().await {
        let item = match item {
            Ok(i) => i,
            Err(failure) => {
                summary.failed.push(failure);
                continue;
            }
        };
        seen += 1;
        bar.set_position(item.consumed);
        bar.set_message(format!(
            "{seen} msgs, {:.0} msg/s",
            seen as f64 / started.elapsed().as_secs_f64().max(1e-3)
        ));
        let cards = match target {
            Target::Card(id) => {
                let key = mail::dedup_key(
                    mail::message_id(&item.raw).as_deref(),
                    &sha256_hex(&item.raw),
                    None,
                );
                if store.has_entry(id, &key).await? {
                    summary.duplicates += 1;
                    continue;
                }
                vec![(id, format!("import:{id}"))]
            }
            Target::Route => ingest.route_by_headers(&item.raw).await?,
        };
        if cards.is_empty() {
            summary
                .failed
                .push((item.label, "no archive address among its recipients".into()));
            continue;
        }
        while inflight.len() >= IN_FLIGHT {
            collect(inflight.join_next().await, &mut queued, &mut summary);
        }
        let ingest = ingest.clone();
        inflight.spawn(async move {
            let env = Envelope {
                peer: "import".into(),
                ..Default::default()
            };
            let r = ingest
                .accept_for(Source::Import, env, item.raw, cards)
                .await;
            (item.label, r.map_err(|e| e.to_string()))
        });
    }
    while let Some(r) = inflight.join_next().await {
        collect(Some(r), &mut queued, &mut summary);
    }
    reader.await??;
    ingest.wake_worker();
    bar.set_message(format!("{seen} read; waiting for processing"));

    // Wait until every queued message is processed, then count outcomes. If a
    // server was doing the work and stops, take the index over.
    for (id, label) in &queued {
        let mut waited = 0u32;
        loop {
            match store.message_state(*id).await?.as_deref() {
                Some("done") => break,
                None => {
                    summary
                        .failed
                        .push((label.clone(), "removed from the queue".into()));
                    break;
                }
                Some("failed") => {
                    summary
                        .failed
                        .push((label.clone(), "could not be processed".into()));
                    break;
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    waited += 1;
                    if local_worker.is_none() && waited.is_multiple_of(100) {
                        local_worker =
                            start_worker(config, &storage, wake.clone(), stop_rx.clone())?;
                    }
                }
            }
        }
        let links = store.message_entries(*id).await?;
        if links.iter().any(|(_, dup)| !dup) {
            summary.imported += 1;
        } else if !links.is_empty() {
            summary.duplicates += 1;
        }
    }
    bar.finish_and_clear();
    let _ = stop_tx.send(true);
    if let Some((run, task)) = local_worker {
        let _ = run.await;
        drop(ingest);
        let _ = tokio::task::spawn_blocking(move || task.join()).await;
    }
    Ok(summary)
}

/// What one accept task returns: the input's label and its queue id or error.
type Accepted = (String, Result<i64, String>);

type LocalWorker = (tokio::task::JoinHandle<()>, IndexWriterTask);

/// Starts a worker in this process, or None when another process (a running
/// server) holds the index writer.
fn start_worker(
    config: &Config,
    storage: &Storage,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<LocalWorker>> {
    let spawned = SearchIndex::open(&config.index.dir)
        .and_then(|i| IndexWriterTask::spawn(&i, config.index.writer_memory_bytes));
    let (handle, task) = match spawned {
        Ok(pair) => pair,
        Err(IndexError::Locked(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Attachment text left pending when the import ends is extracted by the
    // server at its next start.
    let run = crate::app::Workers::build(config, storage, handle).spawn(
        wake,
        Duration::from_millis(200),
        stop,
    );
    Ok(Some((run, task)))
}

fn collect(
    joined: Option<Result<Accepted, tokio::task::JoinError>>,
    queued: &mut Vec<(i64, String)>,
    summary: &mut Summary,
) {
    match joined {
        Some(Ok((label, Ok(id)))) => queued.push((id, label)),
        Some(Ok((label, Err(e)))) => summary.failed.push((label, e)),
        Some(Err(e)) => summary.failed.push(("?".into(), e.to_string())),
        None => {}
    }
}

fn input_size(p: &Path) -> u64 {
    if p.is_dir() {
        maildir_files(p)
            .iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    } else {
        p.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

/// Files of a Maildir (cur/ and new/), or .eml files of a plain directory.
fn maildir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let subdirs: Vec<PathBuf> = if dir.join("cur").is_dir() || dir.join("new").is_dir() {
        vec![dir.join("cur"), dir.join("new")]
    } else {
        vec![dir.to_owned()]
    };
    for d in subdirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

type Sender = mpsc::Sender<Result<Item, (String, String)>>;

fn read_inputs(paths: &[PathBuf], max: usize, tx: &Sender) -> std::io::Result<()> {
    let mut consumed = 0u64;
    let send = |r: Result<Item, (String, String)>| tx.blocking_send(r).is_ok();
    for path in paths {
        let label = path.display().to_string();
        if path.is_dir() {
            for f in maildir_files(path) {
                let fl = f.display().to_string();
                let item = std::fs::read(&f).map_err(|e| (fl.clone(), e.to_string()));
                consumed += f.metadata().map(|m| m.len()).unwrap_or(0);
                if !send(item.and_then(|raw| check(fl, raw, max, consumed))) {
                    return Ok(());
                }
            }
            continue;
        }
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                send(Err((label, e.to_string())));
                continue;
            }
        };
        let mut head = [0u8; 5];
        let n = file.read(&mut head)?;
        let file = std::fs::File::open(path)?;
        if mbox::looks_like_mbox(&head[..n]) {
            let mut reader = mbox::Reader::new(BufReader::new(file));
            let mut i = 0;
            while let Some(raw) = reader.next_message()? {
                i += 1;
                consumed += raw.len() as u64;
                if !send(check(format!("{label} #{i}"), raw, max, consumed)) {
                    return Ok(());
                }
            }
        } else {
            let raw = std::fs::read(path)?;
            consumed += raw.len() as u64;
            if !send(check(label, raw, max, consumed)) {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn check(label: String, raw: Vec<u8>, max: usize, consumed: u64) -> Result<Item, (String, String)> {
    if raw.is_empty() {
        return Err((label, "empty message".into()));
    }
    if raw.len() > max {
        return Err((label, format!("larger than smtp.max_message_bytes ({max})")));
    }
    Ok(Item {
        label,
        raw,
        consumed,
    })
}
