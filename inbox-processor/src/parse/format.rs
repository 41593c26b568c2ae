//! Picking the parser for a file: [`Format`] by extension or by a user's override, and which
//! names are temporary uploads that are never parsed.
//!
//! This module owns the extension table; it never looks at a file's content.

use std::fmt;

/// A file format the inbox understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma- or semicolon-separated values (`.csv`).
    Csv,
    /// The `<orders>` / `<orderData>` XML shapes (`.xml`).
    Xml,
    /// Excel 97-2003 workbook (`.xls`).
    Xls,
    /// Excel workbook (`.xlsx`).
    Xlsx,
    /// OpenDocument spreadsheet (`.ods`).
    Ods,
    /// Track & Trace Mail blocks (`.ttm`).
    Ttm,
}

/// Why no format could be picked for a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file name has no extension and no override applies.
    #[error("the file name {name:?} has no extension; use .csv, .xml, .xls, .xlsx, .ods or .ttm")]
    NoExtension {
        /// The file name.
        name: String,
    },
    /// The file's extension is not one of ours.
    #[error("the extension {extension:?} of {name:?} is not a known format; use .csv, .xml, .xls, .xlsx, .ods or .ttm")]
    UnknownExtension {
        /// The file name.
        name: String,
        /// The extension, as written.
        extension: String,
    },
    /// The user's configured format override is not one of ours.
    #[error(
        "the configured format {0:?} is not a known format; use csv, xml, xls, xlsx, ods or ttm"
    )]
    UnknownOverride(String),
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 6] = [
        Format::Csv,
        Format::Xml,
        Format::Xls,
        Format::Xlsx,
        Format::Ods,
        Format::Ttm,
    ];

    /// The format for a file: `None` for temporary upload names (never parsed), else the
    /// override if one is configured (`"csv"`, `".csv"` or `"+csv"`), else the extension of the
    /// name's last path segment, case-insensitively.
    ///
    /// # Errors
    ///
    /// [`FormatError`] when the override or the extension is not a known format, or the name has
    /// no extension.
    pub fn from_name(
        file_name: &str,
        format_override: Option<&str>,
    ) -> Result<Option<Format>, FormatError> {
        if is_temporary_name(file_name) {
            return Ok(None);
        }
        if let Some(wanted) = format_override {
            let wanted = wanted.trim();
            let bare = wanted.trim_start_matches(['+', '.']);
            return Format::from_extension(bare)
                .map(Some)
                .ok_or_else(|| FormatError::UnknownOverride(wanted.to_owned()));
        }
        let base = base_name(file_name);
        let Some((stem, extension)) = base.rsplit_once('.') else {
            return Err(FormatError::NoExtension {
                name: file_name.to_owned(),
            });
        };
        if stem.is_empty() || extension.is_empty() {
            return Err(FormatError::NoExtension {
                name: file_name.to_owned(),
            });
        }
        Format::from_extension(extension)
            .map(Some)
            .ok_or_else(|| FormatError::UnknownExtension {
                name: file_name.to_owned(),
                extension: extension.to_owned(),
            })
    }

    /// The format an extension (without dot) names, case-insensitively.
    pub fn from_extension(extension: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(extension))
    }

    /// The extension, lower case, without dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xml => "xml",
            Format::Xls => "xls",
            Format::Xlsx => "xlsx",
            Format::Ods => "ods",
            Format::Ttm => "ttm",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// True for names of uploads still in progress or hidden: `*.part`, `*.filepart`, `*.tmp`
/// (any case) and names starting with `.`. Such files are never parsed.
pub fn is_temporary_name(file_name: &str) -> bool {
    let base = base_name(file_name);
    if base.starts_with('.') {
        return true;
    }
    let lower = base.to_ascii_lowercase();
    [".part", ".filepart", ".tmp"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// The last segment of a path written with `/` or `\`.
fn base_name(file_name: &str) -> &str {
    file_name.rsplit(['/', '\\']).next().unwrap_or(file_name)
}
