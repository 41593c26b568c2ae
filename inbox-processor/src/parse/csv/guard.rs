//! The byte-level guard between a CSV file and the `csv` crate: caps the size of one record and
//! notices a quoted value that the end of the file cuts off (which the `csv` crate accepts
//! silently).
//!
//! It follows the same quoting rules as the `csv` crate (a `"` opens a quoted value only at the
//! start of a field; `""` inside is a quote; a record ends at `\n` or `\r` outside quotes) but
//! keeps no text: a few counters, so a file of any size streams through in constant memory.

use std::io::{self, Read};

/// The most bytes one record (a line, or several when a quoted value spans lines) may have.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// A reader that watches CSV bytes go by.
#[derive(Debug)]
pub(crate) struct Guard<R> {
    inner: R,
    delimiter: u8,
    state: State,
    /// The physical line being read, from 1.
    line: u64,
    /// The line the current record started on.
    record_line: u64,
    record_bytes: usize,
    /// The line the current quoted value opened on.
    quote_line: u64,
    /// The line of a record that went over [`MAX_RECORD_BYTES`], once one did.
    too_long: Option<u64>,
}

impl<R: Read> Guard<R> {
    /// Watches `inner`, a CSV file using `delimiter`.
    pub(crate) fn new(inner: R, delimiter: u8) -> Self {
        Guard {
            inner,
            delimiter,
            state: State::FieldStart,
            line: 1,
            record_line: 1,
            record_bytes: 0,
            quote_line: 1,
            too_long: None,
        }
    }

    /// The line of the record that was too long, if one was: reading stopped there.
    pub(crate) fn too_long(&self) -> Option<u64> {
        self.too_long
    }

    /// After the end of the file: the line where a quoted value opened that was never closed.
    pub(crate) fn unclosed_quote(&self) -> Option<u64> {
        (self.state == State::Quoted).then_some(self.quote_line)
    }

    fn step(&mut self, b: u8) {
        self.record_bytes += 1;
        if b == b'\n' {
            self.line += 1;
        }
        let end = b == b'\n' || b == b'\r';
        self.state = match self.state {
            State::FieldStart | State::Unquoted | State::QuoteInQuoted if end => {
                self.record_bytes = 0;
                self.record_line = self.line;
                State::FieldStart
            }
            State::FieldStart if b == b'"' => {
                self.quote_line = self.line;
                State::Quoted
            }
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::FieldStart | State::Unquoted | State::QuoteInQuoted if b == self.delimiter => {
                State::FieldStart
            }
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
        };
    }

    /// Watches a chunk go by; false when a record went over [`MAX_RECORD_BYTES`].
    fn watch(&mut self, chunk: &[u8]) -> bool {
        if self.state != State::Quoted && memchr::memchr(b'"', chunk).is_none() {
            return self.watch_unquoted(chunk);
        }
        for &b in chunk {
            self.step(b);
            if self.record_bytes > MAX_RECORD_BYTES {
                self.too_long = Some(self.record_line);
                return false;
            }
        }
        true
    }

    /// The common case, a chunk without quotes outside a quoted value: what [`Guard::step`]
    /// would make of it byte by byte, from a few vectorised searches.
    fn watch_unquoted(&mut self, chunk: &[u8]) -> bool {
        let Some(first_end) = memchr::memchr2(b'\n', b'\r', chunk) else {
            self.record_bytes += chunk.len();
            if let Some(&last) = chunk.last() {
                self.state = self.after(last);
            }
            if self.record_bytes > MAX_RECORD_BYTES {
                self.too_long = Some(self.record_line);
                return false;
            }
            return true;
        };
        // The record going on from the last chunk ends here; the later ones are shorter than
        // the chunk, which is far below the limit.
        if self.record_bytes + first_end > MAX_RECORD_BYTES {
            self.too_long = Some(self.record_line);
            return false;
        }
        let last_end = memchr::memrchr2(b'\n', b'\r', chunk).unwrap_or(first_end);
        self.line += memchr::memchr_iter(b'\n', chunk).count() as u64;
        self.record_line = self.line;
        let rest = chunk.get(last_end + 1..).unwrap_or_default();
        self.record_bytes = rest.len();
        self.state = rest.last().map_or(State::FieldStart, |&b| self.after(b));
        true
    }

    /// The state after `b`, the last byte of a chunk without quotes or line ends.
    fn after(&self, b: u8) -> State {
        if b == self.delimiter {
            State::FieldStart
        } else {
            State::Unquoted
        }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.too_long.is_some() {
            return Err(too_long_error());
        }
        let n = self.inner.read(buf)?;
        if !self.watch(buf.get(..n).unwrap_or_default()) {
            return Err(too_long_error());
        }
        Ok(n)
    }
}

fn too_long_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "CSV record too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Guard<&[u8]> {
        let mut guard = Guard::new(bytes, b';');
        let mut sink = Vec::new();
        let _ = guard.read_to_end(&mut sink);
        guard
    }

    #[test]
    fn closed_quotes_are_fine() {
        assert_eq!(run(b"a;\"b;\"\"c\"\"\nd\"\n1;2\n").unclosed_quote(), None);
        assert_eq!(run(b"a;12\" pipe\n").unclosed_quote(), None);
    }

    #[test]
    fn unclosed_quote_is_found() {
        assert_eq!(run(b"a;b\n1;\"cut off\nhere").unclosed_quote(), Some(2));
    }

    /// The chunked fast path ends every chunk in the state the byte-by-byte walk would.
    #[test]
    fn chunks_agree_with_the_byte_walk() {
        use proptest::prelude::*;
        let bytes = proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b';'), Just(b'"'), Just(b'\n'), Just(b'\r')],
            0..200,
        );
        proptest!(|(bytes in bytes, size in 1usize..40)| {
            let mut walked = Guard::new(&b""[..], b';');
            for &b in &bytes {
                walked.step(b);
            }
            let mut chunked = Guard::new(&b""[..], b';');
            for chunk in bytes.chunks(size) {
                prop_assert!(chunked.watch(chunk));
            }
            prop_assert_eq!(
                (walked.state, walked.line, walked.record_line, walked.record_bytes),
                (chunked.state, chunked.line, chunked.record_line, chunked.record_bytes)
            );
            prop_assert_eq!(walked.unclosed_quote(), chunked.unclosed_quote());
        });
    }

    #[test]
    fn long_record_without_quotes_stops_reading() {
        let mut bytes = b"a;b\n1;2\n3;".to_vec();
        bytes.resize(bytes.len() + MAX_RECORD_BYTES + 10, b'x');
        bytes.extend_from_slice(b"\n4;5\n");
        let guard = run(&bytes);
        assert_eq!(guard.too_long(), Some(3));
    }

    #[test]
    fn long_record_stops_reading() {
        let mut bytes = b"a;b\n1;".to_vec();
        bytes.resize(bytes.len() + MAX_RECORD_BYTES + 10, b'x');
        let guard = run(&bytes);
        assert_eq!(guard.too_long(), Some(2));
    }
}
