//! The shape ARCHITECTURE.md promises, checked on the source: frontends never import each other,
//! the backoffice never imports a protocol frontend, and the core imports no frontend at all;
//! only the files that wire the server together name them. A violation is reported with its
//! file, line and the path it names.
//!
//! The check reads `src/**/*.rs` as text: comments and string literals are skipped, `use` trees
//! are expanded (`use crate::{home, sftp::x}`), and paths relative to the file's module
//! (`super::super::sftp`, `self::`) are resolved, inline `mod name { ... }` blocks included.

use std::path::{Path, PathBuf};

/// The frontends: modules directly under `src/` that translate a protocol into core calls.
/// `mail` and `portal` are coming; listing them now means they are checked from their first line.
const FRONTENDS: [&str; 5] = ["ftp", "sftp", "backoffice", "mail", "portal"];

/// The files that wire frontends to the core, and so may name every frontend.
const WIRING: [&str; 3] = ["src/lib.rs", "src/server.rs", "src/cli/serve.rs"];

/// One import a file may not have.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    path: String,
    frontend: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}` names the {} frontend",
            self.file, self.line, self.path, self.frontend
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of Rust source that matter for paths, each with its line; comments, strings and
/// character literals are dropped, lifetimes kept as identifiers.
fn tokens(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let newlines = |from: usize, to: usize| chars[from..to].iter().filter(|c| **c == '\n').count();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let (start, mut depth) = (i, 0);
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += newlines(start, i.min(chars.len()));
        } else if c == 'r' && (next == Some('"') || (next == Some('#') && raw_string_at(&chars, i)))
        {
            // A raw string: r"..." or r#"..."#.
            let start = i;
            i += 1;
            let mut hashes = 0;
            while chars.get(i) == Some(&'#') {
                hashes += 1;
                i += 1;
            }
            i += 1; // the opening quote
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            line += newlines(start, i.min(chars.len()));
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            line += newlines(start, i.min(chars.len()));
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // b"..." and br"...": the prefix is not a path.
            if (word == "b" || word == "br") && chars.get(i) == Some(&'"') {
                continue;
            }
            out.push((Token::Ident(word), line));
        } else if c == ':' && next == Some(':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn raw_string_at(chars: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// The module path of a source file under `src/`: `src/ftp/storage.rs` is `ftp::storage`,
/// `src/ftp/mod.rs` is `ftp`, `src/lib.rs` and `src/main.rs` are the crate root.
fn module_of(file: &str) -> Vec<String> {
    let relative = file.strip_prefix("src/").unwrap_or(file);
    let relative = relative.strip_suffix(".rs").unwrap_or(relative);
    let mut segments: Vec<String> = relative.split('/').map(str::to_owned).collect();
    if matches!(segments.last().map(String::as_str), Some("mod")) {
        segments.pop();
    }
    if segments == ["lib"] || segments == ["main"] {
        segments.clear();
    }
    segments
}

/// The paths a `use` tree names, each as its segments with the line it starts on; `tokens`
/// starts after `use` and ends before `;`.
fn expand_use(tokens: &[(Token, usize)]) -> Vec<(Vec<String>, usize)> {
    fn tree(
        tokens: &[(Token, usize)],
        at: &mut usize,
        prefix: &[String],
        out: &mut Vec<(Vec<String>, usize)>,
    ) {
        let mut path = prefix.to_vec();
        let line = tokens.get(*at).map_or(0, |(_, l)| *l);
        loop {
            match tokens.get(*at) {
                Some((Token::PathSep, _)) => *at += 1,
                Some((Token::Ident(word), _)) if word == "as" => {
                    *at += 2; // the alias
                    break;
                }
                Some((Token::Ident(word), _)) => {
                    path.push(word.clone());
                    *at += 1;
                }
                Some((Token::Punct('*'), _)) => {
                    path.push("*".into());
                    *at += 1;
                    break;
                }
                Some((Token::Punct('{'), _)) => {
                    *at += 1;
                    loop {
                        match tokens.get(*at) {
                            None => return,
                            Some((Token::Punct('}'), _)) => {
                                *at += 1;
                                return;
                            }
                            Some((Token::Punct(','), _)) => *at += 1,
                            Some(_) => tree(tokens, at, &path, out),
                        }
                    }
                }
                _ => break,
            }
        }
        out.push((path, line));
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let before = at;
        tree(tokens, &mut at, &[], &mut out);
        if at == before {
            at += 1;
        }
    }
    out
}

/// `path` as seen from `module`, made absolute (from the crate root); `None` when it is not a
/// path into this crate (another crate, a local name).
fn absolute(path: &[String], module: &[String], crate_root: bool) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    let mut here: Vec<String> = module.to_vec();
    let rest = match first {
        "crate" | "freightdrop" => {
            here.clear();
            &path[1..]
        }
        "self" | "super" => {
            let mut rest = path;
            while let Some(word) = rest.first() {
                match word.as_str() {
                    "self" => {}
                    "super" => {
                        here.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
            rest
        }
        // A bare path in the crate root names the root's own modules.
        _ if crate_root && module.is_empty() => path,
        _ => return None,
    };
    here.extend(rest.iter().cloned());
    Some(here)
}

/// Every import of a frontend in `source` (the text of `file`, a path like `src/ftp/mod.rs`)
/// that the file may not have.
fn violations(file: &str, source: &str) -> Vec<Violation> {
    if WIRING.contains(&file) {
        return Vec::new();
    }
    let file_module = module_of(file);
    let crate_root = file_module.is_empty();
    let own = file_module
        .first()
        .and_then(|top| FRONTENDS.iter().find(|f| *f == top));
    let tokens = tokens(source);
    let mut named: Vec<(Vec<String>, Vec<String>, usize)> = Vec::new(); // (module, path, line)
                                                                        // Inline modules: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let module: Vec<String> = file_module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect();
        match &tokens[i].0 {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Punct('{'), _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|(t, _)| *t == Token::Punct(';'))
                    .map_or(tokens.len(), |p| i + p);
                for (path, line) in expand_use(&tokens[i + 1..end]) {
                    named.push((module.clone(), path, line));
                }
                i = end + 1;
                continue;
            }
            Token::Ident(word) => {
                let starts_path = i == 0 || tokens[i - 1].0 != Token::PathSep;
                let followed = tokens.get(i + 1).map(|(t, _)| t) == Some(&Token::PathSep);
                let root_word = matches!(word.as_str(), "crate" | "self" | "super" | "freightdrop");
                if starts_path && followed && (root_word || crate_root) {
                    let line = tokens[i].1;
                    let mut path = vec![word.clone()];
                    let mut j = i + 1;
                    while let (Some((Token::PathSep, _)), Some((Token::Ident(next), _))) =
                        (tokens.get(j), tokens.get(j + 1))
                    {
                        path.push(next.clone());
                        j += 2;
                    }
                    named.push((module.clone(), path, line));
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut found = Vec::new();
    for (module, path, line) in named {
        let Some(target) = absolute(&path, &module, crate_root) else {
            continue;
        };
        let Some(top) = target.first() else { continue };
        let frontends: Vec<&'static str> = if top == "*" {
            // A glob of the crate root brings every frontend into scope.
            FRONTENDS.to_vec()
        } else {
            FRONTENDS.iter().copied().filter(|f| f == top).collect()
        };
        for frontend in frontends {
            if own != Some(&frontend) {
                found.push(Violation {
                    file: file.to_owned(),
                    line,
                    path: path.join("::"),
                    frontend,
                });
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_frontend_imports_another_and_the_core_imports_none() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = rust_files(&root.join("src"));
    assert!(files.len() > 20, "the source tree was not found");
    let mut found = Vec::new();
    for path in files {
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let name = relative.to_string_lossy().replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("read a source file");
        found.extend(violations(&name, &source));
    }
    let report: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        found.is_empty(),
        "frontends ({}) may import only the core, and only {} may name a frontend:\n{}",
        FRONTENDS.join(", "),
        WIRING.join(", "),
        report.join("\n")
    );
}

#[test]
fn the_wiring_files_still_exist() {
    // A wiring file that moved would silently lose its exemption's meaning; say so instead.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in WIRING {
        assert!(root.join(file).is_file(), "{file} is gone: update WIRING");
    }
}

#[test]
fn a_frontend_importing_another_is_caught_with_its_line() {
    let source = "//! A module.\n\nuse crate::home::Home;\nuse crate::sftp::files;\n";
    assert_eq!(
        violations("src/ftp/storage.rs", source),
        [Violation {
            file: "src/ftp/storage.rs".into(),
            line: 4,
            path: "crate::sftp::files".into(),
            frontend: "sftp",
        }]
    );
}

#[test]
fn grouped_aliased_and_nested_use_trees_are_caught() {
    let source = "use crate::{home::Home, backoffice as bo};\n\
                  use crate::{outbox::{Outbox, x}, ftp::{self, storage::FtpStorage}};\n";
    let found = violations("src/sftp/files.rs", source);
    let paths: Vec<(&str, usize)> = found.iter().map(|v| (v.path.as_str(), v.line)).collect();
    assert_eq!(
        paths,
        [
            ("crate::backoffice", 1),
            ("crate::ftp::self", 2),
            ("crate::ftp::storage::FtpStorage", 2)
        ]
    );
}

#[test]
fn relative_paths_are_resolved_from_the_files_module() {
    // src/ftp/storage.rs is ftp::storage: super::super is the crate root.
    let found = violations("src/ftp/storage.rs", "use super::super::sftp::x;\n");
    assert_eq!(found.len(), 1, "{found:?}");
    // src/ftp/mod.rs is ftp itself: one super is the root.
    let found = violations("src/ftp/mod.rs", "fn f() { super::backoffice::start(); }\n");
    assert_eq!(found.len(), 1, "{found:?}");
    // Its own frontend, reached by super, is fine.
    assert!(violations("src/ftp/storage.rs", "use super::auth::FtpUser;\n").is_empty());
    // In an inline module, super is one level less far.
    let source = "mod tests {\n    use super::super::sftp;\n}\nuse super::super::sftp;\n";
    let found = violations("src/ftp/storage.rs", source);
    assert_eq!(
        found.iter().map(|v| v.line).collect::<Vec<_>>(),
        [4],
        "{found:?}"
    );
}

#[test]
fn paths_in_code_are_caught_but_comments_and_strings_are_not() {
    let source = "// crate::sftp::start is mentioned here\n\
                  /* and crate::ftp here */\n\
                  const S: &str = \"crate::backoffice::x\";\n\
                  const R: &str = r#\"crate::ftp\"#;\n\
                  fn f<'a>(c: char) { let _ = 'x'; crate::sftp::start(); }\n\
                  pub(crate) fn g() {}\n";
    let found = violations("src/outbox/events.rs", source);
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, [5], "{found:?}");
}

#[test]
fn the_core_may_not_import_a_frontend_but_the_wiring_may() {
    let source = "use crate::backoffice::AppState;\nfn f() { crate::ftp::start(); }\n";
    assert_eq!(violations("src/gate/mod.rs", source).len(), 2);
    assert_eq!(
        violations("src/users/store.rs", "use crate::mail;\n").len(),
        1
    );
    assert!(violations("src/server.rs", source).is_empty());
    // A glob of the crate root brings every frontend in.
    assert!(!violations("src/home/jail.rs", "use crate::*;\n").is_empty());
    // The backoffice imports the core, never a protocol frontend.
    assert!(violations(
        "src/backoffice/files.rs",
        "use crate::outbox::OutboxError;\n"
    )
    .is_empty());
    assert_eq!(
        violations("src/backoffice/files.rs", "use crate::sftp::Core;\n").len(),
        1
    );
}
