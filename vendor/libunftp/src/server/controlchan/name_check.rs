//! Names that were not UTF-8 (freightdrop patch, see PATCHES.md). The line parser decodes a
//! path lossily, so a byte that isn't UTF-8 arrives as U+FFFD; a file stored or looked up under
//! that repaired name is one the client can never find again under the name it sent. Such a
//! path is refused with `553` before the command runs, on every command that takes one.

use super::{Reply, ReplyCode, command::Command, source_check};
use crate::auth::UserDetail;
use crate::server::session::SharedSession;
use crate::storage::{Metadata, StorageBackend};

/// The `553` for a command whose path is not (or was not) valid UTF-8, after closing the data
/// connection prepared for it; `None` for any other command.
pub(crate) async fn refusal<Storage, User>(command: &Command, session: &SharedSession<Storage, User>) -> Option<Reply>
where
    Storage: StorageBackend<User> + 'static,
    Storage::Metadata: Metadata,
    User: UserDetail + 'static,
{
    if !not_utf8(command) {
        return None;
    }
    if matches!(
        command,
        Command::Retr { .. } | Command::Stor { .. } | Command::Appe { .. } | Command::List { .. } | Command::Nlst { .. } | Command::Mlsd { .. }
    ) {
        source_check::close_prepared(&mut *session.lock().await);
    }
    Some(Reply::new(ReplyCode::BadFileName, "File name not allowed: not valid UTF-8"))
}

fn not_utf8(command: &Command) -> bool {
    let repaired = |path: &str| path.contains(char::REPLACEMENT_CHARACTER);
    match command {
        Command::Retr { path } | Command::Stor { path } | Command::Appe { path } | Command::Dele { path } | Command::Rmd { path } => repaired(path),
        Command::List { path: Some(path), .. } | Command::Nlst { path: Some(path) } | Command::Mlst { path: Some(path) } | Command::Mlsd { path: Some(path) } => {
            repaired(path)
        }
        Command::Cwd { path: file }
        | Command::Mkd { path: file }
        | Command::Rnfr { file }
        | Command::Rnto { file }
        | Command::Size { file }
        | Command::Mdtm { file }
        | Command::Md5 { file } => file.to_str().is_none_or(repaired),
        Command::Stat { path: Some(bytes) } => std::str::from_utf8(bytes).map_or(true, repaired),
        _ => false,
    }
}
