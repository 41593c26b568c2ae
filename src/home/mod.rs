//! Partner homes: the on-disk tree of each user (`homes/<user>/` = the inbox, with `out/`,
//! `done/` and `error/` inside) and the jail that turns a path from the wire into a real path
//! inside one home and nowhere else. Nothing outside this module joins a client's path onto a
//! real folder.

mod jail;
mod tree;
mod virtual_path;

pub use jail::{Home, HomeError};
pub use tree::{HomeTree, TreeError};
pub use virtual_path::{PathError, VirtualPath};

/// The folders every home has, which the partner may use but not delete or rename.
pub const RESERVED_FOLDERS: [&str; 3] = [OUT, DONE, ERROR];
/// Files published for the partner to fetch.
pub const OUT: &str = "out";
/// Files processed and accepted.
pub const DONE: &str = "done";
/// Files processed and rejected, each with its report.
pub const ERROR: &str = "error";
