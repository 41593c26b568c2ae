//! Writing the server's own small secret and certificate files (SSH host key, FTPS certificate
//! and key, the secrets key): the bytes go to a temporary name beside the file with the final
//! mode, are synced, then take the final name, so a crash never leaves half a key. Replacing
//! renames over the name; `create_new` links only if the name is free, so two processes
//! starting at once never replace a key the other already uses.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Writes `bytes` as `path` with `mode`, replacing what was there.
///
/// # Errors
/// The I/O error; the temporary file is removed.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write(path, bytes, mode, |tmp, path| std::fs::rename(tmp, path))
}

/// Writes `bytes` as `path` with `mode` only if `path` does not exist yet.
///
/// # Errors
/// [`std::io::ErrorKind::AlreadyExists`] when it does (nothing is changed), or the I/O error.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write(path, bytes, mode, |tmp, path| std::fs::hard_link(tmp, path))
}

fn write(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    place: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        place(&tmp, path)
    })();
    // After a rename there is nothing left here; after a link, or a failure, the temp name goes.
    let _ = std::fs::remove_file(&tmp);
    result
}
