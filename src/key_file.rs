//! Writing the server's own small secret and certificate files (SSH host key, FTPS certificate
//! and key, the secrets key), staged ([`crate::staging`]): the bytes go to a temporary name
//! beside the file with the final mode, are synced, then take the final name, so a crash never
//! leaves half a key. Replacing renames over the name; `create_new` takes the name only if it is
//! free, so two processes starting at once never replace a key the other already uses.

use std::io::Write as _;
use std::path::Path;

use crate::staging::{Placement, StagedFile};

/// Writes `bytes` as `path` with `mode`, replacing what was there.
///
/// # Errors
/// The I/O error; the temporary file is removed.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write(path, bytes, mode, Placement::Replace)
}

/// Writes `bytes` as `path` with `mode` only if `path` does not exist yet.
///
/// # Errors
/// [`std::io::ErrorKind::AlreadyExists`] when it does (nothing is changed), or the I/O error.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write(path, bytes, mode, Placement::NoReplace)
}

fn write(path: &Path, bytes: &[u8], mode: u32, placement: Placement) -> std::io::Result<()> {
    let staged = StagedFile::create(path, mode)?;
    (&mut staged.file()).write_all(bytes)?;
    staged.place(placement)
}
