//! The blocking file-system work behind the SFTP requests: opening files for reading or as
//! uploads, listing folders, reading at an offset, applying attributes within bounds. Every
//! function here takes real paths that already came through the home jail; none parses a wire
//! path. Called through [`blocking`], off the async threads.

use std::fs::{File, FileTimes, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{FileExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use russh_sftp::protocol::{File as Entry, FileAttributes, OpenFlags};
use russh_sftp::server::StatusReply;

use super::handles::{Open, Reading};
use super::status::{failure, from_io, no_such_file};
use super::upload::{StartMode, Upload, UploadError};
use crate::home::VirtualPath;

/// Runs blocking file-system work off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StatusReply> + Send + 'static,
) -> Result<T, StatusReply> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| failure("operation failed"))?
}

pub fn upload_error(e: UploadError) -> StatusReply {
    match e {
        UploadError::TooLarge => failure("file too large"),
        UploadError::Incomplete => failure("upload incomplete; file discarded"),
        UploadError::Io(e) => from_io(e),
    }
}

/// Attributes as the client sees them: no server user or group ids.
pub fn attrs_of(meta: &Metadata) -> FileAttributes {
    let mut attrs = FileAttributes::from(meta);
    attrs.uid = None;
    attrs.gid = None;
    attrs
}

/// The permission bits a client may set: never setuid, setgid or sticky, never writable by
/// others than the owner, and always usable by the server itself.
pub fn bounded_mode(requested: u32, dir: bool) -> u32 {
    if dir {
        (requested & 0o755) | 0o700
    } else {
        (requested & 0o644) | 0o600
    }
}

/// Applies permission bits and times to an open file or folder (size is handled by the caller).
pub fn apply_attrs(file: &File, attrs: &FileAttributes) -> Result<(), StatusReply> {
    let dir = file.metadata().map_err(from_io)?.is_dir();
    if let Some(mode) = attrs.permissions {
        file.set_permissions(Permissions::from_mode(bounded_mode(mode, dir)))
            .map_err(from_io)?;
    }
    if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
        let at = |secs: u32| UNIX_EPOCH + Duration::from_secs(u64::from(secs));
        let times = FileTimes::new()
            .set_accessed(at(atime))
            .set_modified(at(mtime));
        file.set_times(times).map_err(from_io)?;
    }
    Ok(())
}

pub fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let at = offset.saturating_add(filled as u64);
        match file.read_at(&mut buf[filled..], at) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Opens a file for OPEN: read-only, or as an upload.
pub fn open_file(
    path: VirtualPath,
    real: PathBuf,
    flags: OpenFlags,
    attrs: &FileAttributes,
    limit: Option<u64>,
) -> Result<Open, StatusReply> {
    let existing = match std::fs::metadata(&real) {
        Ok(meta) => Some(meta),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => None,
        Err(e) => return Err(from_io(e)),
    };
    if existing.as_ref().is_some_and(Metadata::is_dir) {
        return Err(failure("is a folder"));
    }
    let writing = flags
        .intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE);
    if !writing {
        return match existing {
            Some(meta) => Ok(Open::Read(Reading::new(
                File::open(&real).map_err(from_io)?,
                path,
                meta.len(),
            ))),
            None => Err(no_such_file()),
        };
    }
    if flags.contains(OpenFlags::EXCLUDE) && existing.is_some() {
        return Err(failure("already exists"));
    }
    if existing.is_none() && !flags.contains(OpenFlags::CREATE) {
        return Err(no_such_file());
    }
    if !real.parent().is_some_and(std::path::Path::is_dir) {
        return Err(no_such_file());
    }
    let mode = StartMode {
        keep_content: existing.is_some() && !flags.contains(OpenFlags::TRUNCATE),
        append: flags.contains(OpenFlags::APPEND),
    };
    let upload = Upload::start(real, path, mode, limit).map_err(upload_error)?;
    if attrs.permissions.is_some() {
        let perms_only = FileAttributes {
            permissions: attrs.permissions,
            ..FileAttributes::empty()
        };
        apply_attrs(upload.file(), &perms_only)?;
    }
    Ok(Open::Write(upload))
}

pub fn list_folder(real: PathBuf, user: String) -> Result<Vec<Entry>, StatusReply> {
    let meta = std::fs::metadata(&real).map_err(from_io)?;
    if !meta.is_dir() {
        return Err(failure("not a folder"));
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&real).map_err(from_io)? {
        let Ok(entry) = entry else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        let mut attrs = attrs_of(&meta);
        attrs.user = Some(user.clone());
        attrs.group = Some(user.clone());
        entries.push(Entry::new(entry.file_name().to_string_lossy(), attrs));
    }
    entries.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(entries)
}

/// Renames `from` to `to` only if `to` does not exist (SFTP v3 RENAME). A file is linked under
/// the new name and then unlinked, as OpenSSH does, so an existing target is refused atomically;
/// a folder (or a file system without hard links) is checked first and then renamed.
pub fn rename_no_replace(from: &Path, to: &Path, is_file: bool) -> Result<(), StatusReply> {
    if is_file {
        match std::fs::hard_link(from, to) {
            Ok(()) => return std::fs::remove_file(from).map_err(from_io),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(failure("already exists"))
            }
            Err(_) => {}
        }
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(failure("already exists"));
    }
    std::fs::rename(from, to).map_err(from_io)
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
