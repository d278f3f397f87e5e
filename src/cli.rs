//! Command line: `dossier [serve]`, `user add`, `card create`, `reindex`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::{self, Storage};
use crate::config::Config;
use crate::domain::ApiToken;
use crate::http::cards::{clean_title, fresh_code, CardView};
use crate::import;
use crate::search::{IndexWriterTask, SearchIndex};

#[derive(Debug, Parser)]
#[command(name = "dossier", version, about = "Email-ingest and archive gateway")]
pub struct Cli {
    /// Configuration file, layered over the built-in defaults and under DOSSIER_* variables.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMTP listener, the HTTP server and the ingest worker (the default).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage cards.
    #[command(subcommand)]
    Card(CardCommand),
    /// Rebuild the search index from the store (stop the server first).
    Reindex,
    /// Import .eml files, mbox files and Maildir folders.
    #[command(group = clap::ArgGroup::new("target").required(true).args(["card", "route"]))]
    Import {
        /// Put every message on this card.
        #[arg(long)]
        card: Option<i64>,
        /// Route each message by the archive addresses in its headers.
        #[arg(long)]
        route: bool,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Write a card's mail, with the original bytes, as an mbox file.
    Export {
        #[arg(long)]
        card: i64,
        #[arg(long, value_name = "FILE.mbox")]
        out: PathBuf,
    },
    /// Internal: the text of one file on stdin, run by the gateway itself in
    /// a child process under memory and time limits.
    #[command(hide = true)]
    Extract {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        max_input_bytes: u64,
        #[arg(long)]
        max_text_bytes: usize,
        #[arg(long)]
        max_unzipped_bytes: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints its new API token as the last line.
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Create a card; prints it as JSON, with its archive address.
    Create { title: String },
}

/// The whole program: the extraction child runs without a runtime (its
/// address space is limited); everything else on tokio.
pub fn main(cli: Cli) -> std::process::ExitCode {
    if let Some(Command::Extract {
        kind,
        max_input_bytes,
        max_text_bytes,
        max_unzipped_bytes,
    }) = &cli.command
    {
        let Some(kind) = crate::extract::Kind::parse(kind) else {
            eprintln!("unknown kind {kind:?}");
            return std::process::ExitCode::from(2);
        };
        let code = crate::extract::run_child(crate::extract::ChildArgs {
            kind,
            max_input_bytes: *max_input_bytes,
            max_text_bytes: *max_text_bytes,
            max_unzipped_bytes: *max_unzipped_bytes,
        });
        return std::process::ExitCode::from(code as u8);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Extract { .. } => anyhow::bail!("extract runs only as the gateway's child"),
        Command::Serve => serve(config).await,
        Command::User(UserCommand::Add { email, name, admin }) => {
            let email = email.trim();
            if !looks_like_email(email) {
                anyhow::bail!("{email:?} is not an email address");
            }
            let storage = Storage::open(&config).await?;
            let token = ApiToken::generate();
            let user = storage
                .store
                .create_user(email, name.as_deref(), admin, &token.hash())
                .await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "created user {} <{}>{}",
                user.id,
                user.email,
                if admin { " (admin)" } else { "" }
            )?;
            writeln!(out, "{}", token.expose())?;
            Ok(())
        }
        Command::Card(CardCommand::Create { title }) => {
            let title = clean_title(&title).map_err(|e| anyhow::anyhow!(e))?;
            let storage = Storage::open(&config).await?;
            let code = fresh_code(&storage.store).await?;
            let card = storage
                .store
                .create_card(
                    &title,
                    None,
                    code.as_str(),
                    config.cards.default_visibility.as_str(),
                )
                .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&CardView::new(card, &config.archive.domain))?
            );
            Ok(())
        }
        Command::Reindex => reindex(config).await,
        Command::Import {
            card,
            route: _,
            quiet,
            paths,
        } => {
            let target = card.map_or(import::Target::Route, import::Target::Card);
            let s = import::run(&config, target, &paths, !quiet).await?;
            println!(
                "imported {}, duplicates {}, failed {}",
                s.imported,
                s.duplicates,
                s.failed.len()
            );
            for (what, why) in &s.failed {
                println!("  failed: {what}: {why}");
            }
            Ok(())
        }
        Command::Export { card, out } => {
            let storage = Storage::open(&config).await?;
            storage
                .store
                .card(card)
                .await
                .map_err(|_| anyhow::anyhow!("card {card} does not exist"))?;
            let messages = storage.store.card_messages(card).await?;
            let spool = storage.spool.clone();
            let path = out.clone();
            let n = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
                let mut w = std::io::BufWriter::new(private_file(&path)?);
                crate::export::write_mbox(&spool, &messages, &mut w)
            })
            .await??;
            println!("exported {n} messages to {}", out.display());
            Ok(())
        }
    }
}

/// A file only its owner may read (an export holds private mail and lands
/// outside the 0700 data directory), even if it existed with another mode.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

fn looks_like_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') || d == "localhost")
        && !s.contains(char::is_whitespace)
        && s.len() <= 254
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = app::start(config).await?;
    let stop = shutdown_signal();
    tokio::select! {
        _ = stop => {
            tracing::info!("shutting down: finishing in-flight messages");
            running.shutdown().await;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Rebuilds the index from the store. A fresh index is built in place, so an
/// index from an older schema is replaced too.
async fn reindex(config: Config) -> anyhow::Result<()> {
    let storage = Storage::open(&config).await?;
    let index = match SearchIndex::open(&config.index.dir) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "existing index unusable; recreating it");
            SearchIndex::recreate(&config.index.dir)?
        }
    };
    let (handle, task) = IndexWriterTask::spawn(&index, config.index.writer_memory_bytes)?;
    let started = std::time::Instant::now();
    let done = crate::search::rebuild(
        &storage.store,
        &handle,
        &config.index.dir,
        1000,
        None,
        |done, total| {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            eprint!("\rreindexed {done}/{total} entries ({rate:.0}/s)");
        },
    )
    .await?;
    drop(handle);
    tokio::task::spawn_blocking(move || task.join()).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "\rreindexed {done} entries in {secs:.1}s ({:.0} entries/s)",
        done as f64 / secs.max(1e-3)
    );
    Ok(())
}
