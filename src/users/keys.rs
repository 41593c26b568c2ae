//! SSH public keys of partner accounts: parsing the OpenSSH one-line form (`ssh-ed25519 AAAA...
//! comment`) and computing the SHA256 fingerprint OpenSSH shows (`SHA256:...`), by which a key is
//! named when it is removed.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The key types accepted. DSA (`ssh-dss`) is not: OpenSSH itself dropped it.
const ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Why a line is not an acceptable public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is empty or has no key in it.
    #[error("no public key found (expected a line like `ssh-ed25519 AAAA... comment`)")]
    Empty,
    /// More than one key line: one key is added at a time.
    #[error("the file holds more than one key; add them one at a time")]
    Several,
    /// The key type is unknown or refused.
    #[error("unsupported key type {0:?}; use ssh-ed25519, ecdsa-sha2-* or ssh-rsa")]
    Algorithm(String),
    /// The base64 part is not valid, or does not hold a key of the stated type.
    #[error("the key data is damaged: {0}")]
    Malformed(&'static str),
    /// A private key was given instead of a public one.
    #[error("this is a private key; give the public key (the .pub file)")]
    Private,
}

/// A parsed public key, in the canonical form `TYPE BASE64 [COMMENT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    // Invariant: `algorithm` is in ALGORITHMS and equals the type named inside `blob`.
    algorithm: String,
    blob: Vec<u8>,
    comment: String,
}

impl PublicKey {
    /// Parses one OpenSSH public-key line (the content of a `.pub` file). Blank lines and `#`
    /// comments around it are ignored.
    ///
    /// # Errors
    /// [`KeyError`] saying what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if text.contains("PRIVATE KEY") {
            return Err(KeyError::Private);
        }
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let line = lines.next().ok_or(KeyError::Empty)?;
        if lines.next().is_some() {
            return Err(KeyError::Several);
        }
        let mut parts = line.split_whitespace();
        let algorithm = parts.next().ok_or(KeyError::Empty)?;
        if !ALGORITHMS.contains(&algorithm) {
            return Err(KeyError::Algorithm(algorithm.chars().take(40).collect()));
        }
        let data = parts
            .next()
            .ok_or(KeyError::Malformed("the base64 part is missing"))?;
        let blob = STANDARD
            .decode(data)
            .map_err(|_| KeyError::Malformed("not valid base64"))?;
        let inner = read_ssh_string(&blob).ok_or(KeyError::Malformed("no key type inside"))?;
        if inner != algorithm.as_bytes() {
            return Err(KeyError::Malformed(
                "the type inside the key differs from the one in front",
            ));
        }
        if blob.len() < 4 + inner.len() + 16 {
            return Err(KeyError::Malformed("too short to be a key"));
        }
        let comment = parts.collect::<Vec<_>>().join(" ");
        Ok(Self {
            algorithm: algorithm.to_string(),
            blob,
            comment,
        })
    }

    /// The key type, e.g. `ssh-ed25519`.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The key in SSH wire format.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The comment after the key, often `user@host`; may be empty.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The fingerprint as `ssh-keygen -lf` prints it: `SHA256:` and unpadded base64.
    pub fn fingerprint(&self) -> String {
        fingerprint_of_blob(&self.blob)
    }

    /// The one-line OpenSSH form, as stored.
    pub fn to_openssh(&self) -> String {
        let data = STANDARD.encode(&self.blob);
        if self.comment.is_empty() {
            format!("{} {data}", self.algorithm)
        } else {
            format!("{} {data} {}", self.algorithm, self.comment)
        }
    }
}

/// The `SHA256:` fingerprint of a key given in SSH wire format.
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

fn read_ssh_string(data: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    data.get(4..4usize.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `ssh-keygen -t ed25519 -C test@example`; its fingerprint from `ssh-keygen -lf`.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKzTs/vll4hWUms0+zrEAFEYkLCAumkTGriSiS3SD9CI test@example";

    #[test]
    fn parses_and_fingerprints_like_ssh_keygen() {
        let key = PublicKey::parse(&format!("# my key\n{ED25519}\n")).unwrap();
        assert_eq!(key.algorithm(), "ssh-ed25519");
        assert_eq!(key.comment(), "test@example");
        assert_eq!(key.to_openssh(), ED25519);
        assert_eq!(
            key.fingerprint(),
            "SHA256:MJxKP0iAxtYrWEdWjRa61Zm3ZNyDUsKcI38V0NPxp5Y"
        );
    }

    #[test]
    fn refuses_what_is_not_one_public_key() {
        assert_eq!(PublicKey::parse(""), Err(KeyError::Empty));
        assert_eq!(
            PublicKey::parse(&format!("{ED25519}\n{ED25519}")),
            Err(KeyError::Several)
        );
        assert!(matches!(
            PublicKey::parse("ssh-dss AAAA"),
            Err(KeyError::Algorithm(_))
        ));
        assert!(matches!(
            PublicKey::parse("ssh-ed25519 !!!"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            PublicKey::parse(
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKzTs/vll4hWUms0+zrEAFEYkLCAumkTGriSiS3SD9CI"
            ),
            Err(KeyError::Malformed(_))
        ));
        assert_eq!(
            PublicKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            Err(KeyError::Private)
        );
    }
}
