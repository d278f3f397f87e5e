//! Wiring: opens storage, starts the SMTP listener, the HTTP server, the ingest
//! worker and the index writer, and shuts them down in order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::blobs::ContentStore;
use crate::config::Config;
use crate::domain::ApiToken;
use crate::erase::Eraser;
use crate::http::{self, AppState, HttpLimits};
use crate::ingest::{Ingest, TextSignals, TextWorker, Worker};
use crate::search::{IndexError, IndexHandle, IndexWriterTask, SearchIndex, Searcher};
use crate::smtp::{self, SmtpConfig};
use crate::sources::{ImapIngest, QuarantineQuota, SmtpIngest};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("finishing interrupted deletions: {0}")]
    Erase(#[from] crate::erase::EraseError),
    #[error("smtp TLS: {0}")]
    Tls(#[from] smtp::TlsError),
}

/// How often unfinished deletion work (a busy WAL, a failed removal) is retried.
const ERASE_RETRY: Duration = Duration::from_secs(30);

/// Everything the storage layer needs, opened once.
pub struct Storage {
    pub store: Store,
    pub spool: ContentStore,
    pub blobs: ContentStore,
}

impl Storage {
    pub async fn open(config: &Config) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.storage.data_dir)?;
        // Archived mail is private: only the service's user may read it.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                &config.storage.data_dir,
                std::fs::Permissions::from_mode(0o700),
            )?;
        }
        Ok(Storage {
            store: Store::open(&config.db_path()).await?,
            spool: ContentStore::open(&config.spool_dir())?,
            blobs: ContentStore::open(&config.blob_dir())?,
        })
    }
}

/// What works off the queue and the stored data, over one index writer:
/// `serve` and `import` build them the same way.
pub struct Workers {
    pub ingest: Worker,
    pub texts: TextWorker,
    pub eraser: Eraser,
}

impl Workers {
    pub fn build(config: &Config, storage: &Storage, index: IndexHandle) -> Self {
        let eraser = Eraser::new(
            storage.store.clone(),
            storage.spool.clone(),
            storage.blobs.clone(),
            index.clone(),
        );
        let signals = TextSignals::default();
        let ingest = Worker {
            store: storage.store.clone(),
            spool: storage.spool.clone(),
            blobs: storage.blobs.clone(),
            index,
            batch_size: config.ingest.batch_size,
            batch_max_bytes: config.ingest.batch_max_bytes,
            max_attempts: config.ingest.max_attempts,
            team_domains: config.archive.team_domains.clone(),
            accept_from: config.archive.accept_from,
            archive_domain: config.archive.domain.clone(),
            eraser: eraser.clone(),
            texts: signals.clone(),
            mime_limits: (&config.ingest).into(),
            sender_check: crate::ingest::auth::SenderCheck::new(config),
        };
        let texts = TextWorker {
            store: storage.store.clone(),
            blobs: storage.blobs.clone(),
            sandbox: crate::extract::Sandbox::from_config(&config.extract),
            eraser: eraser.clone(),
            max_text_per_entry: config.extract.max_text_bytes_per_message,
            signals,
        };
        Workers {
            ingest,
            texts,
            eraser,
        }
    }

    /// Runs both workers until `shutdown`, each restarted if it panics.
    pub fn spawn(
        self,
        wake: Arc<Notify>,
        poll: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let (ingest, texts) = (self.ingest, self.texts);
        let stop = shutdown.clone();
        let a = tokio::spawn(supervise("ingest worker", move || {
            ingest.clone().run(wake.clone(), poll, stop.clone())
        }));
        let b = tokio::spawn(supervise("attachment text worker", move || {
            texts.clone().run(poll, shutdown.clone())
        }));
        tokio::spawn(async move {
            let _ = a.await;
            let _ = b.await;
        })
    }
}

/// Runs the task `make` gives until it ends; if it panics, logs that and
/// starts a new one after a pause (a bug must not stop the gateway's work).
pub async fn supervise<F, Fut>(name: &'static str, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match tokio::spawn(make()).await {
            Err(e) if e.is_panic() => {
                tracing::error!(worker = name, "worker panicked; restarting it");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            _ => return,
        }
    }
}

