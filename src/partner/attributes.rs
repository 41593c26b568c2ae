//! What a partner may change about a file besides its content: permission bits within bounds
//! (never setuid, setgid or sticky, never writable by others, always usable by the server) and
//! its times.

use std::fs::{File, FileTimes, Permissions};
use std::os::unix::fs::PermissionsExt as _;
use std::time::SystemTime;

use super::{blocking, FileError, PartnerFiles};

/// Attributes a partner asks to set; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes {
    /// Permission bits, bounded by [`bounded_mode`].
    pub mode: Option<u32>,
    /// Access and modification time, set together.
    pub times: Option<(SystemTime, SystemTime)>,
}

impl Attributes {
    /// Applies these attributes to an open file or folder. Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn apply(&self, file: &File) -> Result<(), FileError> {
        if let Some(mode) = self.mode {
            let dir = file.metadata()?.is_dir();
            file.set_permissions(Permissions::from_mode(bounded_mode(mode, dir)))?;
        }
        if let Some((accessed, modified)) = self.times {
            file.set_times(
                FileTimes::new()
                    .set_accessed(accessed)
                    .set_modified(modified),
            )?;
        }
        Ok(())
    }
}

/// The permission bits a partner may set: never setuid, setgid or sticky, never writable by
/// others than the owner, and always usable by the server itself.
pub fn bounded_mode(requested: u32, dir: bool) -> u32 {
    if dir {
        (requested & 0o755) | 0o700
    } else {
        (requested & 0o644) | 0o600
    }
}

impl PartnerFiles {
    /// Sets `attributes` on `wire` (following a link inside the home).
    ///
    /// # Errors
    /// [`FileError::NotFound`], or a jail refusal.
    pub async fn set_attributes(
        &self,
        wire: &str,
        attributes: Attributes,
    ) -> Result<(), FileError> {
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || {
            let fd = this.0.home.open_path(&path, rustix::fs::OFlags::RDONLY)?;
            attributes.apply(&File::from(fd))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_bounded() {
        assert_eq!(bounded_mode(0o4777, false), 0o644);
        assert_eq!(bounded_mode(0o000, false), 0o600);
        assert_eq!(bounded_mode(0o2777, true), 0o755);
        assert_eq!(bounded_mode(0o700, true), 0o700);
        assert_eq!(bounded_mode(0o640, false), 0o640);
    }
}
