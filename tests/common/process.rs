//! The real `dossier` binary as a child process, for CLI, signal and crash tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn dossier(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dossier"));
    cmd.current_dir(dir)
        .env("DOSSIER_STORAGE__DATA_DIR", dir.join("data"))
        .env("DOSSIER_INDEX__DIR", dir.join("index"))
        .env("DOSSIER_INDEX__WRITER_MEMORY_BYTES", "20000000")
        .env("DOSSIER_ARCHIVE__TEAM_DOMAINS", "[\"team.example\"]")
        .env("DOSSIER_AUTH__DNS_SERVERS", super::OFFLINE_DNS)
        .env("DOSSIER_AUTH__DNS_TIMEOUT_MS", "200")
        .env("RUST_LOG", "info");
    cmd
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run dossier");
    assert!(
        out.status.success(),
        "dossier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct ServerProcess {
    pub child: Child,
    pub http: SocketAddr,
    pub smtp: SocketAddr,
    pub log: PathBuf,
}

impl ServerProcess {
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[], None).await
    }

    /// With extra `DOSSIER_*` variables, and optionally a limit on its
    /// address space (bytes), as a small VPS or a container would set.
    pub async fn start_with(dir: &Path, env: &[(&str, &str)], address_space: Option<u64>) -> Self {
        use std::os::unix::process::CommandExt;
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let smtp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = dir.join(format!("server-{}.log", http.port()));
        let mut cmd = dossier(dir);
        cmd.envs(env.iter().copied());
        if let Some(limit) = address_space {
            // Few malloc arenas, or their reservations alone fill the space.
            cmd.env("MALLOC_ARENA_MAX", "2");
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .env("DOSSIER_HTTP__LISTEN", http.to_string())
            .env("DOSSIER_SMTP__LISTEN", smtp.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn dossier");
        let server = ServerProcess {
            child,
            http,
            smtp,
            log,
        };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = client.get(format!("http://{http}/healthz")).send().await {
                if r.status() == 200 {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "server did not come up: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
    }

    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Waits (at most `limit`) for the process to end on its own.
    pub async fn exited(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET an API path of a server process with a token; the JSON answer.
pub async fn api_get(http: SocketAddr, token: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{http}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