/// A running gateway. Dropping it does not stop it; call `shutdown`.
pub struct Running {
    pub http_addr: SocketAddr,
    pub smtp_addr: SocketAddr,
    /// Set when this start created the first admin.
    pub admin_token_path: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    tasks: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight work finish, and waits for the end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.tasks.await;
    }

    /// Waits until the gateway stops on its own (it doesn't, short of shutdown).
    pub async fn wait(self) {
        let _ = self.tasks.await;
    }

    pub fn trigger_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// On first start with no users: create an admin and write its token to
/// `<data_dir>/admin-token` (mode 0600). The token itself is never logged.
pub async fn bootstrap_admin(
    store: &Store,
    config: &Config,
) -> Result<Option<PathBuf>, StartError> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let token = ApiToken::generate();
    let email = format!("admin@{}", config.archive.domain);
    store
        .create_user(&email, Some("Administrator"), true, &token.hash())
        .await?;
    let path = config.admin_token_path();
    write_secret(&path, token.expose())?;
    tracing::info!(path = %path.display(), "created the first admin; its API token is in this file");
    Ok(Some(path))
}

fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A pre-existing file keeps its old mode through open(); force 0600.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

/// Starts every component on the configured addresses (port 0 picks a free one).
pub async fn start(config: Config) -> Result<Running, StartError> {
    let storage = Storage::open(&config).await?;
    let admin_token_path = bootstrap_admin(&storage.store, &config).await?;
    let requeued = storage.store.requeue_unindexed().await?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "re-queued messages whose indexing was interrupted"
        );
    }

    let (index, stale) = SearchIndex::open_or_replace(&config.index.dir)?;
    let (index_handle, index_task) =
        IndexWriterTask::spawn(&index, config.index.writer_memory_bytes)?;
    let workers = Workers::build(&config, &storage, index_handle.clone());
    let eraser = workers.eraser.clone();
    let text_signals = workers.texts.signals.clone();
    // Deletions a crash interrupted are finished before anything is served.
    eraser.finish().await?;
    if stale {
        // Serve at once; search fills up as the rebuild goes.
        let (store, handle, eraser) = (storage.store.clone(), index_handle.clone(), eraser.clone());
        let dir = config.index.dir.clone();
        tokio::spawn(async move {
            let done = crate::search::rebuild(
                &store,
                &handle,
                &dir,
                1000,
                Some(eraser.serial()),
                |_, _| {},
            );
            match done.await {
                Ok(n) => tracing::info!(entries = n, "search index rebuilt"),
                Err(e) => {
                    tracing::error!(error = %e, "search index rebuild failed; run `dossier reindex`")
                }
            }
        });
    }
    let smtp_config = Arc::new(smtp_config(&config)?);
    let http_listener = bind(config.http.listen).await?;
    let smtp_listener = bind(config.smtp.listen).await?;
    let http_addr = http_listener.local_addr()?;
    let smtp_addr = smtp_listener.local_addr()?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let ingest = Ingest::start(
        storage.store.clone(),
        storage.spool.clone(),
        config.archive.domain.clone(),
        wake.clone(),
    )
    .with_min_free_bytes(config.storage.min_free_bytes);

    let poll = Duration::from_secs(config.ingest.poll_interval_secs.max(1));
    let retries = tokio::spawn(eraser.clone().run_retries(ERASE_RETRY, shutdown_rx.clone()));
    let worker_task = workers.spawn(wake, poll, shutdown_rx.clone());

    let imap_status: Vec<_> = config
        .imap
        .accounts
        .iter()
        .map(|a| {
            Arc::new(std::sync::Mutex::new(
                crate::imap::AccountStatus::for_account(a),
            ))
        })
        .collect();
    let state = AppState {
        store: storage.store.clone(),
        searcher: Searcher::with_limits(index, (&config.search).into()),
        texts: text_signals,
        text_wait: Duration::from_secs(config.extract.timeout_secs + 2),
        spool: storage.spool.clone(),
        blobs: storage.blobs.clone(),
        archive_domain: config.archive.domain.clone(),
        default_visibility: config.cards.default_visibility,
        ingest: ingest.clone(),
        imap_status: Arc::new(imap_status.clone()),
        index: index_handle,
        eraser,
        statuses: Arc::new(config.cards.statuses.clone()),
        edit_window_minutes: config.history.edit_window_minutes,
        max_document_bytes: config.history.max_document_bytes,
        max_message_bytes: config.smtp.max_message_bytes,
    };
    let limits = HttpLimits {
        max_body_bytes: config.http.max_body_bytes,
        request_timeout: Duration::from_secs(config.http.request_timeout_secs),
        max_message_bytes: config.smtp.max_message_bytes,
        max_document_bytes: config.history.max_document_bytes,
    };
    let router = http::router(state, &limits);
    let http_task = tokio::spawn(http::serve(
        http_listener,
        router,
        signal(shutdown_rx.clone()),
    ));

    let delivery = Arc::new(SmtpIngest {
        ingest: ingest.clone(),
        spool_threshold: config.smtp.spool_threshold_bytes,
        quota: QuarantineQuota {
            max_bytes: config.quarantine.max_bytes,
            accept_from: config.archive.accept_from,
            team_domains: config.archive.team_domains.clone(),
            archive_domain: config.archive.domain.clone(),
        },
    });
    let smtp_task = tokio::spawn(smtp::serve(
        smtp_listener,
        delivery,
        smtp_config,
        signal(shutdown_rx.clone()),
    ));

    // One task per account: a failing mailbox never holds up another.
    let imap_sink = Arc::new(ImapIngest(ingest.clone()));
    let imap_tasks: Vec<_> = config
        .imap
        .accounts
        .iter()
        .zip(&imap_status)
        .map(|(account, status)| {
            tokio::spawn(crate::imap::run_account(
                account.clone(),
                imap_sink.clone(),
                status.clone(),
                shutdown_rx.clone(),
            ))
        })
        .collect();
    drop(imap_sink);

    tracing::info!(%http_addr, %smtp_addr, "dossier is running");
    let tasks = tokio::spawn(async move {
        // Order matters: stop taking mail first, then let the worker finish its
        // batch, and only then close the index (the writer commits on close).
        if let Ok(Err(e)) = smtp_task.await {
            tracing::error!(error = %e, "smtp listener failed");
        }
        for t in imap_tasks {
            let _ = t.await;
        }
        if let Ok(Err(e)) = http_task.await {
            tracing::error!(error = %e, "http server failed");
        }
        let _ = worker_task.await;
        let _ = retries.await;
        let _ = tokio::task::spawn_blocking(move || index_task.join()).await;
        storage.store.close().await;
        tracing::info!("dossier stopped");
    });

    Ok(Running {
        http_addr,
        smtp_addr,
        admin_token_path,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// The listener's settings; loads (or first generates) the STARTTLS certificate.
fn smtp_config(config: &Config) -> Result<SmtpConfig, StartError> {
    let s = &config.smtp;
    let tls = smtp::tls_config(
        s.tls_cert.as_deref(),
        s.tls_key.as_deref(),
        &config.tls_dir(),
        &s.hostname,
    )?;
    Ok(SmtpConfig {
        hostname: s.hostname.clone(),
        max_message_bytes: s.max_message_bytes,
        max_recipients: s.max_recipients,
        max_line_bytes: s.max_line_bytes,
        idle_timeout: Duration::from_secs(s.idle_timeout_secs),
        session_timeout: Duration::from_secs(s.session_timeout_secs),
        min_data_rate: s.min_data_bytes_per_sec,
        max_commands: s.max_commands_per_session,
        max_connections: s.max_connections,
        max_connections_per_ip: s.max_connections_per_ip,
        max_errors: s.max_errors,
        shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
        tls: Some(tls),
        require_tls: s.require_tls,
    })
}

async fn signal(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_worker_that_panics_is_started_again() {
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = starts.clone();
        super::supervise("test worker", move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("a bug in the first run");
                }
            }
        })
        .await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }
}
