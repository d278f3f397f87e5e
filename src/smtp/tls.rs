//! The STARTTLS certificate: the configured PEM pair, or a self-signed one
//! generated into the data directory at first start and reused after (as
//! Postfix's snakeoil pair), so STARTTLS is always offered.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

pub const CERT_FILE: &str = "smtp-cert.pem";
pub const KEY_FILE: &str = "smtp-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("smtp.tls_cert and smtp.tls_key must be set together")]
    HalfConfigured,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a usable PEM file: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The rustls server config for STARTTLS. With neither `cert` nor `key`, the
/// pair in `generated_dir` is used, created first if missing (key mode 0600).
pub fn load_or_generate(
    cert: Option<&Path>,
    key: Option<&Path>,
    generated_dir: &Path,
    hostname: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_owned(), k.to_owned()),
        (None, None) => ensure_self_signed(generated_dir, hostname)?,
        _ => return Err(TlsError::HalfConfigured),
    };
    server_config(&cert, &key)
}

/// Loads a PEM certificate chain and private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pem_err = |path: &Path| {
        let path = path.to_owned();
        move |e: rustls::pki_types::pem::Error| match e {
            rustls::pki_types::pem::Error::Io(source) => TlsError::Io { path, source },
            other => TlsError::Pem {
                path,
                detail: other.to_string(),
            },
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(pem_err(cert))?
        .collect::<Result<_, _>>()
        .map_err(pem_err(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_owned(),
            detail: "no CERTIFICATE section".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(pem_err(key))?;
    // Explicit provider: no reliance on a process-wide default being installed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    Ok(Arc::new(config))
}

/// Paths of the generated pair in `dir`, creating it when either file is missing.
fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let signing_key = rcgen::KeyPair::generate()?;
    let generated = params.self_signed(&signing_key)?;
    // Key first: a crash in between leaves no certificate, so the next start
    // generates both again.
    write_new(&key, signing_key.serialize_pem().as_bytes(), 0o600).map_err(io_err(&key))?;
    write_new(&cert, generated.pem().as_bytes(), 0o644).map_err(io_err(&cert))?;
    tracing::info!(cert = %cert.display(), %hostname, "generated a self-signed STARTTLS certificate");
    Ok((cert, key))
}

/// Writes through a temp file renamed into place, created with `mode` (never
/// briefly readable by others), synced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_a_private_key_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        load_or_generate(None, None, &tls, "mx.test").unwrap();
        let key_mode = fs::metadata(tls.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let first = fs::read(tls.join(CERT_FILE)).unwrap();
        load_or_generate(None, None, &tls, "mx.test").unwrap();
        assert_eq!(fs::read(tls.join(CERT_FILE)).unwrap(), first, "reused");
        // The same files given explicitly work too; half a pair is refused.
        let (c, k) = (tls.join(CERT_FILE), tls.join(KEY_FILE));
        load_or_generate(Some(&c), Some(&k), &tls, "x").unwrap();
        assert!(matches!(
            load_or_generate(Some(&c), None, &tls, "x"),
            Err(TlsError::HalfConfigured)
        ));
        assert!(matches!(server_config(&k, &k), Err(TlsError::Pem { .. })));
    }
}
