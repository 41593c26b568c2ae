//! The SFTP v3 file system of one session: russh-sftp's `Handler`, translating each request into
//! a call on the session's partner-file session ([`crate::partner`]), which owns every rule
//! (jail, atomic uploads, reserved folders, no replacing, arrivals, the outbox ledger). What is
//! SFTP's own stays here: open flags, handles, attributes on the wire, the extensions
//! (`posix-rename`, `fsync`, `limits` and `statvfs@openssh.com`), and errors as SFTP status
//! codes (`status`). Cheap to clone, so the request loop runs requests on clones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use russh_sftp::extensions::{
    FsyncExtension, HardlinkExtension, LimitsExtension, Statvfs, StatvfsExtension,
};
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File as Entry, FileAttributes, Handle, Name, OpenFlags, Packet,
    Status, Version,
};
use russh_sftp::server::{Handler, StatusReply};

use super::handles::{Handles, Listing, Open};
use super::status::{self, bad_handle, denied_because, failure, failure_because, ok};
use super::watchdog::Activity;
use crate::home::VirtualPath;
use crate::partner::{Attributes, FileError, Follow, PartnerFiles, UploadMode};

/// The largest READ answered and WRITE accepted, in bytes (announced in `limits@openssh.com`).
pub const MAX_IO_LEN: u32 = 256 * 1024;
/// The largest request packet accepted (a maximal WRITE plus its header).
pub const MAX_PACKET_LEN: u32 = MAX_IO_LEN + 1024;

/// One session's view of its user's home, as an SFTP server.
#[derive(Debug, Clone)]
pub struct Files(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    files: PartnerFiles,
    activity: Arc<Activity>,
    handles: Handles,
}

/// Runs blocking work on an open file off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StatusReply> + Send + 'static,
) -> Result<T, StatusReply> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| failure())?
}

/// Attributes as the client sees them: no server user or group ids.
fn attrs_of(meta: &std::fs::Metadata) -> FileAttributes {
    let mut attrs = FileAttributes::from(meta);
    attrs.uid = None;
    attrs.gid = None;
    attrs
}

/// The attributes a client asks to set, as the core takes them (size is handled apart).
fn wanted(attrs: &FileAttributes) -> Attributes {
    let at = |secs: u32| UNIX_EPOCH + Duration::from_secs(u64::from(secs));
    Attributes {
        mode: attrs.permissions,
        times: match (attrs.atime, attrs.mtime) {
            (Some(a), Some(m)) => Some((at(a), at(m))),
            _ => None,
        },
    }
}

impl Files {
    /// The SFTP file system over the partner-file session `files`.
    pub fn new(files: PartnerFiles, activity: Arc<Activity>) -> Self {
        Self(Arc::new(Inner {
            files,
            activity,
            handles: Handles::default(),
        }))
    }

    fn core(&self) -> &PartnerFiles {
        &self.0.files
    }

    fn open_handle(&self, handle: &str) -> Result<Arc<Open>, StatusReply> {
        self.0.handles.get(handle).ok_or_else(bad_handle)
    }

    fn insert(&self, open: Open) -> Result<String, StatusReply> {
        self.0
            .handles
            .insert(open)
            .ok_or_else(|| failure_because("too many open files"))
    }

    /// OPEN of a file for writing: the SFTP flags as an upload mode.
    async fn open_upload(
        &self,
        filename: &str,
        pflags: OpenFlags,
        attrs: &FileAttributes,
    ) -> Result<Open, StatusReply> {
        let exists = match self.core().stat(filename, Follow::Links).await {
            Ok(meta) if meta.is_dir() => return Err(failure_because("is a folder")),
            Ok(_) => true,
            Err(FileError::NotFound) => false,
            Err(e) => return Err(status::from_file(e)),
        };
        if exists && pflags.contains(OpenFlags::EXCLUDE) {
            return Err(status::from_file(FileError::Exists));
        }
        if !exists && !pflags.contains(OpenFlags::CREATE) {
            return Err(status::from_file(FileError::NotFound));
        }
        // An existing file opened without truncation is being continued or patched; truncating
        // an existing file would replace it, which a partner never does.
        let mode = if exists && !pflags.contains(OpenFlags::TRUNCATE) {
            UploadMode::Extend {
                append: pflags.contains(OpenFlags::APPEND),
            }
        } else {
            UploadMode::New
        };
        let upload = self
            .core()
            .begin_upload(filename, mode)
            .await
            .map_err(status::from_file)?;
        if attrs.permissions.is_some() {
            let perms_only = Attributes {
                mode: attrs.permissions,
                times: None,
            };
            upload
                .set_attributes(&perms_only)
                .map_err(status::from_file)?;
        }
        Ok(Open::Write(upload))
    }

