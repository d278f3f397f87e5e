//! A real Dovecot IMAP server for tests: Debian's `dovecot-imapd`, started as a child process
//! with its own config, Maildir, sockets and log in a temp dir, on a free loopback port.
//!
//! Self-contained (std, libc, tempfile, tokio, async-imap) so any test crate can `mod` it in.
//! As root, Dovecot refuses to run login processes or touch mail as root, so logins run as
//! `dovenull` (or `nobody`) and mail is owned by `nobody`; as another user, everything runs as
//! that user. The whole process group is SIGKILLed on `kill()` and on drop.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_imap::types::Flag;
use futures_util::TryStreamExt;

pub const DOVECOT_BIN: &str = "/usr/sbin/dovecot";
pub const USER: &str = "archive";
pub const PASSWORD: &str = "secret";

#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Replaces the post-login CAPABILITY list (e.g. to hide MOVE or IDLE).
    pub imap_capability: Option<String>,
    /// Also serve TLS: STARTTLS on the plain port and implicit TLS on `tls_port()`, with a
    /// fresh self-signed certificate for `localhost` / 127.0.0.1 (see `cert_path()`).
    pub tls: bool,
    /// Also sign in with OAuth2 bearer tokens through Dovecot's `oauth2` passdb, which POSTs
    /// each token to this RFC 7662 introspection URL (`active`, `username`).
    pub oauth2_introspection_url: Option<String>,
    /// The SASL mechanisms offered for tokens (default "xoauth2 oauthbearer").
    pub oauth2_mechanisms: Option<String>,
}

/// A message as stored on the server.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub uid: u32,
    /// `\Seen`, `\Deleted`, keywords like `$Archived`; `\Recent` is left out.
    pub flags: Vec<String>,
    pub raw: Vec<u8>,
}

impl StoredMessage {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// Who Dovecot's processes and mail files run as.
struct Users {
    internal: String,
    internal_group: String,
    login: String,
    mail_uid: u32,
    mail_gid: u32,
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Self::start_with(DovecotOptions::default())
    }

    pub fn start_with(opts: DovecotOptions) -> Dovecot {
        assert!(
            Path::new(DOVECOT_BIN).exists(),
            "{DOVECOT_BIN} not found: these tests need a real Dovecot \
             (apt-get install -y dovecot-imapd)"
        );
        let dir = tempfile::Builder::new()
            .prefix("dovecot-test-")
            .tempdir()
            .expect("temp dir");
        // Unprivileged Dovecot processes must be able to traverse into it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let users = Users::detect();
        let mail = dir.path().join("mail");
        fs::create_dir_all(&mail).unwrap();
        std::os::unix::fs::chown(&mail, Some(users.mail_uid), Some(users.mail_gid)).unwrap();
        fs::write(
            dir.path().join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}\n"),
        )
        .unwrap();

