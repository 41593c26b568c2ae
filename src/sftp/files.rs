//! The SFTP v3 file system of one session: russh-sftp's `Handler` over the user's home jail.
//! Every path from the wire goes through `Home::resolve`; uploads go through `upload`; the
//! reserved folders (`out/`, `done/`, `error/`) can't be removed or renamed, nor renamed onto;
//! errors leave through `status`. Cheap to clone, so the request loop runs requests on clones.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use russh_sftp::extensions::{FsyncExtension, HardlinkExtension, LimitsExtension};
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File as Entry, FileAttributes, Handle, Name, OpenFlags, Packet,
    Status, StatusCode, Version,
};
use russh_sftp::server::{Handler, StatusReply};

use super::disk::{
    apply_attrs, attrs_of, blocking, bounded_mode, list_folder, open_file, read_at,
    rename_no_replace, upload_error,
};
use super::handles::{Handles, Listing, Open, ReadReport};
use super::status::{self, bad_handle, denied, failure, from_io, ok};
use super::watchdog::Activity;
use crate::arrivals::Arrivals;
use crate::home::{Home, VirtualPath};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::server::Core;
use crate::users::{Protocol, User};

/// The largest READ answered and WRITE accepted, in bytes (announced in `limits@openssh.com`).
pub const MAX_IO_LEN: u32 = 256 * 1024;
/// The largest request packet accepted (a maximal WRITE plus its header).
pub const MAX_PACKET_LEN: u32 = MAX_IO_LEN + 1024;

/// One session's view of its user's home, as an SFTP server.
#[derive(Debug, Clone)]
pub struct Files(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    user: String,
    home: Home,
    limit: Option<u64>,
    arrivals: Arrivals,
    outbox: Outbox,
    metrics: Metrics,
    activity: Arc<Activity>,
    handles: Handles,
}

impl Files {
    /// The file system of `user`'s session in `home`.
    pub fn new(user: &User, home: Home, core: &Core, activity: Arc<Activity>) -> Self {
        Self(Arc::new(Inner {
            user: user.name.clone(),
            home,
            limit: user.max_upload_bytes,
            arrivals: core.arrivals.clone(),
            outbox: core.outbox.clone(),
            metrics: core.metrics.clone(),
            activity,
            handles: Handles::default(),
        }))
    }

    fn resolve(&self, wire: &str) -> Result<(VirtualPath, PathBuf), StatusReply> {
        self.0
            .home
            .resolve(&VirtualPath::root(), wire)
            .map_err(status::from_home)
    }

    fn open_handle(&self, handle: &str) -> Result<Arc<Open>, StatusReply> {
        self.0.handles.get(handle).ok_or_else(bad_handle)
    }

    fn arrived(&self, path: &VirtualPath) {
        self.0
            .arrivals
            .file_complete(&self.0.user, path, Protocol::Sftp);
    }

    /// RENAME (`overwrite` false: the target must not exist, as SFTP v3 says) and
    /// `posix-rename@openssh.com` (`overwrite` true: atomically replaces the target).
    async fn move_path(&self, from: &str, to: &str, overwrite: bool) -> Result<(), StatusReply> {
        let (from_path, from_real) = self.resolve(from)?;
        let (to_path, to_real) = self.resolve(to)?;
        for path in [&from_path, &to_path] {
            if path.is_root() || path.is_reserved_folder() {
                return Err(denied("this folder can't be renamed or replaced"));
            }
        }
        let is_file = blocking(move || {
            let meta = std::fs::symlink_metadata(&from_real).map_err(from_io)?;
            if overwrite {
                std::fs::rename(&from_real, &to_real).map_err(from_io)?;
            } else {
                rename_no_replace(&from_real, &to_real, meta.is_file())?;
            }
            Ok(meta.is_file())
        })
        .await?;
        tracing::info!(user = %self.0.user, from = %from_path, to = %to_path, "renamed");
        self.0.outbox.moved(&self.0.user, &from_path, &to_path);
        if is_file {
            self.arrived(&to_path);
        }
        Ok(())
    }
}

