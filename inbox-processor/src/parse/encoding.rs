//! Text encodings: turning a file's bytes into text without mangling it silently.
//!
//! Decision (ours): UTF-8, with or without BOM, is read as is. Text that is not valid UTF-8 is
//! read as Windows-1252 (a superset of Latin-1 for printable text) and the file gets a warning
//! naming the first such line. A file that mixes valid non-ASCII UTF-8 with non-UTF-8 text is
//! rejected: no single reading of it is right. Documents with a UTF-16 BOM (XML, TTM) are
//! decoded; a UTF-16 CSV is rejected (the streaming CSV reader reads bytes).
//!
//! Decoding works per piece (a CSV field, a line), so a streaming reader never needs the whole
//! file. This module knows nothing of fields or formats beyond that.

use std::borrow::Cow;

use encoding_rs::{UTF_8, WINDOWS_1252};

use super::problem::{Findings, Location, Problem};

/// Decodes pieces of one file and remembers which encodings it saw.
#[derive(Debug, Default)]
pub(crate) struct TextDecoder {
    /// The first place with valid non-ASCII UTF-8.
    utf8_at: Option<Location>,
    /// The first place that was not valid UTF-8.
    legacy_at: Option<Location>,
}

impl TextDecoder {
    /// Decodes one piece of text found at `location`.
    pub(crate) fn decode<'a>(&mut self, bytes: &'a [u8], location: Location) -> Cow<'a, str> {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                if self.utf8_at.is_none() && !text.is_ascii() {
                    self.utf8_at = Some(location);
                }
                Cow::Borrowed(text)
            }
            Err(_) => {
                if self.legacy_at.is_none() {
                    self.legacy_at = Some(location);
                }
                WINDOWS_1252.decode_without_bom_handling(bytes).0
            }
        }
    }

    /// Notes valid non-ASCII UTF-8 found at `location` without decoding it here.
    pub(crate) fn saw_utf8(&mut self, location: Location) {
        if self.utf8_at.is_none() {
            self.utf8_at = Some(location);
        }
    }

    /// Reports what was seen: a warning for a Windows-1252 file, a problem for a mixed one.
    pub(crate) fn finish(self, findings: &mut Findings) {
        match (self.utf8_at, self.legacy_at) {
            (Some(utf8), Some(legacy)) => findings.problem(Problem::at(
                legacy,
                format!(
                    "the file mixes text encodings: this is not UTF-8, but {utf8} is; \
                     save the file as UTF-8"
                ),
            )),
            (None, Some(legacy)) => findings.warning(
                legacy,
                "the file is not UTF-8 (first seen here); its text was read as Windows-1252 \
                 (Latin-1). Please send UTF-8",
            ),
            _ => {}
        }
    }
}

/// The byte-order mark a file starts with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bom {
    None,
    Utf8,
    Utf16,
}

/// Which BOM `bytes` starts with.
pub(crate) fn bom(bytes: &[u8]) -> Bom {
    match encoding_rs::Encoding::for_bom(bytes) {
        Some((enc, _)) if enc == UTF_8 => Bom::Utf8,
        Some(_) => Bom::Utf16,
        None => Bom::None,
    }
}

/// Decodes a whole document (XML, TTM) to text: UTF-16 by its BOM, else line by line as
/// [`TextDecoder`] does. Lines are separated by `\n`, which is kept. Valid UTF-8 is borrowed,
/// not copied.
pub(crate) fn decode_document<'a>(bytes: &'a [u8], findings: &mut Findings) -> Cow<'a, str> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        if enc == UTF_8 {
            return decode_lines(body, findings);
        }
        let (text, had_errors) = enc.decode_without_bom_handling(body);
        if had_errors {
            findings.warning(
                Location::File,
                format!(
                    "the file is not valid {}; broken characters were replaced by \u{FFFD}",
                    enc.name()
                ),
            );
        }
        return text;
    }
    decode_lines(bytes, findings)
}

fn decode_lines<'a>(bytes: &'a [u8], findings: &mut Findings) -> Cow<'a, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut decoder = TextDecoder::default();
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&decoder.decode(line, Location::line(n as u64 + 1)));
    }
    decoder.finish(findings);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_decoded_with_a_warning() {
        let mut findings = Findings::default();
        let text = decode_document(b"caf\xe9\nline 2", &mut findings);
        assert_eq!(text, "café\nline 2");
        let warnings = findings.finish().unwrap_or_default();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].location, Location::Line(1));
    }

    #[test]
    fn mixed_encodings_are_a_problem() {
        let mut findings = Findings::default();
        decode_document(
            "café\n"
                .as_bytes()
                .iter()
                .chain(b"caf\xe9")
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
            &mut findings,
        );
        let Err(rejected) = findings.finish() else {
            panic!("expected a problem");
        };
        assert_eq!(rejected.problems[0].location, Location::Line(2));
    }

    #[test]
    fn utf16_by_bom() {
        let mut findings = Findings::default();
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("hé".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_document(&bytes, &mut findings), "hé");
        let bytes = [0xEF, 0xBB, 0xBF, b'h', b'i'];
        assert_eq!(decode_document(&bytes, &mut findings), "hi");
        assert_eq!(bom(&bytes), Bom::Utf8);
    }
}
