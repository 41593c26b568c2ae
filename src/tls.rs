//! The FTPS certificate: the operator's files, or a self-signed pair generated once into the
//! certs folder on first start and reused on every start after, so clients that pinned it keep
//! working, until it has less than [`RENEW_BEFORE`] left: then it is made anew at start (logged).
//! An operator's own files are never touched.

use std::path::{Path, PathBuf};

pub mod server;

use crate::config::TlsSource;

/// File name of the generated certificate.
pub const SELF_SIGNED_CERT: &str = "freightdrop-cert.pem";
/// File name of the generated key.
pub const SELF_SIGNED_KEY: &str = "freightdrop-key.pem";

/// Why the certificate could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

/// The certificate and key files to use, generating the self-signed pair when that is the source
/// and it does not exist yet.
///
/// # Errors
/// [`CertError`] when a configured file is missing or the pair can't be written.
pub fn ensure(source: &TlsSource) -> Result<(PathBuf, PathBuf), CertError> {
    match source {
        TlsSource::Files { cert, key } => {
            for path in [cert, key] {
                std::fs::metadata(path).map_err(|source| CertError::Io {
                    action: "cannot read",
                    path: path.clone(),
                    source,
                })?;
            }
            Ok((cert.clone(), key.clone()))
        }
        TlsSource::SelfSigned { dir } => {
            let cert = dir.join(SELF_SIGNED_CERT);
            let key = dir.join(SELF_SIGNED_KEY);
            if !(cert.is_file() && key.is_file()) {
                generate(dir, &cert, &key)?;
                tracing::info!(cert = %cert.display(), "generated a self-signed FTPS certificate");
            } else if let Some(left) = due_for_renewal(&cert) {
                generate(dir, &cert, &key)?;
                tracing::warn!(
                    cert = %cert.display(),
                    days_left = left.as_secs() / 86_400,
                    "renewed the self-signed FTPS certificate: it was about to expire"
                );
            }
            Ok((cert, key))
        }
    }
}

/// Describes the certificate `ensure` would use, without generating anything.
///
/// # Errors
/// [`CertError`] when a configured file can't be read.
pub fn check(source: &TlsSource) -> Result<String, CertError> {
    match source {
        TlsSource::Files { .. } => {
            let (cert, _) = ensure(source)?;
            Ok(cert.display().to_string())
        }
        TlsSource::SelfSigned { dir } => {
            let cert = dir.join(SELF_SIGNED_CERT);
            if cert.is_file() {
                Ok(format!("{} (self-signed)", cert.display()))
            } else {
                Ok(format!(
                    "{} (self-signed, generated on first start)",
                    cert.display()
                ))
            }
        }
    }
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        action: "cannot create",
        path: dir.to_path_buf(),
        source,
    })?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = self_signed(names).map_err(|e| CertError::Generate(e.to_string()))?;
    // The key first, so a cert never exists without its key.
    let write = |path: &Path, bytes: &[u8], mode| {
        crate::key_file::replace(path, bytes, mode).map_err(|source| CertError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source,
        })
    };
    write(
        key_path,
        certified.key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    write(cert_path, certified.cert.pem().as_bytes(), 0o644)
}

/// A generated certificate with less than this left is made anew at start.
pub const RENEW_BEFORE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// The time left on the generated certificate at `path` when it is under [`RENEW_BEFORE`]
/// (zero when expired, or when it can't be read as a certificate at all); `None` when it is good.
fn due_for_renewal(path: &Path) -> Option<std::time::Duration> {
    let left = std::fs::read(path).ok().and_then(|pem| {
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
        let cert = pem.parse_x509().ok()?;
        let left = cert.validity().time_to_expiration()?;
        Some(std::time::Duration::try_from(left).unwrap_or_default())
    });
    match left {
        Some(left) if left >= RENEW_BEFORE => None,
        Some(left) => Some(left),
        None => Some(std::time::Duration::ZERO),
    }
}

/// How long a generated certificate is valid: one year from its making.
const SELF_SIGNED_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// A self-signed certificate for `names`, valid from a day ago (clock skew) for
/// [`SELF_SIGNED_VALIDITY`].
fn self_signed(names: Vec<String>) -> Result<rcgen::CertifiedKey, rcgen::Error> {
    self_signed_for(names, SELF_SIGNED_VALIDITY)
}

/// A self-signed certificate for `names`, valid from a day ago for `validity`.
fn self_signed_for(
    names: Vec<String>,
    validity: std::time::Duration,
) -> Result<rcgen::CertifiedKey, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names)?;
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - std::time::Duration::from_secs(86_400);
    params.not_after = now + validity;
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    Ok(rcgen::CertifiedKey { cert, key_pair })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn self_signed_pair_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            dir: dir.path().join("certs"),
        };
        let (cert, key) = ensure(&source).unwrap();
        let first = std::fs::read(&cert).unwrap();
        assert!(String::from_utf8_lossy(&first).contains("BEGIN CERTIFICATE"));
        assert!(std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY"));
        let (cert2, _) = ensure(&source).unwrap();
        assert_eq!(std::fs::read(cert2).unwrap(), first);
    }

    #[test]
    fn self_signed_certificate_is_valid_one_year() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            dir: dir.path().join("certs"),
        };
        let (cert, _) = ensure(&source).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-checkend"])
            .arg((364 * 86_400).to_string())
            .arg("-in")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(out.status.success(), "expires within 364 days");
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-checkend"])
            .arg((366 * 86_400).to_string())
            .arg("-in")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(!out.status.success(), "still valid after 366 days");
    }

    #[test]
    fn a_certificate_near_its_end_is_renewed_at_start_and_a_good_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let source = TlsSource::SelfSigned { dir: certs.clone() };
        let old =
            self_signed_for(vec!["localhost".into()], Duration::from_secs(10 * 86_400)).unwrap();
        std::fs::write(certs.join(SELF_SIGNED_KEY), old.key_pair.serialize_pem()).unwrap();
        std::fs::write(certs.join(SELF_SIGNED_CERT), old.cert.pem()).unwrap();
        assert!(due_for_renewal(&certs.join(SELF_SIGNED_CERT)).is_some());

        let (cert, key) = ensure(&source).unwrap();
        let renewed = std::fs::read_to_string(&cert).unwrap();
        assert_ne!(
            renewed,
            old.cert.pem(),
            "a certificate 10 days from its end is renewed"
        );
        assert_ne!(
            std::fs::read_to_string(&key).unwrap(),
            old.key_pair.serialize_pem()
        );
        assert!(due_for_renewal(&cert).is_none());

        let (cert, _) = ensure(&source).unwrap();
        assert_eq!(
            std::fs::read_to_string(cert).unwrap(),
            renewed,
            "a good one is kept"
        );

        std::fs::write(certs.join(SELF_SIGNED_CERT), "not a certificate").unwrap();
        let (cert, _) = ensure(&source).unwrap();
        assert!(
            due_for_renewal(&cert).is_none(),
            "an unreadable one is made anew"
        );
    }

    #[test]
    fn missing_configured_files_are_named() {
        let source = TlsSource::Files {
            cert: PathBuf::from("/nonexistent/cert.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
        };
        let err = ensure(&source).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
