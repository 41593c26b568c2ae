//! The sealing of track & trace API secrets: the 32-byte key file from the configuration (made
//! once, 0600, when it is the default one and missing), AES-256-GCM with a random 96-bit nonce
//! per secret and the API user's name as associated data, and the [`Secret`] type that never
//! shows its content. It knows nothing of the database or of HTTP.

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore as _;

/// The key file's name in the data dir when none is configured.
pub const DEFAULT_FILE_NAME: &str = "secrets.key";

/// Bytes in the key file: one AES-256 key, raw.
pub const KEY_LEN: usize = 32;

const NONCE_LEN: usize = 12;

/// Why the sealing key can't be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A configured key file does not exist (only the default one is made).
    #[error(
        "the secrets key file {0} does not exist: create it with \
         `head -c 32 /dev/urandom > FILE && chmod 600 FILE`, or leave --secrets-key-file unset \
         to have one made in the data dir"
    )]
    Missing(PathBuf),
    /// The key file is not exactly [`KEY_LEN`] bytes.
    #[error("the secrets key file {path} holds {len} bytes; it must hold exactly 32 raw bytes")]
    WrongSize {
        /// The key file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The key file can't be read.
    #[error("cannot read the secrets key file {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A new key file can't be written.
    #[error("cannot write the secrets key file {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why a sealed secret can't be opened (or, never in practice, sealed).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The stored text is not base64 of a nonce and a ciphertext.
    #[error("the sealed secret is malformed")]
    Malformed,
    /// The ciphertext was changed, belongs to another API user or was sealed under another key.
    #[error("the sealed secret does not open with this key and name")]
    Refused,
    /// Encryption failed.
    #[error("the secret could not be sealed")]
    Seal,
}

/// A track & trace API secret. It has no `Debug` or `Display` that shows its content, so it can't
/// end up in a log line by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// A new secret: 32 random bytes as 64 lower-case hex digits, which any shell, language or
    /// URL carries unchanged.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = Self(hex::encode(bytes));
        bytes.fill(0);
        secret
    }

    /// The secret itself, for the signature check and for showing a new one to the operator once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the sealing key comes from: a file, and whether it may be made when missing.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
    create_if_missing: bool,
}

impl KeyFile {
    /// The key file `path`; it is made when missing only if `create_if_missing` (the default
    /// path in the data dir). A configured path that does not exist is an error: making a new
    /// key there would silently orphan every secret sealed under the one the operator meant.
    pub fn new(path: impl Into<PathBuf>, create_if_missing: bool) -> Self {
        Self {
            path: path.into(),
            create_if_missing,
        }
    }

    /// The key file of `config`: made when missing only if it is the default one.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let default = config.data_dir.join(DEFAULT_FILE_NAME);
        let path = config.secrets_key_file.clone();
        let create = path == default;
        Self::new(path, create)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the key, or makes it (32 random bytes, mode 0600, written aside and linked into
    /// place so that two processes starting at once end up with the same key) when allowed.
    ///
    /// # Errors
    /// [`KeyFileError`] when the file is missing and may not be made, has the wrong size, or
    /// can't be read or written.
    pub fn load(&self) -> Result<SealingKey, KeyFileError> {
        match std::fs::metadata(&self.path) {
            Ok(_) => self.read(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.create_if_missing {
                    return Err(KeyFileError::Missing(self.path.clone()));
                }
                self.create()?;
                self.read()
            }
            Err(source) => Err(KeyFileError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn read(&self) -> Result<SealingKey, KeyFileError> {
        let read_err = |source| KeyFileError::Read {
            path: self.path.clone(),
            source,
        };
        let metadata = std::fs::metadata(&self.path).map_err(read_err)?;
        if metadata.len() != KEY_LEN as u64 {
            return Err(KeyFileError::WrongSize {
                path: self.path.clone(),
                len: metadata.len(),
            });
        }
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %self.path.display(),
                "the secrets key file is readable by other users; chmod 600 it"
            );
        }
        let mut bytes = std::fs::read(&self.path).map_err(read_err)?;
        let key = SealingKey::from_slice(&bytes).ok_or_else(|| KeyFileError::WrongSize {
            path: self.path.clone(),
            len: bytes.len() as u64,
        });
        bytes.fill(0);
        key
    }

    fn create(&self) -> Result<(), KeyFileError> {
        let write_err = |source| KeyFileError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let written = crate::key_file::create_new(&self.path, &bytes, 0o600);
        bytes.fill(0);
        match written {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "secrets key generated");
                Ok(())
            }
            // Another process made it first; its key is the one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(write_err(e)),
        }
    }
}

