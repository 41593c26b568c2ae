//! Uploads whose end can't be told from a cut. On a plain FTP data connection a file ends when
//! the connection closes, so a client killed mid-upload looks exactly like one that finished
//! (TLS, SFTP and HTTP say where the data ends; plain FTP does not). The account's
//! [`InboxFtpPlain`] policy decides what such an upload may be, when it starts:
//! - `accept`: anything, as on the other channels;
//! - `require-rename`: into the inbox only under a temporary name (one the inbox never
//!   processes: hidden, or ending in `.part`, `.filepart` or `.tmp`, as lftp's and WinSCP's
//!   temporary-name uploads use), so only the client's rename after a complete transfer makes
//!   it an order file; a final name there is refused before any byte is stored;
//! - `refuse`: every upload over such a connection, anywhere in the home (an upload into a
//!   sub-folder renamed into the inbox would otherwise go round the rule); downloads still work.
//!
//! Whatever the policy and the channel, an upload whose client announced its size beforehand
//! (FTP `ALLO`) is discarded at its end when the bytes received differ.
//!
//! The channel says only what it knows of the transfer ([`Ending`]); this module knows no
//! protocol.

use super::{FileError, PartnerFiles};
use crate::arrivals::is_temporary_name;
use crate::home::VirtualPath;
use crate::users::InboxFtpPlain;

/// What the channel knows about how an upload ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ending {
    /// Only the connection's close ends the upload (plain FTP data), so a cut looks like an end.
    pub unverified: bool,
    /// The number of bytes the client announced it would send, if it did (FTP `ALLO`).
    pub announced: Option<u64>,
}

impl Ending {
    /// An upload whose channel tells a complete transfer from a cut one, with no announced size.
    pub fn verified() -> Self {
        Self::default()
    }
}

impl PartnerFiles {
    /// Whether an upload to `path` that ends as `ending` may start.
    pub(super) fn admit_upload(&self, path: &VirtualPath, ending: Ending) -> Result<(), FileError> {
        if !ending.unverified {
            return Ok(());
        }
        let refusal = match self.0.inbox_ftp_plain {
            InboxFtpPlain::Accept => return Ok(()),
            InboxFtpPlain::Refuse => FileError::PlainRefused,
            InboxFtpPlain::RequireRename => {
                let temporary = path.file_name().is_some_and(is_temporary_name);
                if !path.is_in_inbox() || temporary {
                    return Ok(());
                }
                FileError::TemporaryNameRequired
            }
        };
        tracing::warn!(partner = %self.partner(), file = %path, policy = %self.0.inbox_ftp_plain, "upload over a connection without a verifiable end refused");
        Err(refusal)
    }
}

/// Checks the bytes an upload received against the size announced for it, if any.
pub(super) fn check_announced(ending: Ending, received: u64) -> Result<(), FileError> {
    match ending.announced {
        Some(announced) if announced != received => Err(FileError::SizeMismatch {
            announced,
            received,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_size_must_match() {
        let announced = Ending {
            unverified: true,
            announced: Some(10),
        };
        assert!(check_announced(announced, 10).is_ok());
        assert!(matches!(
            check_announced(announced, 7),
            Err(FileError::SizeMismatch {
                announced: 10,
                received: 7
            })
        ));
        assert!(check_announced(Ending::verified(), 7).is_ok());
    }
}
