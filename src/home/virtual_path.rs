//! The path a client sees: absolute, `/` being its home, normalised once from what came over the
//! wire. Building one is the only way in; the checks live in that one constructor.

use std::fmt;

use super::RESERVED_FOLDERS;

/// Longest name of one file or folder, in bytes (the common filesystem limit).
const MAX_NAME_BYTES: usize = 255;
/// Longest whole path, in bytes.
const MAX_PATH_BYTES: usize = 4096;

/// Why a client's path is refused before it reaches the disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path holds a NUL byte or another control character.
    #[error("the path holds a control character")]
    ControlCharacter,
    /// The path holds a backslash, which some clients mean as a separator; refused rather than
    /// guessed at.
    #[error("the path holds a backslash; use / between folders")]
    Backslash,
    /// A name or the whole path is too long.
    #[error("the path is too long")]
    TooLong,
}

/// A normalised path inside a home: starts with `/`, no empty, `.` or `..` segments, no control
/// characters or backslashes. `..` at the top stays at the top, as in a chroot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath {
    // Invariant: `segments` are non-empty, not `.` or `..`, free of `/`, `\` and control
    // characters, each at most MAX_NAME_BYTES, together at most MAX_PATH_BYTES.
    segments: Vec<String>,
}

impl VirtualPath {
    /// The home's top, `/`.
    pub fn root() -> Self {
        Self {
            segments: Vec::new(),
        }
    }

    /// Resolves `wire` (absolute, or relative to `cwd`) into a normalised path.
    ///
    /// # Errors
    /// [`PathError`] when the text holds something no file name may hold.
    pub fn resolve(cwd: &VirtualPath, wire: &str) -> Result<Self, PathError> {
        if wire.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        if wire.contains('\\') {
            return Err(PathError::Backslash);
        }
        if wire.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        let mut segments = if wire.starts_with('/') {
            Vec::new()
        } else {
            cwd.segments.clone()
        };
        for part in wire.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                name if name.len() > MAX_NAME_BYTES => return Err(PathError::TooLong),
                name => segments.push(name.to_string()),
            }
        }
        if segments.iter().map(|s| s.len() + 1).sum::<usize>() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        Ok(Self { segments })
    }

    /// Parses an absolute path, as `resolve` from the root.
    ///
    /// # Errors
    /// As [`VirtualPath::resolve`].
    pub fn parse(wire: &str) -> Result<Self, PathError> {
        Self::resolve(&Self::root(), wire)
    }

    /// The names from the top down.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether this is the home's top.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The last name, or `None` for the top.
    pub fn file_name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// The folder holding this path; the top's parent is the top.
    pub fn parent(&self) -> Self {
        let mut segments = self.segments.clone();
        segments.pop();
        Self { segments }
    }

    /// Whether this is one of the folders every home keeps (`/out`, `/done`, `/error`), which
    /// a partner may not delete or rename.
    pub fn is_reserved_folder(&self) -> bool {
        matches!(self.segments.as_slice(), [one] if RESERVED_FOLDERS.contains(&one.as_str()))
    }

    /// Whether this names a file directly in the home's top, that is, in the inbox.
    pub fn is_in_inbox(&self) -> bool {
        self.segments.len() == 1
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cwd: &str, wire: &str) -> Result<String, PathError> {
        let cwd = VirtualPath::parse(cwd).unwrap();
        VirtualPath::resolve(&cwd, wire).map(|p| p.to_string())
    }

    #[test]
    fn dot_dot_never_climbs_above_the_top() {
        assert_eq!(at("/", "..").unwrap(), "/");
        assert_eq!(at("/", "../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(at("/out", "../../../other/x").unwrap(), "/other/x");
        assert_eq!(at("/out", "a/../../b").unwrap(), "/b");
        assert_eq!(at("/", "/../..//./x").unwrap(), "/x");
    }

    #[test]
    fn absolute_paths_start_at_the_home() {
        assert_eq!(at("/done", "/etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(at("/done", "x.csv").unwrap(), "/done/x.csv");
    }

    #[test]
    fn nul_control_characters_and_backslashes_are_refused() {
        assert_eq!(at("/", "a\0b"), Err(PathError::ControlCharacter));
        assert_eq!(at("/", "a\nb"), Err(PathError::ControlCharacter));
        assert_eq!(at("/", "..\\..\\x"), Err(PathError::Backslash));
    }

    #[test]
    fn encoded_dots_are_plain_names() {
        // Percent-encoding is the client's business: here it is a literal (odd) name, inside.
        assert_eq!(at("/", "%2e%2e/%2e%2e/x").unwrap(), "/%2e%2e/%2e%2e/x");
        // A full-width dot or a "one dot leader" is a name, not `..`.
        assert_eq!(
            at("/", "\u{2024}\u{2024}/x").unwrap(),
            "/\u{2024}\u{2024}/x"
        );
    }

    #[test]
    fn length_limits() {
        assert_eq!(at("/", &"a".repeat(256)), Err(PathError::TooLong));
        assert_eq!(at("/", &"a/".repeat(2100)), Err(PathError::TooLong));
        assert!(at("/", &"a".repeat(255)).is_ok());
    }

    #[test]
    fn reserved_folders_and_inbox() {
        assert!(VirtualPath::parse("/out").unwrap().is_reserved_folder());
        assert!(VirtualPath::parse("done/").unwrap().is_reserved_folder());
        assert!(!VirtualPath::parse("/out/x").unwrap().is_reserved_folder());
        assert!(!VirtualPath::parse("/outbox").unwrap().is_reserved_folder());
        assert!(VirtualPath::parse("/a.csv").unwrap().is_in_inbox());
        assert!(!VirtualPath::parse("/out/a.csv").unwrap().is_in_inbox());
        assert!(!VirtualPath::root().is_in_inbox());
    }
}