/// The AES-256-GCM key that seals API secrets at rest.
#[derive(Clone)]
pub struct SealingKey {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

impl SealingKey {
    /// The key in `bytes`, if they are [`KEY_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        Aes256Gcm::new_from_slice(bytes)
            .ok()
            .map(|cipher| Self { cipher })
    }

    /// Seals `secret` for the API user `name`: base64 of a random 96-bit nonce followed by the
    /// ciphertext and tag. The name is the associated data, so the sealed text opens only on
    /// that user's row.
    ///
    /// # Errors
    /// [`SealError::Seal`] if the cipher fails (it does not for short inputs).
    pub fn seal(&self, name: &str, secret: &Secret) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(BASE64.encode(sealed))
    }

    /// Opens the text [`seal`](Self::seal) made for the API user `name`.
    ///
    /// # Errors
    /// [`SealError::Malformed`] for text that is not a sealed secret, [`SealError::Refused`] when
    /// it was changed, sealed for another name or under another key.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Secret, SealError> {
        let bytes = BASE64
            .decode(sealed.trim())
            .map_err(|_| SealError::Malformed)?;
        // A nonce, at least one byte of secret and the 16-byte tag.
        if bytes.len() <= NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let plain = self
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SealError::Refused)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::from_slice(&[7u8; KEY_LEN]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_for_its_name() {
        let secret = Secret::generate();
        assert_eq!(secret.expose().len(), 64);
        let sealed = key().seal("shop-api", &secret).unwrap();
        assert!(!sealed.contains(secret.expose()));
        let opened = key().open("shop-api", &sealed).unwrap();
        assert_eq!(opened.expose(), secret.expose());
    }

    #[test]
    fn each_seal_has_its_own_nonce() {
        let secret = Secret::new("same");
        assert_ne!(
            key().seal("a", &secret).unwrap(),
            key().seal("a", &secret).unwrap()
        );
    }

    #[test]
    fn a_tampered_ciphertext_is_refused() {
        let sealed = key().seal("shop-api", &Secret::new("s3cret")).unwrap();
        let mut bytes = BASE64.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = BASE64.encode(&bytes);
        assert!(matches!(
            key().open("shop-api", &tampered),
            Err(SealError::Refused)
        ));
        bytes[last] ^= 1;
        bytes[NONCE_LEN] ^= 0x80;
        assert!(matches!(
            key().open("shop-api", &BASE64.encode(&bytes)),
            Err(SealError::Refused)
        ));
    }

    #[test]
    fn a_secret_moved_to_another_name_is_refused() {
        let sealed = key().seal("shop-api", &Secret::new("s3cret")).unwrap();
        assert!(matches!(
            key().open("other-api", &sealed),
            Err(SealError::Refused)
        ));
    }

    #[test]
    fn another_key_does_not_open_it() {
        let sealed = key().seal("shop-api", &Secret::new("s3cret")).unwrap();
        let other = SealingKey::from_slice(&[8u8; KEY_LEN]).unwrap();
        assert!(matches!(
            other.open("shop-api", &sealed),
            Err(SealError::Refused)
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            key().open("a", "not base64!"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(
            key().open("a", &BASE64.encode([1u8; 20])),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("s3cret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", key()), "SealingKey(***)");
    }

    #[test]
    fn the_default_key_file_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(DEFAULT_FILE_NAME);
        let file = KeyFile::new(&path, true);
        let first = file.load().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), KEY_LEN as u64);
        let sealed = first.seal("a", &Secret::new("x")).unwrap();
        let again = file.load().unwrap();
        assert_eq!(again.open("a", &sealed).unwrap().expose(), "x");
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_configured_key_file_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elsewhere.key");
        let err = KeyFile::new(&path, false).load().unwrap_err();
        assert!(matches!(err, KeyFileError::Missing(_)));
        assert!(err.to_string().contains("elsewhere.key"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        std::fs::write(&path, b"0123456789abcdef0123456789abcdef\n").unwrap();
        let err = KeyFile::new(&path, true).load().unwrap_err();
        assert!(
            matches!(err, KeyFileError::WrongSize { len: 33, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("short.key"), "{err}");
    }
}
