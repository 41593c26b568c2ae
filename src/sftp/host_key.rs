//! The server's SSH host key: ed25519, generated once into the data dir and reused on every
//! start, because partners pin it and a silent change would lock them out (or teach them to
//! ignore the warning).

use std::path::{Path, PathBuf};

use rand::RngCore as _;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

/// The host key's file name in the data dir.
pub const FILE_NAME: &str = "ssh_host_ed25519_key";

/// Why the host key can't be had.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The key file exists but can't be read or parsed.
    #[error("cannot read the SSH host key {path}: {reason}")]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file holds another kind of key.
    #[error("the SSH host key {0} is not an ed25519 key")]
    NotEd25519(PathBuf),
    /// A new key can't be written.
    #[error("cannot write the SSH host key {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A new key can't be encoded.
    #[error("cannot encode a new SSH host key: {0}")]
    Encode(String),
}

/// Loads `<data_dir>/ssh_host_ed25519_key`, or makes it (mode 0600, written to a temporary name
/// and renamed, so a crash never leaves half a key) together with its `.pub`.
///
/// # Errors
/// [`HostKeyError`] when an existing key can't be used or a new one can't be written.
pub fn load_or_create(data_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    let path = data_dir.join(FILE_NAME);
    if path.exists() {
        let key = PrivateKey::read_openssh_file(&path).map_err(|e| HostKeyError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(HostKeyError::NotEd25519(path));
        }
        tracing::info!(fingerprint = %key.public_key().fingerprint(HashAlg::Sha256), "SSH host key loaded");
        return Ok(key);
    }
    let write_err = |source| HostKeyError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(write_err)?;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| HostKeyError::Encode(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| HostKeyError::Encode(e.to_string()))?;
    crate::key_file::replace(&path, text.as_bytes(), 0o600).map_err(write_err)?;
    let pub_path = data_dir.join(format!("{FILE_NAME}.pub"));
    crate::key_file::replace(&pub_path, format!("{public}\n").as_bytes(), 0o644)
        .map_err(write_err)?;
    tracing::info!(fingerprint = %key.public_key().fingerprint(HashAlg::Sha256), "SSH host key generated");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key().key_data(), again.public_key().key_data());
        let public = std::fs::read_to_string(dir.path().join("ssh_host_ed25519_key.pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
    }

    #[test]
    fn another_kind_of_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "not a key").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(HostKeyError::Unreadable { .. })
        ));
    }
}