impl Handler for Files {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.with_message("operation not supported")
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
        let (path, real) = self.resolve(&filename)?;
        if path.is_root() {
            return Err(failure("is a folder"));
        }
        let limit = self.0.limit;
        let mut open = blocking(move || open_file(path, real, pflags, &attrs, limit)).await?;
        if let Open::Read(reading) = &mut open {
            reading.report_to(ReadReport {
                user: self.0.user.clone(),
                outbox: self.0.outbox.clone(),
                metrics: self.0.metrics.clone(),
            });
        }
        let handle = self
            .0
            .handles
            .insert(open)
            .ok_or_else(|| failure("too many open files"))?;
        self.0.activity.file_opened();
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let open = self.0.handles.remove(&handle).ok_or_else(bad_handle)?;
        if matches!(*open, Open::Dir(_)) {
            return Ok(ok(id));
        }
        self.0.activity.file_closed();
        let completed = blocking(move || match &*open {
            Open::Write(upload) => upload
                .commit()
                .map(|()| Some(upload.path().clone()))
                .map_err(upload_error),
            // A reading reports itself when its last reference goes.
            Open::Read(_) | Open::Dir(_) => Ok(None),
        })
        .await?;
        if let Some(path) = completed {
            tracing::info!(user = %self.0.user, file = %path, "upload complete");
            self.0.outbox.overwritten(&self.0.user, &path);
            self.arrived(&path);
        }
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
        let data = blocking(move || {
            let file = match &*open {
                Open::Read(reading) => &reading.file,
                Open::Write(upload) => upload.file(),
                Open::Dir(_) => return Err(failure("not a file handle")),
            };
            let data = read_at(file, offset, len).map_err(from_io)?;
            if let Open::Read(reading) = &*open {
                reading.read(offset, data.len());
            }
            Ok(data)
        })
        .await?;
        if data.is_empty() {
            return Err(StatusCode::Eof.with_message("end of file"));
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
        self.0.metrics.bytes_in(Protocol::Sftp, data.len() as u64);
        blocking(move || match &*open {
            Open::Write(upload) => upload.write(offset, &data).map_err(upload_error),
            Open::Read(_) | Open::Dir(_) => Err(denied("the file is not open for writing")),
        })
        .await?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let (_, real) = self.resolve(&path)?;
        let meta = blocking(move || std::fs::symlink_metadata(real).map_err(from_io)).await?;
        Ok(Attrs {
            id,
            attrs: attrs_of(&meta),
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let (_, real) = self.resolve(&path)?;
        let meta = blocking(move || std::fs::metadata(real).map_err(from_io)).await?;
        Ok(Attrs {
            id,
            attrs: attrs_of(&meta),
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let open = self.open_handle(&handle)?;
        let meta = blocking(move || match &*open {
            Open::Read(reading) => reading.file.metadata().map_err(from_io),
            Open::Write(upload) => upload.file().metadata().map_err(from_io),
            Open::Dir(_) => Err(failure("not a file handle")),
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
        if attrs.size.is_some() {
            return Err(denied("only an open upload can change its size"));
        }
        let (_, real) = self.resolve(&path)?;
        blocking(move || {
            let file = File::open(&real).map_err(from_io)?;
            apply_attrs(&file, &attrs)
        })
        .await?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let open = self.open_handle(&handle)?;
        blocking(move || match &*open {
            Open::Write(upload) => {
                if let Some(size) = attrs.size {
                    upload.set_len(size).map_err(upload_error)?;
                }
                apply_attrs(upload.file(), &attrs)
            }
            Open::Read(reading) if attrs.size.is_none() => apply_attrs(&reading.file, &attrs),
            Open::Read(_) => Err(denied("the file is not open for writing")),
            Open::Dir(_) => Err(failure("not a file handle")),
        })
        .await?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let (_, real) = self.resolve(&path)?;
        let user = self.0.user.clone();
        let entries = blocking(move || list_folder(real, user)).await?;
        let handle = self
            .0
            .handles
            .insert(Open::Dir(Listing::new(entries)))
            .ok_or_else(|| failure("too many open files"))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let open = self.open_handle(&handle)?;
        let Open::Dir(listing) = &*open else {
            return Err(failure("not a folder handle"));
        };
        let files = listing.next_page();
        if files.is_empty() {
            return Err(StatusCode::Eof.with_message("end of folder"));
        }
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let (path, real) = self.resolve(&filename)?;
        blocking(move || {
            let meta = std::fs::symlink_metadata(&real).map_err(from_io)?;
            if meta.is_dir() {
                return Err(failure("is a folder"));
            }
            std::fs::remove_file(&real).map_err(from_io)
        })
        .await?;
        tracing::info!(user = %self.0.user, file = %path, "removed");
        self.0.outbox.deleted(&self.0.user, &path);
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let (path, real) = self.resolve(&path)?;
        if path.is_root() {
            return Err(failure("already exists"));
        }
        let mode = bounded_mode(attrs.permissions.unwrap_or(0o755), true);
        blocking(move || {
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(&real)
                .map_err(from_io)
        })
        .await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let (path, real) = self.resolve(&path)?;
        if path.is_root() || path.is_reserved_folder() {
            return Err(denied("this folder can't be removed"));
        }
        blocking(move || std::fs::remove_dir(&real).map_err(from_io)).await?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = VirtualPath::parse(&path).map_err(|_| failure("invalid file name"))?;
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
        self.move_path(&oldpath, &newpath, false).await?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        // The jail has already refused a link that leads out of the home.
        let (_, real) = self.resolve(&path)?;
        let root = self.0.home.root().to_path_buf();
        let target = blocking(move || {
            let meta = std::fs::symlink_metadata(&real).map_err(from_io)?;
            if !meta.file_type().is_symlink() {
                return Err(failure("not a symbolic link"));
            }
            let target = real.canonicalize().map_err(from_io)?;
            let inside = target
                .strip_prefix(&root)
                .map_err(|_| denied("permission denied"))?;
            Ok(format!("/{}", inside.to_string_lossy()))
        })
        .await?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(target)],
        })
    }

    async fn symlink(
        &mut self,
        _id: u32,
        _linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(denied("symbolic links are not allowed"))
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Self::Error> {
        let malformed = || StatusCode::BadMessage.with_message("malformed request");
        match request.as_str() {
            // Same layout as hardlink@openssh.com: two strings, old path and new path.
            "posix-rename@openssh.com" => {
                let paths: HardlinkExtension =
                    russh_sftp::de::from_bytes(&mut Bytes::from(data)).map_err(|_| malformed())?;
                self.move_path(&paths.oldpath, &paths.newpath, true).await?;
                Ok(Packet::Status(ok(id)))
            }
            "fsync@openssh.com" => {
                let fsync: FsyncExtension =
                    russh_sftp::de::from_bytes(&mut Bytes::from(data)).map_err(|_| malformed())?;
                let open = self.open_handle(&fsync.handle)?;
                blocking(move || match &*open {
                    Open::Write(upload) => upload.file().sync_all().map_err(from_io),
                    Open::Read(_) => Ok(()),
                    Open::Dir(_) => Err(failure("not a file handle")),
                })
                .await?;
                Ok(Packet::Status(ok(id)))
            }
            "limits@openssh.com" => {
                let limits = LimitsExtension {
                    max_packet_len: u64::from(MAX_PACKET_LEN),
                    max_read_len: u64::from(MAX_IO_LEN),
                    max_write_len: u64::from(MAX_IO_LEN),
                    max_open_handles: super::handles::MAX_OPEN as u64,
                };
                let data = russh_sftp::ser::to_bytes(&limits)
                    .map_err(|_| failure("operation failed"))?
                    .to_vec();
                Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
            }
            _ => Err(self.unimplemented()),
        }
    }
}
