//! Finding files in the inboxes that did not come with an in-process arrival (an admin's copy,
//! another node's upload, a lost event): `notify` watches on each home's top folder and on the
//! homes folder (for new homes), and a scan of every inbox.
//!
//! Only files directly in a home's top are the inbox: sub-folders (`out/`, `done/`, `error/`,
//! anything a partner makes) are never watched, and hidden or temporary names are never
//! reported. A file closed after writing or renamed into place is reported [`Seen::Complete`];
//! any other change is [`Seen::Changed`] and must settle before it is read. This module knows
//! folders and events, not the ledger or the parsers.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::UnboundedSender;

use crate::parse::is_temporary_name;

/// Something the watcher noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A file written and closed, or renamed into an inbox: complete.
    Complete {
        /// The home's user.
        user: String,
        /// The file's name.
        name: String,
    },
    /// A file created or changed: read it once its size and mtime settle.
    Changed {
        /// The home's user.
        user: String,
        /// The file's name.
        name: String,
    },
    /// A new home appeared.
    NewHome(String),
    /// Events were lost (an overflow): scan everything.
    Rescan,
}

/// The `notify` watches on the homes.
pub struct HomeWatcher {
    watcher: RecommendedWatcher,
    homes: PathBuf,
    watched: HashSet<String>,
}

impl std::fmt::Debug for HomeWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeWatcher")
            .field("homes", &self.homes)
            .field("watched", &self.watched.len())
            .finish()
    }
}

impl HomeWatcher {
    /// Watches the homes folder `homes`; what is seen goes to `seen`. Homes are added with
    /// [`HomeWatcher::watch_home`].
    ///
    /// # Errors
    /// [`notify::Error`] when the platform's watcher can't be made or the folder watched.
    pub fn start(homes: &Path, seen: UnboundedSender<Seen>) -> notify::Result<HomeWatcher> {
        let root = homes.to_path_buf();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let found = match event {
                    Ok(event) => classify(&root, &event),
                    Err(_) => vec![Seen::Rescan],
                };
                for item in found {
                    // The receiver is gone only when the processor stopped.
                    let _ = seen.send(item);
                }
            })?;
        watcher.watch(homes, RecursiveMode::NonRecursive)?;
        Ok(HomeWatcher {
            watcher,
            homes: homes.to_path_buf(),
            watched: HashSet::new(),
        })
    }

    /// Watches `user`'s inbox (its top folder only), once.
    ///
    /// # Errors
    /// [`notify::Error`] when the folder can't be watched.
    pub fn watch_home(&mut self, user: &str) -> notify::Result<()> {
        if self.watched.contains(user) {
            return Ok(());
        }
        self.watcher
            .watch(&self.homes.join(user), RecursiveMode::NonRecursive)?;
        self.watched.insert(user.to_owned());
        Ok(())
    }

    /// Forgets a home whose watch failed or that was removed, so it is watched again when it
    /// comes back.
    pub fn forget_home(&mut self, user: &str) {
        if self.watched.remove(user) {
            let _ = self.watcher.unwatch(&self.homes.join(user));
        }
    }
}

/// The homes under `homes` (folders with a plain name; hidden ones are homes being made or
/// removed).
///
/// # Errors
/// [`io::Error`] when the folder can't be listed.
pub fn list_homes(homes: &Path) -> io::Result<Vec<String>> {
    let mut users = Vec::new();
    for entry in std::fs::read_dir(homes)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            if !name.starts_with('.') {
                users.push(name.to_owned());
            }
        }
    }
    users.sort();
    Ok(users)
}

/// The files directly in `user`'s inbox that the inbox would process (plain files, not hidden,
/// not temporary upload names).
///
/// # Errors
/// [`io::Error`] when the folder can't be listed.
pub fn list_inbox(homes: &Path, user: &str) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(homes.join(user))? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            if !is_temporary_name(name) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// What an event means for the inboxes under `homes`.
fn classify(homes: &Path, event: &notify::Event) -> Vec<Seen> {
    if event.need_rescan() {
        return vec![Seen::Rescan];
    }
    let complete = matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To))
    );
    let paths: &[PathBuf] = match event.kind {
        EventKind::Remove(_) | EventKind::Access(_) if !complete => return Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => return Vec::new(),
        // A rename inside one watched folder: the first path is the old name.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            event.paths.get(1..).unwrap_or(&[])
        }
        _ => &event.paths,
    };
    let renamed_in = matches!(
        event.kind,
        EventKind::Modify(ModifyKind::Name(RenameMode::Both))
    );
    let mut seen = Vec::new();
    for path in paths {
        let Some(parent) = path.parent() else {
            continue;
        };
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if parent == homes {
            let appeared = matches!(event.kind, EventKind::Create(_)) || renamed_in || complete;
            if appeared && !name.starts_with('.') {
                seen.push(Seen::NewHome(name.to_owned()));
            }
            continue;
        }
        if parent.parent() != Some(homes) || is_temporary_name(name) {
            continue;
        }
        let Some(user) = parent.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if user.starts_with('.') {
            continue;
        }
        let (user, name) = (user.to_owned(), name.to_owned());
        seen.push(if complete || renamed_in {
            Seen::Complete { user, name }
        } else {
            Seen::Changed { user, name }
        });
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::CreateKind;

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut event = notify::Event::new(kind);
        for p in paths {
            event = event.add_path(PathBuf::from(p));
        }
        event
    }

    #[test]
    fn only_files_in_a_home_top_are_seen() {
        let homes = Path::new("/d/homes");
        let close = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(
            classify(homes, &event(close, &["/d/homes/alice/a.csv"])),
            vec![Seen::Complete {
                user: "alice".into(),
                name: "a.csv".into()
            }]
        );
        assert!(classify(homes, &event(close, &["/d/homes/alice/done/a.csv"])).is_empty());
        assert!(classify(homes, &event(close, &["/d/homes/alice/.a.csv.x.part"])).is_empty());
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(
            classify(
                homes,
                &event(both, &["/d/homes/bob/.b.csv.1.part", "/d/homes/bob/b.csv"])
            ),
            vec![Seen::Complete {
                user: "bob".into(),
                name: "b.csv".into()
            }]
        );
        let create = EventKind::Create(CreateKind::File);
        assert_eq!(
            classify(homes, &event(create, &["/d/homes/bob/c.xml"])),
            vec![Seen::Changed {
                user: "bob".into(),
                name: "c.xml".into()
            }]
        );
        let folder = EventKind::Create(CreateKind::Folder);
        assert_eq!(
            classify(homes, &event(folder, &["/d/homes/carol"])),
            vec![Seen::NewHome("carol".into())]
        );
        assert!(classify(homes, &event(folder, &["/d/homes/.new-carol-1"])).is_empty());
    }
}
