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
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.too_long.is_some() {
            return Err(too_long_error());
        }
        let n = self.inner.read(buf)?;
        for &b in buf.get(..n).unwrap_or_default() {
            self.step(b);
            if self.record_bytes > MAX_RECORD_BYTES {
                self.too_long = Some(self.record_line);
                return Err(too_long_error());
            }
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

    #[test]
    fn long_record_stops_reading() {
        let mut bytes = b"a;b\n1;".to_vec();
        bytes.resize(bytes.len() + MAX_RECORD_BYTES + 10, b'x');
        let guard = run(&bytes);
        assert_eq!(guard.too_long(), Some(2));
    }
}