        if opts.tls {
            make_cert(dir.path());
        }
        let mut d = Dovecot {
            dir,
            port: 0,
            tls_port: None,
            child: None,
        };
        // A port picked here can be taken by someone else before Dovecot binds it: retry.
        for _ in 0..5 {
            d.port = free_port();
            d.tls_port = opts.tls.then(free_port);
            write_config(d.dir.path(), d.port, d.tls_port, &users, &opts);
            match d.spawn_and_wait() {
                Ok(()) => return d,
                Err(e) if e.contains("Address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not find a free port for Dovecot");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS port, when started with `tls: true`. It also listens on 127.0.0.2,
    /// an address the certificate does not name, to test verification failures.
    pub fn tls_port(&self) -> u16 {
        self.tls_port.expect("Dovecot started without tls")
    }

    /// PEM certificate the TLS listeners present; trust it to connect.
    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// SIGKILL the whole Dovecot process group (master, login, imap, auth...).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on a process group we created; no memory is involved.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// Kill (if running) and start again on the same port with the same mail.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // Killed children may hold the listening socket for a moment.
                Err(e) if e.contains("Address already in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Makes `folder` get a new UIDVALIDITY with its messages kept (renumbered), the way a
    /// server restore or migration does. Restarts the server; clients must reconnect.
    pub fn reset_uidvalidity(&mut self, folder: &str) {
        self.kill();
        let root = self.dir.path().join("mail").join(USER);
        let folder_dir = if folder.eq_ignore_ascii_case("INBOX") {
            root.clone()
        } else {
            root.join(format!(".{}", folder.replace('/', ".")))
        };
        let mut doomed = vec![folder_dir.join("dovecot-uidlist")];
        for (dir, prefix) in [
            (&folder_dir, "dovecot.index"),
            (&root, "dovecot.list.index"),
        ] {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                if entry.file_name().to_string_lossy().starts_with(prefix) {
                    doomed.push(entry.path());
                }
            }
        }
        for path in doomed {
            let _ = fs::remove_file(path);
        }
        // Dovecot derives a new UIDVALIDITY from the clock in seconds: one made
        // within the same second as the old one would be equal, and nothing
        // would change for the client.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        self.restart();
    }

    /// Appends `raw` to `folder` (created first unless INBOX) over IMAP.
    pub async fn append(&self, folder: &str, raw: &[u8]) {
        let mut session = self.login().await;
        if !folder.eq_ignore_ascii_case("INBOX") {
            let _ = session.create(folder).await;
        }
        session
            .append(folder, None, None, raw)
            .await
            .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}"));
        let _ = session.logout().await;
    }

    pub async fn create_folder(&self, folder: &str) {
        let mut session = self.login().await;
        session.create(folder).await.expect("CREATE");
        let _ = session.logout().await;
    }

    /// What is in `folder` now, by UID; empty if the folder does not exist.
    pub async fn messages(&self, folder: &str) -> Vec<StoredMessage> {
        let mut session = self.login().await;
        let mbox = match session.examine(folder).await {
            Ok(m) => m,
            Err(async_imap::error::Error::No(_)) => return Vec::new(),
            Err(e) => panic!("EXAMINE {folder}: {e}"),
        };
        let mut out = Vec::new();
        if mbox.exists > 0 {
            let fetches: Vec<_> = session
                .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                .await
                .expect("UID FETCH")
                .try_collect()
                .await
                .expect("UID FETCH responses");
            for f in &fetches {
                let (Some(uid), Some(raw)) = (f.uid, f.body()) else {
                    continue;
                };
                let flags = f.flags().filter_map(flag_name).collect();
                out.push(StoredMessage {
                    uid,
                    flags,
                    raw: raw.to_vec(),
                });
            }
        }
        out.sort_by_key(|m| m.uid);
        let _ = session.logout().await;
        out
    }

    pub async fn uid_validity(&self, folder: &str) -> u32 {
        let mut session = self.login().await;
        let mbox = session.examine(folder).await.expect("EXAMINE");
        let _ = session.logout().await;
        mbox.uid_validity.expect("UIDVALIDITY")
    }

    /// The post-login CAPABILITY list, upper-cased.
    pub async fn capabilities(&self) -> Vec<String> {
        let mut session = self.login().await;
        let caps = session.capabilities().await.expect("CAPABILITY");
        let _ = session.logout().await;
        caps.iter()
            .filter_map(|c| match c {
                async_imap::types::Capability::Atom(a) => Some(a.to_ascii_uppercase()),
                _ => None,
            })
            .collect()
    }

    /// A logged-in async-imap session for checks the helpers above do not cover.
    pub async fn login(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to test Dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("LOGIN to test Dovecot")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        // A SIGKILLed master leaves its pid file; a zombie with that pid would block startup.
        let _ = fs::remove_file(dir.join("run").join("master.pid"));
        let out = fs::File::create(dir.join("stdout.log")).unwrap();
        let child = Command::new(DOVECOT_BIN)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // Own process group, so kill() reaches every Dovecot process and nothing else.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawning {DOVECOT_BIN}: {e}"))?;
        self.child = Some(child);

        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let stdout = fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
                return Err(format!(
                    "dovecot exited ({status}) during startup.\nstdout/stderr:\n{stdout}\nlog:\n{}",
                    self.log()
                ));
            }
            if greets(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "dovecot did not start within 15s; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Users {
    fn detect() -> Users {
        // SAFETY: plain getters without arguments.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let entries: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect()).collect();
        let by_name = |name: &str| {
            entries
                .iter()
                .find(|e| e.len() > 3 && e[0] == name)
                .map(|e| (e[2].parse::<u32>().unwrap(), e[3].parse::<u32>().unwrap()))
        };
        if euid == 0 {
            let login = if by_name("dovenull").is_some() {
                "dovenull"
            } else {
                "nobody"
            };
            let (mail_uid, mail_gid) = by_name("nobody").unwrap_or((65534, 65534));
            Users {
                internal: "root".into(),
                internal_group: "root".into(),
                login: login.into(),
                mail_uid,
                mail_gid,
            }
        } else {
            let me = entries
                .iter()
                .find(|e| e.len() > 2 && e[2].parse::<u32>().ok() == Some(euid))
                .map(|e| e[0].to_string())
                .or_else(|| std::env::var("USER").ok())
                .expect("cannot find the current user's name for Dovecot");
            let group = fs::read_to_string("/etc/group")
                .unwrap_or_default()
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|e| e.len() > 2 && e[2].parse::<u32>().ok() == Some(egid))
                .map(|e| e[0].to_string())
                .unwrap_or_else(|| me.clone());
            Users {
                internal: me.clone(),
                internal_group: group,
                login: me,
                mail_uid: euid,
                mail_gid: egid,
            }
        }
    }
}

fn write_config(
    dir: &Path,
    port: u16,
    tls_port: Option<u16>,
    users: &Users,
    opts: &DovecotOptions,
) {
    let d = dir.display();
    let ssl = match tls_port {
        None => "ssl = no".to_string(),
        Some(_) => {
            let dh = Path::new("/usr/share/dovecot/dh.pem");
            let dh = if dh.exists() {
                format!("ssl_dh = <{}", dh.display())
            } else {
                String::new()
            };
            format!("ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\n{dh}")
        }
    };
    let capability = opts
        .imap_capability
        .as_ref()
        .map(|c| format!("imap_capability = {c}\n"))
        .unwrap_or_default();
    let (oauth2_mechanisms, oauth2_passdb) = match &opts.oauth2_introspection_url {
        None => (String::new(), String::new()),
        Some(url) => {
            let mechanisms = opts
                .oauth2_mechanisms
                .clone()
                .unwrap_or_else(|| "xoauth2 oauthbearer".into());
            // The answer's `username` must be the user signing in; `active` must be true.
            let ext = format!(
                "introspection_mode = post\nintrospection_url = {url}\n\
                 username_attribute = username\nactive_attribute = active\n\
                 active_value = true\nforce_introspection = yes\ntimeout_msecs = 5000\n"
            );
            fs::write(dir.join("dovecot-oauth2.conf.ext"), ext).unwrap();
            let passdb = format!(
                "passdb {{\n  driver = oauth2\n  mechanisms = {mechanisms}\n  args = {d}/dovecot-oauth2.conf.ext\n}}\n"
            );
            (mechanisms, passdb)
        }
    };
    let conf = format!(
        r#"# Generated by the test harness.
instance_name = dovecot-test-{port}
base_dir = {d}/run
state_dir = {d}/state
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login {oauth2_mechanisms}
auth_failure_delay = 0
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
mail_location = maildir:{d}/mail/%u
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
  mechanisms = plain login
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1, 127.0.0.2
    port = {imaps}
  }}
}}
"#,
        internal = users.internal,
        internal_group = users.internal_group,
        login = users.login,
        imaps = tls_port.unwrap_or(0),
        uid = users.mail_uid,
        gid = users.mail_gid,
    );
    fs::write(dir.join("dovecot.conf"), conf).unwrap();
}

/// Self-signed leaf certificate (not a CA: rustls rejects CA certs as server certs).
fn make_cert(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("running openssl (Debian package openssl, a dependency of dovecot-core)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True once something on `port` sends an IMAP greeting.
fn greets(port: u16) -> bool {
    let Ok(mut s) = StdTcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 256];
    let ok = matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"* OK"));
    let _ = s.write_all(b"x LOGOUT\r\n");
    ok
}

fn flag_name(f: Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => return None,
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.into_owned(),
    })
}

/// A short RFC 5322 message with a unique Message-ID.
pub fn test_message(subject: &str) -> Vec<u8> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "From: Client <client@example.org>\r\n\
         To: Sales <sales@company.example>\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <{n}.{}@test.example.org>\r\n\
         \r\n\
         Body of {subject}.\r\n",
        std::process::id()
    )
    .into_bytes()
}
