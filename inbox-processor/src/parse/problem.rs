//! What a parser reports about a file: where ([`Location`]), the [`Problem`]s that reject it, the
//! [`Warning`]s that do not, and [`Rejected`], the full list a person reads in the error report.
//!
//! This module owns the wording and the caps of the report; it knows nothing of the formats.

use std::fmt;

/// At most this many problems are kept; the rest are counted ("and N more").
pub const MAX_PROBLEMS: usize = 1000;

/// At most this many warnings are kept; the rest are dropped.
pub const MAX_WARNINGS: usize = 1000;

/// Values are cut to this many characters in a report.
pub const MAX_VALUE_CHARS: usize = 80;

/// Where in a file something was found, numbered as a person sees it (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The file as a whole.
    File,
    /// A line of a text file (CSV, XML).
    Line(u32),
    /// A row of a spreadsheet, as the spreadsheet program numbers it.
    Row(u32),
    /// A `<!-- start order` block of a TTM file, and the line inside the file.
    Block {
        /// The block's number, counting from 1.
        number: u32,
        /// The line in the file.
        line: u32,
    },
}

impl Location {
    /// A line location from a counter that may, in theory, exceed `u32`.
    pub(crate) fn line(line: u64) -> Location {
        Location::Line(u32::try_from(line).unwrap_or(u32::MAX))
    }
}

impl Location {
    /// Orders locations as they appear in the file; the whole file comes first.
    pub(crate) fn sort_key(self) -> (u32, u32) {
        match self {
            Location::File => (0, 0),
            Location::Line(n) | Location::Row(n) => (n, 0),
            Location::Block { number, line } => (number, line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
            Location::Block { number, line } => write!(f, "block {number} (line {line})"),
        }
    }
}

/// One reason a file is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it was found.
    pub location: Location,
    /// The field it concerns (canonical name such as `deliveryDate`), if any.
    pub field: Option<String>,
    /// The offending value, cut to [`MAX_VALUE_CHARS`] characters, if any.
    pub value: Option<String>,
    /// What is wrong, in plain words.
    pub reason: String,
}

impl Problem {
    /// A problem with no particular field.
    pub(crate) fn at(location: Location, reason: impl Into<String>) -> Problem {
        Problem {
            location,
            field: None,
            value: None,
            reason: reason.into(),
        }
    }

    /// A problem with a value that belongs to no known field.
    pub(crate) fn value(location: Location, value: &str, reason: impl Into<String>) -> Problem {
        Problem {
            location,
            field: None,
            value: Some(cut(value)),
            reason: reason.into(),
        }
    }

    /// A problem with a field and, if given, its value.
    pub(crate) fn field(
        location: Location,
        field: impl Into<String>,
        value: Option<&str>,
        reason: impl Into<String>,
    ) -> Problem {
        Problem {
            location,
            field: Some(field.into()),
            value: value.map(cut),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        if let Some(value) = &self.value {
            write!(f, ", value {value:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Something worth telling the sender that does not reject the file (an unknown column, a
/// guessed encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it was found.
    pub location: Location,
    /// What was noticed, in plain words.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A rejected file: every problem found, so the sender can fix them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.report())]
pub struct Rejected {
    /// The problems, in the order found, at most [`MAX_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// How many more problems were found and not kept.
    pub more: usize,
}

impl Rejected {
    /// A rejection for a single problem.
    pub(crate) fn one(problem: Problem) -> Rejected {
        Rejected {
            problems: vec![problem],
            more: 0,
        }
    }

    /// The plain-text report: a summary line, then one problem a line, then "and N more problems"
    /// when some were not kept.
    pub fn report(&self) -> String {
        let total = self.problems.len() + self.more;
        let mut out = format!(
            "the file was rejected: {total} problem{} found",
            if total == 1 { "" } else { "s" }
        );
        for problem in &self.problems {
            out.push('\n');
            out.push_str(&problem.to_string());
        }
        if self.more > 0 {
            out.push_str(&format!("\nand {} more problems", self.more));
        }
        out
    }
}

/// Collects problems and warnings while a file is read, within the caps.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    problems: Vec<Problem>,
    more: usize,
    warnings: Vec<Warning>,
}

impl Findings {
    /// Records a problem, or counts it once the cap is reached.
    pub(crate) fn problem(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more += 1;
        }
    }

    /// Records a warning, unless the cap is reached.
    pub(crate) fn warning(&mut self, location: Location, message: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                location,
                message: message.into(),
            });
        }
    }

    /// True when at least one problem was found.
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The warnings if no problem was found, else the rejection, its problems in file order
    /// (problems found at the end of the file, such as a shipment without goods, move to where
    /// the shipment is).
    pub(crate) fn finish(mut self) -> Result<Vec<Warning>, Rejected> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            self.problems.sort_by_key(|p| p.location.sort_key());
            Err(Rejected {
                problems: self.problems,
                more: self.more,
            })
        }
    }
}

/// Cuts a value to [`MAX_VALUE_CHARS`] characters, marking the cut with `...`.
fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_reads_well() {
        let p = Problem::field(
            Location::Line(4),
            "deliveryDate",
            Some("31-02-2025"),
            "not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)",
        );
        assert_eq!(
            p.to_string(),
            "line 4, field deliveryDate, value \"31-02-2025\": not a date (use YYYY-MM-DD, DD-MM-YYYY or DD-MM-YY)"
        );
        let p = Problem::at(Location::Block { number: 2, line: 9 }, "no `-->`");
        assert_eq!(p.to_string(), "block 2 (line 9): no `-->`");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(200);
        let p = Problem::field(Location::Row(2), "remarks", Some(&long), "too long");
        let value = p.value.unwrap_or_default();
        assert_eq!(value.chars().count(), MAX_VALUE_CHARS + 3);
        assert!(value.ends_with("..."));
    }

    #[test]
    fn problems_are_capped() {
        let mut findings = Findings::default();
        for n in 0..(MAX_PROBLEMS as u32 + 5) {
            findings.problem(Problem::at(Location::Line(n), "bad"));
        }
        let Err(rejected) = findings.finish() else {
            panic!("expected a rejection");
        };
        assert_eq!(rejected.problems.len(), MAX_PROBLEMS);
        assert_eq!(rejected.more, 5);
        assert!(rejected.report().ends_with("and 5 more problems"));
        assert!(rejected
            .report()
            .starts_with("the file was rejected: 1005 problems found"));
    }
}