    async fn move_path(&self, from: &str, to: &str) -> Result<(), StatusReply> {
        self.core()
            .rename(from, to)
            .await
            .map_err(status::from_file)
    }
}

impl Handler for Files {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        status::unsupported()
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        let mut version = Version::new();
        for (name, revision) in [
            ("posix-rename@openssh.com", "1"),
            ("fsync@openssh.com", "1"),
            ("limits@openssh.com", "1"),
            ("statvfs@openssh.com", "2"),
        ] {
            version
                .extensions
                .insert(name.to_string(), revision.to_string());
        }
        Ok(version)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let writing = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        let open = if writing {
            self.open_upload(&filename, pflags, &attrs).await?
        } else {
            let download = self
                .core()
                .open_read(&filename, 0)
                .await
                .map_err(status::from_file)?;
            Open::Read(download)
        };
        let handle = self.insert(open)?;
        self.0.activity.file_opened();
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let open = self.0.handles.remove(&handle).ok_or_else(bad_handle)?;
        if matches!(*open, Open::Dir(_)) {
            return Ok(ok(id));
        }
        self.0.activity.file_closed();
        blocking(move || match &*open {
            Open::Write(upload) => upload.commit().map(|_| ()).map_err(status::from_file),
            // A download records itself when its last reference goes.
            Open::Read(_) | Open::Dir(_) => Ok(()),
        })
        .await?;
        Ok(ok(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let open = self.open_handle(&handle)?;
        let len = len.min(MAX_IO_LEN) as usize;
        let data = blocking(move || match &*open {
            Open::Read(download) => download.read_at(offset, len).map_err(status::from_file),
            Open::Write(upload) => upload.read_at(offset, len).map_err(status::from_file),
            Open::Dir(_) => Err(failure_because("not a file handle")),
        })
        .await?;
        if data.is_empty() {
            return Err(status::eof());
        }
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let open = self.open_handle(&handle)?;
        blocking(move || match &*open {
            Open::Write(upload) => upload.write_at(offset, &data).map_err(status::from_file),
            Open::Read(_) | Open::Dir(_) => Err(denied_because("the file is not open for writing")),
        })
        .await?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let meta = self
            .core()
            .stat(&path, Follow::NoLinks)
            .await
            .map_err(status::from_file)?;
        Ok(Attrs {
            id,
            attrs: attrs_of(&meta),
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let meta = self
            .core()
            .stat(&path, Follow::Links)
            .await
            .map_err(status::from_file)?;
        Ok(Attrs {
            id,
            attrs: attrs_of(&meta),
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let open = self.open_handle(&handle)?;
        let meta = blocking(move || match &*open {
            Open::Read(download) => download.file().metadata().map_err(status::from_io),
            Open::Write(upload) => upload.file().metadata().map_err(status::from_io),
            Open::Dir(_) => Err(failure_because("not a file handle")),
        })
        .await?;
        Ok(Attrs {
            id,
            attrs: attrs_of(&meta),
        })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // A size is a truncate (or extension) in place, which the core allows except on a file
        // the inbox processes.
        if let Some(size) = attrs.size {
            self.core()
                .set_len(&path, size)
                .await
                .map_err(status::from_file)?;
        }
        self.core()
            .set_attributes(&path, wanted(&attrs))
            .await
            .map_err(status::from_file)?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let open = self.open_handle(&handle)?;
        blocking(move || {
            let result = match &*open {
                Open::Write(upload) => attrs
                    .size
                    .map_or(Ok(()), |size| upload.set_len(size))
                    .and_then(|()| upload.set_attributes(&wanted(&attrs))),
                Open::Read(download) if attrs.size.is_none() => {
                    wanted(&attrs).apply(download.file())
                }
                Open::Read(_) => return Err(denied_because("the file is not open for writing")),
                Open::Dir(_) => return Err(failure_because("not a file handle")),
            };
            result.map_err(status::from_file)
        })
        .await?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let entries = self.core().list(&path).await.map_err(status::from_file)?;
        let user = &self.core().partner().user;
        let entries = entries
            .into_iter()
            .map(|entry| {
                let mut attrs = attrs_of(&entry.meta);
                attrs.user = Some(user.clone());
                attrs.group = Some(user.clone());
                Entry::new(entry.name, attrs)
            })
            .collect();
        let handle = self.insert(Open::Dir(Listing::new(entries)))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let open = self.open_handle(&handle)?;
        let Open::Dir(listing) = &*open else {
            return Err(failure_because("not a folder handle"));
        };
        let files = listing.next_page();
        if files.is_empty() {
            return Err(status::eof());
        }
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        self.core()
            .remove_file(&filename)
            .await
            .map_err(status::from_file)?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        self.core()
            .make_dir(&path, attrs.permissions)
            .await
            .map_err(status::from_file)?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        self.core()
            .remove_dir(&path)
            .await
            .map_err(status::from_file)?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = VirtualPath::parse(&path).map_err(|_| failure_because("invalid file name"))?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(path.to_string())],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        self.move_path(&oldpath, &newpath).await?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let target = self
            .core()
            .read_link(&path)
            .await
            .map_err(status::from_file)?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(target)],
        })
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        match self.core().make_link(&linkpath, &targetpath) {
            Ok(()) => Ok(ok(id)),
            Err(e) => Err(status::from_file(e)),
        }
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Self::Error> {
        let malformed = status::bad_message;
        match request.as_str() {
            // Same layout as hardlink@openssh.com: two strings, old path and new path. Like every
            // rename of ours it never replaces the target (OpenSSH's would): a partner moving a
            // file must not lose one.
            "posix-rename@openssh.com" => {
                let paths: HardlinkExtension =
                    russh_sftp::de::from_bytes(&mut Bytes::from(data)).map_err(|_| malformed())?;
                self.move_path(&paths.oldpath, &paths.newpath).await?;
                Ok(Packet::Status(ok(id)))
            }
            "fsync@openssh.com" => {
                let fsync: FsyncExtension =
                    russh_sftp::de::from_bytes(&mut Bytes::from(data)).map_err(|_| malformed())?;
                let open = self.open_handle(&fsync.handle)?;
                blocking(move || match &*open {
                    Open::Write(upload) => upload.sync().map_err(status::from_file),
                    Open::Read(_) => Ok(()),
                    Open::Dir(_) => Err(failure_because("not a file handle")),
                })
                .await?;
                Ok(Packet::Status(ok(id)))
            }
            "statvfs@openssh.com" => {
                let asked: StatvfsExtension =
                    russh_sftp::de::from_bytes(&mut Bytes::from(data)).map_err(|_| malformed())?;
                let space = self
                    .core()
                    .space(&asked.path)
                    .await
                    .map_err(status::from_file)?;
                let statvfs = Statvfs {
                    block_size: space.block_size,
                    fragment_size: space.fragment_size,
                    blocks: space.blocks,
                    blocks_free: space.blocks_free,
                    blocks_avail: space.blocks_available,
                    inodes: space.files,
                    inodes_free: space.files_free,
                    inodes_avail: space.files_available,
                    fs_id: 0,
                    flags: u64::from(space.read_only) | (u64::from(space.no_setuid) << 1),
                    name_max: space.name_max,
                };
                let data = russh_sftp::ser::to_bytes(&statvfs)
                    .map_err(|_| failure())?
                    .to_vec();
                Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
            }
            "limits@openssh.com" => {
                let limits = LimitsExtension {
                    max_packet_len: u64::from(MAX_PACKET_LEN),
                    max_read_len: u64::from(MAX_IO_LEN),
                    max_write_len: u64::from(MAX_IO_LEN),
                    max_open_handles: super::handles::MAX_OPEN as u64,
                };
                let data = russh_sftp::ser::to_bytes(&limits)
                    .map_err(|_| failure())?
                    .to_vec();
                Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
            }
            _ => Err(self.unimplemented()),
        }
    }
}
